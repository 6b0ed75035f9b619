"""The run report pages on ``gs://``, written by the real ``google-cloud-storage`` client to
fake-gcs-server on loopback (``libs/python/taxi_testing/emulators.py``, from
``testing/emulators/.venv``) through ``STORAGE_EMULATOR_HOST``: only the endpoint differs from
the cluster. Checked: the exact object names, the index pages listing every month and dataset
that has a page (and nothing else), content type and cache policy, and that a failed write is a
``PublishError`` the notifier logs instead of failing the mail.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

import pytest
from google.cloud import storage

from common import report as rpt
from common import report_site
from taxi_testing import emulators

BUCKET = "acme-taxi-dev-docs"


@pytest.fixture(scope="module")
def gcs(tmp_path_factory):
    with emulators.gcs_with_bucket(tmp_path_factory.mktemp("gcs"), BUCKET) as emulator:
        yield emulator


def _report(dataset: str, month: str) -> rpt.RunReport:
    return rpt.RunReport(
        dataset=dataset,
        dag_id="batch",
        run_id=f"manual__{dataset}_{month}",
        succeeded=True,
        month=month,
        file_name=f"{dataset}_tripdata_{month}.parquet",
        source_uri=None,
        started_at=None,
        ended_at=datetime.now(UTC),
        tasks=(),
        load={"rows_read": 1000, "rows_loaded": 987, "rows_quarantined": 13},
    )


def _links(html: str) -> list[str]:
    return re.findall(r'<a href="([^"]+)/">', html)


def test_publish_writes_the_page_and_both_indexes_to_gcs(gcs):
    bucket = storage.Client().bucket(BUCKET)
    # Not pages: a folder without index.html, and a page one level too deep.
    bucket.blob("reports/yellow/2023-12/notes.txt").upload_from_string(b"x")
    bucket.blob("reports/yellow/2024-01/extra/index.html").upload_from_string(b"x")
    runs = [("yellow", "2024-01"), ("green", "2024-01"), ("yellow", "2024-02")]
    uris = [report_site.publish(_report(d, m), f"gs://{BUCKET}") for d, m in runs]
    assert uris == [f"gs://{BUCKET}/reports/{d}/{m}/index.html" for d, m in runs]

    names = sorted(b.name for b in storage.Client().list_blobs(BUCKET))
    assert names == [
        "reports/green/2024-01/index.html",
        "reports/green/index.html",
        "reports/index.html",
        "reports/yellow/2023-12/notes.txt",
        "reports/yellow/2024-01/extra/index.html",
        "reports/yellow/2024-01/index.html",
        "reports/yellow/2024-02/index.html",
        "reports/yellow/index.html",
    ]
    yellow = bucket.get_blob("reports/yellow/index.html").download_as_text()
    assert _links(yellow) == ["2024-02", "2024-01"], "both months, newest first"
    root = bucket.get_blob("reports/index.html").download_as_text()
    assert _links(root) == ["yellow", "green"]
    assert _links(bucket.get_blob("reports/green/index.html").download_as_text()) == ["2024-01"]
    page = bucket.get_blob("reports/yellow/2024-02/index.html")
    assert page.content_type == "text/html; charset=utf-8"
    assert page.cache_control == "no-cache, max-age=0"
    assert "987" in page.download_as_text()
    for name in ("reports/index.html", "reports/yellow/index.html"):
        blob = bucket.get_blob(name)
        assert (blob.content_type, blob.cache_control) == (
            report_site.CONTENT_TYPE,
            report_site.CACHE_CONTROL,
        )


def test_a_docs_uri_with_a_path_keeps_its_prefix(gcs):
    uri = report_site.publish(_report("fhv", "2024-03"), f"gs://{BUCKET}/site/")
    assert uri == f"gs://{BUCKET}/site/reports/fhv/2024-03/index.html"
    names = sorted(b.name for b in storage.Client().list_blobs(BUCKET, prefix="site/"))
    assert names == [
        "site/reports/fhv/2024-03/index.html",
        "site/reports/fhv/index.html",
        "site/reports/index.html",
    ]


def test_a_missing_bucket_is_a_publish_error(gcs):
    with pytest.raises(report_site.PublishError, match="gs://no-such-bucket/reports/"):
        report_site.publish(_report("yellow", "2024-01"), "gs://no-such-bucket")


def test_other_schemes_are_refused():
    with pytest.raises(report_site.PublishError, match="not file:// or gs://"):
        report_site.publish(_report("yellow", "2024-01"), "s3://bucket")
