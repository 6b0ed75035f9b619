"""common.secrets_backend against a loopback stand-in of the GKE metadata server and the Secret
Manager REST API (no Secret Manager emulator exists): tokens, values, caching, missing and
forbidden secrets, retries, and Airflow resolving a connection through the backend."""

from __future__ import annotations

import base64
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from common.secrets_backend import SecretManagerBackend, SecretManagerError
from taxi_testing.emulators import free_port

PORT = free_port()
PROJECT = "taxi-dev"
PREFIX = "taxi-platform-dev-airflow"
DBT_URI = "dbt-cloud://70:s3cret-token@cloud.getdbt.com"


class Google:
    """The metadata server's token endpoint and Secret Manager's versions/latest:access."""

    def __init__(self) -> None:
        self.secrets: dict[str, str | None] = {}  # id -> latest value (None: no version)
        self.readable: set[str] = set()  # ids the caller's service account may access
        self.faults: list[int] = []
        self.requests: list[tuple[str, str]] = []
        self.tokens = 0

    def handle(self, h: BaseHTTPRequestHandler) -> tuple[int, dict]:  # noqa: PLR0911
        self.requests.append((h.path, h.headers.get("Authorization") or ""))
        if self.faults:
            return self.faults.pop(0), {"error": {"status": "UNAVAILABLE"}}
        if h.path == "/computeMetadata/v1/instance/service-accounts/default/token":
            if h.headers.get("Metadata-Flavor") != "Google":
                return 403, {"error": "Missing Metadata-Flavor:Google header"}
            self.tokens += 1
            return 200, {"access_token": f"ya29.t{self.tokens}", "expires_in": 3599}
        prefix = f"/v1/projects/{PROJECT}/secrets/"
        if h.path.startswith(prefix) and h.path.endswith("/versions/latest:access"):
            if not (h.headers.get("Authorization") or "").startswith("Bearer ya29."):
                return 401, {"error": {"status": "UNAUTHENTICATED"}}
            secret = h.path[len(prefix) : -len("/versions/latest:access")]
            if secret not in self.readable:
                # Without access Secret Manager answers 403 whether or not the secret exists.
                return 403, {"error": {"status": "PERMISSION_DENIED"}}
            if self.secrets.get(secret) is None:
                return 404, {"error": {"status": "NOT_FOUND"}}
            data = base64.b64encode(self.secrets[secret].encode()).decode()
            name = f"projects/{PROJECT}/secrets/{secret}/versions/1"
            return 200, {"name": name, "payload": {"data": data}}
        return 404, {"error": f"stand-in serves no {h.path}"}


@pytest.fixture
def google(monkeypatch):
    state = Google()

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def do_GET(self):
            status, body = state.handle(self)
            data = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    server = ThreadingHTTPServer(("127.0.0.1", PORT), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{PORT}")
    yield state
    server.shutdown()
    server.server_close()


def backend(**kw) -> SecretManagerBackend:
    kw.setdefault("connection_ids", ["dbt_cloud_default", "databricks_default"])
    return SecretManagerBackend(
        project_id=PROJECT, prefix=PREFIX, api_endpoint=f"http://127.0.0.1:{PORT}", **kw
    )


def test_reads_a_listed_connection_with_a_metadata_token_and_caches(google):
    google.secrets[f"{PREFIX}-connections-dbt_cloud_default"] = DBT_URI
    google.readable.add(f"{PREFIX}-connections-dbt_cloud_default")
    b = backend()
    assert b.get_conn_value("dbt_cloud_default") == DBT_URI
    assert b.get_conn_value("dbt_cloud_default") == DBT_URI
    conn = b.get_connection("dbt_cloud_default")
    assert (conn.conn_type, conn.login, conn.password) == ("dbt_cloud", "70", "s3cret-token")
    paths = [p for p, _ in google.requests]
    assert paths.count("/computeMetadata/v1/instance/service-accounts/default/token") == 1
    assert len(paths) == 2  # one token, one access: the rest came from the caches
    assert google.requests[1][1] == "Bearer ya29.t1"


def test_unlisted_ids_make_no_call(google):
    b = backend()
    assert b.get_conn_value("google_cloud_default") is None
    assert b.get_variable("anything") is None
    assert b.get_config("core__fernet_key") is None
    assert google.requests == []


def test_a_listed_secret_without_a_version_is_missing_and_says_how_to_add_it(google, caplog):
    secret = f"{PREFIX}-connections-databricks_default"
    google.secrets[secret] = None
    google.readable.add(secret)
    assert backend().get_conn_value("databricks_default") is None
    assert f"gcloud secrets versions add {secret}" in caplog.text


def test_forbidden_secret_is_a_clear_error(google):
    with pytest.raises(SecretManagerError, match="airflowConnections"):
        backend().get_conn_value("databricks_default")


def test_429_and_5xx_are_retried(google):
    secret = f"{PREFIX}-variables-region"
    google.secrets[secret] = "europe-west1"
    google.readable.add(secret)
    google.faults = [503, 429]
    b = backend(variable_keys=["region"], attempts=4)
    assert b.get_variable("region") == "europe-west1"


def test_gives_up_after_the_attempts_with_the_url(google):
    google.faults = [503] * 10
    with pytest.raises(SecretManagerError, match="failed after 2 attempts"):
        backend(attempts=2).get_conn_value("dbt_cloud_default")


def test_metadata_server_refusal_explains_workload_identity(google):
    google.faults = [404]
    with pytest.raises(SecretManagerError, match="workload identity"):
        backend().get_conn_value("dbt_cloud_default")


def test_bad_kwargs_fail_clearly():
    with pytest.raises(SecretManagerError, match="project_id and prefix"):
        SecretManagerBackend(project_id="", prefix=PREFIX)


def test_airflow_resolves_the_connection_through_the_configured_backend(google, monkeypatch):
    """Airflow's own loader with the env the stack sets on the Airflow pods."""
    secret = f"{PREFIX}-connections-dbt_cloud_default"
    google.secrets[secret] = json.dumps(
        {"conn_type": "dbt_cloud", "login": "70", "password": "tok", "host": "emea.dbt.com"}
    )
    google.readable.add(secret)
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND", "common.secrets_backend.SecretManagerBackend")
    kwargs = {
        "project_id": PROJECT,
        "prefix": PREFIX,
        "connection_ids": ["dbt_cloud_default"],
        "api_endpoint": f"http://127.0.0.1:{PORT}",
    }
    monkeypatch.setenv("AIRFLOW__SECRETS__BACKEND_KWARGS", json.dumps(kwargs))
    from airflow.configuration import initialize_secrets_backends

    backends = initialize_secrets_backends()
    assert type(backends[0]).__name__ == "SecretManagerBackend"
    conn = backends[0].get_connection("dbt_cloud_default")
    assert (conn.host, conn.password) == ("emea.dbt.com", "tok")
