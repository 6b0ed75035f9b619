"""The dataset registry (``dags/datasets.yaml``): which TLC datasets get a batch, a
full-refresh and an ingest DAG, and where the publisher serves their monthly files.

Following Airflow's guidance on dynamic DAGs, the registry is a small file shipped next to the
DAG files and read once per parse (cached); it never touches the network or the metadata DB.
"""

from __future__ import annotations

import dataclasses
import functools
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import yaml

from common import engines
from common.engines import IN_CLUSTER_ENGINE, Engine

REGISTRY = Path(__file__).resolve().parent.parent / "datasets.yaml"
_NAME_RE = re.compile(r"^[a-z][a-z0-9]{0,30}$")
_FIELDS = {
    "name",
    "file_prefix",
    "landing_prefix",
    "primary",
    "enabled",
    "description",
    "load",
    "transform",
    "source_url",
    "ingest_from",
}
_MONTH_RE = re.compile(r"^(\d{4})-(0[1-9]|1[0-2])$")
# Monthly cron schedules only: each run's data interval is then exactly one calendar month.
_MONTHLY_CRON_RE = re.compile(r"^(\d{1,2}) (\d{1,2}) 1 \* \*$")
_INGEST_FIELDS = {
    "source_url": str,
    "schedule": str,
    "publication_lag_days": int,
    "patience_days": int,
    "poke_minutes": int,
    "min_bytes": int,
    "max_bytes": int,
    "max_active_runs": int,
}
DEFAULT_SOURCE_TEMPLATE = "{base}/{file_name}"
_PLACEHOLDERS = re.compile(r"\{([^{}]*)\}")
_TEMPLATE_KEYS = {"base", "file_name", "month", "dataset"}


class RegistryError(ValueError):
    """datasets.yaml is malformed; the message names the entry and the field."""


@dataclass(frozen=True)
class Ingest:
    """The top-level ``ingest:`` block: how the monthly files are fetched from the publisher."""

    source_url: str = "https://d37ci6vzurychx.cloudfront.net/trip-data"
    schedule: str = "0 6 1 * *"
    publication_lag_days: int = 75
    patience_days: int = 60
    poke_minutes: int = 360
    min_bytes: int = 1024 * 1024
    max_bytes: int = 4 * 1024 * 1024 * 1024
    max_active_runs: int = 2


@dataclass(frozen=True)
class Dataset:
    name: str
    file_prefix: str
    landing_prefix: str
    description: str
    primary: bool = False
    enabled: bool = True
    load: Engine = IN_CLUSTER_ENGINE  # engine of the load step (common/engines.py)
    transform: Engine = IN_CLUSTER_ENGINE  # engine of the transform (dbt) step

    @property
    def connections(self) -> tuple[str, ...]:
        """Airflow connection ids this dataset's remote steps use."""
        return engines.connections((self.load, self.transform))

    source_url: str = DEFAULT_SOURCE_TEMPLATE
    ingest_from: str | None = None  # YYYY-MM: first month the ingest DAG fetches; None: no DAG
    ingest: Ingest = dataclasses.field(default_factory=Ingest)

    @property
    def ingest_dag_id(self) -> str:
        return "ingest" if self.primary else f"ingest_{self.name}"

    @property
    def ingest_start(self) -> date | None:
        if self.ingest_from is None:
            return None
        year, month = map(int, self.ingest_from.split("-"))
        return date(year, month, 1)

    def file_name(self, month: str) -> str:
        return f"{self.file_prefix}{month}.parquet"

    def source(self, month: str, base: str | None = None) -> str:
        """The publisher's URL of ``month``'s file (``base`` overrides the registry's)."""
        return self.source_url.format(
            base=(base or self.ingest.source_url).rstrip("/"),
            file_name=self.file_name(month),
            month=month,
            dataset=self.name,
        )

    def landing_key(self, month: str) -> str:
        """The key the S3 trigger expects: ``<landing_prefix><file_prefix>YYYY-MM.parquet``."""
        return f"{self.landing_prefix}{self.file_name(month)}"

    @property
    def batch_dag_id(self) -> str:
        return "batch" if self.primary else f"batch_{self.name}"

    @property
    def full_refresh_dag_id(self) -> str:
        return "full_refresh" if self.primary else f"full_refresh_{self.name}"

    @property
    def file_re(self) -> re.Pattern[str]:
        """Monthly file name, capturing the month as ``month``."""
        return re.compile(
            rf"^{re.escape(self.file_prefix)}(?P<month>\d{{4}}-(0[1-9]|1[0-2]))\.parquet$"
        )


