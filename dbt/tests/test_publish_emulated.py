"""Publishing to ``gs://`` against fake-gcs-server on loopback.

The production code (``taxi_dbt.publish`` and ``taxi_common.uris.write_bytes`` with
``google-cloud-storage``) writes to the emulator through ``STORAGE_EMULATOR_HOST``
(``libs/python/taxi_testing/emulators.py``, from ``testing/emulators/.venv``); only the
endpoint differs. Checked: the docs page and its ``.gz`` sibling land with their content types
and cache policy, and a publish is atomic for a reader: while a page is replaced again and again
(one object upload each, up to 12 MiB so the client uses its resumable upload), concurrent
readers only ever get a whole old or a whole new page, never a part, never a missing object.
"""

from __future__ import annotations

import gzip
import threading
import time

import pytest
from google.cloud import storage as gcs_storage

from conftest import Built, describe, run_module
from taxi_dbt import storage
from taxi_dbt.errors import StorageError
from taxi_testing import emulators

BUCKET = "acme-docs"


@pytest.fixture(scope="module")
def gcs(tmp_path_factory):
    with emulators.gcs_with_bucket(tmp_path_factory.mktemp("gcs"), BUCKET) as emulator:
        yield emulator


def test_publisher_uploads_the_page_and_its_gzip_sibling_to_gcs(gcs, built: Built):
    assert built.first.code == 0, describe(built.first)
    env = dict(
        built.env,
        DOCS_URI=f"gs://{BUCKET}/site root",
        STORAGE_EMULATOR_HOST=gcs.endpoint,
    )
    run = run_module("taxi_dbt.publish", [], env)
    assert run.code == 0, describe(run)
    assert run.summary["dbt_docs"]["uri"] == f"gs://{BUCKET}/site root/dbt/index.html"
    bucket = gcs_storage.Client().bucket(BUCKET)
    page = bucket.get_blob("site root/dbt/index.html")
    sibling = bucket.get_blob("site root/dbt/index.html.gz")
    assert page.content_type == "text/html; charset=utf-8"
    assert page.cache_control == "no-cache, max-age=0"
    assert sibling.content_type == "application/gzip"
    assert sibling.content_encoding is None, "stored as bytes: GCS must not transcode it"
    body = page.download_as_bytes()
    assert len(body) == run.summary["dbt_docs"]["bytes"]
    assert gzip.decompress(sibling.download_as_bytes()) == body
    assert b"<html" in body[:5000].lower()


def test_a_missing_bucket_fails_with_a_clear_message(gcs):
    with pytest.raises(StorageError, match="bucket gs://no-such-docs-bucket does not exist"):
        storage.put_bytes("gs://no-such-docs-bucket/dbt/index.html", b"<html></html>")


@pytest.mark.parametrize("size", [200_000, 12 * 1024 * 1024], ids=["multipart", "resumable"])
def test_concurrent_readers_see_the_old_or_the_new_page_never_a_part(gcs, size):
    uri = f"gs://{BUCKET}/reports/model/index {size}.html"
    key = uri.split(f"gs://{BUCKET}/", 1)[1]
    versions = [bytes([65 + v]) * size for v in range(6)]  # AAAA…, BBBB…, …
    storage.put_bytes(uri, versions[0])
    stop = threading.Event()
    seen: dict[int, int] = {}
    bad: list[str] = []

    def reader() -> None:
        bucket = gcs_storage.Client().bucket(BUCKET)
        while not stop.is_set():
            try:
                # A new Blob each time: a reused one remembers the generation it downloaded
                # and would ask for that one (404 once it is replaced).
                data = bucket.blob(key).download_as_bytes()
            except Exception as exc:  # noqa: BLE001 - any failure is a finding
                bad.append(f"read failed: {exc!r}")
                continue
            if len(data) != size or data.count(data[:1]) != size:
                bad.append(f"partial or mixed page: {len(data)} bytes")
                continue
            seen[data[0]] = seen.get(data[0], 0) + 1

    threads = [threading.Thread(target=reader) for _ in range(3)]
    for t in threads:
        t.start()
    try:
        for version in versions[1:]:
            storage.put_bytes(uri, version)
            time.sleep(0.05)
    finally:
        stop.set()
        for t in threads:
            t.join(60)
    assert bad == []
    assert sum(seen.values()) >= 3, seen
    assert len(seen) >= 2, f"the readers saw only one version: {seen}"
    assert set(seen) <= {v[0] for v in versions}
    final = gcs_storage.Client().bucket(BUCKET).blob(key).download_as_bytes()
    assert final == versions[-1]
