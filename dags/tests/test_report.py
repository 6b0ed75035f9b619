"""The run report: dag.test() of ``batch`` (local runtime, small real jobs printing the real
jobs' summary shapes) sends one email to a real SMTP server (aiosmtpd on loopback) and writes
the HTML page; a failed run names its task with the end of its log; no recipient → a log line;
the SES path against a moto server (STS web identity + SES v2), with a loopback stand-in of the
GKE metadata server, on free loopback ports.
"""

from __future__ import annotations

import email
import email.policy
import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import quote

import pytest

from common import datasets, factory, notify
from common import report as rpt
from common.jobs import batch_jobs
from taxi_testing.emulators import free_port
from tests.test_dag_runs import MONTH_FILE, _states, small_table

SMTP_PORT = free_port()
MOTO_PORT = free_port()
METADATA_PORT = free_port()

SUMMARIES = {
    "validate": {
        "rows": 1000,
        "success_percent": 97.5,
        "threshold_pct": 95.0,
        "failed_expectations": ["expect_column_values_to_be_between(fare_amount)"],
    },
    "load": {
        "rows_read": 1000,
        "rows_loaded": 987,
        "rows_quarantined": 13,
        "quarantine_by_reason": {"negative_fare": 8, "dropoff_before_pickup": 5},
        "trips_partitions": 31,
    },
    "dbt_build": {"models": {"success": 6}, "tests": {"pass": 41, "fail": 0}},
    "retrain": {
        "decision": "promoted",
        "model_version": "2",
        "previous_champion_version": "1",
        "champion_version": "2",
        "challenger_rmse": 5.3341,
        "champion_rmse": 7.9932,
        "metrics": {"baseline_rmse": 9.1},
    },
    "publish_docs": {"dbt_docs": {"uri": "file:///docs/dbt/index.html", "bytes": 1234}},
}


class Sink:
    """aiosmtpd on loopback collecting every message it receives."""

    def __init__(self, port: int) -> None:
        from aiosmtpd.controller import Controller

        self.messages: list[email.message.EmailMessage] = []
        self.envelopes: list[tuple[str, list[str]]] = []

        sink = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):  # noqa: N802
                sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
                sink.messages.append(
                    email.message_from_bytes(envelope.content, policy=email.policy.default)
                )
                return "250 OK"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port)

    def __enter__(self) -> Sink:
        self.controller.start()
        return self

    def __exit__(self, *exc) -> None:
        self.controller.stop()


@pytest.fixture
def report_env(tmp_path, monkeypatch, local_platform):
    summaries = tmp_path / "summaries.json"
    summaries.write_text(json.dumps(SUMMARIES))
    monkeypatch.setenv("SMALL_JOB_SUMMARIES", str(summaries))
    monkeypatch.setenv(
        "AIRFLOW_CONN_SMTP_REPORTS",
        json.dumps(
            {
                "conn_type": "smtp",
                "host": "127.0.0.1",
                "port": SMTP_PORT,
                "extra": {"disable_ssl": True, "disable_tls": True, "retry_limit": 0},
            }
        ),
    )
    monkeypatch.setenv("REPORT_SMTP_CONN_ID", "smtp_reports")
    monkeypatch.setenv("REPORT_RECIPIENTS", "data-team@example.com, oncall@example.com")
    monkeypatch.setenv("REPORT_SENDER", "reports@example.com")
    monkeypatch.setenv("REPORT_AIRFLOW_URL", "http://127.0.0.1:8080")
    monkeypatch.setenv("REPORT_DOCS_URL", "http://127.0.0.1:8081/")
    monkeypatch.setenv("DOCS_URI", (tmp_path / "docs").as_uri())
    monkeypatch.delenv("SMALL_JOB_FAIL", raising=False)
    source = tmp_path / "landing" / "trip data" / MONTH_FILE
    source.parent.mkdir(parents=True)
    source.write_bytes(b"PAR1 not really parquet PAR1")
    return tmp_path, source


def _batch(tmp):
    yellow = datasets.get("yellow")
    jobs = small_table(batch_jobs(yellow), tmp / "records")
    return factory.batch_dag(yellow, doc_md="batch (small jobs)", jobs=jobs, runtime="local")


def _task_lines(text: str) -> dict[str, list[str]]:
    """The "Tasks" section: task id → [state, duration words...]."""
    section = text.split("\nTasks\n", 1)[1].split("\n\n", 1)[0]
    return {ln.split()[0]: ln.split()[1:] for ln in section.splitlines() if ln.strip()}


def _text(msg) -> str:
    return msg.get_body(preferencelist=("plain",)).get_content().replace("\r\n", "\n")


