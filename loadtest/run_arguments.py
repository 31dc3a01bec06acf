"""`python -m loadtest URL...`'s arguments: the parser, and the checks argparse cannot make
that turn them into a RunPlan. `cli.py` runs the plan; `aws/command.py` and `aws/task.py`
check a shard's arguments with the same two functions.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import time
from pathlib import Path

from contract.protocol import MAX_TEXT_CHARS, ROOM_NAME
from loadtest.arguments import (
    OneLineParser,
    UsageError,
    add_gate_arguments,
    check_output_paths,
    duration,
    gates_from_args,
    relay_url,
    shard,
    start_time,
)
from loadtest.plan import NS_PER_S, RunPlan
from loadtest.socketio import socketio_url

RUN_ID = re.compile(r"^[a-z0-9]{1,16}$")  # goes into room names and message stamps
MIN_MESSAGE_SIZE = 64  # room for the stamp: run id, sender, seq, nanoseconds
MAX_START_AHEAD_S = 24 * 3600.0  # further ahead is a typo, not a plan
PROTOCOLS = ("v1", "socketio")


def build_parser() -> OneLineParser:
    parser = OneLineParser(
        prog="python -m loadtest",
        description="Drive protocol-v1 chat clients against chat-relay and measure it.",
        epilog="Exit status: 0 pass, 1 a gate failed, 2 bad arguments or unreachable URL, "
        "3 the run failed. See docs/loadtest.md.",
    )
    parser.add_argument(
        "urls",
        nargs="+",
        type=relay_url,
        metavar="URL",
        help="ws[s]://host[:port][/ws]; several are used round-robin",
    )
    load = parser.add_argument_group("load")
    load.add_argument("-c", "--clients", type=int, default=100, help="connections (default 100)")
    load.add_argument(
        "-r", "--rooms", type=int, default=1, help="rooms the clients spread over (default 1)"
    )
    load.add_argument(
        "-s", "--senders", type=int, default=10, help="clients that also send (default 10)"
    )
    load.add_argument(
        "--rate", type=float, default=1.0, help="messages per second per sender (default 1)"
    )
    load.add_argument(
        "-d", "--duration", type=duration, default=30.0, help="measured time (default 30s)"
    )
    load.add_argument(
        "--ramp-up",
        type=duration,
        default=5.0,
        help="connects spread over this time (default 5s; 0 = all at once)",
    )
    load.add_argument(
        "--warm-up",
        type=duration,
        default=5.0,
        help="sending before measurement starts (default 5s)",
    )
    load.add_argument(
        "--drain",
        type=duration,
        default=2.0,
        help="listening after the last measured send (default 2s)",
    )
    load.add_argument(
        "--message-size",
        type=int,
        default=100,
        help=f"characters per message, {MIN_MESSAGE_SIZE}..{MAX_TEXT_CHARS} (default 100)",
    )
    load.add_argument(
        "--churn",
        type=float,
        default=0.0,
        metavar="PER_S",
        help="forced drops per second; dropped clients resume with token and since (default 0)",
    )
    load.add_argument(
        "--churn-downtime",
        type=duration,
        default=0.5,
        help="time a dropped client stays away (default 0.5s)",
    )
    load.add_argument(
        "-w",
        "--workers",
        type=int,
        default=1,
        help="load-generator processes (default 1); one per spare core for thousands",
    )
    shards = parser.add_argument_group(
        "several hosts (one plan, N shards; then `python -m loadtest merge out-*.json`)"
    )
    shards.add_argument(
        "--shard",
        type=shard,
        metavar="K/N",
        help="run shard K of N of this plan (every shard gets the same arguments otherwise)",
    )
    shards.add_argument(
        "--start-at",
        type=start_time,
        metavar="TIME",
        help="start at this wall-clock time, e.g. 2026-12-01T12:30:00Z or Unix seconds "
        "(required with --shard: all shards send on one schedule; hosts need synced clocks)",
    )
    shards.add_argument(
        "--run-id",
        help="run id (rooms lt-<id>-N, message stamps); default: random, "
        "or derived from --start-at so that every shard agrees",
    )
    conn = parser.add_argument_group("connection")
    conn.add_argument(
        "--protocol",
        choices=PROTOCOLS,
        default="v1",
        help="v1: chat-relay's wire protocol (default); socketio: the same chat as Socket.IO 4 "
        "events over Engine.IO's WebSocket transport, as bench/peers serve it "
        "(URL path defaults to /socket.io/)",
    )
    conn.add_argument("--origin", help="Origin header to send (default: none)")
    conn.add_argument("--insecure", action="store_true", help="do not verify wss:// certificates")
    conn.add_argument(
        "--join-timeout", type=duration, default=10.0, help="limit for connect + join (default 10s)"
    )
    conn.add_argument(
        "--room-prefix",
        default="",
        help="room names are PREFIX-0, PREFIX-1...; default lt-<run id>, fresh rooms every run",
    )
    out = parser.add_argument_group("output")
    out.add_argument("--json", type=Path, metavar="FILE", help="write the full report as JSON")
    out.add_argument(
        "--plot",
        type=Path,
        metavar="FILE.png",
        help="write latency percentiles over time, with the gate limits, as PNG "
        "(needs matplotlib, from requirements-dev.txt)",
    )
    out.add_argument(
        "--window",
        type=duration,
        default=1.0,
        help="time step of the plot and timeline (default 1s)",
    )
    out.add_argument(
        "--progress-every", type=duration, default=1.0, help="progress interval (default 1s)"
    )
    out.add_argument("-q", "--quiet", action="store_true", help="no progress lines")
    add_gate_arguments(parser)
    return parser


def run_id_from_args(args: argparse.Namespace) -> str | None:
    """The given --run-id; else one derived from --start-at (the same on every shard);
    else None (a fresh random id)."""
    if args.run_id is not None:
        run_id: str = args.run_id
        if not RUN_ID.match(run_id):
            raise UsageError("--run-id takes 1 to 16 lowercase letters and digits")
        return run_id
    if args.start_at is not None:
        return hashlib.sha256(str(args.start_at).encode()).hexdigest()[:6]
    return None


def plan_from_args(args: argparse.Namespace) -> RunPlan:
    """Check what argparse cannot and build the plan; raises UsageError."""
    if args.clients < 1:
        raise UsageError("--clients must be at least 1")
    if not 1 <= args.rooms <= args.clients:
        raise UsageError("--rooms must be between 1 and --clients")
    if not 0 <= args.senders <= args.clients:
        raise UsageError("--senders must be between 0 and --clients")
    if args.senders and args.rate <= 0:
        raise UsageError("--rate must be positive")
    if args.duration <= 0:
        raise UsageError("--duration must be positive")
    shard_index, shard_count = (args.shard[0] - 1, args.shard[1]) if args.shard else (0, 1)
    if not 1 <= args.workers * shard_count <= args.clients:
        raise UsageError(
            "--workers must be between 1 and --clients (with --shard K/N: --workers x N)"
        )
    if args.shard and args.start_at is None:
        raise UsageError("--shard needs --start-at TIME, so that every shard sends on one schedule")
    if args.start_at is not None:
        ahead_s = (args.start_at - time.time_ns()) / NS_PER_S
        if ahead_s < 0:
            raise UsageError(f"--start-at is {-ahead_s:.1f} s in the past: give a later time")
        if ahead_s > MAX_START_AHEAD_S:
            raise UsageError("--start-at is more than 24 h ahead: check the date and time zone")
    if not MIN_MESSAGE_SIZE <= args.message_size <= MAX_TEXT_CHARS:
        raise UsageError(f"--message-size must be between {MIN_MESSAGE_SIZE} and {MAX_TEXT_CHARS}")
    if args.churn < 0:
        raise UsageError("--churn must not be negative")
    if args.churn and args.senders >= args.clients:
        raise UsageError("--churn drops listening clients only: use fewer --senders than --clients")
    if args.join_timeout <= 0 or args.window <= 0 or args.progress_every <= 0:
        raise UsageError("--join-timeout, --window and --progress-every must be positive")
    gates = gates_from_args(args)
    check_output_paths(args)
    run_id = run_id_from_args(args)
    identity = {"run_id": run_id} if run_id is not None else {}
    urls = [socketio_url(u) for u in args.urls] if args.protocol == "socketio" else args.urls
    plan = RunPlan(
        urls=tuple(urls),
        clients=args.clients,
        rooms=args.rooms,
        senders=args.senders,
        rate=args.rate if args.senders else 0.0,
        duration=args.duration,
        ramp_up=args.ramp_up,
        warm_up=args.warm_up,
        drain=max(args.drain, args.churn_downtime + 1.0) if args.churn else args.drain,
        workers=args.workers,
        churn_rate=args.churn,
        churn_downtime=args.churn_downtime,
        message_size=args.message_size,
        join_timeout=args.join_timeout,
        origin=args.origin,
        insecure=args.insecure,
        room_prefix=args.room_prefix,
        protocol=args.protocol,
        window=args.window,
        gates=gates,
        shard_count=shard_count,
        shard_index=shard_index,
        **identity,
    )
    longest_room = plan.room_name(plan.rooms - 1)
    if not ROOM_NAME.fullmatch(longest_room):
        raise UsageError(f"room name {longest_room!r} is not valid: lowercase, digits, - and _")
    return plan
