"""Loopback HTTPS stand-ins of the dbt Cloud (API v2) and Databricks Jobs (API 2.2) REST APIs.

Neither service has an emulator, so this serves the calls the official providers make, with
the semantics the tests rely on:

* dbt Cloud: ``POST /api/v2/accounts/<a>/jobs/<j>/run/`` creates a run (status 1 queued →
  3 running → 10 success, or 20 error / 30 cancelled), ``GET .../runs/<r>/`` reads it (one
  status step per read, ``include_related=run_steps`` adds steps), ``POST .../runs/<r>/cancel/``.
* Databricks: ``POST /api/2.2/jobs/run-now`` and ``/jobs/runs/submit`` (``idempotency_token``
  returns the run of the same token), ``GET /jobs/runs/get`` (PENDING → RUNNING → TERMINATED
  SUCCESS / FAILED, or TERMINATED CANCELED), ``GET /jobs/runs/get-output``,
  ``POST /jobs/runs/cancel``.

``faults`` queues HTTP errors (e.g. ``[429, 503]``) returned before the next calls are served;
``outcome`` says how a new run ends (``success`` / ``failure`` / ``hang``); every request is
recorded (method, path, query, JSON body, auth header present). TLS with a self-signed
certificate for 127.0.0.1 (dbt Cloud's hook only speaks https): :meth:`StandIn.trust` makes
requests and aiohttp trust it.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import re
import ssl
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

DBT_QUEUED, DBT_RUNNING, DBT_SUCCESS, DBT_ERROR, DBT_CANCELLED = 1, 3, 10, 20, 30
_DBT_NAMES = {1: "Queued", 3: "Running", 10: "Success", 20: "Error", 30: "Cancelled"}


_CERT: tuple[Path, Path] | None = None


def self_signed(folder: Path) -> tuple[Path, Path]:
    """(cert, key) PEM files of a self-signed CA certificate for 127.0.0.1, made once per
    process (aiohttp's verified context is cached: trusting a second certificate with the same
    subject would make OpenSSL pick the first and fail)."""
    global _CERT  # noqa: PLW0603 - one certificate per process, see above
    if _CERT is not None and _CERT[0].exists():
        return _CERT
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "engine stand-in")])
    now = dt.datetime.now(dt.UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = folder / "stand-in.pem", folder / "stand-in.key"
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    _CERT = (cert_file, key_file)
    return _CERT


@dataclass
class Run:
    engine: str  # dbt | databricks
    run_id: int
    job_id: int | None
    outcome: str  # success | failure | hang
    request: dict[str, Any]
    reads: int = 0
    cancelled: bool = False
    token: str | None = None


@dataclass
class StandIn:
    port: int
    folder: Path
    outcome: str = "success"
    faults: list[int] = field(default_factory=list)
    requests: list[dict[str, Any]] = field(default_factory=list)
    runs: dict[int, Run] = field(default_factory=dict)
    _next_id: int = 1000

    # --- lifecycle --------------------------------------------------------------------------
    def start(self) -> StandIn:
        self.cert, key = self_signed(self.folder)
        self._lock = threading.Lock()
        stand_in = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # quiet
                pass

            def do_GET(self) -> None:
                stand_in._handle(self, "GET")

            def do_POST(self) -> None:
                stand_in._handle(self, "POST")

        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(self.cert, key)
        self.server.socket = ctx.wrap_socket(self.server.socket, server_side=True)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        return self

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def trust(self, monkeypatch) -> None:
        """Make requests (REQUESTS_CA_BUNDLE) and aiohttp (its cached verified context) trust
        the stand-in's certificate."""
        import aiohttp.connector

        monkeypatch.setenv("REQUESTS_CA_BUNDLE", str(self.cert))
        aiohttp.connector._SSL_CONTEXT_VERIFIED.load_verify_locations(cafile=str(self.cert))

    @property
    def base(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def calls(self, method: str, pattern: str) -> list[dict[str, Any]]:
        return [r for r in self.requests if r["method"] == method and re.search(pattern, r["path"])]

    # --- HTTP -------------------------------------------------------------------------------
    def _reply(self, h: BaseHTTPRequestHandler, status: int, body: Any) -> None:
        data = json.dumps(body).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        h.send_header("Content-Length", str(len(data)))
        if status == 429:
            h.send_header("Retry-After", "0")
        h.end_headers()
        h.wfile.write(data)

    def _handle(self, h: BaseHTTPRequestHandler, method: str) -> None:
        url = urlsplit(h.path)
        length = int(h.headers.get("Content-Length") or 0)
        raw = h.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except json.JSONDecodeError:
            body = raw.decode(errors="replace")
        query = {k: v[-1] for k, v in parse_qs(url.query).items()}
        with self._lock:
            record = {
                "method": method,
                "path": url.path,
                "query": query,
                "body": body,
                "auth": bool(h.headers.get("Authorization")),
            }
            if self.faults:
                status = self.faults.pop(0)
                record["status"] = status
                self.requests.append(record)
                self._reply(h, status, {"error": f"stand-in fault {status}"})
                return
            try:
                status, reply = self._route(method, url.path, query, body, h)
            except KeyError as exc:
                status, reply = 404, {"error_code": "RESOURCE_DOES_NOT_EXIST", "message": str(exc)}
            record["status"] = status
            self.requests.append(record)
        self._reply(h, status, reply)

    def _route(self, method, path, query, body, h) -> tuple[int, Any]:  # noqa: PLR0911
        if not h.headers.get("Authorization"):
            return 401, {"error": "no credentials"}
        m = re.fullmatch(r"/api/v2/accounts/(\d+)/jobs/(\d+)/run/", path)
        if m and method == "POST":
            return 200, {"data": self._dbt_view(self._new("dbt", int(m[2]), body))}
        m = re.fullmatch(r"/api/v2/accounts/(\d+)/runs/(\d+)/", path)
        if m and method == "GET":
            run = self.runs[int(m[2])]
            run.reads += 1
            return 200, {"data": self._dbt_view(run, steps="run_steps" in str(query))}
        m = re.fullmatch(r"/api/v2/accounts/(\d+)/runs/(\d+)/cancel/", path)
        if m and method == "POST":
            run = self.runs[int(m[2])]
            run.cancelled = True
            return 200, {"data": self._dbt_view(run)}
        if path == "/api/2.2/jobs/run-now" and method == "POST":
            return 200, self._dbx_submit(int(body["job_id"]), body)
        if path == "/api/2.2/jobs/runs/submit" and method == "POST":
            return 200, self._dbx_submit(None, body)
        if path == "/api/2.2/jobs/runs/get" and method == "GET":
            run = self.runs[int(query["run_id"])]
            run.reads += 1
            return 200, self._dbx_view(run)
        if path == "/api/2.2/jobs/runs/get-output" and method == "GET":
            return 200, {"error": f"stand-in: task run {query['run_id']} failed: bad month file"}
        if path == "/api/2.2/jobs/runs/cancel" and method == "POST":
            self.runs[int(body["run_id"])].cancelled = True
            return 200, {}
        return 404, {"error": f"stand-in serves no {method} {path}"}

    # --- runs -------------------------------------------------------------------------------
    def _new(self, engine: str, job_id: int | None, body: Any, token: str | None = None) -> Run:
        self._next_id += 1
        run = Run(engine, self._next_id, job_id, self.outcome, body or {}, token=token)
        self.runs[run.run_id] = run
        return run

    def _phase(self, run: Run) -> str:
        """queued (first read), running (second), then the outcome; cancelled wins."""
        if run.cancelled:
            return "cancelled"
        if run.reads <= 1:
            return "queued"
        if run.reads == 2 or run.outcome == "hang":
            return "running"
        return run.outcome

    def run_url(self, run: Run) -> str:
        if run.engine == "dbt":
            return f"{self.base}/deploy/70/projects/1/runs/{run.run_id}/"
        return f"{self.base}/#job/{run.job_id or 0}/run/{run.run_id}"

    def _dbt_view(self, run: Run, steps: bool = False) -> dict[str, Any]:
        status = {
            "queued": DBT_QUEUED,
            "running": DBT_RUNNING,
            "success": DBT_SUCCESS,
            "failure": DBT_ERROR,
            "cancelled": DBT_CANCELLED,
        }[self._phase(run)]
        view = {
            "id": run.run_id,
            "job_definition_id": run.job_id,
            "status": status,
            "status_humanized": _DBT_NAMES[status],
            "status_message": "Database Error in model fare_features: bad month"
            if status == DBT_ERROR
            else None,
            "href": self.run_url(run),
            "is_complete": status in (DBT_SUCCESS, DBT_ERROR, DBT_CANCELLED),
        }
        if steps:
            view["run_steps"] = [
                {
                    "index": 1,
                    "name": "Invoke dbt with `dbt build`",
                    "status": DBT_ERROR if status == DBT_ERROR else DBT_SUCCESS,
                    "logs": "Database Error in model fare_features" if status == DBT_ERROR else "",
                }
            ]
        return view

    def _dbx_submit(self, job_id: int | None, body: dict[str, Any]) -> dict[str, Any]:
        token = body.get("idempotency_token")
        for run in self.runs.values():
            if token and run.token == token:
                return {"run_id": run.run_id}
        return {"run_id": self._new("databricks", job_id, body, token).run_id}

    def _dbx_view(self, run: Run) -> dict[str, Any]:
        phase = self._phase(run)
        state = {
            "queued": {"life_cycle_state": "PENDING", "state_message": "Waiting for cluster"},
            "running": {"life_cycle_state": "RUNNING", "state_message": "In run"},
            "success": {"life_cycle_state": "TERMINATED", "result_state": "SUCCESS"},
            "failure": {
                "life_cycle_state": "TERMINATED",
                "result_state": "FAILED",
                "state_message": "Task load failed with message: bad month file",
            },
            "cancelled": {
                "life_cycle_state": "TERMINATED",
                "result_state": "CANCELED",
                "state_message": "Run cancelled.",
            },
        }[phase]
        state.setdefault("state_message", "")
        task_state = dict(state)
        return {
            "job_id": run.job_id or 0,
            "run_id": run.run_id,
            "run_page_url": self.run_url(run),
            "state": state,
            "tasks": [
                {
                    "run_id": run.run_id * 10 + 1,
                    "task_key": "main",
                    "start_time": 1,
                    "attempt_number": 0,
                    "state": task_state,
                }
            ],
        }
