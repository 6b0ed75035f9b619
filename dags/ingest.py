"""
### ingest — the publisher's monthly files into the landing bucket

Airflow DAG generated once per enabled dataset of `datasets.yaml` that has `ingest_from`
(`ingest` for the primary dataset, `ingest_<name>` for the others). Monthly, with catchup from
`ingest_from`, paused at creation: unpause it to start fetching.

* **tasks**: `plan` (the run's month = its data interval, the publisher's URL, the landing key
  the S3 trigger expects) → `download` (stream, verify the Parquet file, upload unless the
  landing object already has the same sha256).
* **not published yet** (403/404): `download` waits (deferred to the triggerer) and asks again
  every `ingest.poke_minutes` until `publication_lag_days + patience_days`, then fails with the
  month and the URL.
* **what follows**: a new landing object (or a new version of a republished month) raises the
  S3 event that starts `batch`; an unchanged month uploads nothing and starts nothing.
* **runtime**: `PLATFORM_RUNTIME=kubernetes` runs the download as a Kubernetes Job (service
  account `ingest`, write-only AWS role), `local` as a local process into the landing folder.
"""

from __future__ import annotations

from common import datasets, ingest

for _dataset in datasets.enabled():
    if _dataset.ingest_from is not None:
        globals()[_dataset.ingest_dag_id] = ingest.ingest_dag(_dataset, doc_md=__doc__)