def _entry(i: int, raw: object, source: str, ingest: Ingest) -> Dataset:
    where = f"{source}: datasets[{i}]"
    if not isinstance(raw, dict):
        raise RegistryError(f"{where} must be a mapping with name, file_prefix, landing_prefix.")
    unknown = sorted(set(raw) - _FIELDS)
    if unknown:
        raise RegistryError(
            f"{where} has unknown field(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(_FIELDS))}."
        )
    name = raw.get("name")
    if not isinstance(name, str) or not _NAME_RE.match(name):
        raise RegistryError(
            f"{where}.name={name!r} must be lower-case letters and digits, starting with a letter."
        )
    where = f"{source}: dataset {name!r}"
    for field in ("file_prefix", "landing_prefix", "description"):
        if not isinstance(raw.get(field), str) or not raw[field].strip():
            raise RegistryError(f"{where}: {field} must be a non-empty string.")
    for field in ("primary", "enabled"):
        if field in raw and not isinstance(raw[field], bool):
            raise RegistryError(f"{where}: {field} must be true or false, not {raw[field]!r}.")
    if "/" in raw["file_prefix"]:
        raise RegistryError(f"{where}: file_prefix is a file-name prefix and cannot contain '/'.")
    if not raw["landing_prefix"].endswith("/"):
        raise RegistryError(f"{where}: landing_prefix is a folder and must end with '/'.")
    try:
        steps = {
            step: engines.parse_step(raw.get(step), dataset=name, step=step, source=source)
            for step in ("load", "transform")
        }
    except engines.EngineError as exc:
        raise RegistryError(str(exc)) from exc
    source_url = raw.get("source_url", DEFAULT_SOURCE_TEMPLATE)
    _check_template(where, source_url)
    ingest_from = raw.get("ingest_from")
    if ingest_from is not None and (
        not isinstance(ingest_from, str) or not _MONTH_RE.match(ingest_from)
    ):
        raise RegistryError(
            f'{where}: ingest_from={ingest_from!r} must be a month in quotes, e.g. "2024-01" '
            "(the first month its ingest DAG downloads; leave it out for no ingest DAG)."
        )
    return Dataset(
        name=name,
        file_prefix=raw["file_prefix"],
        landing_prefix=raw["landing_prefix"],
        description=raw["description"].strip(),
        primary=raw.get("primary", False),
        enabled=raw.get("enabled", True),
        source_url=source_url,
        ingest_from=ingest_from,
        ingest=ingest,
        **steps,
    )


def _check_template(where: str, template: object) -> None:
    if not isinstance(template, str) or not template.strip():
        raise RegistryError(f"{where}: source_url must be a non-empty string template.")
    keys = set(_PLACEHOLDERS.findall(template))
    unknown = sorted(keys - _TEMPLATE_KEYS)
    if unknown:
        raise RegistryError(
            f"{where}: source_url {template!r} has unknown placeholder(s) "
            f"{', '.join('{' + k + '}' for k in unknown)}; allowed: "
            f"{', '.join('{' + k + '}' for k in sorted(_TEMPLATE_KEYS))}."
        )
    if not keys & {"file_name", "month"}:
        raise RegistryError(
            f"{where}: source_url {template!r} names no month; use {{file_name}} or {{month}}, "
            f"e.g. {DEFAULT_SOURCE_TEMPLATE!r}."
        )
    if not template.startswith(("{base}", "http://", "https://")):
        raise RegistryError(
            f"{where}: source_url {template!r} must start with {{base}} or an http(s):// URL."
        )


