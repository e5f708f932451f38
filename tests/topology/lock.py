"""Reading a hashed requirements lock (uv's `pip compile --generate-hashes` output), offline."""

from __future__ import annotations

import importlib.metadata
import re
from collections.abc import Iterable

from packaging.markers import Marker
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

# Where the serving image runs: the Dockerfile's PYTHON_IMAGE on linux/amd64.
IMAGE_ENVIRONMENT = {
    "implementation_name": "cpython",
    "os_name": "posix",
    "platform_machine": "x86_64",
    "platform_python_implementation": "CPython",
    "platform_system": "Linux",
    "python_full_version": "3.11.11",
    "python_version": "3.11",
    "sys_platform": "linux",
}
_PIN = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)==(\S+?)\s*(?:;\s*(.+?))?\s*\\?")


def _holds(marker: Marker | None, extra: str = "") -> bool:
    return marker is None or marker.evaluate({**IMAGE_ENVIRONMENT, "extra": extra})


def image_pins(lock: str) -> tuple[dict[str, Version], list[str]]:
    """The pins that apply in the image (name -> version), and what is wrong with the file."""
    pins: dict[str, Version] = {}
    problems: list[str] = []
    entries: list[tuple[str, str, Marker | None, list[str]]] = []
    for line in lock.splitlines():
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        if not line[0].isspace():
            found = _PIN.fullmatch(line)
            if not found:
                problems.append(f"not a pin: {line!r}")
                continue
            name, version, marker = found.groups()
            entries.append((name, version, Marker(marker) if marker else None, []))
        elif entries and line.strip().startswith("--hash=sha256:"):
            entries[-1][3].append(line.strip())
    for name, version, marker, hashes in entries:
        if not hashes:
            problems.append(f"{name}=={version} has no --hash")
        if _holds(marker):
            key = canonicalize_name(name)
            if key in pins:
                problems.append(f"{name} is pinned twice for the image")
            pins[key] = Version(version)
    return pins, problems


def _installed_requirements(name: str, version: Version) -> list[Requirement] | None:
    """The metadata of `name` if this environment holds exactly that version (offline)."""
    try:
        if Version(importlib.metadata.version(name)) != version:
            return None
    except importlib.metadata.PackageNotFoundError:
        return None
    return [Requirement(text) for text in importlib.metadata.requires(name) or []]


def lock_problems(requirements: Iterable[str], lock: str) -> list[str]:
    """Every requirement pinned within its range, every pin hashed, the pins' own needs pinned."""
    pins, problems = image_pins(lock)
    extras: dict[str, set[str]] = {}
    for text in requirements:
        requirement = Requirement(text)
        if not _holds(requirement.marker):
            continue
        name = canonicalize_name(requirement.name)
        extras.setdefault(name, {""}).update(requirement.extras)
        if name not in pins:
            problems.append(f"{requirement.name} is not in the lock")
        elif not requirement.specifier.contains(pins[name], prereleases=True):
            problems.append(f"{requirement.name}=={pins[name]} is outside {requirement.specifier}")
    # The lock is a closure: checked wherever this environment has the pinned version's metadata.
    for name, version in pins.items():
        for needed in _installed_requirements(name, version) or []:
            wanted = any(_holds(needed.marker, extra) for extra in extras.get(name, {""}))
            if wanted and canonicalize_name(needed.name) not in pins:
                problems.append(f"{name}=={version} needs {needed.name}, which is not in the lock")
    return problems
