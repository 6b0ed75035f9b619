"""A long-lived local Spark Connect server for the local runtime (``npm start`` runs it).

    python -m taxi_spark.connect_server --port 15002 [--host 127.0.0.1] [--conf KEY=VALUE]

Starts one local Spark (the local runtime's settings, :func:`taxi_spark.session.local_conf`:
``local[SPARK_LOCAL_CORES]``, UI off, ``SPARK_DRIVER_MEMORY``) with pyspark's own Spark Connect
plugin (``org.apache.spark.sql.connect.SparkConnectPlugin``, in pyspark's jars) listening on
``host:port``, and keeps it until SIGTERM or SIGINT. Jobs run with
``SPARK_REMOTE=sc://localhost:PORT`` are its clients (:func:`taxi_spark.session.build`): each
task pays a gRPC connection instead of a JVM start.

When ``SPARK_CONNECT_AUTHENTICATE_TOKEN`` is set, the server requires it from every client (the
clients read the same variable), so other users of the machine cannot run jobs on it.

Logs JSON lines on stderr: ``connect_server_ready`` (with the URL) once it accepts clients.
Exit codes: 0 stopped by a signal, 2 bad argument or the port is taken, 1 Spark failed.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import sys
import threading
import time

from taxi_spark import log as logmod
from taxi_spark import session
from taxi_spark.errors import ConfigError

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
PLUGIN = "org.apache.spark.sql.connect.SparkConnectPlugin"
log = logmod.get_logger("taxi_spark.connect_server")


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m taxi_spark.connect_server",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--port", type=int, required=True, help="gRPC port (1024-65535)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    p.add_argument(
        "--conf",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra Spark setting of the server (repeatable)",
    )
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    return p


# The server's JVM compiles with C1 only: it serves many small queries on a machine where the
# tasks, Airflow and the warm workers share two cores, and C2's compiler threads took CPU from
# the tasks without paying it back (figures and command: spark/README.md). The cluster's
# SparkApplications keep the default.
JIT_OPTIONS = "-XX:TieredStopAtLevel=1"


def server_conf(host: str, port: int, extra: list[str]) -> dict[str, str]:
    """The server's Spark settings: the local runtime's, C1-only JIT (:data:`JIT_OPTIONS`), the
    plugin and its address; ``extra`` replaces any of them (``spark.driver.extraJavaOptions``
    too, which drops the JIT option unless it is given again)."""
    local = session.local_conf()
    conf = {
        **local,
        "spark.driver.extraJavaOptions": f"{local['spark.driver.extraJavaOptions']} {JIT_OPTIONS}",
        "spark.app.name": "taxi-spark-connect",
        "spark.plugins": PLUGIN,
        "spark.connect.grpc.binding.address": host,
        "spark.connect.grpc.binding.port": str(port),
    }
    for item in extra:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise ConfigError(
                f"--conf {item!r} is not KEY=VALUE (e.g. --conf spark.driver.memory=3g)"
            )
        conf[key.strip()] = value
    return conf


def port_taken(host: str, port: int) -> bool:
    """True when ``host:port`` cannot be bound (something listens there)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def wait_listening(host: str, port: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=1):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def warm_up(spark, url: str | None = None) -> None:
    """Run what the first task would otherwise pay for on a cold JVM (class loading, JIT of the
    Parquet reader/writer, aggregations, caching) while nothing waits: a small Parquet file is
    written, read back, cached, counted and aggregated. With ``url`` the same is then done as a
    Spark Connect client of this server (:func:`warm_up_connect`): the first task is a client
    too and would otherwise also pay for the Connect paths (session, plan translation, Arrow
    results). Failures only get logged."""
    import shutil
    import tempfile

    from pyspark.sql import functions as F

    started = time.perf_counter()
    folder = tempfile.mkdtemp(prefix="taxi-spark-warmup-")
    try:
        df = spark.range(20_000).select(
            F.col("id"),
            (F.col("id") % 97).cast("int").alias("location"),
            (F.col("id") / 7.0).alias("amount"),
            F.timestamp_seconds(F.col("id") * 60).alias("ts"),
        )
        df.write.mode("overwrite").parquet("file://" + folder + "/w")
        back = spark.read.parquet("file://" + folder + "/w").persist()
        back.count()
        back.groupBy("location").agg(F.count("*"), F.avg("amount"), F.max("ts")).collect()
        # No percentile_approx here: in one query with a distinct count it took 15-17 s for
        # these 20,000 rows on an idle machine, warm JVM or not, and no task runs it.
        back.select(F.countDistinct("id"), F.mean("amount")).collect()
        back.unpersist()
        classic = round(time.perf_counter() - started, 3)
        if url is not None:
            warm_up_connect(url, "file://" + folder + "/w")
        log.info(
            "connect_server_warmed",
            seconds=round(time.perf_counter() - started, 3),
            classic_seconds=classic,
        )
    except Exception as exc:  # noqa: BLE001 - a warm-up failure must not stop the server
        log.warning("connect_server_warm_up_failed", error=str(exc))
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def warm_up_connect(url: str, parquet: str) -> None:
    """The warm-up's queries as a Connect client of this server (its own gRPC session, the
    token from ``SPARK_CONNECT_AUTHENTICATE_TOKEN`` like every client): the kinds of query a
    validation runs (cached read, count, null and range checks, distinct, grouped aggregates),
    results back as Arrow. The Connect session class is used directly, so this process's
    classic session and ``pyspark.sql.functions`` stay as they are."""
    from pyspark.sql.connect import functions as CF
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    client = ConnectSession.builder.remote(url).create()
    try:
        df = client.read.parquet(parquet).persist()
        df.count()
        df.filter(CF.col("amount").isNull() | (CF.col("amount") < 0)).count()
        df.filter(~CF.col("location").isin(list(range(50)))).limit(20).collect()
        df.select(CF.min("ts"), CF.max("ts"), CF.countDistinct("id"), CF.mean("amount")).collect()
        df.groupBy("location").agg(CF.count("*").alias("n")).filter("n > 1").toPandas()
        df.unpersist()
    finally:
        client.stop()


