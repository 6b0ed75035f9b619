"""Copy one object, or every matching object under a folder, between file://, gs:// and s3://.

    python -m taxi_spark.jobs.copy_files \\
        --uri s3://landing/trip\\ data/yellow_tripdata_2024-01.parquet \\
        --dest gs://…-staging/yellow/yellow_tripdata_2024-01.parquet
    python -m taxi_spark.jobs.copy_files --uri "file:///data/landing/trip data/" \\
        --dest file:///data/staging/yellow/ --glob "yellow_tripdata_*.parquet"

Streams through pyarrow filesystems (constant memory, no local copy); in the cluster the S3
source is read with credentials from web identity federation (:mod:`taxi_spark.aws`).
Idempotent: the destination is deterministic (``--dest``, or ``--dest`` folder + the source's
relative path), an existing destination of the same size is skipped, and on ``file://`` the
data is written to a temporary name beside the destination and renamed into place, so a failed
copy never leaves a partial file under the final name (object stores publish an object only
when its upload completes). The JSON summary lists every file with ``copied`` or ``skipped``.
"""

from __future__ import annotations

import argparse
import fnmatch
import hashlib
import sys

import pyarrow.fs as pafs

from taxi_spark import log as logmod
from taxi_spark import uris
from taxi_spark.errors import UriError
from taxi_spark.jobs import _cli

CHUNK_BYTES = 8 * 1024 * 1024

log = logmod.get_logger("taxi_spark.jobs.copy_files")


def parser() -> argparse.ArgumentParser:
    p = _cli.new_parser(
        "copy_files", __doc__, "source object or folder URI (file://, gs://, s3://)"
    )
    p.add_argument(
        "--dest",
        required=True,
        help="destination object URI; a folder URI (ending in '/') receives the source's name",
    )
    p.add_argument(
        "--glob",
        default="*",
        help="when --uri is a folder: copy the files whose name matches (default '*')",
    )
    return p


def _size(fs: pafs.FileSystem, path: str) -> int | None:
    info = fs.get_file_info(path)
    if info.type == pafs.FileType.File:
        return info.size
    if info.type == pafs.FileType.Directory:
        raise UriError(f"--dest {path!r} is an existing folder; end a folder URI with '/'.")
    return None


def copy_file(src: uris.Location, dst: uris.Location) -> dict:
    """Copy one object; skip when ``dst`` already has the source's size."""
    src_fs, dst_fs = uris.filesystem(src), uris.filesystem(dst)
    info = src_fs.get_file_info(src.path)
    if info.type != pafs.FileType.File:
        raise UriError(f"--uri {src.uri!r} is not a file.")
    size = info.size
    record = {"source": src.uri, "dest": dst.uri, "bytes": size}
    if _size(dst_fs, dst.path) == size:
        log.info("copy_skipped", source=src.uri, dest=dst.uri, bytes=size)
        return {**record, "action": "skipped"}
    parent = dst.path.rsplit("/", 1)[0]
    if parent and dst.scheme == "file":
        # Only local folders exist: on object stores a folder marker would need bucket
        # metadata rights (storage.buckets.get) that object roles do not carry.
        dst_fs.create_dir(parent, recursive=True)
    atomic = dst.scheme == "file"
    suffix = hashlib.sha256(src.uri.encode()).hexdigest()[:12]
    target = f"{dst.path}.tmp-{suffix}" if atomic else dst.path
    try:
        with (
            src_fs.open_input_stream(src.path) as reader,
            dst_fs.open_output_stream(target) as writer,
        ):
            while chunk := reader.read(CHUNK_BYTES):
                writer.write(chunk)
        if atomic:
            dst_fs.move(target, dst.path)
    except BaseException:
        if atomic and dst_fs.get_file_info(target).type == pafs.FileType.File:
            dst_fs.delete_file(target)
        raise
    written = _size(dst_fs, dst.path)
    if written != size:
        raise UriError(
            f"copy of {src.uri!r} to {dst.uri!r} wrote {written} bytes, expected {size}."
        )
    log.info("copy_done", source=src.uri, dest=dst.uri, bytes=size)
    return {**record, "action": "copied"}


def plan(uri: str, dest: str, pattern: str) -> list[tuple[uris.Location, uris.Location]]:
    """(source, destination) pairs: one for a file, every match below a folder."""
    src = uris.parse(uri)
    dst = uris.parse(dest, arg="--dest")
    fs = uris.filesystem(src)
    info = fs.get_file_info(src.path)
    if info.type == pafs.FileType.NotFound:
        raise UriError(f"--uri {uri!r} does not exist.")
    if info.type == pafs.FileType.File:
        target = dst.child(src.name) if dest.endswith("/") else dst
        return [(src, target)]
    if not dest.endswith("/"):
        raise UriError(f"--uri {uri!r} is a folder, so --dest must be a folder URI ending in '/'.")
    root = src.path.rstrip("/")
    pairs = []
    for f in fs.get_file_info(pafs.FileSelector(root, recursive=True)):
        name = f.path.rsplit("/", 1)[-1]
        if f.type == pafs.FileType.File and fnmatch.fnmatchcase(name, pattern):
            rel = f.path[len(root) + 1 :]
            pairs.append((uris.parse(uris.to_uri(src.scheme, f.path)), dst.child(rel)))
    if not pairs:
        raise UriError(f"--uri {uri!r} has no file matching --glob {pattern!r}.")
    return sorted(pairs, key=lambda p: p[0].path)


def run(args: argparse.Namespace) -> int:
    files = [copy_file(s, d) for s, d in plan(args.uri, args.dest, args.glob)]
    summary = {
        "source": args.uri,
        "dest": args.dest,
        "copied": sum(f["action"] == "copied" for f in files),
        "skipped": sum(f["action"] == "skipped" for f in files),
        "bytes": sum(f["bytes"] for f in files if f["action"] == "copied"),
        "files": files,
    }
    _cli.write_summary(summary, args.summary_out)
    return _cli.EXIT_OK


def main(argv: list[str] | None = None) -> int:
    return _cli.main(run, parser(), argv)


if __name__ == "__main__":
    sys.exit(main())
