"""What every DAG of the platform shares: owner, retries, tags, start date (the DAG policy)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

OWNER = "data-platform"
TAGS = ("taxi-platform",)
# A fixed past date: the DAGs are triggered (schedule=None) and never catch up.
START_DATE = datetime(2024, 1, 1, tzinfo=timezone.utc)

DEFAULT_ARGS = {
    "owner": OWNER,
    "retries": 2,
    "retry_delay": timedelta(minutes=2),
    "retry_exponential_backoff": True,
}
