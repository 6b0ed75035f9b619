"""Reading what a ``dag.test()`` run left in XCom, straight from the metadata DB."""

from __future__ import annotations

from typing import Any


def return_value(run: Any, task_id: str) -> Any:
    """The ``return_value`` XCom of ``task_id`` in ``run`` (None when the task pushed none)."""
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session

    with create_session() as session:
        row = (
            session.query(XComModel)
            .filter_by(dag_id=run.dag_id, run_id=run.run_id, task_id=task_id, key="return_value")
            .one_or_none()
        )
        return None if row is None else XComModel.deserialize_value(row)
