"""The run report notifier of the ``batch`` DAG: a page in the docs bucket and one email.

:class:`RunReportNotifier` is an Airflow notifier (``BaseNotifier``, the official mechanism for
DAG callbacks: Airflow runs it in the dag-processor, or in-process under ``dag.test()``); the
factory attaches it as ``on_success_callback`` and ``on_failure_callback`` of every ``batch``
DAG. When a run ends it:

1. collects the run's figures (:func:`common.report.collect`);
2. writes the HTML report to ``<DOCS_URI>/reports/<dataset>/<month>/index.html`` and refreshes
   the index pages ``reports/<dataset>/index.html`` and ``reports/index.html`` (the docs app
   lists ``reports`` as "Run reports"; :mod:`common.report_site`): ``file://`` here,
   ``gs://`` on the cluster through ``google-cloud-storage`` as Airflow's Google service
   account (a failed write logs ``run_report_not_published`` with the reason and still mails);
3. sends one email (text and HTML alternatives, the same MIME bytes for every transport):

   * ``REPORT_TRANSPORT=smtp`` (local): through the smtp provider's ``SmtpHook`` on the
     connection ``REPORT_SMTP_CONN_ID`` (default ``smtp_default``), which opens the session
     (TLS and login as the connection says); locally that is the loopback SMTP sink of
     ``npm start``;
   * ``REPORT_TRANSPORT=ses`` (cluster): Amazon SES v2 ``SendEmail`` (raw content) with the
     configuration set ``REPORT_SES_CONFIGURATION_SET``, as the role ``REPORT_SES_ROLE_ARN``
     assumed through web identity federation: the pod's Google ID token from the GKE metadata
     server, exchanged by STS ``AssumeRoleWithWebIdentity``; no static AWS key, no SMTP
     password.

An empty ``REPORT_RECIPIENTS`` sends nothing and logs ``run_report_not_mailed``. A bad setting
fails with a message naming the variable and what is expected (:class:`ReportConfigError`);
the notifier logs it as ``run_report_failed`` and re-raises (Airflow logs callback failures and
counts them in ``dag.callback_exceptions``), after having published what it could.
"""

from __future__ import annotations

import email.policy
import os
import re
import urllib.parse
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate, make_msgid
from typing import Any

from airflow.providers.common.compat.notifier import BaseNotifier

from common import report as rpt
from common.log import event, get_logger
from common.report_site import PublishError, publish

TRANSPORTS = ("smtp", "ses")
_EMAIL = re.compile(r"^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+$")
_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d$")
STS_AUDIENCE = "sts.amazonaws.com"
TIMEOUT_SECONDS = 30


class ReportConfigError(ValueError):
    """A REPORT_* setting is missing or malformed; the message names it and the fix."""


@dataclass(frozen=True)
class ReportSettings:
    recipients: tuple[str, ...]
    sender: str | None
    transport: str
    smtp_conn_id: str
    ses_role_arn: str | None
    ses_region: str | None
    ses_configuration_set: str | None
    airflow_url: str | None
    docs_url: str | None
    docs_uri: str | None


def _clean(env: Mapping[str, str], key: str) -> str | None:
    value = (env.get(key) or "").strip()
    return value or None


def _url(env: Mapping[str, str], key: str) -> str | None:
    value = _clean(env, key)
    if value is None:
        return None
    parsed = urllib.parse.urlparse(value)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ReportConfigError(
            f"{key}={value!r} is not an http(s) URL; expected e.g. https://airflow.example.com "
            "(the public URL people open; leave it unset to omit the links)."
        )
    return value.rstrip("/")


def parse_recipients(raw: str | None, key: str = "REPORT_RECIPIENTS") -> tuple[str, ...]:
    """``"a@x.org, b@y.org"`` → the validated addresses; ``""`` → no recipient."""
    out: list[str] = []
    for item in (raw or "").replace(";", ",").split(","):
        address = item.strip()
        if not address:
            continue
        if not _EMAIL.match(address):
            raise ReportConfigError(
                f"{key} has {address!r}, which is not an email address; expected a "
                "comma-separated list like 'data-team@example.com, oncall@example.com' "
                "(empty: no email)."
            )
        if address.lower() not in (a.lower() for a in out):
            out.append(address)
    return tuple(out)


