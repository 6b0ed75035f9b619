"""Publish the dbt docs as ONE self-contained HTML file, plus the Elementary report if present.

    python -m taxi_dbt.publish [--target duckdb|bigquery] [--skip-generate] [--summary-out PATH]

1. ``dbt docs generate --static`` writes ``static_index.html``: the docs site with the manifest
   and catalog inlined (skipped with ``--skip-generate`` when the runner already ran ``--docs``).
2. The file is checked to be self-contained: no script, stylesheet, image or frame loaded from
   anywhere else (the docs app serves it as a single object; a reader may be offline).
3. It is uploaded to ``<DOCS_URI>/dbt/index.html``.
4. When the Elementary dbt package is installed (dbt image only) and its CLI ``edr`` is on PATH,
   ``edr report`` renders the observability report, uploaded to
   ``<DOCS_URI>/elementary/index.html``. Otherwise that step is reported as skipped.

The last stdout line is a JSON summary. Exit codes: 0 published, 1 generation or a check failed,
2 bad input (environment, DOCS_URI).
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

from taxi_dbt import config, invoke, storage
from taxi_dbt import log as logmod
from taxi_dbt.duckdb_access import READ_ONLY_ENV
from taxi_dbt.errors import PublishError, StorageError, TaxiDbtError

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_USAGE = 2

DBT_DOCS_KEY = "dbt/index.html"
ELEMENTARY_KEY = "elementary/index.html"

log = logmod.get_logger("taxi_dbt.publish")

# Attributes through which a page loads another resource, per tag.
_RESOURCE_ATTRS = {
    "script": ("src",),
    "img": ("src", "srcset"),
    "iframe": ("src",),
    "frame": ("src",),
    "embed": ("src",),
    "object": ("data",),
    "source": ("src", "srcset"),
    "video": ("src", "poster"),
    "audio": ("src",),
    "input": ("src",),
}
# <link rel=…> values that make the browser fetch the target (not plain hyperlinks).
_FETCHING_RELS = {"stylesheet", "icon", "shortcut", "preload", "modulepreload", "manifest",
                  "apple-touch-icon", "prefetch"}  # fmt: skip
_CSS_URL = re.compile(
    r"""(?:url\(\s*['"]?|@import\s+['"])\s*(?!data:|#)([a-z][a-z0-9+.-]*:)?//""", re.I
)


class _ResourceFinder(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.external: list[str] = []
        self.title: str | None = None
        self._in_title = False
        self._in_style = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k.lower(): (v or "") for k, v in attrs}
        names = _RESOURCE_ATTRS.get(tag, ())
        if tag == "link":
            rels = set(values.get("rel", "").lower().split())
            if rels & _FETCHING_RELS:
                names = ("href",)
        for name in names:
            value = values.get(name, "").strip()
            if value and not value.startswith(("data:", "#", "about:", "javascript:")):
                self.external.append(f"<{tag} {name}={value[:120]!r}>")
        if "style" in values and _CSS_URL.search(values["style"]):
            self.external.append(f"<{tag} style> loads a remote url()")
        self._in_title = tag == "title"
        self._in_style = tag == "style"

    def handle_endtag(self, tag: str) -> None:
        if tag in ("title", "style"):
            self._in_title = self._in_style = False

    def handle_data(self, data: str) -> None:
        if self._in_title and self.title is None:
            self.title = data.strip()
        if self._in_style and _CSS_URL.search(data):
            self.external.append("<style> loads a remote url() or @import")


# dbt's docs page ships an unbuilt webpack expression as its favicon link
# (href="${require('./assets/favicons/favicon.ico')}"): a request for a file that does not exist.
_UNBUILT_LINK = re.compile(r"""<link\b[^>]*\bhref=["']\$\{require\(.*?\)\}["'][^>]*>""", re.I)


def make_self_contained(html: str) -> str:
    """``html`` without the references dbt's page makes to files that were never built."""
    return _UNBUILT_LINK.sub("", html)


def check_self_contained(html: str) -> list[str]:
    """Problems that stop ``html`` from being a self-contained page (empty list = fine)."""
    if not html.strip():
        return ["the file is empty"]
    finder = _ResourceFinder()
    finder.feed(html)
    finder.close()
    problems = [f"loads an external resource: {e}" for e in finder.external]
    if not re.search(r"<html[\s>]", html[:5000], re.I):
        problems.append("no <html> element near the start: not an HTML page")
    return problems


def generate(cfg: config.DbtConfig) -> invoke.StepResult:
    # `docs generate` only reads the warehouse: on DuckDB it opens the file read-only
    # (taxi_dbt.duckdb_access), so the batch DAG's retrain can read it at the same time.
    before = os.environ.get(READ_ONLY_ENV)
    os.environ[READ_ONLY_ENV] = "1"
    try:
        return invoke.run(cfg, "docs", ["docs", "generate", "--static"])
    finally:
        if before is None:
            os.environ.pop(READ_ONLY_ENV, None)
        else:
            os.environ[READ_ONLY_ENV] = before


def read_static_docs() -> tuple[Path, str]:
    path = invoke.target_dir() / "static_index.html"
    if not path.is_file():
        raise PublishError(
            f"{path} does not exist: run `python -m taxi_dbt.runner docs` (or drop "
            "--skip-generate) so `dbt docs generate --static` writes it."
        )
    html = make_self_contained(path.read_text(encoding="utf-8"))
    problems = check_self_contained(html)
    if problems:
        raise PublishError(f"{path} is not a self-contained page: " + "; ".join(problems[:5]))
    return path, html


def elementary_report(cfg: config.DbtConfig, workdir: Path) -> tuple[str, str, Path | None]:
    """(status, detail, report path): run ``edr report`` when the package and CLI are present."""
    if "elementary" not in invoke.installed_packages():
        return "skipped", "the elementary dbt package is not installed (offline build)", None
    edr = shutil.which("edr")
    if edr is None:
        return "skipped", "the Elementary CLI (edr) is not on PATH", None
    out = workdir / "elementary.html"
    cmd = [
        edr, "report",
        "--file-path", str(out),
        "--open-browser", "false",
        "--project-dir", str(config.PROJECT_DIR),
        "--profiles-dir", str(config.PROJECT_DIR),
        "--profile-target", cfg.warehouse,
        "--target-path", str(workdir / "edr"),
    ]  # fmt: skip
    log.info("elementary_report_started", command=" ".join(cmd[1:]))
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=3600)
    if proc.returncode != 0 or not out.is_file() or out.stat().st_size == 0:
        tail = (proc.stderr or proc.stdout)[-1500:]
        raise PublishError(f"edr report failed (exit {proc.returncode}): {tail}")
    return "generated", f"{out.stat().st_size} bytes", out


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m taxi_dbt.publish",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--target", choices=config.WAREHOUSES, help="dbt target (default: WAREHOUSE)")
    p.add_argument(
        "--skip-generate", action="store_true", help="publish the static_index.html already there"
    )
    p.add_argument("--summary-out", default=None, help="also write the JSON summary to this path")
    p.add_argument("--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING"])
    return p


