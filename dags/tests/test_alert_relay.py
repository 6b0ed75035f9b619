"""The alert relay over real HTTP (loopback) into a real SMTP server (aiosmtpd): an
Alertmanager webhook payload becomes one email; bad payloads get 400, a dead mail server 502 (so
Alertmanager retries), no recipient a log line. Free loopback ports, picked per test."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request

import pytest

from common import alert_relay, notify
from taxi_testing.emulators import free_port
from tests.test_report import Sink

PAYLOAD = {
    "version": "4",
    "status": "firing",
    "receiver": "email",
    "groupLabels": {"alertname": "PostgresBackupTooOld"},
    "externalURL": "http://alertmanager.monitoring.svc:9093",
    "alerts": [
        {
            "status": "firing",
            "labels": {"alertname": "PostgresBackupTooOld", "severity": "page"},
            "annotations": {
                "summary": "PostgreSQL: last successful backup is 1d 3h old",
                "description": "The daily postgres-backup CronJob has not succeeded <for> 26 h.",
            },
            "startsAt": "2026-12-05T07:00:00Z",
            "generatorURL": "http://prometheus:9090/graph",
        }
    ],
}


def _settings(port: int, recipients: str = "oncall@example.com") -> notify.ReportSettings:
    return notify.settings(
        {
            "REPORT_RECIPIENTS": recipients,
            "REPORT_SENDER": "alerts@example.com",
            "REPORT_SMTP_CONN_ID": "smtp_alerts",
        }
    )


@pytest.fixture
def smtp_conn(monkeypatch):
    def use(port: int) -> None:
        monkeypatch.setenv(
            "AIRFLOW_CONN_SMTP_ALERTS",
            json.dumps(
                {
                    "conn_type": "smtp",
                    "host": "127.0.0.1",
                    "port": port,
                    "extra": {"disable_ssl": True, "disable_tls": True, "retry_limit": 0},
                }
            ),
        )

    return use


def _post(server, body: bytes) -> tuple[int, dict]:
    req = urllib.request.Request(
        f"http://127.0.0.1:{server.server_address[1]}/alerts",
        data=body,
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _relay(s: notify.ReportSettings):
    server = alert_relay.serve("127.0.0.1", 0, s)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def test_a_firing_alert_becomes_one_email(smtp_conn):
    smtp = free_port()
    smtp_conn(smtp)
    server = _relay(_settings(smtp))
    try:
        with Sink(smtp) as sink:
            code, body = _post(server, json.dumps(PAYLOAD).encode())
        assert (code, body) == (200, {"result": "mailed"})
        assert len(sink.messages) == 1
        msg = sink.messages[0]
        assert msg["Subject"] == "[taxi-platform] FIRING: PostgresBackupTooOld (1)"
        assert sink.envelopes[0] == ("alerts@example.com", ["oncall@example.com"])
        text = msg.get_body(preferencelist=("plain",)).get_content()
        assert "[FIRING] PostgreSQL: last successful backup is 1d 3h old" in text
        assert "severity=page" in text
        html = msg.get_body(preferencelist=("html",)).get_content()
        assert "&lt;for&gt;" in html
        assert "<for>" not in html
    finally:
        server.shutdown()


def test_bad_payloads_get_400_and_a_dead_mail_server_502(smtp_conn):
    dead = free_port()
    smtp_conn(dead)  # nothing listens there
    server = _relay(_settings(dead))
    try:
        assert _post(server, b"not json")[0] == 400
        code, body = _post(server, json.dumps({"alerts": []}).encode())
        assert code == 400
        assert "no alert" in body["error"]
        assert _post(server, json.dumps({"alerts": [{"labels": 3}]}).encode())[0] == 400
        code, body = _post(server, json.dumps(PAYLOAD).encode())
        assert code == 502, body
    finally:
        server.shutdown()


def test_no_recipient_answers_200_without_mail(smtp_conn, caplog):
    smtp = free_port()
    smtp_conn(smtp)
    server = _relay(_settings(smtp, recipients=""))
    try:
        with Sink(smtp) as sink, caplog.at_level("INFO", logger="taxi_dags.alert_relay"):
            code, body = _post(server, json.dumps(PAYLOAD).encode())
        assert (code, body) == (200, {"result": "not_mailed"})
        assert sink.messages == []
        assert any("alert_not_mailed" in r.getMessage() for r in caplog.records)
    finally:
        server.shutdown()