def serve(args: argparse.Namespace, stop: threading.Event) -> int:
    if not 1024 <= args.port <= 65535:
        raise ConfigError(f"--port {args.port} must be between 1024 and 65535.")
    if port_taken(args.host, args.port):
        log.error(
            "connect_server_port_taken",
            host=args.host,
            port=args.port,
            hint="another Spark Connect server or program listens there: stop it or pass "
            "another --port (npm start: --port-base)",
        )
        return EXIT_USAGE
    conf = server_conf(args.host, args.port, args.conf)
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # This process is the server, never a client of one.
    os.environ.pop("SPARK_REMOTE", None)
    started = time.perf_counter()
    from pyspark import SparkConf
    from pyspark.sql import SparkSession

    spark_conf = SparkConf().setAll(list(conf.items()))
    spark = SparkSession.builder.config(conf=spark_conf).getOrCreate()
    spark.sparkContext.setLogLevel(os.environ.get("SPARK_LOG_LEVEL", "WARN"))
    try:
        if not wait_listening(args.host, args.port, 60):
            log.error("connect_server_not_listening", host=args.host, port=args.port)
            return EXIT_FAILED
        log.info(
            "connect_server_ready",
            url=f"sc://{'localhost' if args.host == '127.0.0.1' else args.host}:{args.port}",
            master=conf["spark.master"],
            driver_memory=conf["spark.driver.memory"],
            authenticated=bool(os.environ.get("SPARK_CONNECT_AUTHENTICATE_TOKEN")),
            seconds=round(time.perf_counter() - started, 3),
        )
        host = "localhost" if args.host == "127.0.0.1" else args.host
        warm_up(spark, f"sc://{host}:{args.port}")
        while not stop.wait(1.0):
            if spark.sparkContext._jsc is None:  # the context died under us
                log.error("connect_server_context_stopped")
                return EXIT_FAILED
        log.info("connect_server_stopping")
    finally:
        spark.stop()
    return EXIT_OK


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logmod.configure(args.log_level)
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    try:
        return serve(args, stop)
    except ConfigError as exc:
        log.error("connect_server_failed", error=str(exc))
        return EXIT_USAGE


if __name__ == "__main__":
    sys.exit(main())
