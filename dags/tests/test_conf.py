"""Run-conf validation: the values later tasks use, and the messages of a bad conf."""

from __future__ import annotations

import pytest

from common import conf, datasets, pipeline_env

YELLOW = datasets.get("yellow")
ENV = pipeline_env.read({"STAGING_URI": "gs://p-staging/", "S3_LANDING_BUCKET": "landing"})
URI = "s3://landing/trip data/yellow_tripdata_2024-01.parquet"


def test_batch_values_are_deterministic():
    values = conf.batch({"uri": URI, "version_id": "v1"}, YELLOW, ENV)
    assert values == {
        "dataset": "yellow",
        "source_uri": URI,
        "version_id": "v1",
        "file_name": "yellow_tripdata_2024-01.parquet",
        "month": "2024-01",
        "staged_uri": "gs://p-staging/yellow/yellow_tripdata_2024-01.parquet",
    }
    assert conf.batch({"uri": URI}, YELLOW, ENV) == {**values, "version_id": None}


@pytest.mark.parametrize(
    ("run_conf", "message"),
    [
        (None, 'run conf has no "uri"; expected {"uri": "s3://'),
        ({}, 'has no "uri"'),
        ({"uri": ""}, "must be a non-empty string"),
        ({"uri": ["s3://a/b"]}, "must be a non-empty string"),
        ("s3://a/b", "must be a JSON object"),
        ({"uri": "http://x/yellow_tripdata_2024-01.parquet"}, "s3://, gs:// or file:// URI"),
        ({"uri": "s3:///yellow_tripdata_2024-01.parquet"}, "has no bucket"),
        ({"uri": "file://host/yellow_tripdata_2024-01.parquet"}, "three slashes"),
        ({"uri": "s3://landing/trip data/"}, "names a folder"),
        (
            {"uri": "s3://l/green_tripdata_2024-01.parquet"},
            "expected yellow_tripdata_YYYY-MM.parquet",
        ),
        ({"uri": URI, "version_id": 3}, '"version_id" must be a string'),
        ({"uri": URI, "urn": "x"}, "unexpected key(s) 'urn'; expected only uri, version_id"),
    ],
)
def test_batch_bad_conf_says_what_was_expected(run_conf, message):
    with pytest.raises(conf.ConfError) as err:
        conf.batch(run_conf, YELLOW, ENV)
    assert message in str(err.value)


def test_batch_needs_the_staging_uri():
    with pytest.raises(pipeline_env.PipelineEnvError, match="STAGING_URI is not set"):
        conf.batch({"uri": URI}, YELLOW, pipeline_env.read({}))


def test_full_refresh_range_and_locations():
    values = conf.full_refresh({"from": "2019-01", "to": "2023-12"}, YELLOW, ENV)
    assert values == {
        "dataset": "yellow",
        "from": "2019-01",
        "to": "2023-12",
        "landing_uri": "s3://landing/trip data/",
        "staging_prefix": "gs://p-staging/yellow/",
        "file_glob": "yellow_tripdata_*.parquet",
    }
    assert conf.full_refresh(None, YELLOW, ENV)["from"] is None
    local = pipeline_env.read({"STAGING_URI": "file:///s", "S3_LANDING_BUCKET": "file:///l"})
    assert conf.full_refresh({}, YELLOW, local)["landing_uri"] == "file:///l/trip data/"


@pytest.mark.parametrize(
    ("run_conf", "message"),
    [
        ({"from": "2019-1"}, "\"from\"='2019-1' must be a month YYYY-MM"),
        ({"to": 202312}, '"to"=202312 must be a month'),
        ({"from": "2024-01", "to": "2023-01"}, "is after"),
        ({"since": "2024-01"}, "unexpected key(s) 'since'"),
    ],
)
def test_full_refresh_bad_conf(run_conf, message):
    with pytest.raises(conf.ConfError) as err:
        conf.full_refresh(run_conf, YELLOW, ENV)
    assert message in str(err.value)


def test_trigger_smoke_conf():
    assert conf.trigger_smoke({"uri": " x "}) == {"uri": "x"}
    with pytest.raises(conf.ConfError, match='has no "uri"'):
        conf.trigger_smoke({"url": "x"})
