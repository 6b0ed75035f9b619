"""Group Parquet files by schema from their footers alone.

Reading every month in one Spark read fails on schema drift, and reading them one at a time is
slow. This module reads only each file's footer -- the trailing 8 bytes (footer length + magic)
and then exactly the footer bytes, never a data page -- maps each column to the type Spark will
infer, and groups files whose column sets are identical. Each group is then read by Spark in
one distributed read with an explicit schema (:func:`read_group`).

Footers are fetched concurrently on a thread pool: on ``gs://`` and ``s3://`` the cost is
round-trip latency, not bandwidth.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol

import pyarrow as pa
import pyarrow.parquet as pq

from taxi_spark import schema as sch
from taxi_spark import uris
from taxi_spark.errors import SchemaError
from taxi_spark.log import get_logger

log = get_logger(__name__)

_MAGIC = b"PAR1"


class RandomAccessFile(Protocol):
    def size(self) -> int: ...
    def read_at(self, nbytes: int, offset: int) -> bytes: ...
    def close(self) -> None: ...


Opener = Callable[[str], RandomAccessFile]


def _open_with_pyarrow(uri: str) -> RandomAccessFile:
    loc = uris.parse(uri)
    return uris.filesystem(loc).open_input_file(loc.path)


@dataclass(frozen=True)
class FileFooter:
    uri: str
    num_rows: int
    num_row_groups: int
    footer_bytes: int
    columns: tuple[sch.SourceColumn, ...]

    @property
    def schema_key(self) -> str:
        return schema_key(self.columns)


@dataclass(frozen=True)
class SchemaGroup:
    """Files that share one schema; ready for a single ``spark.read``."""

    key: str
    columns: tuple[sch.SourceColumn, ...]
    files: tuple[str, ...]
    num_rows: int

    def spark_ddl(self) -> str:
        """The read schema, as a Spark DDL string, in the first file's column order."""
        return ", ".join(f"`{c.name}` {c.spark_type}" for c in self.columns)

    def describe(self) -> dict:
        return {
            "key": self.key,
            "files": len(self.files),
            "rows": self.num_rows,
            "first_file": self.files[0],
            "columns": {c.name: ("null" if c.is_null else c.spark_type) for c in self.columns},
        }


def schema_key(columns: Iterable[sch.SourceColumn]) -> str:
    """A short stable id of a column set (order-insensitive: Spark matches columns by name)."""
    text = "|".join(f"{n}:{t}:{int(z)}" for n, t, z in sorted(c.key() for c in columns))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def read_footer(uri: str, opener: Opener | None = None) -> FileFooter:
    """Read one file's footer: two ranged reads at the end of the file, nothing else."""
    f = (opener or _open_with_pyarrow)(uri)
    try:
        size = f.size()
        if size < 12:
            raise SchemaError(f"file {uri} is {size} bytes, too small to be Parquet.", file=uri)
        tail = bytes(f.read_at(8, size - 8))
        if tail[4:] != _MAGIC:
            hint = " (its footer is encrypted)" if tail[4:] == b"PARE" else ""
            raise SchemaError(f"file {uri} is not a readable Parquet file{hint}.", file=uri)
        (footer_len,) = struct.unpack("<I", tail[:4])
        if footer_len + 12 > size:
            raise SchemaError(f"file {uri} has a corrupt Parquet footer length.", file=uri)
        footer = bytes(f.read_at(footer_len, size - 8 - footer_len))
    finally:
        f.close()
    # Parse the footer on its own: a buffer "PAR1 + footer + length + PAR1" is a valid
    # metadata-only Parquet file as far as the footer parser is concerned.
    try:
        pf = pq.ParquetFile(pa.BufferReader(_MAGIC + footer + tail))
        arrow_schema = pf.schema_arrow
        physical = {
            pf.schema.column(i).path: pf.schema.column(i).physical_type
            for i in range(len(pf.schema))
        }
        md = pf.metadata
    except (OSError, pa.ArrowException) as exc:
        raise SchemaError(f"file {uri} has an unreadable Parquet footer: {exc}", file=uri) from exc
    columns = []
    for field in arrow_schema:
        if pa.types.is_nested(field.type):
            raise SchemaError(
                f"column {field.name!r} in file {uri} is nested ({field.type}); the trips loads "
                "only handle flat files.",
                file=uri,
                column=field.name,
            )
        columns.append(sch.spark_type_for(field, physical.get(field.name), uri))
    return FileFooter(uri, md.num_rows, md.num_row_groups, footer_len, tuple(columns))


def read_footers(
    files: list[str], *, workers: int = 16, opener: Opener | None = None
) -> list[FileFooter]:
    """Footers of ``files`` in input order, fetched on ``workers`` threads."""
    if len(files) <= 1 or workers <= 1:
        return [read_footer(u, opener) for u in files]
    with ThreadPoolExecutor(max_workers=min(workers, len(files))) as pool:
        return list(pool.map(lambda u: read_footer(u, opener), files))


def group_footers(footers: list[FileFooter]) -> list[SchemaGroup]:
    """Group footers by schema; groups ordered by their first file, files keep input order."""
    groups: dict[str, list[FileFooter]] = {}
    for ft in footers:
        groups.setdefault(ft.schema_key, []).append(ft)
    return [
        SchemaGroup(
            key=key,
            columns=members[0].columns,
            files=tuple(m.uri for m in members),
            num_rows=sum(m.num_rows for m in members),
        )
        for key, members in groups.items()
    ]


def group_files(
    files: list[str], *, workers: int = 16, opener: Opener | None = None
) -> list[SchemaGroup]:
    """Read the footers of ``files`` and return their schema groups."""
    footers = read_footers(files, workers=workers, opener=opener)
    groups = group_footers(footers)
    log.info(
        "files_grouped",
        files=len(files),
        groups=len(groups),
        rows=sum(g.num_rows for g in groups),
    )
    return groups


def read_group(spark, group: SchemaGroup):
    """One Spark read of every file in ``group`` with the schema taken from the footers."""
    paths = [uris.to_spark_path(uris.parse(u)) for u in group.files]
    return spark.read.schema(group.spark_ddl()).parquet(*paths)


def plan_group(group: SchemaGroup) -> sch.Plan:
    """The canonical-schema plan for a group; errors name the group's first file."""
    label = group.files[0]
    if len(group.files) > 1:
        label += f" (and {len(group.files) - 1} other files with the same schema)"
    return sch.plan(list(group.columns), label)
