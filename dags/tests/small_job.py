"""A small real job for the local-runtime dag.test(): stands in for a spark/dbt/ml job.

    python -m tests.small_job --name validate --after copy_to_staging -- <the real job's args>

Records the arguments it received (the real job's, rendered by Airflow) in
``$SMALL_JOB_OUT/<name>.json`` (deterministic content, written through a temporary file and a
rename), fails with exit code 3 when the ``--after`` job has not written its record yet, and,
for ``copy_to_staging``, really copies ``--uri`` to ``--dest`` (file:// only), skipping an
identical destination. Prints a JSON summary as its last stdout line, like the real jobs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
from pathlib import Path
from urllib.parse import unquote, urlparse


def _path(uri: str) -> Path:
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise SystemExit(f"small_job: only file:// URIs, got {uri!r}")
    return Path(unquote(parsed.path))


def _write_atomically(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m tests.small_job")
    p.add_argument("--name", required=True)
    p.add_argument("--after", default="")
    p.add_argument("job_args", nargs=argparse.REMAINDER)
    args = p.parse_args(argv)
    job_args = args.job_args[1:] if args.job_args[:1] == ["--"] else args.job_args
    out = Path(os.environ["SMALL_JOB_OUT"])
    if args.after and not (out / f"{args.after}.json").exists():
        print(f"small_job {args.name}: {args.after} has not run yet", file=sys.stderr)
        return 3
    pairs = dict(zip(job_args[::2], job_args[1::2], strict=False))
    action = None
    if args.name == "copy_to_staging":
        src, dest = _path(pairs["--uri"]), _path(pairs["--dest"])
        if dest.exists() and dest.read_bytes() == src.read_bytes():
            action = "skipped"
        else:
            dest.parent.mkdir(parents=True, exist_ok=True)
            tmp = dest.with_name(dest.name + ".tmp")
            shutil.copyfile(src, tmp)
            tmp.replace(dest)
            action = "copied"
    # The report tests: the summary a real job would print, or a failure with log lines.
    if args.name in (os.environ.get("SMALL_JOB_FAIL") or "").split(","):
        for i in range(30):
            print(
                json.dumps({"event": "small_job_log", "job": args.name, "line": i}), file=sys.stderr
            )
        print(f"small_job {args.name}: failing as asked (SMALL_JOB_FAIL)", file=sys.stderr)
        return 1
    summaries = os.environ.get("SMALL_JOB_SUMMARIES")
    summary = json.loads(Path(summaries).read_text()).get(args.name) if summaries else None
    record = {
        "name": args.name,
        "args": job_args,
        "platform_runtime": os.environ.get("PLATFORM_RUNTIME"),
        "staging_uri": os.environ.get("STAGING_URI"),
    }
    _write_atomically(out / f"{args.name}.json", json.dumps(record, sort_keys=True).encode())
    print(json.dumps(summary or {"job": args.name, "copy": action}, sort_keys=True))
    print(json.dumps({"event": "small_job_done", "job": args.name}), file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