@pytest.mark.airflow_db
def test_a_successful_run_mails_one_report_with_its_figures(airflow_db, report_env):
    tmp, source = report_env
    with Sink(SMTP_PORT) as sink:
        run = _batch(tmp).test(run_conf={"uri": source.as_uri()})
    assert run.state == "success", _states(run)
    assert len(sink.messages) == 1
    msg = sink.messages[0]
    assert sink.envelopes[0] == (
        "reports@example.com",
        ["data-team@example.com", "oncall@example.com"],
    )
    assert msg["Subject"] == "[taxi-platform] yellow 2024-01: batch run succeeded"
    assert msg["X-Taxi-Month"] == "2024-01"
    assert msg["X-Taxi-Run-Id"] == run.run_id
    text = _text(msg)
    for expected in (
        "read          1,000",
        "loaded        987",
        "quarantined   13",
        "negative_fare: 8",
        "dropoff_before_pickup: 5",
        "met           97.50 % (threshold 95.00 %)",
        "models        6 success",
        "tests         0 fail, 41 pass",
        "decision: promoted",
        "champion now: v2",
        "RMSE challenger 5.334 · champion 7.993 · baseline 9.100",
        f"Airflow run: http://127.0.0.1:8080/dags/batch/runs/{quote(run.run_id, safe='')}",
        "This report: http://127.0.0.1:8081/reports/yellow/2024-01/",
        "dbt docs: http://127.0.0.1:8081/dbt/",
    ):
        assert expected in text, (expected, text)
    # Every job's duration is there (check_conf is a plain Python task: not timed).
    tasks = _task_lines(text)
    for task in ("copy_to_staging", "validate", "load", "dbt_build", "retrain", "publish_docs"):
        assert tasks[task][0] == "success", tasks[task]
        assert tasks[task][-1] == "s", tasks[task]
    assert tasks["check_conf"] == ["success", "n/a"]
    assert "Failed task" not in text
    page = tmp / "docs" / "reports" / "yellow" / "2024-01" / "index.html"
    html = page.read_text()
    assert '<td data-figure="rows_loaded">987</td>' in html
    assert msg.get_body(preferencelist=("html",)).get_content().replace("\r\n", "\n") == html
    assert '<a href="2024-01/">' in (tmp / "docs" / "reports" / "yellow" / "index.html").read_text()
    assert '<a href="yellow/">' in (tmp / "docs" / "reports" / "index.html").read_text()


@pytest.mark.airflow_db
def test_a_failed_run_names_the_task_and_carries_the_end_of_its_log(
    airflow_db, report_env, monkeypatch
):
    tmp, source = report_env
    monkeypatch.setenv("SMALL_JOB_FAIL", "dbt_build")
    dag = _batch(tmp)
    for t in dag.tasks:
        t.retries = 0
    with Sink(SMTP_PORT) as sink:
        run = dag.test(run_conf={"uri": source.as_uri()})
    assert run.state == "failed"
    assert len(sink.messages) == 1
    msg = sink.messages[0]
    assert msg["Subject"] == "[taxi-platform] yellow 2024-01: batch run FAILED in dbt_build"
    text = _text(msg)
    assert "Failed task: dbt_build" in text
    assert "job dbt_build exited with code 1" in text
    assert "failing as asked (SMALL_JOB_FAIL)" in text  # the last log line
    assert '"line": 29' in text
    assert "loaded        987" in text  # what ran before is still reported
    assert "no retrain summary" in text
    tasks = _task_lines(text)
    assert tasks["dbt_build"][0] == "failed"
    assert tasks["retrain"][0] == tasks["publish_docs"][0] == "upstream_failed"
    assert tasks["load"][0] == "success"


@pytest.mark.airflow_db
def test_no_recipient_logs_a_line_and_sends_nothing(airflow_db, report_env, monkeypatch, caplog):
    tmp, source = report_env
    monkeypatch.setenv("REPORT_RECIPIENTS", "")
    caplog.set_level(logging.INFO, logger="taxi_dags.run_report")
    with Sink(SMTP_PORT) as sink:
        run = _batch(tmp).test(run_conf={"uri": source.as_uri()})
    assert run.state == "success"
    assert sink.messages == []
    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name.endswith("run_report")]
    assert any(
        ln["event"] == "run_report_not_mailed" and ln["month"] == "2024-01" for ln in lines
    ), lines
    assert (tmp / "docs" / "reports" / "yellow" / "2024-01" / "index.html").is_file()


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"REPORT_RECIPIENTS": "ops@example.com, not-an-address"}, "'not-an-address'"),
        ({"REPORT_RECIPIENTS": "ops@example.com"}, "REPORT_SENDER is not"),
        (
            {
                "REPORT_RECIPIENTS": "a@example.com",
                "REPORT_SENDER": "r@example.com",
                "REPORT_TRANSPORT": "pigeon",
            },
            "REPORT_TRANSPORT='pigeon'",
        ),
        (
            {
                "REPORT_RECIPIENTS": "a@example.com",
                "REPORT_SENDER": "r@example.com",
                "REPORT_TRANSPORT": "ses",
                "REPORT_SES_ROLE_ARN": "role/x",
            },
            "REPORT_SES_ROLE_ARN='role/x'",
        ),
        ({"REPORT_AIRFLOW_URL": "airflow.example.com"}, "REPORT_AIRFLOW_URL="),
    ],
)
def test_bad_settings_fail_naming_the_variable(env, message):
    with pytest.raises(notify.ReportConfigError, match=message.replace("(", r"\(")):
        notify.settings(env)


