"""Download one monthly file from the publisher, verify it, and put it in the landing bucket.

    python -m taxi_spark.jobs.download --dataset yellow \\
        --uri https://d37ci6vzurychx.cloudfront.net/trip-data/yellow_tripdata_2024-03.parquet \\
        --dest "s3://<landing bucket>/trip data/yellow_tripdata_2024-03.parquet"

1. **Download**, streaming into a temporary file (``--work-dir``, default the system temp folder;
   bounded chunks, never the whole file in memory), hashing (sha256) as it goes. Every socket
   operation has a timeout and the whole download a deadline (``--deadline``). A 5xx/429 answer, a
   network error or a truncated body (fewer bytes than ``Content-Length``) is retried with
   exponential backoff (``--retries``, ``--backoff``). A 403/404 means the month is **not
   published yet**: exit code 3, so the orchestrator reschedules instead of failing. Still failing
   after the retries or past the deadline: exit code 4.
2. **Verify** before anything downstream sees it: size within ``--min-bytes``/``--max-bytes``,
   Parquet magic bytes at both ends, a readable footer, the columns the loader needs for the
   dataset (``taxi_spark.schema.plan``: the same drift rules as the loads), and at least one row.
   A file that fails exits 1 and is never uploaded.
3. **Upload** to ``--dest``, idempotently: if the destination already holds content with the same
   sha256 nothing is written (``unchanged``: no new S3 event, no new batch run); otherwise the file
   is written atomically, which on S3 creates a new object version (``uploaded``), exactly one S3
   event, exactly one batch run:

   * ``s3://``: ``PutObject`` up to ``--multipart-threshold``, else a multipart upload in
     ``--part-size`` parts; any error, and SIGTERM (the Job's deadline, a drain), aborts the
     multipart upload, so an interrupted upload leaves no object and no incomplete upload behind.
     Object metadata: ``source-url``, ``source-etag``, ``source-last-modified``, ``sha256``.
     Credentials: web identity federation with the write-only ``AWS_INGEST_ROLE_ARN``
     (:mod:`taxi_spark.aws`), else the default AWS chain (``AWS_ENDPOINT_URL_S3`` is honoured).
   * ``file://`` (local runtime): a temporary file beside the destination, renamed into place,
     plus a ``.<name>.meta.json`` sidecar with the same metadata (hidden: the landing watcher
     ignores dot files).

The JSON summary (last stdout line) has ``action`` (``uploaded`` | ``unchanged``), ``replaced``
(an earlier, different content was there), ``sha256``, ``bytes``, ``rows``, ``attempts``.
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import random
import signal
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from http.client import HTTPException
from pathlib import Path

from taxi_common import jobcli
from taxi_spark import log as logmod
from taxi_spark import uris
from taxi_spark.errors import ConfigError, SchemaError, TaxiSparkError, UriError
from taxi_spark.jobs import _cli

EXIT_NOT_YET = jobcli.EXIT_NOT_YET
EXIT_UNAVAILABLE = jobcli.EXIT_UNAVAILABLE
MAGIC = b"PAR1"
CHUNK_BYTES = 1024 * 1024
MIB = 1024 * 1024
# S3 limits: parts of at least 5 MiB (except the last), at most 10,000 parts.
S3_MIN_PART = 5 * MIB
S3_MAX_PARTS = 10_000
USER_AGENT = "taxi-platform-ingest/1 (+https://github.com/taxi-platform)"
# Datasets whose file layout the loads know (taxi_spark.schema maps yellow's columns today).
VERIFIED_DATASETS = ("yellow",)

log = logmod.get_logger("taxi_spark.jobs.download")


class NotYetPublished(TaxiSparkError):
    """The publisher answered 403/404: the month is not published (yet)."""


class SourceUnavailable(TaxiSparkError):
    """The publisher kept failing (5xx, network errors, truncated bodies) past retries/deadline."""


class VerificationFailed(TaxiSparkError):
    """The downloaded file is not the Parquet file the loads expect."""


class Terminated(BaseException):
    """SIGTERM arrived (the Job's deadline, a node drain): clean up and stop."""


@dataclass(frozen=True)
class Fetched:
    path: Path
    sha256: str
    bytes: int
    etag: str
    last_modified: str
    attempts: int


def parser() -> argparse.ArgumentParser:
    p = _cli.new_parser("download", __doc__, "the publisher's URL of the monthly file (https://)")
    p.add_argument("--dest", required=True, help="landing object URI (s3:// or file://)")
    p.add_argument("--dataset", required=True, help="dataset name (dags/datasets.yaml)")
    p.add_argument("--min-bytes", type=int, default=1024, help="smallest acceptable file")
    p.add_argument("--max-bytes", type=int, default=2048 * MIB, help="largest acceptable file")
    p.add_argument("--deadline", type=float, default=1800, help="seconds for the whole download")
    p.add_argument("--timeout", type=float, default=60, help="seconds per socket operation")
    p.add_argument("--retries", type=int, default=5, help="retries on 5xx / network errors")
    p.add_argument("--backoff", type=float, default=2.0, help="first retry delay, doubling")
    p.add_argument("--work-dir", default=None, help="folder of the temporary download")
    p.add_argument("--multipart-threshold", type=int, default=64 * MIB)
    p.add_argument("--part-size", type=int, default=64 * MIB)
    return p


# --- 1. download -----------------------------------------------------------------------------
def _retryable_status(code: int) -> bool:
    return code >= 500 or code in (408, 429)


def download(
    url: str,
    work_dir: Path,
    *,
    deadline: float = 1800,
    timeout: float = 60,
    retries: int = 5,
    backoff: float = 2.0,
    max_bytes: int = 2048 * MIB,
    sleep: Callable[[float], None] = time.sleep,
) -> Fetched:
    """Stream ``url`` into a temporary file of ``work_dir``; see the module doc for the rules."""
    if not url.startswith(("http://", "https://")):
        raise UriError(f"--uri {url!r} must be an http(s):// URL of the publisher's file.")
    end = time.monotonic() + deadline
    work_dir.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=".download-", suffix=".parquet", dir=work_dir)
    os.close(fd)
    path = Path(name)
    attempt = 0
    try:
        while True:
            attempt += 1
            try:
                return _attempt(url, path, attempt, end, timeout=timeout, max_bytes=max_bytes)
            except _Retry as exc:
                left = end - time.monotonic()
                if attempt > retries or left <= 0:
                    raise SourceUnavailable(
                        f"{url} still failing after {attempt} attempt(s) "
                        f"({'deadline of ' + str(deadline) + ' s passed; ' if left <= 0 else ''}"
                        f"last error: {exc}). The publisher may be down; the task retries later."
                    ) from exc
                delay = min(backoff * 2 ** (attempt - 1) * (0.8 + 0.4 * random.random()), left)
                log.warning(
                    "download_retry", url=url, attempt=attempt, error=str(exc), delay_s=delay
                )
                sleep(delay)
    except BaseException:
        path.unlink(missing_ok=True)
        raise


