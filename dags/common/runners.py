"""The two runtimes: one :class:`~common.jobs.Job` becomes a task; one entrypoint for both.

Either way the task renders the job's template for its run (``templates/job.yaml.j2`` or
``templates/sparkapplication.yaml.j2``, with the run's arguments and the pipeline env) when it
executes, and runs what that object says:

* ``kubernetes``: :class:`KubernetesTask` hands the object to the official cncf-kubernetes
  operators (:mod:`common.k8s_operators`, imported only then: parsing a DAG file imports
  neither the provider nor the Kubernetes client).
* ``local``: :class:`LocalJobOperator` runs exactly the object's command line on this machine
  (:func:`local_invocation`): a Job's container ``command`` + ``args``, a SparkApplication's
  ``mainApplicationFile`` + ``arguments`` through ``spark-submit``, with the environment the pod
  would get (the pipeline-env values, here local URIs from the Airflow process, and the
  template's env). Image paths (``/opt/taxi-<component>``) map to the repository folders and
  ``python3`` to the component's ``.venv``. When the Airflow process has ``SPARK_REMOTE``
  (``npm start`` runs a Spark Connect server, ``python -m taxi_spark.connect_server``), a
  SparkApplication's main file runs with the spark ``.venv`` python instead of ``spark-submit``
  and is a client of that server (:func:`taxi_spark.session.build`): the same job code, no JVM
  started per task. Jobs of other components never get ``SPARK_REMOTE`` or its token.

Both take the job's arguments as Airflow templates, so the rendered command of a run is visible
in the UI's "Rendered Template" view either way.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import threading
import time
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from airflow.sdk import BaseOperator

from common import pipeline_env, templates, warm_client
from common.jobs import COMPONENTS, IMAGE_ROOTS, Job, final_args
from common.log import event, get_logger
from common.report import TASK_KEY, tail

REPO_ROOT = Path(__file__).resolve().parents[2]
# Airflow's own settings (fernet key, DB URL, API secrets) and the local warm workers' sockets
# never reach a job's environment.
_WITHHELD_PREFIXES = ("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "_AIRFLOW", "TAXI_WARM_")
# What the local runtime renders with when the Airflow process has no cluster values.
LOCAL_RENDER_DEFAULTS = {
    "JOBS_NAMESPACE": "local",
    "IMAGE_SPARK": "local/taxi-spark",
    "IMAGE_DBT": "local/taxi-dbt",
    "IMAGE_ML": "local/taxi-ml",
}
_ENV_REF = re.compile(r"\$\(([A-Za-z_][A-Za-z0-9_]*)\)")
# The local Spark Connect server's address and token: for the Spark component's jobs only.
SPARK_CONNECT_ENV = ("SPARK_REMOTE", "SPARK_CONNECT_AUTHENTICATE_TOKEN")


class JobFailedError(RuntimeError):
    """The job ran and exited non-zero; ``exit_code`` is its code (the job CLI contract:
    1 failed check, 2 bad input, 3 not available yet, 4 source unavailable), or None when the
    runtime could not tell (e.g. the pod was never created)."""

    def __init__(self, message: str, *, exit_code: int | None) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def parse_summary(stdout_tail: str) -> Any:
    """The job's JSON summary (its last stdout line), or None when the line is not JSON."""
    line = stdout_tail.strip().rsplit("\n", 1)[-1] if stdout_tail.strip() else ""
    try:
        return json.loads(line) if line else None
    except json.JSONDecodeError:
        return None


# The four keys of every structured log event (taxi_common.jsonlog): such a line is never a
# job's summary, even when it is the last JSON line of a pod log.
_LOG_EVENT_KEYS = frozenset({"ts", "level", "logger", "event"})


def summary_from_log(log_tail: str) -> Any:
    """The job's JSON summary from the end of a pod log, or None.

    A pod log interleaves the container's stdout and stderr, so the summary (the job's last
    stdout line) may be followed by log events or, for a Spark driver, the JVM's shutdown
    lines: this is the last line that :func:`parse_summary` reads as a JSON object and that is
    not a log event."""
    for line in reversed(log_tail.splitlines()):
        value = parse_summary(line)
        if isinstance(value, dict) and not value.keys() >= _LOG_EVENT_KEYS:
            return value
    return None


