"""Run-conf checks: the first task of every DAG validates its conf with these functions.

Each returns the run's *values* (a JSON-able dict) that later tasks read from the first task's
XCom, so a URI is parsed and a staging location decided once, deterministically, per run.
Every error names the conf key, what was seen and what is expected
(docs/architecture.md#dag-ids-and-run-conf).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any
from urllib.parse import unquote, urlparse

from common.datasets import Dataset
from common.pipeline_env import PipelineEnv

SCHEMES = ("s3", "gs", "file")
_MONTH_RE = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")


class ConfError(ValueError):
    """The DAG run conf is missing or malformed."""


def _check_keys(conf: Mapping[str, Any], allowed: tuple[str, ...], example: str) -> None:
    unknown = sorted(set(conf) - set(allowed))
    if unknown:
        raise ConfError(
            f"run conf has unexpected key(s) {', '.join(map(repr, unknown))}; expected only "
            f"{', '.join(allowed)}, e.g. {example}."
        )


def _as_mapping(conf: object, example: str) -> Mapping[str, Any]:
    if conf is None:
        return {}
    if not isinstance(conf, Mapping):
        raise ConfError(
            f"run conf must be a JSON object, got {type(conf).__name__}; e.g. {example}."
        )
    return conf


def _uri_string(conf: Mapping[str, Any], example: str) -> str:
    if "uri" not in conf:
        raise ConfError(f'run conf has no "uri"; expected {example}.')
    uri = conf["uri"]
    if not isinstance(uri, str) or not uri.strip():
        raise ConfError(
            f'run conf "uri" must be a non-empty string, got {uri!r}; expected {example}.'
        )
    return uri.strip()


def _file_name(uri: str, example: str) -> str:
    parsed = urlparse(uri)
    if parsed.scheme not in SCHEMES:
        raise ConfError(
            f'run conf "uri"={uri!r} must be an s3://, gs:// or file:// URI of one monthly file; '
            f"e.g. {example}."
        )
    if parsed.scheme == "file" and parsed.netloc not in ("", "localhost"):
        raise ConfError(
            f'run conf "uri"={uri!r}: a file URI needs three slashes (file:///abs/path).'
        )
    if parsed.scheme != "file" and not parsed.netloc:
        raise ConfError(f'run conf "uri"={uri!r} has no bucket ({parsed.scheme}://bucket/key).')
    path = unquote(parsed.path)
    if not path or path.endswith("/"):
        raise ConfError(f'run conf "uri"={uri!r} names a folder; pass one monthly file.')
    return path.rsplit("/", 1)[-1]


def _join(base: str, *parts: str) -> str:
    return "/".join([base.rstrip("/"), *(p.strip("/") for p in parts)])


def batch(conf: object, dataset: Dataset, env: PipelineEnv) -> dict[str, Any]:
    """``{"uri": "<s3|gs|file URI of one monthly file>", "version_id"?: str}``."""
    key = f"{dataset.landing_prefix}{dataset.file_prefix}2024-01.parquet"
    example = f'{{"uri": "s3://<landing bucket>/{key}"}}'
    conf = _as_mapping(conf, example)
    _check_keys(conf, ("uri", "version_id"), example)
    uri = _uri_string(conf, example)
    name = _file_name(uri, example)
    match = dataset.file_re.match(name)
    if not match:
        raise ConfError(
            f'run conf "uri"={uri!r}: file name {name!r} is not a {dataset.name} monthly file; '
            f"expected {dataset.file_prefix}YYYY-MM.parquet."
        )
    version_id = conf.get("version_id")
    if version_id is not None and not isinstance(version_id, str):
        raise ConfError(f'run conf "version_id" must be a string when given, got {version_id!r}.')
    staging = env.require("STAGING_URI", "to place the staged copy", "gs://my-project-staging")
    return {
        "dataset": dataset.name,
        "source_uri": uri,
        "version_id": version_id,
        "file_name": name,
        "month": match.group("month"),
        "staged_uri": _join(staging, dataset.name, name),
    }


def full_refresh(conf: object, dataset: Dataset, env: PipelineEnv) -> dict[str, Any]:
    """``{}`` or ``{"from": "YYYY-MM", "to": "YYYY-MM"}`` (either bound may be given alone)."""
    example = '{"from": "2019-01", "to": "2023-12"} or {}'
    conf = _as_mapping(conf, example)
    _check_keys(conf, ("from", "to"), example)
    bounds: dict[str, str | None] = {}
    for key in ("from", "to"):
        value = conf.get(key)
        if value is not None and (not isinstance(value, str) or not _MONTH_RE.match(value)):
            raise ConfError(f'run conf "{key}"={value!r} must be a month YYYY-MM, e.g. {example}.')
        bounds[key] = value
    if bounds["from"] and bounds["to"] and bounds["from"] > bounds["to"]:
        raise ConfError(
            f'run conf "from"={bounds["from"]!r} is after "to"={bounds["to"]!r}; swap them.'
        )
    staging = env.require("STAGING_URI", "as the transfer destination", "gs://my-project-staging")
    landing = env.require("S3_LANDING_BUCKET", "as the transfer source", "my-landing-bucket")
    landing_uri = landing if "://" in landing else f"s3://{landing}"
    return {
        "dataset": dataset.name,
        "from": bounds["from"],
        "to": bounds["to"],
        "landing_uri": _join(landing_uri, dataset.landing_prefix) + "/",
        "staging_prefix": _join(staging, dataset.name) + "/",
        "file_glob": f"{dataset.file_prefix}*.parquet",
    }


def trigger_smoke(conf: object) -> dict[str, Any]:
    """``{"uri": "<non-empty string>"}``: what the trigger function's integration test sends."""
    example = '{"uri": "s3://<bucket>/trip data/yellow_tripdata_2024-01.parquet"}'
    conf = _as_mapping(conf, example)
    return {"uri": _uri_string(conf, example)}