class _Retry(Exception):
    """One attempt failed in a way worth retrying."""


def _attempt(
    url: str, path: Path, attempt: int, end: float, *, timeout: float, max_bytes: int
) -> Fetched:
    req = urllib.request.Request(url, headers={"User-Agent": USER_AGENT})
    digest = hashlib.sha256()
    size = 0
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp, path.open("wb") as out:
            expected = resp.headers.get("Content-Length")
            expected_n = int(expected) if expected and expected.isdigit() else None
            if expected_n is not None and expected_n > max_bytes:
                raise VerificationFailed(
                    f"{url} is {expected_n} bytes, more than --max-bytes={max_bytes}; "
                    "raise ingest.max_bytes in dags/datasets.yaml if the file is genuine."
                )
            while chunk := resp.read(CHUNK_BYTES):
                size += len(chunk)
                if size > max_bytes:
                    raise VerificationFailed(
                        f"{url} is larger than --max-bytes={max_bytes}; raise ingest.max_bytes "
                        "in dags/datasets.yaml if the file is genuine."
                    )
                digest.update(chunk)
                out.write(chunk)
                if time.monotonic() > end:
                    raise _Retry(f"deadline passed after {size} bytes")
            if expected_n is not None and size != expected_n:
                raise _Retry(f"truncated body: {size} of {expected_n} bytes")
            etag = resp.headers.get("ETag", "")
            last_modified = resp.headers.get("Last-Modified", "")
    except urllib.error.HTTPError as exc:
        if exc.code in (403, 404):
            raise NotYetPublished(
                f"{url} answered {exc.code}: the month is not published yet."
            ) from exc
        if _retryable_status(exc.code):
            raise _Retry(f"HTTP {exc.code}") from exc
        raise SourceUnavailable(f"{url} answered HTTP {exc.code} ({exc.reason}).") from exc
    except (TimeoutError, urllib.error.URLError, HTTPException, ConnectionError) as exc:
        raise _Retry(f"{type(exc).__name__}: {exc}") from exc
    log.info("download_done", url=url, bytes=size, attempt=attempt)
    return Fetched(path, digest.hexdigest(), size, etag, last_modified, attempt)


