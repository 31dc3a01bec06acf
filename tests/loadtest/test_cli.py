"""Arguments are checked before any traffic; every mistake is one line on stderr, exit 2."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from harness.paths import REPO
from harness.ports import free_port
from loadtest.arguments import duration, relay_url
from loadtest.cli import run_main
from loadtest.run_arguments import build_parser, plan_from_args

OK_URL = "ws://127.0.0.1:9/ws"  # never contacted: validation fails first
SOON = str(int(time.time()) + 600)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["http://example.com/ws"], "not a ws:// or wss:// URL"),
        (["ws://:80/ws"], "has no host"),
        (["ws://host:port/ws"], "bad port"),
        ([OK_URL, "--clients", "0"], "--clients must be at least 1"),
        ([OK_URL, "--clients", "5", "--rooms", "6"], "--rooms must be between"),
        ([OK_URL, "--clients", "5", "--senders", "6"], "--senders must be between"),
        ([OK_URL, "--rate", "0"], "--rate must be positive"),
        ([OK_URL, "--duration", "soon"], "not a duration"),
        ([OK_URL, "--duration", "0"], "--duration must be positive"),
        (
            [OK_URL, "--clients", "2", "--senders", "1", "--workers", "3"],
            "--workers must be between",
        ),
        ([OK_URL, "--message-size", "10"], "--message-size must be between"),
        ([OK_URL, "--churn", "1", "--clients", "3", "--senders", "3"], "fewer --senders"),
        ([OK_URL, "--max-loss", "5"], "--max-loss is a ratio"),
        ([OK_URL, "--json", "/no/such/dir/report.json"], "no such directory"),
        ([OK_URL, "--room-prefix", "Bad Room"], "is not valid"),
        ([OK_URL, "--bogus"], "unrecognized arguments"),
        ([OK_URL, "--shard", "2/3"], "--shard needs --start-at TIME"),
        ([OK_URL, "--shard", "0/3", "--start-at", SOON], "K must be between 1 and N"),
        ([OK_URL, "--shard", "4/3", "--start-at", SOON], "K must be between 1 and N"),
        ([OK_URL, "--shard", "half", "--start-at", SOON], "not a shard"),
        ([OK_URL, "--start-at", "2026-12-01T12:30:00"], "has no time zone: add Z"),
        ([OK_URL, "--start-at", "noon"], "not a time"),
        ([OK_URL, "--start-at", "1000000000"], "in the past"),
        ([OK_URL, "--start-at", "4102444800"], "more than 24 h ahead"),
        (
            [OK_URL, "-c", "4", "-s", "1", "--shard", "1/3", "--workers", "2", "--start-at", SOON],
            "--workers x N",
        ),
        ([OK_URL, "--run-id", "Run|1"], "--run-id takes 1 to 16 lowercase"),
        ([OK_URL, "--min-delivered", "0"], "--min-delivered must be at least 1"),
    ],
)
def test_bad_arguments_give_one_line_and_exit_2(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        run_main(args)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err
    assert err.count("\n") == 1


def test_durations_accept_units() -> None:
    assert [duration(t) for t in ("30", "30s", "500ms", "2m", "1.5h")] == [30, 30, 0.5, 120, 5400]


def test_a_bare_host_gets_the_relay_path() -> None:
    assert relay_url("ws://relay.example:8000") == "ws://relay.example:8000/ws"
    assert relay_url("wss://relay.example/") == "wss://relay.example/ws"
    assert relay_url("ws://relay.example/chat/ws?x=1") == "ws://relay.example/chat/ws?x=1"


def test_an_unreachable_url_is_one_line_without_a_traceback() -> None:
    url = f"ws://127.0.0.1:{free_port()}/ws"  # nothing listens there
    result = subprocess.run(
        [sys.executable, "-m", "loadtest", url, "--clients", "2", "--senders", "1"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.startswith(f"python -m loadtest: {url}: cannot connect")
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr
    assert result.stdout == ""


def test_shards_of_one_start_share_a_run_id(tmp_path: Path) -> None:
    args = [OK_URL, "--clients=9", "--senders=3", "--start-at", SOON]
    plans = [
        plan_from_args(build_parser().parse_args([*args, f"--shard={k}/3"])) for k in (1, 2, 3)
    ]
    assert len({p.run_id for p in plans}) == 1
    assert [p.shard_index for p in plans] == [0, 1, 2]
    assert plan_from_args(build_parser().parse_args([*args, "--run-id=mine"])).run_id == "mine"
    later = str(int(SOON) + 1)
    other = plan_from_args(build_parser().parse_args([*args[:3], "--start-at", later]))
    assert other.run_id != plans[0].run_id


def test_plot_without_matplotlib_says_what_it_needs(tmp_path: Path) -> None:
    # sys.modules[name] = None is how Python blocks an import: `import matplotlib` fails
    # exactly as on a machine without it.
    code = (
        "import sys; sys.modules['matplotlib'] = None\n"
        "from loadtest.cli import run_main\n"
        f"run_main(['{OK_URL}', '--plot', '{tmp_path}/p.png'])"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 2
    assert "--plot needs matplotlib: pip install -r requirements-dev.txt" in result.stderr
    help_text = build_parser().format_help()
    assert "needs matplotlib" in help_text
