"""Data validation with Great Expectations 1.x on a Spark DataFrame.

The suite lives in a YAML file (default: ``taxi_spark/expectations/trips.yaml``) with
``${ENV}`` / ``${ENV:-default}`` substitution. A run validates the DataFrame, compares GX's
success percentage (share of expectations that passed) with the file's ``threshold_pct`` (or
``--threshold``), builds GX data docs and copies them to ``<docs uri>/data-docs/<name>/``.

Fixed costs: Great Expectations is imported only when a validation runs, and :func:`preload`
starts that import in a background thread so it overlaps the Spark session start (the JVM
launches in its own process while Python imports) and the read: :func:`validate` reads and
caches the data before it waits for the import. The GX context is ephemeral (in memory, no
project files written and re-read); only the data docs site is written, to a temporary folder.
Each run logs how long each phase took (``timings`` in ``validation_finished``).
"""

from __future__ import annotations

import os

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")  # no usage statistics calls, ever

import re
import tempfile
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow.fs as pafs
import yaml

from taxi_spark import uris
from taxi_spark.errors import ConfigError
from taxi_spark.log import get_logger

log = get_logger(__name__)

DEFAULT_EXPECTATIONS = Path(__file__).parent / "expectations" / "trips.yaml"
_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def substitute(text: str, env: Mapping[str, str], source: str) -> str:
    """Replace ``${NAME}`` and ``${NAME:-default}``; an unset NAME without default fails.

    Comment lines (first non-blank character ``#``) are left alone, so they can document the
    syntax.
    """
    out = []
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        if line.lstrip().startswith("#"):
            out.append(line)
            continue

        def repl(m: re.Match[str], number: int = number) -> str:
            name, default = m.group(1), m.group(2)
            value = env.get(name)
            if value is None or value == "":
                if default is None:
                    raise ConfigError(
                        f"{source}:{number} uses ${{{name}}} but environment variable {name} "
                        f"is not set; set it or write ${{{name}:-default}} in the file."
                    )
                return default
            return value

        out.append(_VAR.sub(repl, line))
    return "".join(out)


@dataclass(frozen=True)
class SuiteSpec:
    name: str
    threshold_pct: float
    expectations: list[dict[str, Any]]
    source: str


def load_suite(path: str | Path, env: Mapping[str, str] | None = None) -> SuiteSpec:
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"--expectations {str(path)!r} is not a file.")
    text = substitute(path.read_text(), os.environ if env is None else env, str(path))
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path} is not valid YAML after substitution: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("expectations"), list):
        raise ConfigError(f"{path} must be a mapping with an 'expectations' list.")
    try:
        threshold = float(doc.get("threshold_pct", 100))
    except (TypeError, ValueError):
        raise ConfigError(
            f"{path}: threshold_pct={doc.get('threshold_pct')!r} is not a number."
        ) from None
    if not 0 <= threshold <= 100:
        raise ConfigError(f"{path}: threshold_pct={threshold} must be between 0 and 100.")
    for i, entry in enumerate(doc["expectations"]):
        if not isinstance(entry, dict) or "expectation" not in entry:
            raise ConfigError(f"{path}: expectations[{i}] needs an 'expectation' key.")
    return SuiteSpec(str(doc.get("suite", path.stem)), threshold, doc["expectations"], str(path))


_preload: threading.Thread | None = None


def _import_gx() -> None:
    import great_expectations  # noqa: F401
    from great_expectations.core.run_identifier import RunIdentifier  # noqa: F401


def preload() -> None:
    """Start importing Great Expectations in the background (call before starting Spark).

    The import takes seconds; the Spark session start spends most of its time waiting for the
    JVM. :func:`validate` imports GX again, which waits for this import to finish (Python's
    per-module import locks) instead of doing it twice. A failure here is left for
    :func:`validate`'s own import to report.
    """
    global _preload
    if _preload is None:
        _preload = threading.Thread(target=_safe_import, name="gx-preload", daemon=True)
        _preload.start()


def _safe_import() -> None:
    try:
        _import_gx()
    except Exception:  # noqa: BLE001 - validate() imports again and reports the error
        return


def _expectation(entry: dict[str, Any], index: int, source: str):
    import great_expectations as gx

    type_name = str(entry["expectation"])
    class_name = "".join(part.capitalize() for part in type_name.split("_"))
    cls = getattr(gx.expectations, class_name, None)
    if cls is None:
        raise ConfigError(
            f"{source}: expectations[{index}] has unknown expectation type {type_name!r}."
        )
    kwargs = dict(entry.get("kwargs") or {})
    try:
        return cls(**kwargs)
    except Exception as exc:  # pydantic validation error: name the entry
        raise ConfigError(
            f"{source}: expectations[{index}] ({type_name}) has invalid kwargs: {exc}"
        ) from exc


@dataclass
class ValidationReport:
    suite: str
    success_percent: float
    threshold_pct: float
    evaluated: int
    successful: int
    rows: int
    failed: list[dict[str, Any]] = field(default_factory=list)
    docs_uri: str | None = None
    #: Seconds per phase: count (read + persist), gx_import (left to wait for after the
    #: read), context, checks (expectations and data docs build), publish.
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.success_percent >= self.threshold_pct