# --- 2. verify -------------------------------------------------------------------------------
def check_dataset(dataset: str) -> None:
    if dataset not in VERIFIED_DATASETS:
        raise ConfigError(
            f"--dataset {dataset!r}: the loads know the columns of {', '.join(VERIFIED_DATASETS)} "
            "only (taxi_spark.schema); map its schema there before ingesting it."
        )


def verify(path: Path, dataset: str, *, min_bytes: int, max_bytes: int, source: str) -> int:
    """Check ``path`` is the monthly Parquet file the loads expect; returns its row count."""
    from taxi_spark import grouping, schema

    check_dataset(dataset)
    size = path.stat().st_size
    if not min_bytes <= size <= max_bytes:
        raise VerificationFailed(
            f"{source} is {size} bytes, outside the bounds [{min_bytes}, {max_bytes}] "
            "(ingest.min_bytes / ingest.max_bytes in dags/datasets.yaml)."
        )
    with path.open("rb") as f:
        head = f.read(4)
        f.seek(-4, os.SEEK_END)
        tail = f.read(4)
    if head != MAGIC or tail != MAGIC:
        raise VerificationFailed(
            f"{source} is not a Parquet file (starts with {head!r}, ends with {tail!r}; "
            "expected b'PAR1' at both ends): an error page or a truncated file?"
        )
    try:
        footer = grouping.read_footer(uris.to_uri("file", str(path)))
        schema.plan(list(footer.columns), source)
    except SchemaError as exc:
        raise VerificationFailed(f"{source}: {exc}") from exc
    if footer.num_rows <= 0:
        raise VerificationFailed(f"{source} has no rows.")
    return footer.num_rows


# --- 3. upload -------------------------------------------------------------------------------
@contextlib.contextmanager
def sigterm_raises() -> Iterator[None]:
    """Turn SIGTERM into :class:`Terminated` (main thread only) so cleanup code runs."""

    def handler(signum, frame):
        raise Terminated("SIGTERM")

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def metadata(fetched: Fetched, url: str) -> dict[str, str]:
    """Object metadata (ASCII, as S3 user metadata must be)."""
    return {
        "source-url": url,
        "source-etag": fetched.etag.strip('"'),
        "source-last-modified": fetched.last_modified,
        "sha256": fetched.sha256,
    }


def s3_client():
    import boto3
    from botocore.config import Config

    from taxi_spark import aws

    config = Config(retries={"max_attempts": 5, "mode": "standard"}, connect_timeout=30)
    creds = aws.federated_credentials("taxi-ingest", role_env="AWS_INGEST_ROLE_ARN")
    if creds is None:
        return boto3.client("s3", config=config)
    return boto3.client(
        "s3",
        aws_access_key_id=creds.access_key,
        aws_secret_access_key=creds.secret_key,
        aws_session_token=creds.session_token,
        config=config,
    )


def existing_sha256_s3(client, bucket: str, key: str) -> str | None:
    from botocore.exceptions import ClientError

    try:
        head = client.head_object(Bucket=bucket, Key=key)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
            return None
        raise
    return head.get("Metadata", {}).get("sha256") or ""


