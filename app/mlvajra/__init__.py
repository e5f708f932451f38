"""mlvajra: put one trained scikit-learn pipeline into production and keep it right there."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("mlvajra")
except PackageNotFoundError:  # a source tree on sys.path without an install
    __version__ = "0+unknown"
