"""Errors raised by the jobs. Each message names the bad input and says what to do next."""


class TaxiSparkError(Exception):
    """Base class: a problem the caller can fix (bad argument, env var, file or schema)."""


class ConfigError(TaxiSparkError):
    """A missing or malformed environment variable or command-line argument."""


class UriError(TaxiSparkError):
    """A URI that is malformed, uses an unsupported scheme or points at nothing."""


class SchemaError(TaxiSparkError):
    """A file whose schema cannot be read by Spark or reconciled with the canonical schema."""

    def __init__(self, message: str, *, file: str, column: str | None = None) -> None:
        super().__init__(message)
        self.file = file
        self.column = column


class ValidationFailed(TaxiSparkError):
    """The data validation success percentage fell below the configured threshold."""
