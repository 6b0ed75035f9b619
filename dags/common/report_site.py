"""The run reports' pages in the docs site: ``<DOCS_URI>/reports/...`` on ``file://`` or ``gs://``.

:func:`publish` writes ``reports/<dataset>/<month>/index.html`` and refreshes the two index
pages, ``reports/<dataset>/index.html`` (the months) and ``reports/index.html`` (the datasets),
each listing the sub-folders that hold an ``index.html``, so an index never links to a folder
without a page.

A reader sees the old or the new page, never a part: on ``file://`` each page is written to a
hidden sibling and renamed over the old one; on ``gs://`` each page is one object upload
(``google-cloud-storage``'s single-request upload for pages this small), which GCS makes
visible whole or not at all. Pages are ``text/html; charset=utf-8`` with
``Cache-Control: no-cache, max-age=0`` (a report is replaced when a month is run again).

On the cluster the client signs in as Airflow's Google service account (GKE Workload
Identity), which holds ``roles/storage.objectUser`` on ``reports/`` of the docs bucket only
(``components/identities``). ``STORAGE_EMULATOR_HOST`` points the client at an emulator
(the tests: fake-gcs-server on loopback).
"""

from __future__ import annotations

import urllib.parse
from pathlib import Path
from typing import Any

from common import report as rpt

CONTENT_TYPE = "text/html; charset=utf-8"
CACHE_CONTROL = "no-cache, max-age=0"
PAGE = "index.html"


class PublishError(RuntimeError):
    """A page could not be written or listed (the message says where and why)."""


class _Site:
    """Writes and lists under one ``file://`` or ``gs://`` base; one GCS client per publish."""

    def __init__(self, base: str) -> None:
        self.base = base.rstrip("/")
        parsed = urllib.parse.urlparse(self.base)
        self.scheme = parsed.scheme
        if self.scheme == "file":
            self.root = Path(urllib.parse.unquote(parsed.path))
        elif self.scheme == "gs":
            self.bucket_name = parsed.netloc
            self.prefix = parsed.path.strip("/")
            self._bucket: Any = None
        else:
            raise PublishError(f"DOCS_URI scheme {self.scheme!r} is not file:// or gs://")

    # --- gs:// ------------------------------------------------------------------------------
    def _gcs(self, what: str, call: Any) -> Any:
        """``call(bucket)``; the client's errors (API, auth, transport) as PublishError."""
        try:
            from google.api_core import exceptions as api_exceptions
            from google.auth import exceptions as auth_exceptions
            from google.cloud import storage
        except ImportError as exc:
            raise PublishError(
                "gs:// needs google-cloud-storage, which this Airflow image does not carry"
            ) from exc
        try:
            if self._bucket is None:
                self._bucket = storage.Client().bucket(self.bucket_name)
            return call(self._bucket)
        except (api_exceptions.GoogleAPIError, auth_exceptions.GoogleAuthError) as exc:
            raise PublishError(f"{what}: {exc}") from exc

    def _key(self, relative: str) -> str:
        return f"{self.prefix}/{relative}" if self.prefix else relative

    # --- both -------------------------------------------------------------------------------
    def uri(self, relative: str) -> str:
        return f"{self.base}/{relative}"

    def write(self, relative: str, data: bytes) -> None:
        if self.scheme == "file":
            path = self.root / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp")
            tmp.write_bytes(data)
            tmp.chmod(0o644)
            tmp.replace(path)
            return

        def upload(bucket: Any) -> None:
            blob = bucket.blob(self._key(relative))
            blob.cache_control = CACHE_CONTROL
            blob.upload_from_string(data, content_type=CONTENT_TYPE)

        self._gcs(f"writing {self.uri(relative)}", upload)

    def folders_with_page(self, relative: str) -> list[str]:
        """Names of the direct sub-folders of ``relative`` that hold an ``index.html``."""
        if self.scheme == "file":
            folder = self.root / relative
            if not folder.is_dir():
                return []
            return [p.name for p in folder.iterdir() if (p / PAGE).is_file()]
        # Every object under the folder, keeping <folder>/<name>/index.html: one paged list
        # call (a delimiter listing would show folders without a page too).
        prefix = self._key(relative).rstrip("/") + "/"

        def names(bucket: Any) -> list[str]:
            found = []
            for blob in bucket.client.list_blobs(bucket, prefix=prefix):
                child, _, rest = blob.name[len(prefix) :].partition("/")
                if child and rest == PAGE:
                    found.append(child)
            return found

        return self._gcs(f"listing {self.uri(relative)}/", names)


def publish(report: rpt.RunReport, docs_uri: str) -> str:
    """Write the report page and refresh the index pages; returns the page's URI."""
    site = _Site(docs_uri)
    dataset_dir = f"reports/{report.dataset}"
    page = f"{dataset_dir}/{report.month}/{PAGE}"
    site.write(page, rpt.render_html(report).encode())
    months = sorted({*site.folders_with_page(dataset_dir), report.month})
    site.write(
        f"{dataset_dir}/{PAGE}",
        rpt.render_index(f"Run reports: {report.dataset}", months).encode(),
    )
    datasets = sorted({*site.folders_with_page("reports"), report.dataset})
    site.write(f"reports/{PAGE}", rpt.render_index("Run reports", datasets).encode())
    return site.uri(page)