def validate(
    df,
    spec: SuiteSpec,
    *,
    name: str,
    threshold_pct: float | None = None,
    docs_uri: str | None = None,
    run_name: str | None = None,
) -> ValidationReport:
    """Validate ``df`` against ``spec``; build data docs and copy them to ``docs_uri``.

    ``name`` identifies what was validated (e.g. ``yellow_tripdata_2023-01``); it names the
    GX asset and the docs folder, so re-validating the same file replaces its docs.
    """
    timings: dict[str, float] = {}
    started = time.perf_counter()

    def lap(phase: str) -> None:
        nonlocal started
        now = time.perf_counter()
        timings[phase] = round(now - started, 3)
        started = now

    threshold = spec.threshold_pct if threshold_pct is None else threshold_pct
    # Read and cache the data first: with :func:`preload` Great Expectations imports in the
    # background meanwhile (with a Spark Connect server the session is ready at once, so the
    # read is what the import can overlap).
    df = df.persist()
    try:
        rows = df.count()
        lap("count")
        import great_expectations as gx
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.base import ProgressBarsConfig

        lap("gx_import")
        with tempfile.TemporaryDirectory(prefix="gx-") as project:
            site = Path(project) / "data_docs"
            checkpoint = _checkpoint(gx, ProgressBarsConfig, spec, name, site)
            lap("context")
            log.info(
                "validation_started",
                suite=spec.name,
                name=name,
                rows=rows,
                expectations=len(spec.expectations),
            )
            run_id = RunIdentifier(run_name=run_name or name)
            result = checkpoint.run(batch_parameters={"dataframe": df}, run_id=run_id)
            lap("checks")
            report = _report(result, spec, threshold, rows)
            if docs_uri:
                report.docs_uri = publish_docs(site, docs_uri, name)
            lap("publish")
    finally:
        df.unpersist()
    report.timings = timings
    log.info(
        "validation_finished",
        suite=spec.name,
        name=name,
        success_percent=round(report.success_percent, 2),
        threshold_pct=threshold,
        passed=report.passed,
        failed=[f["expectation"] + ":" + str(f["kwargs"].get("column", "")) for f in report.failed],
        docs_uri=report.docs_uri,
        timings=timings,
    )
    return report


def _checkpoint(gx, progress_bars, spec: SuiteSpec, name: str, site: Path):
    """An ephemeral GX context (nothing of the project written to disk and read back; only
    the data docs site, which we publish) and the checkpoint of ``spec`` on ``name``."""
    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = progress_bars(globally=False)
    context.update_data_docs_site(
        site_name="local_site",
        site_config={
            "class_name": "SiteBuilder",
            "store_backend": {
                "class_name": "TupleFilesystemStoreBackend",
                "base_directory": str(site),
            },
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder"},
        },
    )
    # persist=False: the DataFrame is persisted by validate(), around the run, not by GX too.
    source = context.data_sources.add_spark(name="spark", persist=False)
    asset = source.add_dataframe_asset(name=name)
    batch_definition = asset.add_batch_definition_whole_dataframe("whole_file")
    suite = gx.ExpectationSuite(name=spec.name)
    for i, entry in enumerate(spec.expectations):
        suite.add_expectation(_expectation(entry, i, spec.source))
    suite = context.suites.add(suite)
    definition = context.validation_definitions.add(
        gx.ValidationDefinition(name=f"{spec.name}-{name}", data=batch_definition, suite=suite)
    )
    return context.checkpoints.add(
        gx.Checkpoint(
            name=f"{spec.name}-checkpoint",
            validation_definitions=[definition],
            actions=[gx.checkpoint.UpdateDataDocsAction(name="update_data_docs")],
            result_format={"result_format": "BASIC"},
        )
    )


def _report(result, spec: SuiteSpec, threshold: float, rows: int) -> ValidationReport:
    (run_result,) = result.run_results.values()
    stats = run_result.statistics
    failed = [
        {
            "expectation": r.expectation_config.type,
            "kwargs": {
                k: v
                for k, v in r.expectation_config.kwargs.items()
                if k in ("column", "column_A", "column_B", "mostly")
            },
            "unexpected_percent": r.result.get("unexpected_percent"),
            "observed_value": r.result.get("observed_value"),
        }
        for r in run_result.results
        if not r.success
    ]
    return ValidationReport(
        suite=spec.name,
        success_percent=float(stats["success_percent"] or 0.0),
        threshold_pct=threshold,
        evaluated=int(stats["evaluated_expectations"]),
        successful=int(stats["successful_expectations"]),
        rows=rows,
        failed=failed,
    )


def publish_docs(site_dir: Path, docs_uri: str, name: str) -> str:
    """Copy the built data-docs site to ``<docs_uri>/data-docs/<name>/`` (replacing it)."""
    if not (site_dir / "index.html").is_file():
        raise RuntimeError(f"GX did not build data docs in {site_dir}")
    dest = uris.parse(docs_uri, arg="--docs-uri / DOCS_URI").child(f"data-docs/{name}")
    fs = uris.filesystem(dest)
    if fs.get_file_info(dest.path).type != pafs.FileType.NotFound:
        fs.delete_dir_contents(dest.path, missing_dir_ok=True)
    if dest.scheme == "file":
        fs.create_dir(dest.path, recursive=True)
    pafs.copy_files(
        str(site_dir),
        dest.path,
        source_filesystem=pafs.LocalFileSystem(),
        destination_filesystem=fs,
    )
    return dest.uri.rstrip("/") + "/index.html"
