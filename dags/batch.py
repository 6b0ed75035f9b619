"""
### batch — one monthly file through the pipeline

Airflow DAG generated once per enabled dataset of `datasets.yaml` (`batch` for the primary
dataset, `batch_<name>` for the others). Triggered by the S3 trigger function through the REST
API with a deterministic run id (a duplicate S3 event gets HTTP 409).

* **conf**: `{"uri": "<s3|gs|file URI of one monthly file>"}` (required), optional
  `"version_id"`. A missing or malformed conf fails `check_conf` with what was expected.
* **tasks**: `check_conf` → `copy_to_staging` (to `<STAGING_URI>/<dataset>/<file>`) →
  `validate` (Great Expectations; below threshold fails the run) → `load` (Spark batch load,
  the file's date partitions overwritten) → `dbt_build` → `retrain` and `publish_docs` side
  by side (the docs describe the tables dbt built, not the model).
* **idempotent**: every task overwrites what it owns (same staged object, same partitions,
  same docs), so re-running a run yields the same tables and files.
* **runtime**: `PLATFORM_RUNTIME=kubernetes` runs Kubernetes Jobs and SparkApplications,
  `local` runs the same jobs as local processes.
"""

from __future__ import annotations

from common import datasets, factory

for _dataset in datasets.enabled():
    globals()[_dataset.batch_dag_id] = factory.batch_dag(_dataset, doc_md=__doc__)
