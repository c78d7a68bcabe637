"""The installed osrbench's version (records carry it; ``osrbench --version`` prints it)."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("osrbench")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"
