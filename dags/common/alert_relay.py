"""Alertmanager's contact point: a webhook receiver that mails alerts through the run report's path.

    python -m common.alert_relay [--host 127.0.0.1] [--port 9095]

Runs next to Alertmanager (a second container of its pod, listening on loopback only), so
Alertmanager's webhook receiver (``http://127.0.0.1:9095/alerts``) needs no network policy and
no credential. Each notification (Alertmanager webhook payload, version 4: ``status``,
``alerts[]`` with ``labels``/``annotations``/``startsAt``, ``groupLabels``, ``externalURL``)
becomes one email with a text and an HTML part, sent exactly as the run report is
(:mod:`common.notify`: ``REPORT_*`` settings, SES v2 by web identity on the cluster, an SMTP
connection locally). An empty ``REPORT_RECIPIENTS`` logs ``alert_not_mailed`` and answers 200.
A failed send answers 502, so Alertmanager retries; a malformed payload answers 400.
"""

from __future__ import annotations

import argparse
import email.policy
import json
import sys
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jinja2

from common import notify
from common.log import event, get_logger

MAX_BODY = 1 << 20  # Alertmanager batches; a megabyte is far above any real group
_TEXT = """\
{{ status | upper }}: {{ name }} ({{ alerts | length }} alert{{ "s" if alerts | length != 1 }})
{% for a in alerts %}
[{{ a.status | upper }}] {{ a.annotations.get("summary") or a.labels.get("alertname") }}
  {{ a.annotations.get("description", "") }}
  since {{ a.startsAt }}{% if a.status == "resolved" %}, resolved {{ a.endsAt }}{% endif %}
  labels: {% for k, v in a.labels | dictsort %}{{ k }}={{ v }} {% endfor %}
{%- if a.generatorURL %}
  source: {{ a.generatorURL }}{% endif %}
{% endfor %}
Alertmanager: {{ external_url or "n/a" }}
"""
_HTML = """\
<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ subject }}</title></head>
<body style="font-family:system-ui,sans-serif">
<h1>{{ status | upper }}: {{ name }}</h1>
<ul>{% for a in alerts %}
<li><b>[{{ a.status | upper }}] {{ a.annotations.get("summary") or a.labels.get("alertname") }}</b>
<br>{{ a.annotations.get("description", "") }}<br><small>since {{ a.startsAt }};
{% for k, v in a.labels | dictsort %}{{ k }}={{ v }} {% endfor %}</small></li>
{% endfor %}</ul>
<p>Alertmanager: {{ external_url or "n/a" }}</p></body></html>
"""


class PayloadError(ValueError):
    pass


def _alerts(payload: Any) -> list[dict[str, Any]]:
    if not isinstance(payload, dict) or not isinstance(payload.get("alerts"), list):
        raise PayloadError("expected an Alertmanager webhook payload with an 'alerts' list")
    out = []
    for i, a in enumerate(payload["alerts"]):
        if not isinstance(a, dict) or not isinstance(a.get("labels"), dict):
            raise PayloadError(f"alert #{i + 1} has no 'labels' object")
        out.append(
            {
                "status": str(a.get("status", "firing")),
                "labels": {str(k): str(v) for k, v in a["labels"].items()},
                "annotations": {str(k): str(v) for k, v in (a.get("annotations") or {}).items()},
                "startsAt": str(a.get("startsAt", "")),
                "endsAt": str(a.get("endsAt", "")),
                "generatorURL": str(a.get("generatorURL", "")),
            }
        )
    if not out:
        raise PayloadError("the payload has no alert")
    return out


def build_message(payload: Any, *, sender: str, recipients: tuple[str, ...]) -> bytes:
    """One MIME message (text + HTML) for one Alertmanager notification."""
    alerts = _alerts(payload)
    status = str(payload.get("status", "firing"))
    group = payload.get("groupLabels") or {}
    name = str(group.get("alertname") or alerts[0]["labels"].get("alertname", "alert"))
    subject = f"[taxi-platform] {status.upper()}: {name} ({len(alerts)})"
    values = {
        "status": status,
        "name": name,
        "alerts": alerts,
        "external_url": payload.get("externalURL"),
        "subject": subject,
    }
    msg = EmailMessage()
    msg["Subject"] = subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    msg["X-Taxi-Alert"] = name
    msg["X-Taxi-Alert-Status"] = status
    text = jinja2.Environment(autoescape=False).from_string(_TEXT).render(**values)
    html = jinja2.Environment(autoescape=True).from_string(_HTML).render(**values)
    msg.set_content(text, subtype="plain", charset="utf-8", cte="quoted-printable")
    msg.add_alternative(html, subtype="html", charset="utf-8", cte="quoted-printable")
    return msg.as_bytes(policy=email.policy.SMTP)


def deliver(payload: Any, s: notify.ReportSettings) -> str:
    """Mail one notification; returns what happened (``mailed`` or ``not_mailed``)."""
    log = get_logger("alert_relay")
    alerts = _alerts(payload)
    names = sorted({a["labels"].get("alertname", "?") for a in alerts})
    if not s.recipients:
        event(log, "alert_not_mailed", reason="REPORT_RECIPIENTS is empty", alerts=names)
        return "not_mailed"
    assert s.sender is not None
    message = build_message(payload, sender=s.sender, recipients=s.recipients)
    if s.transport == "ses":
        notify.send_ses(message, s=s)
    else:
        notify.send_smtp(message, sender=s.sender, recipients=s.recipients, conn_id=s.smtp_conn_id)
    event(log, "alert_mailed", transport=s.transport, alerts=names, to=len(s.recipients))
    return "mailed"


def make_handler(s: notify.ReportSettings) -> type[BaseHTTPRequestHandler]:
    log = get_logger("alert_relay")

    class Handler(BaseHTTPRequestHandler):
        def _answer(self, code: int, body: dict[str, Any]) -> None:
            data = json.dumps(body).encode()
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self) -> None:
            if self.path == "/healthz":
                self._answer(200, {"ok": True})
            else:
                self._answer(404, {"error": "not found"})

        def do_POST(self) -> None:
            if self.path != "/alerts":
                self._answer(404, {"error": "POST /alerts"})
                return
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY:
                self._answer(400, {"error": f"body must be 1 to {MAX_BODY} bytes"})
                return
            try:
                payload = json.loads(self.rfile.read(length))
                result = deliver(payload, s)
            except (json.JSONDecodeError, PayloadError) as exc:
                self._answer(400, {"error": str(exc)})
                return
            except Exception as exc:  # noqa: BLE001 - Alertmanager retries on 5xx
                event(log, "alert_send_failed", error=f"{type(exc).__name__}: {exc}")
                self._answer(502, {"error": "send failed; Alertmanager will retry"})
                return
            self._answer(200, {"result": result})

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


def serve(host: str, port: int, s: notify.ReportSettings) -> ThreadingHTTPServer:
    return ThreadingHTTPServer((host, port), make_handler(s))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m common.alert_relay")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=9095)
    args = p.parse_args(argv)
    try:
        s = notify.settings()
    except notify.ReportConfigError as exc:
        print(f"alert_relay: {exc}", file=sys.stderr)
        return 2
    server = serve(args.host, args.port, s)
    event(get_logger("alert_relay"), "alert_relay_listening", host=args.host, port=args.port)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
