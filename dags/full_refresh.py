"""
### full_refresh — reload all history

Airflow DAG generated once per enabled dataset of `datasets.yaml` (`full_refresh` for the
primary dataset, `full_refresh_<name>` for the others). Triggered by hand.

* **conf** (optional): `{"from": "YYYY-MM", "to": "YYYY-MM"}`, either bound alone; the range
  limits the initial load. Anything else fails `check_conf` with what was expected.
* **tasks**: `check_conf` → `transfer` (Storage Transfer Service job S3 landing → staging;
  locally a streaming copy) → `group_schemas` (Parquet footers only) → `initial_load` (one Spark
  read per schema group) → `dbt_build` (`--full-refresh`) → `train` (from scratch).
* **idempotent**: the transfer skips objects already copied, the load overwrites the partitions
  it touches, dbt rebuilds, training registers a new model version only if better.
"""

from __future__ import annotations

from common import datasets, factory

for _dataset in datasets.enabled():
    globals()[_dataset.full_refresh_dag_id] = factory.full_refresh_dag(_dataset, doc_md=__doc__)
