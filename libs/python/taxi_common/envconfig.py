"""Reading platform settings from the environment (the ``pipeline-env`` ConfigMap,
docs/architecture.md#pipeline-env) with errors that say what to do.

Each component keeps its own typed settings and its own rules (``taxi_spark.config`` …); this
module holds what they share: the value sets of ``PLATFORM_RUNTIME`` and ``WAREHOUSE``, the
dataset-name rule and :class:`EnvReader`, which reads one environment mapping and raises the
component's own ``ConfigError`` with a message naming the key, what is expected and where the
value normally comes from::

    env = EnvReader(os.environ, ConfigError)
    runtime = env.choice("PLATFORM_RUNTIME", RUNTIMES, default="local")
    dataset = env.dataset("BQ_DATASET_RAW", default="raw")
    project = env.require("GCP_PROJECT", "when WAREHOUSE=bigquery", "my-project")
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping

RUNTIMES = ("kubernetes", "local")
WAREHOUSES = ("bigquery", "duckdb")
# A BigQuery dataset id, also a valid unquoted DuckDB schema name.
DATASET_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,1023}$")
PIPELINE_ENV_SOURCE = "it is normally set by the pipeline-env ConfigMap (docs/architecture.md)"


def one_of(label: str, value: str, choices: tuple[str, ...], error: type[Exception]) -> str:
    """``value`` when it is one of ``choices``; otherwise raise ``error`` naming ``label``
    (``"environment variable WAREHOUSE"``, ``"--target"``) and the accepted values."""
    if value not in choices:
        raise error(f"{label}={value!r} is not valid; expected one of {', '.join(choices)}.")
    return value


class EnvReader:
    """Reads keys from one environment mapping; every problem raises ``error``.

    ``env`` defaults to ``os.environ``. Values are stripped, and a blank value counts as not
    set (a ConfigMap key left empty means "use the default"). ``source`` ends the "not set"
    messages and says where the value normally comes from.
    """

    def __init__(
        self,
        env: Mapping[str, str] | None,
        error: type[Exception],
        *,
        source: str = PIPELINE_ENV_SOURCE,
    ) -> None:
        self.env: Mapping[str, str] = os.environ if env is None else env
        self.error = error
        self.source = source

    def get(self, key: str) -> str | None:
        """The stripped value of ``key``, or None when it is unset or blank."""
        value = self.env.get(key)
        if value is None or value.strip() == "":
            return None
        return value.strip()

    def require(self, key: str, why: str, example: str) -> str:
        """The value of ``key``; when it is missing the error says why it is needed (``why``:
        "when WAREHOUSE=duckdb", "to name the raw dataset") and gives ``example``."""
        value = self.get(key)
        if value is None:
            raise self.error(
                f"environment variable {key} is not set; it is required {why}. "
                f"Set it, e.g. {key}={example} ({self.source})."
            )
        return value

    def choice(
        self,
        key: str,
        choices: tuple[str, ...],
        default: str | None = None,
        *,
        hint: str = "",
    ) -> str:
        """The value of ``key`` if it is one of ``choices``; ``default`` when unset (None:
        required). ``hint`` names another way to give the value (", or pass --target")."""
        value = self.get(key)
        if value is None:
            if default is None:
                raise self.error(
                    f"environment variable {key} is not set; expected one of "
                    f"{', '.join(choices)} ({self.source}){hint}."
                )
            return default
        return one_of(f"environment variable {key}", value, choices, self.error)

    def dataset(self, key: str, default: str | None = None, *, why: str = "") -> str:
        """A dataset (BigQuery) / schema (DuckDB) name from ``key``, ``default`` when unset
        (None: required, ``why`` saying what for)."""
        value = self.get(key) or default
        if value is None:
            value = self.require(key, why or "to name a dataset", "raw")
        if not DATASET_RE.match(value):
            raise self.error(
                f"environment variable {key}={value!r} is not a valid dataset name (BigQuery "
                "dataset / DuckDB schema); use letters, digits and underscores, starting with a "
                "letter or underscore."
            )
        return value
