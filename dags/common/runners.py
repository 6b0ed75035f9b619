"""The two runtimes: one :class:`~common.jobs.Job` becomes an operator.

* ``kubernetes``: :mod:`common.k8s_operators` renders the job's template at execution time and
  hands the dict to the official cncf-kubernetes operators (Job or SparkApplication).
* ``local``: :class:`LocalJobOperator` runs the same command as a process in the component's
  virtual environment (``<repo>/<component>/.venv``, cwd ``<repo>/<component>``,
  ``PYTHONPATH=src:../libs/python``), with the pipeline-env values of the Airflow process as
  its environment.

Both take the job's arguments as Airflow templates, so the rendered command of a run is visible
in the UI's "Rendered Template" view either way.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
from collections import deque
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from airflow.sdk import BaseOperator

from common import pipeline_env
from common.jobs import COMPONENTS, Job
from common.log import event, get_logger

REPO_ROOT = Path(__file__).resolve().parents[2]
# Airflow's own settings (fernet key, DB URL, API secrets) never reach a job's environment.
_WITHHELD_PREFIXES = ("AIRFLOW__", "AIRFLOW_CONN_", "AIRFLOW_VAR_", "_AIRFLOW")


def final_args(arguments: list[str], optional_arguments: list[list[str]]) -> list[str]:
    """Arguments plus every (flag, value) pair whose rendered value is not empty."""
    out = [str(a) for a in arguments]
    for flag, value in optional_arguments:
        if str(value).strip():
            out += [flag, str(value).strip()]
    return out


def parse_summary(stdout_tail: str) -> Any:
    """The job's JSON summary (its last stdout line), or None when the line is not JSON."""
    line = stdout_tail.strip().rsplit("\n", 1)[-1] if stdout_tail.strip() else ""
    try:
        return json.loads(line) if line else None
    except json.JSONDecodeError:
        return None


def local_environment(job: Job, base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment of a local job: the Airflow process env without Airflow's own
    settings, the pipeline-env keys, the job's env and ``PYTHONPATH`` of its component."""
    base = os.environ if base is None else base
    env = {k: v for k, v in base.items() if not k.startswith(_WITHHELD_PREFIXES)}
    env.update(pipeline_env.read(base).values)
    env.update(job.env)
    env["PYTHONPATH"] = f"{COMPONENTS[job.component].local_pythonpath}{os.pathsep}../libs/python"
    env["PYTHONUNBUFFERED"] = "1"
    return env


def local_command(job: Job, args: list[str], root: Path = REPO_ROOT) -> tuple[list[str], Path]:
    """``([python, -m, module, *args], cwd)`` for ``job`` in its component's virtual env."""
    comp = COMPONENTS[job.component]
    if comp.local_dir is None:
        raise RuntimeError(f"job {job.task_id}: component {comp.name!r} has no local runtime")
    cwd = root / comp.local_dir
    python = cwd / ".venv" / "bin" / "python"
    if job.module is None:
        return [*job.command, *args], cwd
    if not python.exists():
        raise RuntimeError(
            f"job {job.task_id}: {python} does not exist; create the {comp.local_dir} environment "
            f"with `npx tsx tools/python-suites.ts --prepare {comp.local_dir}` from the repo root."
        )
    return [str(python), "-m", job.module, *args], cwd


class LocalJobOperator(BaseOperator):
    """Run a job as a local process; fails with the exit code and the job's last log lines.

    Returns the job's JSON summary (last stdout line) as XCom.
    """

    template_fields = ("arguments", "optional_arguments")
    ui_color = "#d9ead3"

    def __init__(self, *, job: Job, root: Path = REPO_ROOT, **kwargs: Any) -> None:
        run = job.local or job
        kwargs.setdefault("execution_timeout", run.timeout)
        kwargs.setdefault("doc_md", job.doc or None)
        super().__init__(**kwargs)
        self.job = run
        self.root = root
        self.arguments = list(run.args)
        self.optional_arguments = [list(p) for p in run.optional_args]

    def execute(self, context: Any) -> Any:
        log = get_logger("local_runner")
        args = final_args(self.arguments, self.optional_arguments)
        cmd, cwd = local_command(self.job, args, self.root)
        event(log, "job_started", job=self.job.task_id, command=cmd, cwd=str(cwd))
        stdout_tail: deque[str] = deque(maxlen=1)
        stderr_tail: deque[str] = deque(maxlen=20)
        proc = subprocess.Popen(
            cmd,
            cwd=cwd,
            env=local_environment(self.job),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

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
            proc.wait()
            raise
        for t in threads:
            t.join()
        if code != 0:
            last = "\n".join(stderr_tail)
            event(log, "job_failed", job=self.job.task_id, exit_code=code)
            raise RuntimeError(
                f"job {self.job.task_id} exited with code {code} "
                f"(command: {' '.join(cmd)}; cwd: {cwd}). Last log lines:\n{last}"
            )
        summary = parse_summary("\n".join(stdout_tail))
        event(log, "job_finished", job=self.job.task_id, summary=summary is not None)
        return summary


def job_operator(job: Job, *, runtime: str, dag_id: str, **kwargs: Any) -> BaseOperator:
    """The operator of ``job`` for ``runtime``; the task id is the job's either way."""
    if runtime == "local":
        return LocalJobOperator(task_id=job.task_id, job=job, **kwargs)
    # The Kubernetes client and operators are imported only where they are used.
    from common import k8s_operators

    return k8s_operators.operator_for(job, dag_id=dag_id, **kwargs)
