"""`python -m loadtest aws` against a local AWS: moto's server for CloudFormation, EC2, ECS
and S3, and a Fargate stand-in that runs each started task's command here (see
harness/aws_standin.py for what that models and what it does not)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import orjson
import pytest

from harness.aws_standin import EcsStopProxy, FargateStandIn, deploy_loadgen_stand_in
from harness.moto_server import MotoServer
from harness.paths import REPO
from harness.polling import wait_until
from harness.redis_server import RedisServer
from harness.relay import RelayProcess
from loadtest.aws.command import aws_main, split_args, strip_flags
from tests.support.loadtest_runs import SHORT

PLAN = ["--clients=30", "--rooms=3", "--senders=6", "--rate=4"]


@pytest.mark.redis
def test_three_tasks_run_the_shards_and_the_reports_merge(
    redis_server: RedisServer, two_relays: list[RelayProcess], tmp_path: Path
) -> None:
    urls = [relay.ws for relay in two_relays]
    merged_path = tmp_path / "merged.json"
    with MotoServer() as moto:
        stack = deploy_loadgen_stand_in(moto, "staging")
        with FargateStandIn(moto, stack["ClusterName"], tmp_path) as fargate:
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "loadtest",
                    "aws",
                    "--stage=staging",
                    "--shards=3",
                    "--start-lead=15s",
                    "--poll-every=0.5s",
                    f"--out-dir={tmp_path}",
                    "--",
                    *urls,
                    *PLAN,
                    *SHORT,
                    "--max-loss=0",
                    "--min-delivered=720",
                    f"--json={merged_path}",
                ],
                cwd=REPO,
                env=moto.env(),
                capture_output=True,
                text=True,
                timeout=240,
            )
            logs = "".join(p.read_text() for p in sorted(tmp_path.glob("task-*.log")))
            assert result.returncode == 0, result.stdout + result.stderr + logs
            started = list(fargate.started.values())
        listed = moto.client("s3").list_objects_v2(Bucket=stack["ResultsBucketName"])
    # one task per shard, each in the private subnets, all on one start and one run id
    commands = [task["overrides"]["containerOverrides"][0]["command"] for task in started]
    assert sorted(next(a for a in c if a.startswith("--shard=")) for c in commands) == [
        "--shard=1/3",
        "--shard=2/3",
        "--shard=3/3",
    ]
    assert len({next(a for a in c if a.startswith("--start-at=")) for c in commands}) == 1
    assert all("--json" not in c for c in commands)  # --json is for the merged report
    assert all(c[c.index("--region") + 1] == "us-east-1" for c in commands)  # the bucket's
    merged = orjson.loads(merged_path.read_bytes())
    run_id = merged["run_id"]
    keys = sorted(o["Key"] for o in listed["Contents"])
    assert keys == [f"results/{run_id}/out-{k}.json" for k in (1, 2, 3)]
    assert merged["messages"]["expected"] == merged["messages"]["delivered"] == 720
    assert merged["merged_from"] == 3
    assert "gate ok   min-delivered = 720" in result.stdout
    assert sorted((tmp_path / f"loadtest-{run_id}").glob("out-*.json"))


def all_logs_say(logs: Path, count: int, text: str) -> bool:
    found = [p.read_text(errors="replace") for p in sorted(logs.glob("task-*.log"))]
    return len(found) == count and all(text in log for log in found)


@pytest.mark.redis
def test_ctrl_c_stops_the_tasks_and_merges_what_they_measured(
    redis_server: RedisServer, two_relays: list[RelayProcess], tmp_path: Path
) -> None:
    urls = [relay.ws for relay in two_relays]
    merged_path = tmp_path / "partial.json"
    with MotoServer() as moto, EcsStopProxy(moto) as stops:
        stack = deploy_loadgen_stand_in(moto, "staging")
        with FargateStandIn(moto, stack["ClusterName"], tmp_path, stops):
            run = subprocess.Popen(
                [
                    sys.executable, "-m", "loadtest", "aws", "--stage=staging", "--shards=3",
                    "--start-lead=15s", "--poll-every=0.5s", f"--out-dir={tmp_path}",
                    "--", *urls, *PLAN, "--duration=60s", "--ramp-up=1s", "--warm-up=1s",
                    "--progress-every=0.5s", f"--json={merged_path}",
                ],
                cwd=REPO,
                env=stops.env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            try:
                # every shard is measuring (its progress lines are its task's log)
                wait_until(
                    lambda: all_logs_say(tmp_path, 3, "measure] ETA"), 90, 0.5, "3 shards measuring"
                )
                time.sleep(1.0)  # a second of measurement, so that there are figures
                run.send_signal(signal.SIGINT)
                out, err = run.communicate(timeout=90)
            finally:
                run.kill()
            reasons = set(stops.stop_requests.values())
    logs = "".join(p.read_text() for p in sorted(tmp_path.glob("task-*.log")))
    assert run.returncode == 130, out + err + logs
    assert reasons == {"interrupted by the operator"}
    assert "interrupted: stopping the tasks; each uploads what it measured" in err
    assert "3 shards x 1 worker(s), merged" in out and "(interrupted)" in out
    merged = orjson.loads(merged_path.read_bytes())
    assert merged["interrupted"] is True
    assert 0 < merged["measured_s"] < 60
    assert merged["messages"]["delivered"] > 0 and merged["join"]["joined"] == 30
    assert logs.count("report uploaded to s3://") == 3


def test_a_missing_stack_is_one_line(tmp_path: Path) -> None:
    with MotoServer() as moto:
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "loadtest",
                "aws",
                "--stage=dev",
                "--shards=2",
                "ws://127.0.0.1:9/ws",
                "--clients=4",
                "--senders=1",
            ],
            cwd=REPO,
            env=moto.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    assert result.returncode == 3
    assert result.stderr.startswith(
        "python -m loadtest aws: cannot read stack chat-relay-dev-loadgen"
    )
    assert "make deploy STAGE=dev" in result.stderr
    assert result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--stage=prod", "--shards=2", "ws://h/ws"], "add --allow-prod"),
        (["--stage=dev", "--shards=0", "ws://h/ws"], "--shards must be between 1 and 100"),
        (["--stage=dev", "--shards=2"], "give the load test's arguments"),
        (["--stage=dev", "--shards=2", "ws://h/ws", "--shard=1/2"], "set by this command"),
        (["--stage=dev", "--shards=9", "ws://h/ws", "--clients=4", "-s1"], "--workers x N"),
    ],
)
def test_bad_arguments_fail_before_any_task_starts(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        aws_main(argv)
    assert exit_info.value.code == 2
    assert message in capsys.readouterr().err


def test_our_options_and_the_load_tests_arguments_split() -> None:
    assert split_args(["--stage=dev", "--", "--clients=3"]) == (["--stage=dev"], ["--clients=3"])
    assert split_args(["--stage", "dev", "wss://h", "-c", "3"]) == (
        ["--stage", "dev"],
        ["wss://h", "-c", "3"],
    )
    tokens = ["wss://h", "--json", "a.json", "-c", "3", "--plot=p.png"]
    assert strip_flags(tokens, ("--json", "--plot")) == ["wss://h", "-c", "3"]