def render(
    job: Job,
    args: list[str],
    *,
    dag_id: str,
    run_id: str | None,
    env: Mapping[str, str] | None = None,
    local: bool = False,
) -> dict[str, Any]:
    """The Job / SparkApplication of one task of one run."""
    source = dict(os.environ if env is None else env)
    if local:
        source = {**LOCAL_RENDER_DEFAULTS, **{k: v for k, v in source.items() if v}}
    return templates.manifest(
        job, pipeline_env.read(source), dag_id=dag_id, args=args, run_id=run_id
    )


# --- local: the rendered object's command line on this machine ---------------------------------
def map_image_path(path: str, root: Path = REPO_ROOT) -> str:
    """``/opt/taxi-spark/src/x`` → ``<repo>/spark/src/x`` (other paths unchanged)."""
    for image_root, folder in IMAGE_ROOTS.items():
        if path == image_root or path.startswith(image_root + "/"):
            return str(root / folder) + path[len(image_root) :]
    return path


def _expand(value: str, env: Mapping[str, str]) -> str:
    """Kubernetes' ``$(VAR)`` expansion of command and args (unknown names stay as written)."""
    return _ENV_REF.sub(lambda m: env.get(m[1], m[0]), value)


def _container_env(entries: list[dict[str, Any]] | None, root: Path) -> dict[str, str]:
    out = {}
    for e in entries or []:
        if "value" in e:
            value = str(e["value"])
            if e["name"] == "PYTHONPATH":
                value = os.pathsep.join(map_image_path(p, root) for p in value.split(os.pathsep))
            out[e["name"]] = value
    return out


