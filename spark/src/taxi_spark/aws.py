"""AWS credentials without keys: web identity federation from GKE Workload Identity.

In the cluster the copy job runs as the ``transfer`` Kubernetes service account, bound to a
Google service account. When ``AWS_LANDING_ROLE_ARN`` (pipeline-env) is set:

1. the GKE metadata server gives the pod a Google-signed ID token of that account
   (``/computeMetadata/v1/instance/service-accounts/default/identity``, audience
   ``sts.amazonaws.com``);
2. AWS STS ``AssumeRoleWithWebIdentity`` (an unsigned call: the token is the proof) exchanges
   it for one-hour credentials of the role, which trusts ``accounts.google.com`` for exactly
   that account's unique id (``components/s3-transfer``) and may only read landing objects;
3. pyarrow's S3 filesystem reads with those credentials.

``GCE_METADATA_HOST`` and ``AWS_ENDPOINT_URL_STS`` (the clients' standard variables) point
both calls elsewhere, which the tests use to run them against loopback servers.
"""

from __future__ import annotations

import os
import urllib.error
import urllib.parse
import urllib.request
import xml.etree.ElementTree as ET
from dataclasses import dataclass

from taxi_spark.errors import ConfigError

AUDIENCE = "sts.amazonaws.com"
_STS_NS = {"sts": "https://sts.amazonaws.com/doc/2011-06-15/"}
TIMEOUT_SECONDS = 30


@dataclass(frozen=True)
class Credentials:
    access_key: str
    secret_key: str
    session_token: str
    expiration: str


def google_id_token(audience: str = AUDIENCE) -> str:
    """An ID token of the pod's Google service account, from the metadata server."""
    host = os.environ.get("GCE_METADATA_HOST", "metadata.google.internal")
    query = urllib.parse.urlencode({"audience": audience, "format": "full"})
    url = f"http://{host}/computeMetadata/v1/instance/service-accounts/default/identity?{query}"
    req = urllib.request.Request(url, headers={"Metadata-Flavor": "Google"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as resp:
            return resp.read().decode().strip()
    except OSError as exc:
        raise ConfigError(
            f"no Google ID token from the metadata server at {host} ({exc}); the pod must run "
            "with Workload Identity (its service account annotated with a Google account)."
        ) from exc


def sts_endpoint() -> str:
    if endpoint := os.environ.get("AWS_ENDPOINT_URL_STS"):
        return endpoint
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    return f"https://sts.{region}.amazonaws.com/" if region else "https://sts.amazonaws.com/"


def assume_role(role_arn: str, token: str, session_name: str) -> Credentials:
    """``sts:AssumeRoleWithWebIdentity`` for ``role_arn`` with the Google ID ``token``."""
    body = urllib.parse.urlencode(
        {
            "Action": "AssumeRoleWithWebIdentity",
            "Version": "2011-06-15",
            "RoleArn": role_arn,
            "RoleSessionName": session_name[:64],
            "WebIdentityToken": token,
            "DurationSeconds": "3600",
        }
    ).encode()
    req = urllib.request.Request(
        sts_endpoint(),
        data=body,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as resp:
            root = ET.fromstring(resp.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")[:500]
        raise ConfigError(
            f"AWS STS refused AssumeRoleWithWebIdentity for {role_arn} ({exc.code}): {detail}. "
            "Check that the role trusts this pod's Google service account."
        ) from exc
    creds = root.find(".//sts:Credentials", _STS_NS)
    if creds is None:
        raise ConfigError(f"AWS STS answered without credentials for {role_arn}.")

    def field(name: str) -> str:
        return creds.findtext(f"sts:{name}", default="", namespaces=_STS_NS)

    return Credentials(
        field("AccessKeyId"), field("SecretAccessKey"), field("SessionToken"), field("Expiration")
    )


def federated_credentials(
    session_name: str = "taxi-copy", role_env: str = "AWS_LANDING_ROLE_ARN"
) -> Credentials | None:
    """Credentials of the role named by ``role_env`` (``AWS_LANDING_ROLE_ARN``: the copy job's
    read-only role; ``AWS_INGEST_ROLE_ARN``: the ingest job's write-only role) through the pod's
    Google identity, or None when the variable is unset (locally, or when the environment's
    default chain applies)."""
    role_arn = (os.environ.get(role_env) or "").strip()
    if not role_arn:
        return None
    return assume_role(role_arn, google_id_token(), session_name)
