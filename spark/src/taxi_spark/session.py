"""SparkSession construction for both runtimes.

* ``local``: ``local[N]`` master (``SPARK_LOCAL_CORES``, default 2), UI off, few shuffle
  partitions. No ``spark.jars.packages``: nothing is downloaded at run time.
* ``kubernetes``: the spark-operator's ``spark-submit`` sets master, resources and jars (the
  image ships the GCS and BigQuery connectors), so only job-level settings are applied here.
"""

from __future__ import annotations

import os

# Settings every job relies on, whatever the runtime.
COMMON_CONF = {
    # Timestamps in the TLC files are local wall-clock times without zone: keep them as
    # timestamp_ntz and make any zone-dependent conversion deterministic.
    "spark.sql.session.timeZone": "UTC",
    # Overwrite only the partitions a write touches (idempotent loads).
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
    "spark.ui.showConsoleProgress": "false",
}


def build(app_name: str, runtime: str = "local", extra: dict[str, str] | None = None):
    """The job's SparkSession; ``runtime`` is ``PLATFORM_RUNTIME`` (``local``/``kubernetes``)."""
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    conf = dict(COMMON_CONF)
    if runtime == "local":
        # Bind the local driver to loopback (no "hostname resolves to a loopback" dance).
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        cores = os.environ.get("SPARK_LOCAL_CORES", "2")
        builder = builder.master(f"local[{cores}]")
        conf.update(
            {
                "spark.ui.enabled": "false",
                "spark.sql.shuffle.partitions": os.environ.get("SPARK_SHUFFLE_PARTITIONS", "4"),
                "spark.driver.memory": os.environ.get("SPARK_DRIVER_MEMORY", "2g"),
                "spark.sql.warehouse.dir": os.environ.get(
                    "SPARK_SQL_WAREHOUSE_DIR", os.path.join(_tmp(), "taxi-spark-warehouse")
                ),
                "spark.driver.extraJavaOptions": f"-Dderby.system.home={_tmp()}",
            }
        )
    conf.update(extra or {})
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("SPARK_LOG_LEVEL", "WARN"))
    return spark


def _tmp() -> str:
    return os.environ.get("TMPDIR", "/tmp")
