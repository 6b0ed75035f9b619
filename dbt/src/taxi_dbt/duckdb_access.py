"""A dbt-duckdb plugin: open the local warehouse read-only when ``TAXI_DUCKDB_READ_ONLY=1``.

DuckDB lets one process write a database file, or any number of processes read it. The batch
DAG's ``retrain`` (reads ``fare_features``, ``taxi_ml.data``: read-only) and ``publish_docs``
(``dbt docs generate``: reads the catalog, writes nothing) run side by side after ``dbt_build``;
dbt-duckdb opens its file read-write, which would lock ``retrain`` out (and be locked out by it).
The publisher sets the variable, so its dbt opens the file read-only.

Why a plugin and not ``config_options`` in profiles.yml: dbt hashes the connection settings into
its partial-parse state, so a publisher with other settings than ``dbt_build`` would make each
of them parse the whole project again, every run. The plugin entry is the same for both; only
the connection it opens differs.
"""

from __future__ import annotations

import os
from typing import Any

from dbt.adapters.duckdb.plugins import BasePlugin

READ_ONLY_ENV = "TAXI_DUCKDB_READ_ONLY"


def read_only_requested() -> bool:
    value = os.environ.get(READ_ONLY_ENV, "")
    if value not in ("", "0", "1"):
        raise ValueError(f"{READ_ONLY_ENV}={value!r}: use 1 (read-only) or 0 / unset (read-write).")
    return value == "1"


class Plugin(BasePlugin):
    def update_connection_config(self, creds: Any, config: dict[str, Any]) -> None:
        if read_only_requested():
            config["access_mode"] = "READ_ONLY"
