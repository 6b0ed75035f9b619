"""SparkSession construction for both runtimes.

* ``local``: ``local[N]`` master (``SPARK_LOCAL_CORES``, default 2), UI off, few shuffle
  partitions. No ``spark.jars.packages``: nothing is downloaded at run time.
  With ``SPARK_REMOTE=sc://host:port`` (what ``npm start`` sets) the job is instead a client of
  a long-lived local Spark Connect server (``python -m taxi_spark.connect_server``, started
  with the same local settings), so a task pays no JVM start of its own. The job code is the
  same either way: it gets a ``SparkSession`` and uses the DataFrame API only.
* ``kubernetes``: the spark-operator's ``spark-submit`` sets master, resources and jars (the
  image ships the GCS and BigQuery connectors), so only job-level settings are applied here.
  ``SPARK_REMOTE`` is refused there (the cluster runs Spark on Kubernetes, never Connect).
"""

from __future__ import annotations

import atexit
import os
import socket
import time

from taxi_spark.errors import ConfigError
from taxi_spark.log import get_logger

log = get_logger(__name__)

# Settings every job relies on, whatever the runtime. Both are runtime SQL settings, so a
# Spark Connect session can set them for itself too.
SESSION_CONF = {
    # Timestamps in the TLC files are local wall-clock times without zone: keep them as
    # timestamp_ntz and make any zone-dependent conversion deterministic.
    "spark.sql.session.timeZone": "UTC",
    # Overwrite only the partitions a write touches (idempotent loads).
    "spark.sql.sources.partitionOverwriteMode": "dynamic",
}
COMMON_CONF = {**SESSION_CONF, "spark.ui.showConsoleProgress": "false"}
# Settings a Connect client may set on its own session (the rest belong to the server's JVM).
CLIENT_SETTABLE = ("spark.sql.",)


def local_conf() -> dict[str, str]:
    """The local runtime's settings: of a job's own ``local[N]`` session, and of the Connect
    server's (so a task behaves the same as a client)."""
    return {
        **COMMON_CONF,
        "spark.master": f"local[{os.environ.get('SPARK_LOCAL_CORES', '2')}]",
        "spark.ui.enabled": "false",
        "spark.sql.shuffle.partitions": os.environ.get("SPARK_SHUFFLE_PARTITIONS", "4"),
        "spark.driver.memory": os.environ.get("SPARK_DRIVER_MEMORY", "2g"),
        "spark.sql.warehouse.dir": os.environ.get(
            "SPARK_SQL_WAREHOUSE_DIR", os.path.join(_tmp(), "taxi-spark-warehouse")
        ),
        "spark.driver.extraJavaOptions": f"-Dderby.system.home={_tmp()}",
    }


def remote_url(runtime: str, env: dict[str, str] | None = None) -> str | None:
    """The Spark Connect URL from ``SPARK_REMOTE`` (local runtime only), or None."""
    env = os.environ if env is None else env
    url = (env.get("SPARK_REMOTE") or "").strip()
    if not url:
        return None
    if runtime != "local":
        raise ConfigError(
            f"SPARK_REMOTE={url!r} is set but PLATFORM_RUNTIME={runtime!r}: Spark Connect is for "
            "the local runtime only (the cluster runs each job as a SparkApplication); unset it."
        )
    if not url.startswith("sc://") or len(url) <= len("sc://"):
        raise ConfigError(
            f"SPARK_REMOTE={url!r} is not a Spark Connect URL: expected sc://HOST:PORT (e.g. "
            "sc://localhost:15002, the server of `python -m taxi_spark.connect_server`), or "
            "unset it to start a local Spark in the job."
        )
    return url


