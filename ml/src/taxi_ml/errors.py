"""Errors raised by the jobs. Each message names the bad input and says what to do next."""


class TaxiMlError(Exception):
    """Base class: a problem the caller can fix (bad argument, env var or input data). Exit 2."""


class ConfigError(TaxiMlError):
    """A missing or malformed environment variable or command-line argument."""


class DataError(TaxiMlError):
    """The feature table is missing, has the wrong columns or too few rows for the request."""


class CheckFailed(Exception):
    """A quality check on the trained model failed (exit 1): e.g. it does not beat the baseline."""
