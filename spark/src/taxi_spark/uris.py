"""URIs the jobs accept (``file://``, ``gs://``, ``s3://``) and the filesystems behind them.

Python-side I/O (Parquet footers, test data, data docs) goes through ``pyarrow.fs``, whose GCS
and S3 clients ship inside the pyarrow wheel and use ambient credentials (Workload Identity on
GKE, the default AWS chain for S3). Spark-side I/O gets the same location as a Hadoop path via
:func:`to_spark_path`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import pyarrow.fs as pafs

from taxi_common import uris as common_uris
from taxi_spark.errors import UriError

SCHEMES = ("file", "gs", "s3")


@dataclass(frozen=True)
class Location:
    """A parsed URI: ``scheme`` plus the filesystem-relative ``path`` pyarrow expects."""

    uri: str
    scheme: str
    path: str  # "/abs/path" for file, "bucket/key" for gs and s3

    @property
    def name(self) -> str:
        return self.path.rstrip("/").rsplit("/", 1)[-1]

    def child(self, name: str) -> Location:
        return parse(self.uri.rstrip("/") + "/" + name.lstrip("/"))


def parse(uri: str, *, arg: str = "--uri") -> Location:
    """Parse ``uri``; ``arg`` names the argument or env var in error messages.

    A bare absolute path is accepted for convenience and normalised to ``file://``.
    """
    loc = common_uris.parse(uri, arg=arg, schemes=SCHEMES, error=UriError, bare_paths=True)
    return Location(uri=loc.uri, scheme=loc.scheme, path=loc.fs_path)


def _endpoint(url: str) -> dict[str, str]:
    """``http://host:port`` as pyarrow's ``scheme`` and ``endpoint_override`` arguments."""
    scheme, _, rest = url.partition("://")
    if not rest:
        return {"endpoint_override": url}
    return {"scheme": scheme, "endpoint_override": rest.rstrip("/")}


def filesystem(loc: Location) -> pafs.FileSystem:
    """A pyarrow filesystem for ``loc``'s scheme.

    The clients' standard endpoint variables send the calls elsewhere (an emulator in tests and
    ``npm start -- --storage emulated``; unset in the cluster): ``STORAGE_EMULATOR_HOST`` for
    GCS (then without credentials, as Google's clients do) and ``AWS_ENDPOINT_URL_S3`` or
    ``AWS_ENDPOINT_URL`` for S3 (pyarrow reads neither by itself).
    """
    if loc.scheme == "file":
        return pafs.LocalFileSystem()
    if loc.scheme == "gs":
        emulator = os.environ.get("STORAGE_EMULATOR_HOST")
        if emulator:
            return pafs.GcsFileSystem(anonymous=True, **_endpoint(emulator))
        return pafs.GcsFileSystem()
    from taxi_spark import aws

    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        region = pafs.resolve_s3_region(loc.path.split("/", 1)[0])
    endpoint = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
    where = _endpoint(endpoint) if endpoint else {}
    creds = aws.federated_credentials()
    if creds is None:
        return pafs.S3FileSystem(region=region, **where)
    return pafs.S3FileSystem(
        access_key=creds.access_key,
        secret_key=creds.secret_key,
        session_token=creds.session_token,
        region=region,
        **where,
    )


def to_spark_path(loc: Location) -> str:
    """The Hadoop path Spark reads: ``s3://`` becomes ``s3a://`` (hadoop-aws' scheme).

    Paths stay unescaped: Hadoop's ``Path`` escapes characters such as the space in the TLC
    bucket's ``trip data/`` prefix itself.
    """
    if loc.scheme == "file":
        return "file://" + loc.path
    if loc.scheme == "s3":
        return "s3a://" + loc.path
    return "gs://" + loc.path


def to_uri(scheme: str, path: str) -> str:
    """The inverse of :func:`parse`: rebuild a URI from a scheme and a filesystem path."""
    if scheme == "file":
        return "file://" + path
    return f"{scheme}://{path}"


def require_file(uri: str, *, arg: str = "--uri", hint: str = "") -> str:
    """``uri`` normalised, after checking that it is an existing file (not a folder)."""
    loc = parse(uri, arg=arg)
    info = filesystem(loc).get_file_info(loc.path)
    if info.type == pafs.FileType.NotFound:
        raise UriError(f"{arg}={uri!r} does not exist.")
    if info.type != pafs.FileType.File:
        raise UriError(f"{arg}={uri!r} is a folder, not a file.{hint}")
    return to_uri(loc.scheme, loc.path)


def list_parquet(uri: str, *, arg: str = "--uri") -> list[str]:
    """``uri`` itself if it is a file, else every ``*.parquet`` below it (sorted, recursive)."""
    loc = parse(uri, arg=arg)
    fs = filesystem(loc)
    info = fs.get_file_info(loc.path)
    if info.type == pafs.FileType.File:
        return [to_uri(loc.scheme, loc.path)]
    if info.type == pafs.FileType.NotFound:
        raise UriError(f"{arg}={uri!r} does not exist (no file or folder at that location).")
    selector = pafs.FileSelector(loc.path.rstrip("/"), recursive=True)
    files = sorted(
        to_uri(loc.scheme, f.path)
        for f in fs.get_file_info(selector)
        if f.type == pafs.FileType.File and f.path.endswith(".parquet")
    )
    if not files:
        raise UriError(f"{arg}={uri!r} is a folder with no *.parquet files in it.")
    return files
