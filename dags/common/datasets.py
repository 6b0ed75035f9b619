"""The dataset registry (``dags/datasets.yaml``): which TLC datasets get a batch and a
full-refresh DAG.

Following Airflow's guidance on dynamic DAGs, the registry is a small file shipped next to the
DAG files and read once per parse (cached); it never touches the network or the metadata DB.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
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
}


class RegistryError(ValueError):
    """datasets.yaml is malformed; the message names the entry and the field."""


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


def _entry(i: int, raw: object, source: str) -> Dataset:
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
    return Dataset(
        name=name,
        file_prefix=raw["file_prefix"],
        landing_prefix=raw["landing_prefix"],
        description=raw["description"].strip(),
        primary=raw.get("primary", False),
        enabled=raw.get("enabled", True),
        **steps,
    )


def parse(text: str, source: str = "datasets.yaml") -> tuple[Dataset, ...]:
    """Validate registry text; every problem names the entry and the field."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RegistryError(f"{source} is not valid YAML: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("datasets"), list):
        raise RegistryError(f"{source} must be a mapping with a 'datasets' list.")
    entries = tuple(_entry(i, raw, source) for i, raw in enumerate(doc["datasets"]))
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
