"""Schema grouping from footers on ``gs://`` and ``s3://``, against emulators on loopback.

fake-gcs-server and moto's server (``libs/python/taxi_testing/emulators.py``, from
``testing/emulators/.venv``) stand in for GCS and S3; the code is the production one:
``uris.filesystem`` (pyarrow's GCS and S3 clients, pointed there by ``STORAGE_EMULATOR_HOST`` and
``AWS_ENDPOINT_URL_S3``), ``uris.list_parquet`` and ``grouping.group_files`` with its default
opener. 200 files of three schemas under a prefix with a space (``trip data/``) are grouped,
and the thread pool is checked to overlap its requests: how many footers are in flight at once.
Its wall time against a serial run is printed, not asserted: on loopback an emulator has no
network latency to hide, and on a loaded 2-core machine a CPU-bound emulator can answer 16
concurrent requests no faster than one at a time (seen: serial 2.12 s, pooled 2.43 s). The
speed-up is measured by ``benchmarks/bench_grouping.py``.
"""

from __future__ import annotations

import threading
import time

import pytest

from taxi_spark import grouping, testdata, uris
from taxi_testing import emulators

FILES = 200
# Three schemas (see testdata.month_schema): 2019-02, 2021-06 and 2023-01.
MONTHS = [(2019, 2), (2021, 6), (2023, 1)]
ROWS = 20


@pytest.fixture(scope="module")
def clouds(tmp_path_factory):
    logs = tmp_path_factory.mktemp("emulators")
    gcs = emulators.start_gcs(log_dir=logs)
    aws = emulators.start_aws(log_dir=logs)
    mp = pytest.MonkeyPatch()
    try:
        mp.setenv("STORAGE_EMULATOR_HOST", gcs.endpoint)
        for key, value in emulators.aws_env(aws).items():
            mp.setenv(key, value)
        mp.delenv("AWS_LANDING_ROLE_ARN", raising=False)
        emulators.create_gcs_bucket(gcs, "acme-lake")
        emulators.create_s3_bucket(aws, "acme-landing")
        tables = [testdata.generate_month(y, m, ROWS, seed=3).table for y, m in MONTHS]
        bases = {"gs": "gs://acme-lake/trip data", "s3": "s3://acme-landing/trip data"}
        for base in bases.values():
            for i in range(FILES):
                # Names with a space and non-ASCII characters, as object keys allow.
                uri = f"{base}/part {i:03d} é.parquet"
                testdata.write_table(tables[i % len(tables)], uri)
        yield bases
    finally:
        mp.undo()
        gcs.stop()
        aws.stop()


class _Recorder:
    """Wraps the production opener: how many footers are being read at the same moment."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0
        self.opened = 0

    def opener(self, uri: str):
        recorder = self
        with self.lock:
            self.in_flight += 1
            self.opened += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            f = grouping._open_with_pyarrow(uri)
        except BaseException:
            with self.lock:
                self.in_flight -= 1
            raise

        class _Tracked:
            def size(self) -> int:
                return f.size()

            def read_at(self, nbytes: int, offset: int) -> bytes:
                return f.read_at(nbytes, offset)

            def close(self) -> None:
                f.close()
                with recorder.lock:
                    recorder.in_flight -= 1

        return _Tracked()


@pytest.mark.parametrize("scheme", ["gs", "s3"])
def test_groups_200_files_by_schema_from_their_footers(clouds, scheme):
    files = uris.list_parquet(clouds[scheme])
    assert len(files) == FILES
    assert files[0] == f"{clouds[scheme]}/part 000 é.parquet"
    groups = grouping.group_files(files, workers=16)
    assert len(groups) == len(MONTHS)
    assert sorted(len(g.files) for g in groups) == [66, 67, 67]
    assert sum(g.num_rows for g in groups) == FILES * ROWS
    # Each group holds the files of one schema, in input order.
    for k, group in enumerate(groups):
        assert list(group.files) == files[k :: len(MONTHS)]
    footer = grouping.read_footer(files[0])
    assert 0 < footer.footer_bytes < 20_000, "only the footer was fetched, by range"


@pytest.mark.parametrize("scheme", ["gs", "s3"])
def test_the_thread_pool_overlaps_footer_requests(clouds, scheme):
    files = uris.list_parquet(clouds[scheme])
    grouping.read_footers(files[:10], workers=4)  # warm the clients' connection pools

    serial = _Recorder()
    t0 = time.perf_counter()
    serial_footers = grouping.read_footers(files, workers=1, opener=serial.opener)
    serial_s = time.perf_counter() - t0

    pooled = _Recorder()
    t0 = time.perf_counter()
    pooled_footers = grouping.read_footers(files, workers=16, opener=pooled.opener)
    pooled_s = time.perf_counter() - t0

    print(
        f"\n{scheme}: {FILES} footers serial {serial_s:.2f} s, 16 threads {pooled_s:.2f} s "
        f"({serial_s / pooled_s:.1f}x), at most {pooled.max_in_flight} in flight"
    )
    assert [f.schema_key for f in pooled_footers] == [f.schema_key for f in serial_footers]
    assert serial.opened == pooled.opened == FILES
    assert serial.max_in_flight == 1
    assert pooled.max_in_flight >= 8, "the pool must have many requests open at once"
