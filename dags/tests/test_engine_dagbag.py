"""DagBag of a DAG folder whose registry puts one dataset on each engine (a temporary folder: the
real registry stays in-cluster): zero import errors, the task graph per engine, and a bad
engine entry showing as an import error that names the dataset, the field and the fix."""

from __future__ import annotations

import textwrap

import pytest

REGISTRY = """
datasets:
  - name: yellow
    file_prefix: yellow_tripdata_
    landing_prefix: "trip data/"
    primary: true
    description: in-cluster.
  - name: green
    file_prefix: green_tripdata_
    landing_prefix: "trip data/"
    description: transform on dbt Cloud.
    transform: {engine: dbt-cloud, account_id: 70, job_id: 123}
  - name: fhv
    file_prefix: fhv_tripdata_
    landing_prefix: "trip data/"
    description: load and transform on Databricks.
    load: {engine: databricks, job_id: 42}
    transform:
      engine: databricks
      task:
        notebook_task: {notebook_path: /Repos/taxi/transform}
        existing_cluster_id: 0101-x
"""
DAG_FILE = """
# An Airflow DAG file (DagBag's safe mode parses files that mention airflow and dag).
from pathlib import Path
from common import datasets, factory

for _d in datasets.enabled(Path(__file__).with_name("datasets.yaml")):
    globals()[_d.batch_dag_id] = factory.batch_dag(_d, doc_md="batch")
"""
GRAPHS = {
    "batch": ["load", "dbt_build"],
    "batch_green": ["load", "transform_dbt_cloud"],
    "batch_fhv": ["load_databricks", "transform_databricks"],
}


def bag(folder, registry: str):
    from airflow.dag_processing.dagbag import DagBag

    (folder / "datasets.yaml").write_text(textwrap.dedent(registry))
    (folder / "engines_batch.py").write_text(DAG_FILE)
    return DagBag(dag_folder=str(folder))


@pytest.mark.parametrize("runtime", ["local", "kubernetes"])
def test_one_dataset_per_engine_parses_into_its_task_graph(tmp_path, monkeypatch, runtime):
    monkeypatch.setenv("PLATFORM_RUNTIME", runtime)
    b = bag(tmp_path, REGISTRY)
    assert b.import_errors == {}
    assert set(b.dag_ids) == set(GRAPHS)
    for dag_id, (load, transform) in GRAPHS.items():
        dag = b.dags[dag_id]
        order, task = [], dag.get_task("check_conf")
        while True:
            order.append(task.task_id)
            if task.task_id == transform:
                break
            (task,) = task.downstream_list
        assert order == ["check_conf", "copy_to_staging", "validate", load, transform]
        # retrain and publish_docs follow the transform side by side, whichever engine runs it.
        assert {t.task_id for t in task.downstream_list} == {"retrain", "publish_docs"}
        assert all(not t.downstream_list for t in task.downstream_list)
        remote = [t for t in dag.tasks if type(t).__name__ == "RemoteEngineTask"]
        assert {t.task_id for t in remote} == {load, transform} - {"load", "dbt_build"}
        for t in remote:
            assert t.execution_timeout.total_seconds() == 120 * 60
            assert "check_conf" in t.month
            assert "staged_uri" in t.file_uri


def test_a_bad_engine_entry_is_an_import_error_naming_the_fix(tmp_path):
    b = bag(tmp_path, REGISTRY.replace("job_id: 123", "jobid: 123"))
    (error,) = b.import_errors.values()
    assert "dataset 'green' transform has field(s) jobid" in error
    assert "allowed: account_id, connection, engine, job_id, timeout_minutes" in error