def settings(env: Mapping[str, str] | None = None) -> ReportSettings:
    """The REPORT_* settings (Airflow's environment; the cluster sets them from stack config)."""
    env = os.environ if env is None else env
    recipients = parse_recipients(env.get("REPORT_RECIPIENTS"))
    sender = _clean(env, "REPORT_SENDER")
    if sender is not None and not _EMAIL.match(sender):
        raise ReportConfigError(
            f"REPORT_SENDER={sender!r} is not an email address; expected the verified SES "
            "identity's address, e.g. reports@example.com."
        )
    transport = (_clean(env, "REPORT_TRANSPORT") or "smtp").lower()
    if transport not in TRANSPORTS:
        raise ReportConfigError(
            f"REPORT_TRANSPORT={transport!r} is not valid; expected one of "
            f"{', '.join(TRANSPORTS)} (smtp: an Airflow SMTP connection; ses: Amazon SES)."
        )
    if recipients and sender is None:
        raise ReportConfigError(
            "REPORT_RECIPIENTS is set but REPORT_SENDER is not; set REPORT_SENDER to the "
            "address reports are sent from (the verified SES identity on the cluster)."
        )
    role = _clean(env, "REPORT_SES_ROLE_ARN")
    region = _clean(env, "REPORT_SES_REGION") or _clean(env, "AWS_REGION")
    if transport == "ses" and recipients:
        if role is None or not _ROLE_ARN.match(role):
            raise ReportConfigError(
                f"REPORT_SES_ROLE_ARN={role!r} is not an IAM role ARN; expected "
                "arn:aws:iam::<12-digit account>:role/<name> (the report sender role of the "
                "AWS component's output reportSenderRoleArn)."
            )
        if region is None or not _REGION.match(region):
            raise ReportConfigError(
                f"REPORT_SES_REGION={region!r} is not an AWS region; expected e.g. eu-west-1 "
                "(the region of the SES identity)."
            )
    return ReportSettings(
        recipients=recipients,
        sender=sender,
        transport=transport,
        smtp_conn_id=_clean(env, "REPORT_SMTP_CONN_ID") or "smtp_default",
        ses_role_arn=role,
        ses_region=region,
        ses_configuration_set=_clean(env, "REPORT_SES_CONFIGURATION_SET"),
        airflow_url=_url(env, "REPORT_AIRFLOW_URL"),
        docs_url=_url(env, "REPORT_DOCS_URL"),
        docs_uri=_clean(env, "DOCS_URI"),
    )


# --- the message ----------------------------------------------------------------------------
def build_message(report: rpt.RunReport, *, sender: str, recipients: tuple[str, ...]) -> bytes:
    """One MIME message: text part first, HTML alternative; headers carry the run's identity."""
    msg = EmailMessage()
    msg["Subject"] = report.subject
    msg["From"] = sender
    msg["To"] = ", ".join(recipients)
    msg["Date"] = formatdate(localtime=False)
    msg["Message-ID"] = make_msgid(domain=sender.rsplit("@", 1)[-1])
    msg["X-Taxi-Dataset"] = report.dataset
    msg["X-Taxi-Month"] = report.month
    msg["X-Taxi-Run-Id"] = report.run_id
    msg["X-Taxi-Run-Status"] = "success" if report.succeeded else "failed"
    # quoted-printable: SMTP limits lines to 998 octets (RFC 5321), log lines can be longer.
    msg.set_content(
        rpt.render_text(report), subtype="plain", charset="utf-8", cte="quoted-printable"
    )
    msg.add_alternative(
        rpt.render_html(report), subtype="html", charset="utf-8", cte="quoted-printable"
    )
    return msg.as_bytes(policy=email.policy.SMTP)


def send_smtp(message: bytes, *, sender: str, recipients: tuple[str, ...], conn_id: str) -> None:
    """Through the smtp provider's hook: it opens the session as the connection says (host,
    port, TLS, login); the message is ours (text + HTML, which ``send_email_smtp`` cannot
    build), so it goes through the hook's open client."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    with SmtpHook(smtp_conn_id=conn_id) as hook:
        client = hook._smtp_client  # the session the hook opened (and closes)
        if client is None:
            raise RuntimeError(f"SMTP connection {conn_id!r} did not open a session")
        client.sendmail(sender, list(recipients), message)


def google_id_token(audience: str = STS_AUDIENCE) -> str:
    """An ID token of the pod's Google service account (GKE metadata server)."""
    host = os.environ.get("GCE_METADATA_HOST", "metadata.google.internal")
    query = urllib.parse.urlencode({"audience": audience, "format": "full"})
    url = f"http://{host}/computeMetadata/v1/instance/service-accounts/default/identity?{query}"
    req = urllib.request.Request(url, headers={"Metadata-Flavor": "Google"})
    try:
        with urllib.request.urlopen(req, timeout=TIMEOUT_SECONDS) as resp:
            return resp.read().decode().strip()
    except OSError as exc:
        raise ReportConfigError(
            f"no Google ID token from the metadata server at {host} ({exc}); the Airflow pod "
            "must run with Workload Identity (its service account bound to a Google account)."
        ) from exc


