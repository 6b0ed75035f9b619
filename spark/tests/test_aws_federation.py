"""Web identity federation of the copy job (issue 27, defect 2), against loopback servers that
answer like the GKE metadata server and AWS STS: the pod's Google ID token is exchanged for
role credentials, and the S3 filesystem reads with them. No AWS key anywhere."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

import pytest

from taxi_spark import aws, uris
from taxi_spark.errors import ConfigError

ROLE = "arn:aws:iam::123456789012:role/dev-landing-reader"
TOKEN = "eyJhbGciOiJSUzI1NiJ9.google-id-token.sig"
STS_OK = """<AssumeRoleWithWebIdentityResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/">
  <AssumeRoleWithWebIdentityResult>
    <Credentials>
      <AccessKeyId>ASIAEXAMPLE</AccessKeyId>
      <SecretAccessKey>secret-example</SecretAccessKey>
      <SessionToken>session-example</SessionToken>
      <Expiration>2030-01-01T00:00:00Z</Expiration>
    </Credentials>
  </AssumeRoleWithWebIdentityResult>
</AssumeRoleWithWebIdentityResponse>"""


@pytest.fixture
def cloud(monkeypatch):
    seen: dict = {"metadata": [], "sts": []}

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, *args):
            pass

        def _reply(self, code, body, ctype="text/plain"):
            data = body.encode()
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            url = urlparse(self.path)
            flavor = self.headers["Metadata-Flavor"]
            seen["metadata"].append((url.path, parse_qs(url.query), flavor))
            self._reply(200, TOKEN)

        def do_POST(self):
            form = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
            seen["sts"].append({k: v[0] for k, v in form.items()})
            if form["WebIdentityToken"][0] != TOKEN:
                self._reply(403, "<Error><Code>AccessDenied</Code></Error>", "text/xml")
            else:
                self._reply(200, STS_OK, "text/xml")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    host, port = server.server_address[:2]
    monkeypatch.setenv("GCE_METADATA_HOST", f"{host}:{port}")
    monkeypatch.setenv("AWS_ENDPOINT_URL_STS", f"http://{host}:{port}/")
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.setenv("AWS_LANDING_ROLE_ARN", ROLE)
    yield seen
    server.shutdown()
    server.server_close()


def test_google_id_token_is_exchanged_for_role_credentials(cloud):
    creds = aws.federated_credentials("taxi-copy")
    assert (creds.access_key, creds.secret_key, creds.session_token) == (
        "ASIAEXAMPLE",
        "secret-example",
        "session-example",
    )
    path, query, flavor = cloud["metadata"][0]
    assert path == "/computeMetadata/v1/instance/service-accounts/default/identity"
    assert query["audience"] == ["sts.amazonaws.com"]
    assert flavor == "Google"
    call = cloud["sts"][0]
    assert call["Action"] == "AssumeRoleWithWebIdentity"
    assert (call["RoleArn"], call["WebIdentityToken"]) == (ROLE, TOKEN)


def test_the_s3_filesystem_reads_with_the_federated_credentials(cloud):
    fs = uris.filesystem(uris.parse("s3://acme-landing/trip data/yellow_tripdata_2024-01.parquet"))
    settings = fs.__reduce__()[1][0]
    assert (settings["access_key"], settings["session_token"]) == (
        "ASIAEXAMPLE",
        "session-example",
    )
    assert settings["region"] == "eu-west-1"


def test_a_refused_token_names_the_role(cloud, monkeypatch):
    monkeypatch.setattr(aws, "google_id_token", lambda audience=aws.AUDIENCE: "forged")
    with pytest.raises(ConfigError, match=r"refused AssumeRoleWithWebIdentity.*dev-landing-reader"):
        aws.federated_credentials()


def test_without_a_role_the_default_chain_applies(monkeypatch):
    monkeypatch.delenv("AWS_LANDING_ROLE_ARN", raising=False)
    assert aws.federated_credentials() is None
