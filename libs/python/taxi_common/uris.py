"""Storage URIs the pipeline takes (``file://``, ``gs://``, ``s3://``;
docs/architecture.md#storage-and-warehouse) and the one way the jobs publish a file.

* :func:`parse` checks a URI against the schemes a caller accepts and raises the caller's own
  error class with a message naming where the value came from (``--uri``, ``DOCS_URI`` ...).
* :func:`write_bytes` replaces one file: ``file://`` through a temporary name in the target
  folder and an atomic rename (a failure never leaves a half-written page for the docs app),
  ``gs://`` as one object upload with Application Default Credentials (Workload Identity on
  GKE); an object only becomes visible once its upload completed.

Standard library only: the GCS client is imported when a ``gs://`` write happens, so components
without ``google-cloud-storage`` (the Spark image) can still parse URIs.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

_EXAMPLES = {
    "file": "file:///absolute/path",
    "gs": "gs://bucket/prefix",
    "s3": "s3://bucket/key",
}


@dataclass(frozen=True)
class Location:
    """A parsed URI."""

    uri: str
    scheme: str
    bucket: str  # "" for file
    key: str  # absolute, normalised path for file; object key (may be "") for gs and s3

    @property
    def fs_path(self) -> str:
        """The path pyarrow's filesystems expect: ``/abs/path`` or ``bucket/key``."""
        if self.scheme == "file":
            return self.key
        return f"{self.bucket}/{self.key}" if self.key else self.bucket


def _expected(schemes: tuple[str, ...]) -> str:
    return " or ".join(_EXAMPLES[s] for s in schemes)


def parse(
    uri: str,
    *,
    arg: str,
    schemes: tuple[str, ...],
    error: type[Exception],
    bare_paths: bool = False,
) -> Location:
    """Parse ``uri`` (one of ``schemes``); ``arg`` names where it came from in messages.

    ``bare_paths`` accepts ``/abs/path`` as ``file:///abs/path``.
    """
    if not uri or not uri.strip():
        raise error(f"{arg} is empty; use {_expected(schemes)}.")
    uri = uri.strip()
    if bare_paths and uri.startswith("/"):
        uri = "file://" + uri
    parsed = urlparse(uri)
    scheme = parsed.scheme.lower()
    if scheme not in schemes:
        raise error(
            f"{arg}={uri!r} uses the unsupported scheme {scheme or '(none)'!r}; "
            f"use {_expected(schemes)}."
        )
    if scheme == "file":
        if parsed.netloc not in ("", "localhost"):
            raise error(
                f"{arg}={uri!r} has a host part; a local file URI needs three slashes: "
                "file:///absolute/path."
            )
        path = unquote(parsed.path)
        if not path.startswith("/"):
            raise error(f"{arg}={uri!r} must be an absolute path (file:///...).")
        return Location(uri, scheme, "", os.path.normpath(path))
    if not parsed.netloc:
        raise error(f"{arg}={uri!r} has no bucket; expected {scheme}://bucket/key.")
    return Location(uri, scheme, parsed.netloc, unquote(parsed.path).lstrip("/"))


def join(base: str, *parts: str) -> str:
    """``join("gs://b/docs", "model", "index.html")`` → ``gs://b/docs/model/index.html``."""
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def write_bytes(  # noqa: PLR0913 - keyword-only options of one call
    uri: str,
    data: bytes,
    *,
    error: type[Exception],
    content_type: str = "application/octet-stream",
    arg: str = "uri",
    writer: str = "this workload's service account",
) -> str:
    """Replace the file at ``uri`` (``file://`` or ``gs://``) with ``data``; returns the URI.

    ``writer`` names who needs write access in the message of a refused GCS upload.
    """
    loc = parse(uri, arg=arg, schemes=("file", "gs"), error=error)
    if loc.scheme == "file":
        _write_local(loc.key, data, error)
        return "file://" + loc.key
    if not loc.key or loc.key.endswith("/"):
        raise error(f"{uri!r} names a folder; pass the object's full name (gs://bucket/path/name).")
    _write_gcs(loc, data, content_type, error, writer)
    return f"gs://{loc.bucket}/{loc.key}"


def _write_local(path: str, data: bytes, error: type[Exception]) -> None:
    folder = os.path.dirname(path)
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise error(f"cannot create the folder {folder!r}: {exc.strerror}.") from exc
    if os.path.isdir(path):
        raise error(f"{path!r} is a folder; cannot replace it with a file.")
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


def _write_gcs(
    loc: Location, data: bytes, content_type: str, error: type[Exception], writer: str
) -> None:
    # Imported here: only components that publish to GCS carry google-cloud-storage.
    from google.api_core import exceptions as gexc  # noqa: PLC0415
    from google.cloud import storage  # noqa: PLC0415

    blob = storage.Client().bucket(loc.bucket).blob(loc.key)
    # Published pages change on every run: let browsers and the docs app revalidate.
    blob.cache_control = "no-cache, max-age=0"
    try:
        blob.upload_from_string(data, content_type=content_type)
    except gexc.NotFound as exc:
        raise error(f"bucket gs://{loc.bucket} does not exist.") from exc
    except gexc.Forbidden as exc:
        raise error(
            f"not allowed to write gs://{loc.bucket}/{loc.key}: grant {writer} "
            "roles/storage.objectAdmin on the bucket."
        ) from exc