def _ingest(raw: object, source: str) -> Ingest:
    where = f"{source}: ingest"
    if raw is None:
        return Ingest()
    if not isinstance(raw, dict):
        raise RegistryError(f"{where} must be a mapping (source_url, schedule, patience_days, …).")
    unknown = sorted(set(raw) - set(_INGEST_FIELDS))
    if unknown:
        raise RegistryError(
            f"{where} has unknown field(s) {', '.join(unknown)}; "
            f"allowed: {', '.join(sorted(_INGEST_FIELDS))}."
        )
    for key, kind in _INGEST_FIELDS.items():
        if key not in raw:
            continue
        value = raw[key]
        if kind is int and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise RegistryError(f"{where}.{key}={value!r} must be a whole number >= 0.")
        if kind is str and (not isinstance(value, str) or not value.strip()):
            raise RegistryError(f"{where}.{key} must be a non-empty string.")
    out = Ingest(**{k: (v.strip() if isinstance(v, str) else v) for k, v in raw.items()})
    if not out.source_url.startswith(("http://", "https://")):
        raise RegistryError(
            f"{where}.source_url={out.source_url!r} must be an http(s):// URL (the publisher's "
            "base URL, e.g. https://d37ci6vzurychx.cloudfront.net/trip-data)."
        )
    if out.schedule != "@monthly" and not _MONTHLY_CRON_RE.match(out.schedule):
        raise RegistryError(
            f"{where}.schedule={out.schedule!r} must be monthly: '@monthly' or a cron "
            "'<minute> <hour> 1 * *' (each run fetches the month of its data interval)."
        )
    if out.min_bytes >= out.max_bytes:
        raise RegistryError(
            f"{where}: min_bytes ({out.min_bytes}) must be smaller than max_bytes "
            f"({out.max_bytes})."
        )
    if out.poke_minutes < 1 or out.max_active_runs < 1:
        raise RegistryError(f"{where}: poke_minutes and max_active_runs must be at least 1.")
    return out


def parse(text: str, source: str = "datasets.yaml") -> tuple[Dataset, ...]:
    """Validate registry text; every problem names the entry and the field."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RegistryError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("datasets"), list):
        raise RegistryError(f"{source} must be a mapping with a 'datasets' list.")
    unknown = sorted(set(doc) - {"datasets", "ingest"})
    if unknown:
        raise RegistryError(
            f"{source} has unknown top-level key(s) {', '.join(unknown)}; allowed: datasets, "
            "ingest."
        )
    ingest = _ingest(doc.get("ingest"), source)
    entries = tuple(_entry(i, raw, source, ingest) for i, raw in enumerate(doc["datasets"]))
    names = [d.name for d in entries]
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise RegistryError(f"{source}: dataset name(s) {', '.join(dupes)} appear more than once.")
    primaries = [d.name for d in entries if d.primary]
    if len(primaries) > 1:
        raise RegistryError(
            f"{source}: only one dataset may be primary (it owns the DAG ids batch and "
            f"full_refresh); found {', '.join(primaries)}."
        )
    return entries


@functools.cache
def load(path: Path = REGISTRY) -> tuple[Dataset, ...]:
    """Every registry entry (cached per parse process)."""
    return parse(path.read_text(encoding="utf-8"), source=path.name)


def enabled(path: Path = REGISTRY) -> tuple[Dataset, ...]:
    return tuple(d for d in load(path) if d.enabled)


def get(name: str, path: Path = REGISTRY) -> Dataset:
    for d in load(path):
        if d.name == name:
            return d
    raise RegistryError(f"no dataset {name!r} in {path.name}")
