"""Write report files to ``file://`` or ``gs://`` URIs (the docs bucket).

A thin layer over :mod:`taxi_common.uris` (shared with spark and dbt): atomic ``file://`` writes
(temporary name + rename, so the docs app never serves a half-written page) and one-shot
``gs://`` uploads with Application Default Credentials (Workload Identity on GKE).
"""

from __future__ import annotations

from taxi_common import uris
from taxi_common.uris import join
from taxi_ml.errors import ConfigError

__all__ = ["join", "write_bytes", "write_text"]


def write_bytes(uri: str, data: bytes, content_type: str = "application/octet-stream") -> str:
    """Write ``data`` to ``uri`` (whole file, replacing any previous one); returns the URI."""
    return uris.write_bytes(
        uri,
        data,
        error=ConfigError,
        content_type=content_type,
        arg="DOCS_URI",
        writer="the ml workload's service account",
    )


def write_text(uri: str, text: str, content_type: str = "text/html; charset=utf-8") -> str:
    return write_bytes(uri, text.encode("utf-8"), content_type)
