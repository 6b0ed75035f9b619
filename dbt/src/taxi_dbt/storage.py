"""Upload published files to the docs location: ``file://`` (local runtime) or ``gs://``.

A thin layer over :mod:`taxi_common.uris` (shared with spark and ml): atomic ``file://`` writes
(temporary file + rename, so a failure never leaves a half-written page) and one-shot ``gs://``
uploads with Application Default Credentials (Workload Identity on GKE).
"""

from __future__ import annotations

from taxi_common import uris
from taxi_common.uris import Location, join
from taxi_dbt.errors import StorageError

__all__ = ["Location", "join", "parse", "put_bytes"]

SCHEMES = ("file", "gs")


def parse(uri: str, *, arg: str = "DOCS_URI") -> Location:
    """Parse ``uri``; ``arg`` names where it came from in error messages."""
    return uris.parse(uri, arg=arg, schemes=SCHEMES, error=StorageError)


def put_bytes(uri: str, data: bytes, content_type: str = "text/html; charset=utf-8") -> str:
    """Write ``data`` to ``uri`` (replacing it); returns the normalised URI written."""
    return uris.write_bytes(
        uri,
        data,
        error=StorageError,
        content_type=content_type,
        arg="DOCS_URI",
        writer="the dbt workload's service account",
    )
