"""gridplan: staffing and funding planner for neighbourhood (grid) governance."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("gridplan")
except PackageNotFoundError:  # pragma: no cover - running from a source tree without install
    __version__ = "0+unknown"

__all__ = ["__version__"]