def _emit(summary: dict[str, Any], path: str | None) -> None:
    text = json.dumps(summary, default=str, sort_keys=True)
    sys.stdout.flush()
    print(text, flush=True)
    if path:
        Path(path).write_text(text + "\n")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    logmod.configure(args.log_level)
    started = time.monotonic()
    summary: dict[str, Any] = {"ok": False, "dbt_docs": None, "elementary": None}
    try:
        cfg = config.load(target=args.target)
        docs_uri = cfg.require_docs_uri()
        storage.parse(docs_uri)  # fail on a bad URI before spending minutes on generation
    except TaxiDbtError as exc:
        log.error("bad_input", error=str(exc))
        print(f"error: {exc}", file=sys.stderr)
        summary["error"] = str(exc)
        _emit(summary, args.summary_out)
        return EXIT_USAGE
    code = EXIT_OK
    try:
        if not args.skip_generate:
            step = generate(cfg)
            if not step.ok:
                raise PublishError(f"dbt docs generate failed: {step.exception or step.failures}")
        path, html = read_static_docs()
        data = html.encode("utf-8")
        uri = storage.put_bytes(storage.join(docs_uri, DBT_DOCS_KEY), data)
        summary["dbt_docs"] = {"uri": uri, "bytes": len(data), "source": str(path)}
        log.info("dbt_docs_published", uri=uri, bytes=len(data))
        with tempfile.TemporaryDirectory(prefix="taxi-edr-") as tmp:
            status, detail, report = elementary_report(cfg, Path(tmp))
            summary["elementary"] = {"status": status, "detail": detail}
            if report is not None:
                e_uri = storage.put_bytes(
                    storage.join(docs_uri, ELEMENTARY_KEY), report.read_bytes()
                )
                summary["elementary"]["uri"] = e_uri
                log.info("elementary_report_published", uri=e_uri)
            else:
                log.info("elementary_report_skipped", reason=detail)
        summary["ok"] = True
    except TaxiDbtError as exc:
        log.error("publish_failed", error=str(exc), error_type=type(exc).__name__)
        print(f"error: {exc}", file=sys.stderr)
        summary["error"] = str(exc)
        code = EXIT_USAGE if isinstance(exc, StorageError) else EXIT_FAILED
    summary["seconds"] = round(time.monotonic() - started, 1)
    _emit(summary, args.summary_out)
    return code


if __name__ == "__main__":
    sys.exit(main())
