"""The fare-model report: ``<DOCS_URI>/model/index.html``, one self-contained page.

Shows the latest job's decision and metrics, recent train/retrain runs, the champion history
and the diagnostic plots of the latest run (embedded PNG), for the docs app to serve.
"""

from __future__ import annotations

import base64
import html
from typing import Any

import pandas as pd

from taxi_ml import registry, storage
from taxi_ml.log import get_logger

log = get_logger(__name__)
RUN_COLUMNS = [
    ("run", "run"),
    ("job", "job"),
    ("started", "started"),
    ("data", "data"),
    ("train rows", "rows_train"),
    ("holdout rows", "rows_holdout"),
    ("RMSE", "rmse"),
    ("MAE", "mae"),
    ("R²", "r2"),
    ("baseline RMSE", "baseline_rmse"),
    ("champion RMSE", "champion_rmse"),
    ("version", "version"),
    ("decision", "decision"),
]
_CSS = """
body{font-family:system-ui,sans-serif;margin:2rem;color:#1d2733;max-width:1200px}
h1{font-size:1.5rem}h2{font-size:1.15rem;margin-top:2rem}
table{border-collapse:collapse;font-size:.9rem}td,th{border:1px solid #d0d7de;padding:.3rem .6rem}
th{background:#f3f5f7;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.promoted{color:#1a7f37;font-weight:600}.kept{color:#9a6700;font-weight:600}
.rejected{color:#cf222e;font-weight:600}figure{display:inline-block;margin:0 1rem 1rem 0}
figcaption{font-size:.85rem;color:#57606a}img{max-width:100%;border:1px solid #d0d7de}
"""


def _fmt(value: Any) -> str:
    if value is None or (isinstance(value, float) and pd.isna(value)):
        return ""
    if isinstance(value, float):
        return f"{value:,.3f}"
    return str(value)


def _cell(key: str, value: Any) -> str:
    text = html.escape(_fmt(value))
    if key == "decision" and text:
        return f'<td class="{text}">{text}</td>'
    cls = ' class="num"' if isinstance(value, int | float) else ""
    return f"<td{cls}>{text}</td>"


def recent_runs(client, experiment_id: str, limit: int = 20) -> list[dict[str, Any]]:
    runs = client.search_runs(
        [experiment_id],
        filter_string=f"tags.`{registry.JOB_TAG}` LIKE '%'",
        order_by=["attributes.start_time DESC"],
        max_results=limit,
    )
    rows = []
    for run in runs:
        m, p, t = run.data.metrics, run.data.params, run.data.tags
        rows.append(
            {
                "run": run.info.run_name,
                "job": t.get(registry.JOB_TAG),
                "started": pd.Timestamp(run.info.start_time, unit="ms", tz="UTC").strftime(
                    "%Y-%m-%d %H:%M"
                ),
                "data": p.get("data_months", ""),
                "rows_train": int(m["rows_train"]) if "rows_train" in m else None,
                "rows_holdout": int(m["rows_holdout"]) if "rows_holdout" in m else None,
                "rmse": m.get("holdout_rmse"),
                "mae": m.get("holdout_mae"),
                "r2": m.get("holdout_r2"),
                "baseline_rmse": m.get("baseline_rmse"),
                "champion_rmse": m.get("champion_rmse"),
                "version": t.get("model_version", ""),
                "decision": t.get("decision", ""),
            }
        )
    return rows


def render(
    model_name: str,
    summary: dict[str, Any],
    runs: list[dict[str, Any]],
    history: list[dict[str, Any]],
    plots: dict[str, bytes],
) -> str:
    esc = html.escape
    parts = [
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>",
        f"<title>{esc(model_name)} — fare model report</title><style>{_CSS}</style></head><body>",
        f"<h1>Fare model <code>{esc(model_name)}</code></h1>",
        f"<p>Champion: <strong>version {esc(str(summary.get('champion_version') or '—'))}"
        f"</strong>. Latest job: <code>{esc(str(summary.get('job')))}</code>, run "
        f"<code>{esc(str(summary.get('mlflow_run_id')))}</code>, registered version "
        f"{esc(str(summary.get('model_version') or '—'))}, decision "
        f"<span class='{esc(str(summary.get('decision')))}'>{esc(str(summary.get('decision')))}"
        f"</span> ({esc(str(summary.get('decision_reason', '')))}).</p>",
        "<h2>Latest metrics (holdout)</h2><table><tr><th>metric</th><th>value</th></tr>",
    ]
    for key in sorted(summary.get("metrics", {})):
        value = summary["metrics"][key]
        parts.append(f"<tr><td>{esc(key)}</td>{_cell(key, value)}</tr>")
    parts.append("</table><h2>Recent runs</h2><table><tr>")
    parts += [f"<th>{esc(label)}</th>" for label, _ in RUN_COLUMNS]
    parts.append("</tr>")
    for row in runs:
        parts.append("<tr>" + "".join(_cell(k, row.get(k)) for _, k in RUN_COLUMNS) + "</tr>")
    parts.append("</table><h2>Champion history</h2>")
    if history:
        parts.append(
            "<table><tr><th>version</th><th>replaced</th><th>reason</th><th>registered</th>"
            "<th>run</th></tr>"
        )
        for h in history:
            parts.append(
                "<tr>"
                + "".join(
                    _cell(k, h[k])
                    for k in ("version", "promoted_over", "reason", "created", "run_id")
                )
                + "</tr>"
            )
        parts.append("</table>")
    else:
        parts.append("<p>No version has been promoted yet.</p>")
    parts.append(
        f"<h2>Diagnostics of the latest run (model version "
        f"{esc(str(summary.get('model_version') or '—'))}, {esc(str(summary.get('decision')))},"
        " on its holdout)</h2>"
    )
    for name, png in plots.items():
        data = base64.b64encode(png).decode("ascii")
        parts.append(
            f"<figure><img alt='{esc(name)}' src='data:image/png;base64,{data}'>"
            f"<figcaption>{esc(name.replace('_', ' '))}</figcaption></figure>"
        )
    parts.append("</body></html>\n")
    return "".join(parts)


def publish(
    docs_uri: str,
    *,
    client,
    experiment_id: str,
    model_name: str,
    summary: dict[str, Any],
    plots: dict[str, bytes],
) -> str:
    """Render the page from the registry and write it to ``<docs_uri>/model/index.html``."""
    page = render(
        model_name,
        summary,
        recent_runs(client, experiment_id),
        registry.champion_history(client, model_name),
        plots,
    )
    uri = storage.write_text(storage.join(docs_uri, "model", "index.html"), page)
    log.info("report_published", uri=uri, bytes=len(page))
    return uri
