"""Errors the scripts raise. Each message names the bad input and says what to do next."""


class TaxiDbtError(Exception):
    """Base class: a problem the caller can fix (argument, env var, file, URI)."""


class ConfigError(TaxiDbtError):
    """A missing or malformed environment variable or command-line argument."""


class StorageError(TaxiDbtError):
    """A docs URI that is malformed, uses an unsupported scheme or cannot be written."""


class PublishError(TaxiDbtError):
    """Generated docs that are not fit to publish (missing, empty or not self-contained)."""
