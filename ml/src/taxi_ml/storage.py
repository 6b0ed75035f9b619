"""Write report files to ``file://`` or ``gs://`` URIs (the docs bucket).

``file://``: written to a temporary name in the target folder, then renamed, so a failure never
leaves a half-written page for the docs app to serve. ``gs://``: one object upload through the
google-cloud-storage client with Application Default Credentials (Workload Identity on GKE); an
object only becomes visible once its upload completed.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from urllib.parse import unquote, urlparse

from taxi_ml.errors import ConfigError


def join(base: str, *parts: str) -> str:
    """``join("gs://b/docs", "model", "index.html")`` → ``gs://b/docs/model/index.html``."""
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def write_bytes(uri: str, data: bytes, content_type: str = "application/octet-stream") -> str:
    """Write ``data`` to ``uri`` (whole file, replacing any previous one); returns ``uri``."""
    parsed = urlparse(uri)
    if parsed.scheme == "file":
        if parsed.netloc not in ("", "localhost") or not parsed.path.startswith("/"):
            raise ConfigError(f"{uri!r} is not a local file URI; use file:///absolute/path.")
        target = Path(unquote(parsed.path))
        target.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
        try:
            with os.fdopen(fd, "wb") as fh:
                fh.write(data)
            os.chmod(tmp, 0o644)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return uri
    if parsed.scheme == "gs":
        if not parsed.netloc or not parsed.path.strip("/"):
            raise ConfigError(f"{uri!r} is not a GCS object URI; use gs://bucket/path/name.")
        from google.cloud import storage

        blob = storage.Client().bucket(parsed.netloc).blob(unquote(parsed.path.lstrip("/")))
        blob.cache_control = "no-cache"
        blob.upload_from_string(data, content_type=content_type)
        return uri
    raise ConfigError(f"{uri!r} uses an unsupported scheme; use file:///… or gs://….")


def write_text(uri: str, text: str, content_type: str = "text/html; charset=utf-8") -> str:
    return write_bytes(uri, text.encode("utf-8"), content_type)
