"""Upload published files to the docs location: ``file://`` (local runtime) or ``gs://``.

``file://`` writes go to a temporary file in the destination folder, then an atomic rename,
so a failure never leaves a half-written page behind. ``gs://`` uploads go through the
google-cloud-storage client with Application Default Credentials (Workload Identity on GKE);
a GCS object only becomes visible once its upload has completed.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

from taxi_dbt.errors import StorageError

SCHEMES = ("file", "gs")


@dataclass(frozen=True)
class Location:
    scheme: str
    bucket: str  # "" for file
    path: str  # absolute path for file, object key for gs

    @property
    def uri(self) -> str:
        if self.scheme == "file":
            return "file://" + self.path
        return f"gs://{self.bucket}/{self.path}"


def parse(uri: str, *, arg: str = "DOCS_URI") -> Location:
    """Parse ``uri``; ``arg`` names where it came from in error messages."""
    if not uri or not uri.strip():
        raise StorageError(f"{arg} is empty; use file:///absolute/path or gs://bucket/prefix.")
    uri = uri.strip()
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme not in SCHEMES:
        raise StorageError(
            f"{arg}={uri!r} uses the unsupported scheme {scheme or '(none)'!r}; use "
            "file:///absolute/path or gs://bucket/prefix."
        )
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise StorageError(
                f"{arg}={uri!r} has a host part; a local URI needs three slashes: "
                "file:///absolute/path."
            )
        path = unquote(parsed.path)
        if not path.startswith("/"):
            raise StorageError(f"{arg}={uri!r} must be an absolute path (file:///...).")
        return Location("file", "", os.path.normpath(path))
    if not parsed.netloc:
        raise StorageError(f"{arg}={uri!r} has no bucket; expected gs://bucket/prefix.")
    return Location("gs", parsed.netloc, unquote(parsed.path).lstrip("/"))


def join(base: str, *parts: str) -> str:
    """``base`` URI with ``parts`` appended as path segments."""
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def put_bytes(uri: str, data: bytes, content_type: str = "text/html; charset=utf-8") -> str:
    """Write ``data`` to ``uri`` (replacing it); returns the normalised URI written."""
    loc = parse(uri)
    if loc.scheme == "file":
        _put_local(loc.path, data)
    else:
        if not loc.path or loc.path.endswith("/"):
            raise StorageError(f"{uri!r} names a folder; pass the object's full name.")
        _put_gcs(loc, data, content_type)
    return loc.uri


def _put_local(path: str, data: bytes) -> None:
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise StorageError(f"cannot create the folder {folder!r}: {exc.strerror}.") from exc
    if os.path.isdir(path):
        raise StorageError(f"{path!r} is a folder; cannot replace it with a file.")
    fd, tmp = tempfile.mkstemp(prefix=f".{os.path.basename(path)}.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644)  # served by the docs app, which may run as another user
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def _put_gcs(loc: Location, data: bytes, content_type: str) -> None:
    from google.api_core import exceptions as gexc
    from google.cloud import storage

    blob = storage.Client().bucket(loc.bucket).blob(loc.path)
    # The docs change on every run: let browsers and the docs app revalidate.
    blob.cache_control = "no-cache, max-age=0"
    try:
        blob.upload_from_string(data, content_type=content_type)
    except gexc.NotFound as exc:
        raise StorageError(f"bucket gs://{loc.bucket} does not exist (check DOCS_URI).") from exc
    except gexc.Forbidden as exc:
        raise StorageError(
            f"not allowed to write gs://{loc.bucket}/{loc.path}: grant the dbt workload's service "
            "account roles/storage.objectAdmin on the docs bucket."
        ) from exc
