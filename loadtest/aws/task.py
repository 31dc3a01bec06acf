"""Inside a load-generator task: run one shard, upload its report, exit with its status.

    python -m loadtest.aws.task --results s3://BUCKET/results/RUN/ [--region R] \
        -- URL... --shard K/N ...

The report goes to RESULTS/out-K.json. A shard stopped early (`ecs stop-task` sends
SIGTERM) still writes and uploads its partial report; one that failed before measuring
anything uploads nothing, and its exit status and log say why.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

from loadtest.aws.s3uri import S3Location, shard_report_name
from loadtest.cli import run_main
from loadtest.run_arguments import build_parser

EXIT_USAGE = 2


def parse(argv: list[str]) -> tuple[S3Location, str | None, int, list[str]]:
    if "--" not in argv:
        raise SystemExit("usage: python -m loadtest.aws.task --results S3URI -- LOADTEST ARGS")
    split = argv.index("--")
    options = argparse.ArgumentParser(prog="python -m loadtest.aws.task")
    options.add_argument("--results", required=True, help="s3://bucket/prefix/ of this run")
    options.add_argument("--region", help="the bucket's region (default: the task's)")
    ours = options.parse_args(argv[:split])
    loadtest_args = argv[split + 1 :]
    shard = build_parser().parse_args(loadtest_args).shard
    if shard is None:
        raise SystemExit("python -m loadtest.aws.task: the load test needs --shard K/N")
    try:
        return S3Location.parse(ours.results), ours.region, shard[0], loadtest_args
    except ValueError as exc:
        raise SystemExit(f"python -m loadtest.aws.task: --results: {exc}") from None


def main(argv: list[str] | None = None) -> int:
    results, region, index, loadtest_args = parse(sys.argv[1:] if argv is None else argv)
    import boto3  # here: the rest of the tool runs without it

    s3 = boto3.client("s3", region_name=region)
    local = Path(tempfile.gettempdir()) / shard_report_name(index)
    local.unlink(missing_ok=True)
    status = run_main([*loadtest_args, "--json", str(local)])
    if not local.exists():
        print(f"shard {index}: no report to upload (exit status {status})", file=sys.stderr)
        return status
    target = results.join(shard_report_name(index))
    s3.upload_file(str(local), target.bucket, target.key)
    print(f"shard {index}: report uploaded to {target}", flush=True)
    return status


if __name__ == "__main__":
    sys.exit(main())
