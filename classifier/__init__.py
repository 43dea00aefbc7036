"""declutter's line classifier: input -> lines -> features -> model -> labels -> body."""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("declutter")
except _metadata.PackageNotFoundError:  # running from a checkout that is not installed
    __version__ = "0.0.0+checkout"