def upload_s3(
    client,
    path: Path,
    bucket: str,
    key: str,
    meta: dict[str, str],
    *,
    multipart_threshold: int = 64 * MIB,
    part_size: int = 64 * MIB,
    on_part: Callable[[int], None] | None = None,
) -> str | None:
    """PutObject or a multipart upload that is aborted on any error; returns the VersionId."""
    size = path.stat().st_size
    if size <= multipart_threshold:
        with path.open("rb") as body:
            resp = client.put_object(
                Bucket=bucket,
                Key=key,
                Body=body,
                Metadata=meta,
                ContentType="application/vnd.apache.parquet",
                ChecksumAlgorithm="SHA256",
            )
        return resp.get("VersionId")
    part_size = max(part_size, S3_MIN_PART, -(-size // S3_MAX_PARTS))
    upload_id = client.create_multipart_upload(
        Bucket=bucket,
        Key=key,
        Metadata=meta,
        ContentType="application/vnd.apache.parquet",
        ChecksumAlgorithm="SHA256",
    )["UploadId"]
    try:
        parts = []
        with path.open("rb") as f:
            number = 0
            while chunk := f.read(part_size):
                number += 1
                resp = client.upload_part(
                    Bucket=bucket,
                    Key=key,
                    UploadId=upload_id,
                    PartNumber=number,
                    Body=chunk,
                    ChecksumAlgorithm="SHA256",
                )
                part = {"PartNumber": number, "ETag": resp["ETag"]}
                if resp.get("ChecksumSHA256"):
                    part["ChecksumSHA256"] = resp["ChecksumSHA256"]
                parts.append(part)
                log.info("upload_part", key=key, part=number, bytes=len(chunk))
                if on_part:
                    on_part(number)
        resp = client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        log.warning("upload_aborted", key=key, upload_id=upload_id)
        client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    return resp.get("VersionId")


def sidecar(dest: Path) -> Path:
    return dest.with_name(f".{dest.name}.meta.json")


def existing_sha256_file(dest: Path) -> str | None:
    if not dest.is_file():
        return None
    digest = hashlib.sha256()
    with dest.open("rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def install_file(path: Path, dest: Path, meta: dict[str, str]) -> None:
    """Temporary file beside ``dest`` + rename (atomic), then the metadata sidecar."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=dest.parent)
    tmp = Path(name)
    try:
        with os.fdopen(fd, "wb") as out, path.open("rb") as src:
            while chunk := src.read(CHUNK_BYTES):
                out.write(chunk)
            out.flush()
            os.fsync(out.fileno())
        tmp.chmod(0o644)
        meta_tmp = sidecar(dest).with_suffix(".tmp")
        meta_tmp.write_text(json.dumps(meta, sort_keys=True) + "\n")
        meta_tmp.replace(sidecar(dest))
        tmp.replace(dest)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --- the job ---------------------------------------------------------------------------------
def run(args: argparse.Namespace) -> int:
    dest = uris.parse(args.dest, arg="--dest")
    if dest.scheme not in ("s3", "file"):
        raise UriError(f"--dest {args.dest!r} must be an s3:// or file:// object URI.")
    check_dataset(args.dataset)
    work_dir = Path(args.work_dir or tempfile.gettempdir())
    with sigterm_raises():
        fetched = download(
            args.uri,
            work_dir,
            deadline=args.deadline,
            timeout=args.timeout,
            retries=args.retries,
            backoff=args.backoff,
            max_bytes=args.max_bytes,
        )
        try:
            rows = verify(
                fetched.path,
                args.dataset,
                min_bytes=args.min_bytes,
                max_bytes=args.max_bytes,
                source=args.uri,
            )
            summary = {
                "source": args.uri,
                "dest": dest.uri,
                "dataset": args.dataset,
                "sha256": fetched.sha256,
                "bytes": fetched.bytes,
                "rows": rows,
                "attempts": fetched.attempts,
                "source_etag": fetched.etag,
                "source_last_modified": fetched.last_modified,
            }
            meta = metadata(fetched, args.uri)
            if dest.scheme == "s3":
                summary.update(_to_s3(args, fetched, dest, meta))
            else:
                target = Path(dest.path)
                before = existing_sha256_file(target)
                if before == fetched.sha256:
                    summary.update(action="unchanged", replaced=False)
                else:
                    install_file(fetched.path, target, meta)
                    summary.update(action="uploaded", replaced=before is not None)
        finally:
            fetched.path.unlink(missing_ok=True)
    log.info(
        "ingest_done",
        dest=dest.uri,
        action=summary["action"],
        replaced=summary["replaced"],
        sha256=fetched.sha256,
    )
    jobcli.write_summary(summary, args.summary_out)
    return _cli.EXIT_OK


def _to_s3(args: argparse.Namespace, fetched: Fetched, dest: uris.Location, meta) -> dict:
    bucket, _, key = dest.path.partition("/")
    if not key:
        raise UriError(f"--dest {args.dest!r} names a bucket, not an object key.")
    client = s3_client()
    before = existing_sha256_s3(client, bucket, key)
    if before == fetched.sha256:
        return {"action": "unchanged", "replaced": False}
    version = upload_s3(
        client,
        fetched.path,
        bucket,
        key,
        meta,
        multipart_threshold=args.multipart_threshold,
        part_size=args.part_size,
    )
    return {"action": "uploaded", "replaced": before is not None, "version_id": version}


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except Terminated:
        print("error: terminated (SIGTERM); no partial upload was left behind", file=sys.stderr)
        return 128 + signal.SIGTERM


def _main(argv: list[str] | None) -> int:
    return jobcli.main(
        run,
        parser(),
        argv,
        configure=logmod.configure,
        get_logger=logmod.get_logger,
        failures=[
            (NotYetPublished, "not_yet_published", EXIT_NOT_YET),
            (SourceUnavailable, "source_unavailable", EXIT_UNAVAILABLE),
            (VerificationFailed, "verification_failed", jobcli.EXIT_CHECK_FAILED),
            (TaxiSparkError, "job_failed", jobcli.EXIT_USAGE),
        ],
    )


if __name__ == "__main__":
    sys.exit(main())
