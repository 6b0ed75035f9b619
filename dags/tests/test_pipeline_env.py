"""The Python list of pipeline-env keys equals the TypeScript owner's, and the reader's rules."""

from __future__ import annotations

import re

import pytest

from common import pipeline_env
from tests.conftest import REPO_ROOT

TS_OWNER = REPO_ROOT / "components" / "airflow" / "pipeline-env.ts"


def typescript_keys() -> tuple[str, ...]:
    text = TS_OWNER.read_text(encoding="utf-8")
    match = re.search(r"PIPELINE_ENV_KEYS\s*=\s*\[(.*?)\]\s*as const", text, re.S)
    assert match, f"{TS_OWNER} no longer declares `PIPELINE_ENV_KEYS = [ ... ] as const`"
    body = re.sub(r"//[^\n]*", "", match.group(1))
    keys = re.findall(r"\"([^\"]*)\"|'([^']*)'", body)
    leftover = re.sub(r"\"[^\"]*\"|'[^']*'|[\s,]", "", body)
    assert leftover == "", f"unexpected tokens in the TypeScript list: {leftover!r}"
    return tuple(a or b for a, b in keys)


def test_python_and_typescript_lists_are_the_same():
    assert typescript_keys() == pipeline_env.PIPELINE_ENV_KEYS
    assert len(pipeline_env.PIPELINE_ENV_KEYS) == 27
    assert len(set(pipeline_env.PIPELINE_ENV_KEYS)) == 27


def test_read_keeps_only_set_pipeline_keys():
    env = pipeline_env.read({"STAGING_URI": " gs://s ", "DOCS_URI": "", "HOME": "/root"})
    assert env.values == {"STAGING_URI": "gs://s"}
    assert env.get("DOCS_URI") is None
    with pytest.raises(KeyError, match="not a pipeline-env key"):
        env.get("HOME")


def test_require_names_the_key_and_an_example():
    with pytest.raises(pipeline_env.PipelineEnvError, match=r"JOBS_NAMESPACE is not set.*e\.g\."):
        pipeline_env.read({}).require("JOBS_NAMESPACE", "to place pods", "jobs")


def test_runtime_defaults_to_kubernetes_and_rejects_typos():
    assert pipeline_env.runtime({}) == "kubernetes"
    assert pipeline_env.runtime({"PLATFORM_RUNTIME": "local"}) == "local"
    with pytest.raises(pipeline_env.PipelineEnvError, match="expected one of kubernetes, local"):
        pipeline_env.runtime({"PLATFORM_RUNTIME": "locall"})
