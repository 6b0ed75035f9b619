"""The engine fields of the dataset registry (``load:`` / ``transform:``): what parses, and the
error (naming dataset, field and fix) for what does not; the batch task graph per engine."""

from __future__ import annotations

import textwrap

import pytest

from common import datasets, engine_tasks, engines
from common.jobs import batch_jobs

BASE = """
datasets:
  - name: yellow
    file_prefix: yellow_tripdata_
    landing_prefix: "trip data/"
    primary: true
    description: Yellow.
"""


def registry(extra: str) -> tuple[datasets.Dataset, ...]:
    return datasets.parse(BASE + textwrap.indent(textwrap.dedent(extra), "    "))


def test_default_is_in_cluster_for_both_steps():
    (d,) = datasets.parse(BASE)
    assert d.load == d.transform == engines.IN_CLUSTER_ENGINE
    assert not d.load.remote
    assert d.connections == ()


def test_the_real_registry_parses_and_stays_in_cluster():
    for d in datasets.load():
        assert d.load.kind == d.transform.kind == engines.IN_CLUSTER


def test_dbt_cloud_transform():
    (d,) = registry(
        """
        transform:
          engine: dbt-cloud
          account_id: 70
          job_id: 123
        """
    )
    assert d.transform == engines.Engine(
        "dbt-cloud", "dbt_cloud_default", job_id=123, account_id=70
    )
    assert d.connections == ("dbt_cloud_default",)
    assert d.transform.timeout.total_seconds() == 120 * 60


def test_databricks_load_job_and_transform_task():
    (d,) = registry(
        """
        load:
          engine: databricks
          connection: dbx_prod
          job_id: 42
          timeout_minutes: 30
        transform:
          engine: databricks
          task:
            notebook_task: {notebook_path: /Repos/taxi/transform}
            existing_cluster_id: 0101-abc
        """
    )
    assert (d.load.kind, d.load.job_id, d.load.connection) == ("databricks", 42, "dbx_prod")
    assert d.load.timeout_minutes == 30
    assert d.transform.task["notebook_task"]["notebook_path"] == "/Repos/taxi/transform"
    assert d.transform.task_param_field == "base_parameters"
    assert d.connections == ("databricks_default", "dbx_prod")


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (
            "transform: {engine: spark-cloud}",
            "dataset 'yellow' transform.engine='spark-cloud' is not a transform engine; use one "
            "of in-cluster, dbt-cloud, databricks",
        ),
        (
            "load: {engine: dbt-cloud, account_id: 1, job_id: 2}",
            "load.engine='dbt-cloud' is not a load engine; use one of in-cluster, databricks",
        ),
        ("transform: {engine: dbt-cloud, account_id: 1}", "engine dbt-cloud needs job_id"),
        ("transform: {engine: dbt-cloud, job_id: 9}", "engine dbt-cloud needs account_id"),
        ("transform: {engine: dbt-cloud, account_id: 1, job_id: 0}", "job_id=0 must be a positive"),
        ("transform: {engine: dbt-cloud, account_id: 1, job_id: '7'}", "job_id='7' must be"),
        (
            "transform: {engine: dbt-cloud, account_id: 1, job_id: 2, connection: ''}",
            "transform.connection='' must be an Airflow connection id",
        ),
        (
            "transform: {engine: dbt-cloud, account_id: 1, job_id: 2, connection: Prod-DBT}",
            "taxi-platform:airflowConnections",
        ),
        ("load: {engine: databricks}", "needs exactly one of job_id"),
        (
            "load: {engine: databricks, job_id: 1, task: {notebook_task: {notebook_path: /x}}}",
            "both are set",
        ),
        (
            "load: {engine: databricks, task: {spark_jar_task: {main_class_name: X}}}",
            "exactly one of notebook_task, python_wheel_task (found none)",
        ),
        (
            "load: {engine: databricks, task: {notebook_task: {notebook_path: /x}}}",
            "task has no compute",
        ),
        (
            "load: {engine: databricks, task: {notebook_task: {}, existing_cluster_id: c}}",
            "notebook_path is required",
        ),
        (
            "load: {engine: databricks, task: {existing_cluster_id: c, notebook_task: "
            "{notebook_path: /x, base_parameters: {month: '2024-01'}}}}",
            "sets month; the DAG passes these per run",
        ),
        (
            "transform: {engine: in-cluster, job_id: 3}",
            "field(s) job_id that engine 'in-cluster' does not take",
        ),
        (
            "transform: {engine: dbt-cloud, account_id: 1, job_id: 2, task: {}}",
            "field(s) task that engine 'dbt-cloud' does not take",
        ),
        ("transform: [dbt-cloud]", "transform must be a mapping with 'engine'"),
        (
            "transform: {engine: dbt-cloud, account_id: 1, job_id: 2, timeout_minutes: -5}",
            "timeout_minutes=-5 must be a positive integer",
        ),
    ],
)
def test_bad_engine_entries_fail_at_parse_with_a_clear_error(extra, message):
    with pytest.raises(datasets.RegistryError) as err:
        registry(extra)
    assert message in str(err.value)
    assert str(err.value).startswith("datasets.yaml: dataset 'yellow'")


def test_shorthand_engine_string():
    (d,) = registry("transform: in-cluster")
    assert d.transform == engines.IN_CLUSTER_ENGINE
    with pytest.raises(datasets.RegistryError, match="engine dbt-cloud needs account_id"):
        registry("transform: dbt-cloud")


@pytest.mark.parametrize(
    ("extra", "graph"),
    [
        ("", ["copy_to_staging", "validate", "load", "dbt_build", "retrain", "publish_docs"]),
        (
            "transform: {engine: dbt-cloud, account_id: 1, job_id: 2}",
            [
                "copy_to_staging",
                "validate",
                "load",
                "transform_dbt_cloud",
                "retrain",
                "publish_docs",
            ],
        ),
        (
            "load: {engine: databricks, job_id: 5}\ntransform: {engine: databricks, job_id: 6}",
            [
                "copy_to_staging",
                "validate",
                "load_databricks",
                "transform_databricks",
                "retrain",
                "publish_docs",
            ],
        ),
    ],
)
def test_batch_steps_replace_the_in_cluster_jobs(extra, graph):
    (d,) = registry(extra) if extra else datasets.parse(BASE)
    steps = engine_tasks.batch_steps(d, batch_jobs(d))
    assert [s.task_id for s in steps] == graph