def send_ses(message: bytes, *, s: ReportSettings) -> str:
    """SES v2 ``SendEmail`` (raw) as ``REPORT_SES_ROLE_ARN`` through web identity federation;
    returns SES's message id. ``AWS_ENDPOINT_URL_STS`` / ``AWS_ENDPOINT_URL_SESV2`` (the SDK's
    standard variables) point the calls elsewhere (tests: a moto server)."""
    import boto3
    from botocore import UNSIGNED
    from botocore.config import Config

    sts = boto3.client("sts", region_name=s.ses_region, config=Config(signature_version=UNSIGNED))
    creds = sts.assume_role_with_web_identity(
        RoleArn=s.ses_role_arn,
        RoleSessionName="taxi-run-report",
        WebIdentityToken=google_id_token(),
        DurationSeconds=900,
    )["Credentials"]
    ses = boto3.client(
        "sesv2",
        region_name=s.ses_region,
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )
    kwargs: dict[str, Any] = {
        "FromEmailAddress": s.sender,
        "Destination": {"ToAddresses": list(s.recipients)},
        "Content": {"Raw": {"Data": message}},
    }
    if s.ses_configuration_set:
        kwargs["ConfigurationSetName"] = s.ses_configuration_set
    return str(ses.send_email(**kwargs).get("MessageId", ""))


class RunReportNotifier(BaseNotifier):
    """Publish the run report and email it (see the module docstring)."""

    template_fields = ()

    def __init__(self, *, dataset: str, succeeded: bool, env: Mapping[str, str] | None = None):
        super().__init__()
        self.dataset = dataset
        self.succeeded = succeeded
        self.env = env

    def render_template_fields(self, context: Any, jinja_env: Any = None) -> None:
        """Nothing to template (``template_fields`` is empty). Skipping the base class's
        environment lookup also keeps the notifier working with the serialized DAG that
        ``dag.test()`` puts in the context."""

    def notify(self, context: Any) -> None:
        log = get_logger("run_report")
        try:
            s = settings(self.env)
        except ReportConfigError as exc:
            event(log, "run_report_failed", error=str(exc))
            raise
        report = rpt.collect(
            context,
            dataset=self.dataset,
            succeeded=self.succeeded,
            airflow_url=s.airflow_url,
            docs_url=s.docs_url,
        )
        fields = {"run_id": report.run_id, "month": report.month, "status": report.status}
        if s.docs_uri and report.month == rpt.UNKNOWN_MONTH:
            event(log, "run_report_not_published", reason="the run has no month", **fields)
        elif s.docs_uri:
            try:
                page = publish(report, s.docs_uri)
                event(log, "run_report_published", uri=page, **fields)
            except (OSError, PublishError) as exc:
                event(log, "run_report_not_published", reason=str(exc), **fields)
        else:
            event(log, "run_report_not_published", reason="DOCS_URI is not set", **fields)
        if not s.recipients:
            event(log, "run_report_not_mailed", reason="REPORT_RECIPIENTS is empty", **fields)
            return
        assert s.sender is not None  # settings() requires it with recipients
        message = build_message(report, sender=s.sender, recipients=s.recipients)
        if s.transport == "ses":
            message_id = send_ses(message, s=s)
            event(log, "run_report_mailed", transport="ses", message_id=message_id, **fields)
        else:
            send_smtp(message, sender=s.sender, recipients=s.recipients, conn_id=s.smtp_conn_id)
            event(log, "run_report_mailed", transport="smtp", to=len(s.recipients), **fields)


def notifiers(dataset: str) -> dict[str, RunReportNotifier]:
    """The DAG keyword arguments that attach the report to a run's end."""
    return {
        "on_success_callback": RunReportNotifier(dataset=dataset, succeeded=True),
        "on_failure_callback": RunReportNotifier(dataset=dataset, succeeded=False),
    }