def local_environment(base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment a pod gets from ``envFrom: pipeline-env``, on this machine: the Airflow
    process env without Airflow's own settings, plus the pipeline-env values."""
    base = os.environ if base is None else base
    env = {k: v for k, v in base.items() if not k.startswith(_WITHHELD_PREFIXES)}
    env.update(pipeline_env.read(base).values)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def local_invocation(
    job: Job,
    manifest: dict[str, Any],
    *,
    root: Path = REPO_ROOT,
    base_env: Mapping[str, str] | None = None,
) -> tuple[list[str], Path, dict[str, str]]:
    """``(argv, cwd, env)`` of the rendered object on this machine."""
    comp = COMPONENTS[job.component]
    if comp.local_dir is None:
        raise RuntimeError(f"job {job.task_id}: component {comp.name!r} has no local runtime")
    folder = root / comp.local_dir
    python = folder / ".venv" / "bin" / "python"
    libs = str(root / "libs" / "python")
    env = local_environment(base_env)
    if job.component != "spark":
        for key in SPARK_CONNECT_ENV:
            env.pop(key, None)
    if manifest["kind"] == "SparkApplication" and env.get("SPARK_REMOTE"):
        # A client of the local Spark Connect server: the main file as a script, as
        # spark-submit would run it (its folder first on sys.path), without a JVM of its own.
        spec = manifest["spec"]
        env.update(_container_env(spec["driver"].get("env"), root))
        env["PYTHONPATH"] = os.pathsep.join([str(folder / "src"), libs])
        main = map_image_path(spec["mainApplicationFile"].removeprefix("local://"), root)
        argv = [str(python), main, *[str(a) for a in spec.get("arguments") or []]]
        cwd = folder
    elif manifest["kind"] == "SparkApplication":
        spec = manifest["spec"]
        env.update(_container_env(spec["driver"].get("env"), root))
        env["PYTHONPATH"] = os.pathsep.join([str(folder / "src"), libs])
        env["PYSPARK_PYTHON"] = env["PYSPARK_DRIVER_PYTHON"] = str(python)
        main = map_image_path(spec["mainApplicationFile"].removeprefix("local://"), root)
        cores = env.get("SPARK_LOCAL_CORES", "2")
        argv = [
            str(folder / ".venv" / "bin" / "spark-submit"),
            "--master",
            f"local[{cores}]",
            "--name",
            manifest["metadata"]["name"],
            "--driver-memory",
            str(spec["driver"]["memory"]),
        ]
        for key, value in sorted((spec.get("sparkConf") or {}).items()):
            argv += ["--conf", f"{key}={value}"]
        argv += [main, *[str(a) for a in spec.get("arguments") or []]]
        cwd = folder
    else:
        container = manifest["spec"]["template"]["spec"]["containers"][0]
        env.update(_container_env(container.get("env"), root))
        env["PYTHONPATH"] = os.pathsep.join([p for p in (env.get("PYTHONPATH"), libs) if p])
        argv = [
            _expand(str(a), env)
            for a in [*container.get("command", []), *container.get("args", [])]
        ]
        if argv and argv[0] in ("python3", "python"):
            argv[0] = str(python)
        cwd = Path(map_image_path(container.get("workingDir") or "", root) or folder)
    if not Path(argv[0]).exists() and "/" in argv[0]:
        raise RuntimeError(
            f"job {job.task_id}: {argv[0]} does not exist; create the {comp.local_dir} "
            f"environment with `npx tsx tools/python-suites.ts --prepare {comp.local_dir}` "
            "from the repo root."
        )
    return argv, cwd, env


class _JobTask(BaseOperator):
    """What both runtimes share: the job's arguments as template fields."""

    template_fields = ("arguments", "optional_arguments")

    def __init__(self, *, job: Job, dag_id: str, **kwargs: Any) -> None:
        kwargs.setdefault("execution_timeout", job.timeout)
        kwargs.setdefault("doc_md", job.doc or None)
        super().__init__(**kwargs)
        self.job = job
        self.job_dag_id = dag_id
        self.arguments = list(job.args)
        self.optional_arguments = [list(p) for p in job.optional_args]

    def final_arguments(self) -> list[str]:
        return final_args(self.arguments, self.optional_arguments)

    def execute(self, context: Any) -> Any:
        """Run the job (:meth:`run`), recording its duration and, on failure, its error with
        the end of its log under the ``report_task`` XCom for the run report
        (:mod:`common.report`). The XCom of a failed try is kept: Airflow clears a task's XComs
        only when it is tried again."""
        started = time.monotonic()
        try:
            result = self.run(context)
        except BaseException as exc:
            record_task(context, started, error=f"{type(exc).__name__}: {exc}")
            raise
        record_task(context, started)
        return result

    def run(self, context: Any) -> Any:  # pragma: no cover - overridden by both runtimes
        raise NotImplementedError


def record_task(context: Any, started: float, *, error: str | None = None) -> None:
    """Push ``{"seconds", "try_number"[, "error"]}`` under the ``report_task`` key."""
    ti = context.get("ti") if hasattr(context, "get") else None
    if ti is None:
        return
    value: dict[str, Any] = {
        "seconds": round(time.monotonic() - started, 3),
        "try_number": getattr(ti, "try_number", None),
    }
    if error is not None:
        value["error"] = tail(error)
    try:
        ti.xcom_push(key=TASK_KEY, value=value)
    except Exception as exc:  # noqa: BLE001 - the report is secondary to the job's own outcome
        event(get_logger("runner"), "report_task_not_recorded", error=str(exc))


class LocalJobOperator(_JobTask):
    """Run the rendered object's command line as a local process; fails with the exit code
    and the job's last log lines. Returns the job's JSON summary (last stdout line) as XCom."""

    ui_color = "#d9ead3"

    def __init__(self, *, job: Job, dag_id: str = "", root: Path = REPO_ROOT, **kwargs: Any):
        super().__init__(job=job.local or job, dag_id=dag_id, **kwargs)
        self.root = root

    def run(self, context: Any) -> Any:
        log = get_logger("local_runner")
        manifest = render(
            self.job,
            self.final_arguments(),
            dag_id=self.job_dag_id,
            run_id=context.get("run_id"),
            local=True,
        )
        cmd, cwd, env = local_invocation(self.job, manifest, root=self.root)
        proc = _start_local(self.job, cmd, cwd, env, root=self.root)
        event(
            log,
            "job_started",
            job=self.job.task_id,
            command=cmd,
            cwd=str(cwd),
            warm_worker=proc.warm,
        )
        stdout_tail: deque[str] = deque(maxlen=1)
        stderr_tail: deque[str] = deque(maxlen=20)

        def pump(stream, tail: deque[str], name: str) -> None:
            for raw in stream:
                line = raw.rstrip("\n")
                if line.strip():
                    tail.append(line)
                    # Job logs are JSON lines already; relay them as they are.
                    log.info("%s", line if name == "stderr" else f"[stdout] {line}")

        threads = [
            threading.Thread(target=pump, args=(proc.stdout, stdout_tail, "stdout"), daemon=True),
            threading.Thread(target=pump, args=(proc.stderr, stderr_tail, "stderr"), daemon=True),
        ]
        for t in threads:
            t.start()
        try:
            code = proc.wait()
        except BaseException:
            proc.kill()
            raise
        for t in threads:
            t.join()
        proc.stdout.close()
        proc.stderr.close()
        if code != 0:
            last = "\n".join(stderr_tail)
            event(log, "job_failed", job=self.job.task_id, exit_code=code)
            raise JobFailedError(
                f"job {self.job.task_id} exited with code {code} "
                f"(command: {' '.join(cmd)}; cwd: {cwd}). Last log lines:\n{last}",
                exit_code=code,
            )
        summary = parse_summary("\n".join(stdout_tail))
        event(log, "job_finished", job=self.job.task_id, summary=summary is not None)
        return summary


class _LocalProcess:
    """A running local job: its output streams, ``wait()`` for the exit code, ``kill()``."""

    def __init__(self, stdout: IO[str], stderr: IO[str], wait, kill, warm: bool) -> None:
        self.stdout, self.stderr = stdout, stderr
        self.wait, self.kill, self.warm = wait, kill, warm


def _start_local(
    job: Job, cmd: list[str], cwd: Path, env: dict[str, str], *, root: Path
) -> _LocalProcess:
    """Start the job's command line: in the component's warm worker when ``npm start`` runs
    one (:mod:`common.warm_client`; the same argv, cwd and env in a process that has the
    component's libraries imported already), else as a new process."""
    folder = root / (COMPONENTS[job.component].local_dir or "")
    path = warm_client.worker_for(job.component, cmd, folder, os.environ)
    if path is not None:
        out_r, out_w = os.pipe()
        err_r, err_w = os.pipe()
        try:
            submitted = warm_client.submit(path, cmd[1:], str(cwd), env, out_w, err_w)
        except (warm_client.WorkerUnavailableError, ValueError) as exc:
            for fd in (out_r, err_r):
                os.close(fd)
            event(get_logger("local_runner"), "warm_worker_unavailable", error=str(exc))
        except BaseException:
            for fd in (out_r, err_r):
                os.close(fd)
            raise
        else:
            stdout = os.fdopen(out_r, encoding="utf-8", errors="replace")
            stderr = os.fdopen(err_r, encoding="utf-8", errors="replace")
            return _LocalProcess(stdout, stderr, submitted.wait, submitted.kill, True)
        finally:
            os.close(out_w)
            os.close(err_w)
    proc = subprocess.Popen(
        cmd, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )

    def kill() -> None:
        proc.kill()
        proc.wait()

    assert proc.stdout is not None
    assert proc.stderr is not None
    return _LocalProcess(proc.stdout, proc.stderr, proc.wait, kill, False)


class KubernetesTask(_JobTask):
    """The task of a Job or SparkApplication on the cluster. Light when the DAG is parsed;
    when it executes it renders the object for its run and runs the official operator
    (:func:`common.k8s_operators.operator_for`) with it. Returns the job's JSON summary as
    XCom, as the local runtime does: read from the end of the succeeded pod's log (the Job's
    pod, the Spark driver) before the operator deletes it (:func:`summary_from_log`); None
    when the log could not be read or holds no summary."""

    ui_color = "#cfe2f3"

    def __init__(self, *, job: Job, dag_id: str, **kwargs: Any) -> None:
        super().__init__(job=job, dag_id=dag_id, **kwargs)
        self.ui_color = "#f4cccc" if job.kind == "spark" else "#cfe2f3"
        self._official: BaseOperator | None = None

    def run(self, context: Any) -> Any:
        from common import k8s_operators

        manifest = render(
            self.job, self.final_arguments(), dag_id=self.job_dag_id, run_id=context["run_id"]
        )
        self._official = k8s_operators.operator_for(self.job, manifest, task_id=self.task_id)
        try:
            self._official.execute(context)
        except Exception as exc:
            code = k8s_operators.failed_exit_code(self._official)
            if code is None:
                raise
            raise JobFailedError(
                f"job {self.job.task_id} ({manifest['metadata']['name']}) exited with code "
                f"{code}: {exc}",
                exit_code=code,
            ) from exc
        summary = k8s_operators.job_summary(self._official)
        event(
            get_logger("k8s_runner"),
            "job_finished",
            job=self.job.task_id,
            summary=summary is not None,
        )
        return summary

    def on_kill(self) -> None:
        if self._official is not None:
            self._official.on_kill()


def job_operator(job: Job, *, runtime: str, dag_id: str, **kwargs: Any) -> BaseOperator:
    """The task of ``job`` for ``runtime``; the task id is the job's either way."""
    cls = LocalJobOperator if runtime == "local" else KubernetesTask
    return cls(task_id=job.task_id, job=job, dag_id=dag_id, **kwargs)