def build(app_name: str, runtime: str = "local", extra: dict[str, str] | None = None):
    """The job's SparkSession; ``runtime`` is ``PLATFORM_RUNTIME`` (``local``/``kubernetes``)."""
    started = time.perf_counter()
    url = remote_url(runtime)
    if url is not None:
        spark = _connect(app_name, url, extra or {})
    else:
        spark = _classic(app_name, runtime, extra or {})
    log.info(
        "spark_session_ready",
        app=app_name,
        mode="connect" if url is not None else "classic",
        seconds=round(time.perf_counter() - started, 3),
    )
    return spark


def _classic(app_name: str, runtime: str, extra: dict[str, str]):
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    conf = dict(COMMON_CONF)
    if runtime == "local":
        # Bind the local driver to loopback (no "hostname resolves to a loopback" dance).
        os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
        conf.update(local_conf())
    conf.update(extra)
    for key, value in conf.items():
        builder = builder.config(key, value)
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("SPARK_LOG_LEVEL", "WARN"))
    return spark


def _connect(app_name: str, url: str, extra: dict[str, str]):
    """A Spark Connect session on the server at ``url``: only session-level SQL settings are
    set here (``extra`` may hold no others); the server has the local runtime's settings."""
    from pyspark.errors.exceptions.connect import SparkConnectGrpcException
    from pyspark.sql import SparkSession

    rejected = sorted(k for k in extra if not k.startswith(CLIENT_SETTABLE))
    if rejected:
        raise ConfigError(
            f"{', '.join(rejected)} cannot be set by a Spark Connect client (SPARK_REMOTE={url}): "
            "set them on the server (python -m taxi_spark.connect_server --conf KEY=VALUE) or "
            "unset SPARK_REMOTE."
        )
    _require_listening(url)
    conf = {
        **SESSION_CONF,
        "spark.sql.shuffle.partitions": os.environ.get("SPARK_SHUFFLE_PARTITIONS", "4"),
        **extra,
    }
    try:
        # pyspark's own entry point: it also switches pyspark.sql.functions to Connect mode.
        spark = SparkSession.builder.remote(url).getOrCreate()
        for key, value in conf.items():
            spark.conf.set(key, value)
    except SparkConnectGrpcException as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ConfigError(
            f"the Spark Connect server at SPARK_REMOTE={url} did not answer ({first}). Start one "
            "with `python -m taxi_spark.connect_server --port PORT` (npm start does), or unset "
            "SPARK_REMOTE to start a local Spark in the job."
        ) from exc
    # Release the server-side session (its cached DataFrames, temp views) when the job ends.
    atexit.register(_stop_quietly, spark)
    return spark


def connect_address(url: str) -> tuple[str, int]:
    """``(host, port)`` of ``sc://host[:port][/;params]`` (Spark Connect's default port 15002)."""
    hostport = url.removeprefix("sc://").split("/", 1)[0]
    host, sep, port = hostport.rpartition(":")
    if not sep:
        return hostport, 15002
    if not port.isdigit():
        raise ConfigError(f"SPARK_REMOTE={url!r}: port {port!r} is not a number.")
    return host.strip("[]"), int(port)


def _require_listening(url: str, timeout: float = 10.0) -> None:
    """Fail at once when nothing listens at ``url``: the Connect client would retry for
    minutes before saying so."""
    host, port = connect_address(url)
    deadline = time.monotonic() + timeout
    while True:
        try:
            with socket.create_connection((host, port), timeout=2):
                return
        except OSError as exc:
            if time.monotonic() >= deadline:
                raise ConfigError(
                    f"no Spark Connect server listens at SPARK_REMOTE={url} ({exc}). Start one "
                    "with `python -m taxi_spark.connect_server --port PORT` (npm start does), "
                    "or unset SPARK_REMOTE to start a local Spark in the job."
                ) from exc
            time.sleep(0.5)


def _stop_quietly(spark) -> None:
    try:
        spark.stop()
    except Exception as exc:  # noqa: BLE001 - the server may be gone; the job's result stands
        log.warning("spark_session_release_failed", error=str(exc))


def _tmp() -> str:
    return os.environ.get("TMPDIR", "/tmp")