def test_recipients_are_deduplicated_and_empty_means_none():
    assert notify.parse_recipients(" a@example.com; A@example.com,b@example.org ,") == (
        "a@example.com",
        "b@example.org",
    )
    assert notify.parse_recipients("") == ()
    assert notify.settings({}).recipients == ()


def test_html_escapes_what_the_run_gives_it():
    report = rpt.RunReport(
        dataset="yellow",
        dag_id="batch",
        run_id="manual__<script>",
        succeeded=False,
        month="2024-01",
        file_name="<b>x</b>.parquet",
        source_uri=None,
        started_at=None,
        ended_at=rpt.datetime.now(rpt.timezone.utc),
        tasks=(rpt.TaskLine("load", "failed", 1.0, 1, "boom <img src=x onerror=alert(1)>"),),
    )
    html = rpt.render_html(report)
    for raw in ("<script>", "<img", "<b>x</b>"):
        assert raw not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b>x</b>.parquet" in rpt.render_text(report)


class _Metadata(BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.headers.get("Metadata-Flavor") == "Google" and "audience=sts.amazonaws.com" in (
            self.path
        )
        body = b"header.payload.signature" if ok else b"no"
        self.send_response(200 if ok else 403)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_ses_sends_the_same_message_through_web_identity(monkeypatch):
    """Against moto's server: STS AssumeRoleWithWebIdentity with the metadata server's token,
    then SES v2 SendEmail (raw) from the verified identity with the configuration set."""
    import boto3
    from moto.backends import get_backend
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=MOTO_PORT, verbose=False)
    server.start()
    meta = ThreadingHTTPServer(("127.0.0.1", METADATA_PORT), _Metadata)
    threading.Thread(target=meta.serve_forever, daemon=True).start()
    try:
        endpoint = f"http://127.0.0.1:{MOTO_PORT}"
        for key in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            monkeypatch.delenv(key, raising=False)
        monkeypatch.setenv("AWS_ENDPOINT_URL", endpoint)
        monkeypatch.setenv("GCE_METADATA_HOST", f"127.0.0.1:{METADATA_PORT}")
        admin = boto3.client(
            "sesv2",
            region_name="eu-west-1",
            endpoint_url=endpoint,
            aws_access_key_id="admin",
            aws_secret_access_key="admin",  # moto's test account
        )
        admin.create_email_identity(EmailIdentity="reports@example.com")
        admin.create_configuration_set(ConfigurationSetName="taxi-reports")
        s = notify.settings(
            {
                "REPORT_RECIPIENTS": "data-team@example.com",
                "REPORT_SENDER": "reports@example.com",
                "REPORT_TRANSPORT": "ses",
                "REPORT_SES_ROLE_ARN": "arn:aws:iam::123456789012:role/taxi-report-sender",
                "REPORT_SES_REGION": "eu-west-1",
                "REPORT_SES_CONFIGURATION_SET": "taxi-reports",
            }
        )
        report = rpt.RunReport(
            dataset="yellow",
            dag_id="batch",
            run_id="manual__1",
            succeeded=True,
            month="2024-02",
            file_name="yellow_tripdata_2024-02.parquet",
            source_uri=None,
            started_at=None,
            ended_at=rpt.datetime.now(rpt.timezone.utc),
            tasks=(),
            load=SUMMARIES["load"],
        )
        message = notify.build_message(report, sender=s.sender, recipients=s.recipients)
        message_id = notify.send_ses(message, s=s)
        assert message_id
        backend = get_backend("ses")["123456789012"]["eu-west-1"]
        sent = [m for m in backend.sent_messages if getattr(m, "id", None) == message_id]
        assert len(sent) == 1, [getattr(m, "id", None) for m in backend.sent_messages]
        parsed = email.message_from_string(sent[0].raw_data, policy=email.policy.default)
        assert parsed["X-Taxi-Month"] == "2024-02"
        assert "loaded        987" in _text(parsed)
    finally:
        meta.shutdown()
        server.stop()
