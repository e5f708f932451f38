"""bench/results.md holds one generated section per bench script, between markers, and prose
around them: each script replaces only its own section, so `make bench` and `make bench-scale`
keep each other's figures and the hand-written text."""

from __future__ import annotations

from pathlib import Path

HEADER = "# Benchmark results\n"


def replace_section(text: str, name: str, body: str) -> str:
    """`text` with the section `name` holding `body`; appended at the end if it had none."""
    begin, end = f"<!-- {name}: begin -->", f"<!-- {name}: end -->"
    block = f"{begin}\n{body.strip()}\n{end}"
    start = text.find(begin)
    stop = text.find(end, start)
    if start == -1 or stop == -1:
        return f"{text.rstrip()}\n\n{block}\n"
    return text[:start] + block + text[stop + len(end) :]


def write_section(path: Path, name: str, body: str) -> None:
    """Replace the section `name` of the results file at `path` (created if missing)."""
    text = path.read_text() if path.exists() else HEADER
    path.write_text(replace_section(text, name, body))
