"""Airflow connections (and, when listed, variables) from Google Secret Manager.

Configured on the cluster by ``components/airflow`` (``AIRFLOW__SECRETS__BACKEND`` +
``AIRFLOW__SECRETS__BACKEND_KWARGS``)::

    AIRFLOW__SECRETS__BACKEND=common.secrets_backend.SecretManagerBackend
    AIRFLOW__SECRETS__BACKEND_KWARGS={"project_id": "<project>", "prefix": "<prefix>",
                                      "connection_ids": ["dbt_cloud_default", ...]}

Connection ``<id>`` is the latest version of secret ``<prefix>-connections-<id>`` (its value:
the connection as Airflow's JSON form or URI); variable ``<key>`` of
``<prefix>-variables-<key>``. Only the listed ids / keys are looked up (each other lookup goes
straight on to the environment and the metadata DB, without an API call): the stack creates
exactly those secrets and lets the Airflow service account read only them.

Why not the google provider's ``CloudSecretManagerBackend``: it needs the whole google provider
(hundreds of MB of client libraries) in the Airflow image, which the DAGs do not use otherwise;
this backend is two REST calls with the standard library: an access token from the GKE
metadata server (workload identity; ``GCE_METADATA_HOST`` overrides the host as in Google's
client libraries) and ``versions/latest:access``. Tokens are cached until a minute before they
expire, values for ``cache_seconds`` (also "not found", so a missing secret is not asked for on
every parse). 429 / 5xx / connection errors are retried; any other error raises
:class:`SecretManagerError` naming the secret and the fix. Locally use Airflow's own
``LocalFilesystemBackend`` or ``AIRFLOW_CONN_*`` variables instead (docs/operations.md).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
import time
import urllib.error
import urllib.request
from typing import Any

from airflow.secrets import BaseSecretsBackend

METADATA_HOST = "metadata.google.internal"
TOKEN_PATH = "/computeMetadata/v1/instance/service-accounts/default/token"
API = "https://secretmanager.googleapis.com"
_ID_RE = re.compile(r"^[A-Za-z0-9_-]{1,255}$")
_RETRY_STATUSES = {429, 500, 502, 503, 504}
log = logging.getLogger(__name__)


class SecretManagerError(RuntimeError):
    """A Secret Manager read failed in a way that retrying does not fix."""


class SecretManagerBackend(BaseSecretsBackend):
    """Connections / variables from Secret Manager, read with the pod's workload identity."""

    def __init__(  # noqa: PLR0917 - Airflow passes BACKEND_KWARGS by name
        self,
        project_id: str,
        prefix: str,
        connection_ids: list[str] | None = None,
        variable_keys: list[str] | None = None,
        api_endpoint: str = API,
        cache_seconds: float = 300.0,
        timeout_seconds: float = 10.0,
        attempts: int = 4,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        if not project_id or not prefix or not _ID_RE.match(prefix):
            raise SecretManagerError(
                "SecretManagerBackend needs project_id and prefix (letters, digits, '-', '_') in "
                f"AIRFLOW__SECRETS__BACKEND_KWARGS; got project_id={project_id!r}, "
                f"prefix={prefix!r}."
            )
        self.project_id = project_id
        self.prefix = prefix
        self.connection_ids = frozenset(connection_ids or ())
        self.variable_keys = frozenset(variable_keys or ())
        self.api_endpoint = api_endpoint.rstrip("/")
        self.cache_seconds = cache_seconds
        self.timeout_seconds = timeout_seconds
        self.attempts = max(1, attempts)
        self._lock = threading.Lock()
        self._token: tuple[str, float] | None = None
        self._cache: dict[str, tuple[str | None, float]] = {}

    # --- BaseSecretsBackend ---------------------------------------------------------------------
    def get_conn_value(self, conn_id: str, team_name: str | None = None) -> str | None:
        if conn_id not in self.connection_ids:
            return None
        return self._value(f"{self.prefix}-connections-{conn_id}")

    def get_variable(self, key: str, team_name: str | None = None) -> str | None:
        if key not in self.variable_keys:
            return None
        return self._value(f"{self.prefix}-variables-{key}")

    def get_config(self, key: str) -> str | None:
        return None  # Airflow's configuration stays in its environment

    # --- Secret Manager -----------------------------------------------------------------------
    def secret_name(self, secret_id: str) -> str:
        return f"projects/{self.project_id}/secrets/{secret_id}"

    def _value(self, secret_id: str) -> str | None:
        if not _ID_RE.match(secret_id):
            return None
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(secret_id)
            if cached and cached[1] > now:
                return cached[0]
        value = self._access(secret_id)
        with self._lock:
            self._cache[secret_id] = (value, now + self.cache_seconds)
        return value

    def _access(self, secret_id: str) -> str | None:
        url = f"{self.api_endpoint}/v1/{self.secret_name(secret_id)}/versions/latest:access"
        status, body = self._request(url, {"Authorization": f"Bearer {self._access_token()}"})
        if status == 200:
            try:
                data = json.loads(body)["payload"]["data"]
                return base64.b64decode(data).decode("utf-8")
            except (ValueError, KeyError, TypeError) as exc:
                raise SecretManagerError(
                    f"Secret Manager answered {self.secret_name(secret_id)} without a readable "
                    f"payload ({exc})."
                ) from exc
        if status == 404:
            log.warning(
                "Secret %s has no version yet (or does not exist): add its value with "
                "`gcloud secrets versions add %s --data-file=- --project=%s` "
                "(docs/operations.md#28-airflow-connections).",
                self.secret_name(secret_id),
                secret_id,
                self.project_id,
            )
            return None
        if status == 403:
            raise SecretManagerError(
                f"Airflow's service account may not read {self.secret_name(secret_id)} (403): "
                "the stack grants roles/secretmanager.secretAccessor on each secret listed in "
                "taxi-platform:airflowConnections; list the connection there and deploy. "
                f"Response: {body[:300]}"
            )
        raise SecretManagerError(
            f"reading {self.secret_name(secret_id)} failed with HTTP {status}: {body[:300]}"
        )

    def _access_token(self) -> str:
        now = time.monotonic()
        with self._lock:
            if self._token and self._token[1] > now:
                return self._token[0]
        host = os.environ.get("GCE_METADATA_HOST") or METADATA_HOST
        status, body = self._request(f"http://{host}{TOKEN_PATH}", {"Metadata-Flavor": "Google"})
        if status != 200:
            raise SecretManagerError(
                f"the metadata server ({host}) gave no access token (HTTP {status}: "
                f"{body[:200]}): is GKE workload identity on for Airflow's Kubernetes service "
                "account (iam.gke.io/gcp-service-account) and may the pod reach the metadata "
                "server (NetworkPolicy egress to 169.254.169.252/32:988 and 169.254.169.254/32:80)?"
            )
        token = json.loads(body)
        expires = now + max(0.0, float(token.get("expires_in", 0)) - 60.0)
        with self._lock:
            self._token = (token["access_token"], expires)
        return token["access_token"]

    def _request(self, url: str, headers: dict[str, str]) -> tuple[int, str]:
        """(status, body), retrying 429 / 5xx / connection errors with a growing wait."""
        last: Exception | None = None
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(min(8.0, 0.25 * 2**attempt))
            req = urllib.request.Request(url, headers=headers)
            try:
                with urllib.request.urlopen(req, timeout=self.timeout_seconds) as resp:
                    return resp.status, resp.read().decode("utf-8", "replace")
            except urllib.error.HTTPError as exc:
                body = exc.read().decode("utf-8", "replace")
                if exc.code not in _RETRY_STATUSES:
                    return exc.code, body
                last = exc
            except (urllib.error.URLError, TimeoutError, ConnectionError) as exc:
                last = exc
            log.warning("Secret Manager request %s failed (%s); retrying", url, last)
        raise SecretManagerError(f"{url} failed after {self.attempts} attempts: {last}")
