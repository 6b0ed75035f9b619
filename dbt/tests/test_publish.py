"""The publisher: one self-contained HTML file under DOCS_URI that Chromium renders."""

from __future__ import annotations

import gzip
import os
import re
import subprocess
from pathlib import Path

import pytest

from conftest import REPO_ROOT, Built, describe, run_module
from taxi_dbt.publish import check_self_contained

CHROMIUM = "/usr/bin/chromium"
SCREENSHOT_DIR = REPO_ROOT / "test-output" / "dbt"


@pytest.fixture(scope="module")
def published(built: Built, tmp_path_factory):
    assert built.first.code == 0, describe(built.first)
    docs = tmp_path_factory.mktemp("docs-site")
    env = dict(built.env, DOCS_URI=f"file://{docs}")
    run = run_module("taxi_dbt.publish", [], env)
    assert run.code == 0, describe(run)
    return docs, run


def test_publishes_one_self_contained_page_and_its_gzip_sibling(published):
    docs, run = published
    files = sorted(str(p.relative_to(docs)) for p in docs.rglob("*") if p.is_file())
    # The page and its pre-compressed sibling for the docs app (taxi_common.uris).
    assert files == ["dbt/index.html", "dbt/index.html.gz"]
    page = (docs / "dbt" / "index.html").read_text(encoding="utf-8")
    assert gzip.decompress((docs / "dbt" / "index.html.gz").read_bytes()).decode() == page
    assert check_self_contained(page) == []
    assert run.summary["ok"] is True
    assert run.summary["dbt_docs"]["uri"] == f"file://{docs}/dbt/index.html"
    assert run.summary["dbt_docs"]["bytes"] == len(page.encode())
    # Offline checkouts have no Elementary package: the step says so instead of failing.
    assert run.summary["elementary"]["status"] == "skipped"
    assert "not installed" in run.summary["elementary"]["detail"]


@pytest.mark.parametrize(
    ("html", "problem"),
    [
        ("", "empty"),
        ('<html><script src="https://cdn.example.com/app.js"></script></html>', "<script src="),
        ('<html><link rel="stylesheet" href="main.css"></html>', "<link href="),
        ('<html><img src="logo.png"></html>', "<img src="),
        ("<html><style>@import 'https://fonts.example.com/a.css';</style></html>", "<style>"),
        ("<html><div style=\"background:url('//x.example.com/a.png')\"></div></html>", "style"),
        ("just text", "not an HTML page"),
    ],
)
def test_the_self_contained_check_catches_external_resources(html, problem):
    problems = check_self_contained(html)
    assert problems, html
    assert any(problem in p for p in problems), problems


def test_inline_resources_and_plain_links_are_fine():
    html = (
        '<html><head><link rel="icon" href="data:image/png;base64,AAAA"><style>a{}</style>'
        '<script>var x = "https://example.com";</script></head>'
        '<body><a href="https://docs.getdbt.com">dbt</a><img src="data:image/gif;base64,R0"></body>'
        "</html>"
    )
    assert check_self_contained(html) == []


def _chromium(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
         "--virtual-time-budget=20000", *args],
        capture_output=True, text=True, timeout=180, check=False,
        env={**os.environ, "HOME": os.environ.get("HOME", "/tmp")},
    )  # fmt: skip


@pytest.mark.chromium
def test_chromium_renders_the_model_list(published):
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium package")
    docs, _ = published
    url = (docs / "dbt" / "index.html").as_uri() + "#!/model/model.taxi.fare_features"
    dom = _chromium("--dump-dom", url)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert re.search(r"<title>\s*dbt Docs\s*</title>", dom.stdout)
    # Rendered by the page's JavaScript (ng-binding), not just present in the embedded manifest:
    # the model in the project tree and as the page heading.
    assert re.search(r'class="filename-normal ng-binding">fare_features<', dom.stdout)
    assert re.search(r'class="break ng-binding">fare_features<', dom.stdout)
    raw = (docs / "dbt" / "index.html").read_text(encoding="utf-8")
    assert 'ng-binding">fare_features<' not in raw

    SCREENSHOT_DIR.mkdir(parents=True, exist_ok=True)
    shot = SCREENSHOT_DIR / "dbt-docs-fare-features.png"
    shot.unlink(missing_ok=True)
    res = _chromium(f"--screenshot={shot}", "--window-size=1400,900", url)
    assert res.returncode == 0, res.stderr[-2000:]
    data = shot.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert len(data) > 20_000  # a rendered page, not a blank canvas


def test_publisher_exits_2_without_docs_uri(built: Built):
    run = run_module("taxi_dbt.publish", ["--skip-generate"], built.env)
    assert run.code == 2
    assert "DOCS_URI is not set" in run.summary["error"]


def test_publisher_rejects_an_unsupported_docs_uri(built: Built):
    run = run_module("taxi_dbt.publish", ["--skip-generate"], dict(built.env, DOCS_URI="s3://x/y"))
    assert run.code == 2
    assert "unsupported scheme 's3'" in run.summary["error"]


def test_publishes_while_retrain_reads_the_warehouse_and_keeps_the_partial_parse(
    built: Built, tmp_path
):
    """The batch DAG runs publish_docs beside retrain: dbt's docs generate opens DuckDB
    read-only (taxi_dbt.duckdb_access), so it works while another process reads the file, as
    retrain does; and the next month's build still reuses dbt's partial parse (the publisher's
    connection settings are the build's)."""
    import duckdb

    assert built.first.code == 0, describe(built.first)
    env = dict(built.env, DOCS_URI=f"file://{tmp_path / 'docs'}")
    reader = duckdb.connect(str(built.warehouse), read_only=True)
    try:
        assert reader.execute("select count(*) from marts.fare_features").fetchone()[0] > 0
        run = run_module("taxi_dbt.publish", [], env)
        assert run.code == 0, describe(run)
        # A writer is refused while the reader is there: what the publisher would otherwise hit.
        build = run_module("taxi_dbt.runner", ["run", "--select", "fare_features"], env)
        assert build.code != 0
        assert "lock" in (build.stdout + build.stderr).lower()
    finally:
        reader.close()
    after = run_module(
        "taxi_dbt.runner",
        ["build", "--no-unit-tests", "--vars", '{"source_month": "2024-01"}'],
        env,
    )
    assert after.code == 0, describe(after)
    assert "Unable to do partial parsing" not in after.stdout
