"""The running version, from the installed package's metadata (pyproject.toml)."""

from importlib.metadata import PackageNotFoundError, version

try:
    VERSION = version("hibachi-ops")
except PackageNotFoundError:  # running from a tree that was never `pip install`ed
    VERSION = "0.0.0+unknown"
