"""The command line's pieces shared by `python -m loadtest`, `merge` and `aws`: argument
types that check their text, the gate flags, and the one-line error style."""

from __future__ import annotations

import argparse
import re
from datetime import datetime
from typing import NoReturn
from urllib.parse import urlsplit, urlunsplit

from contract.protocol import WEBSOCKET_PATH
from loadtest.output import EXIT_USAGE, PLOT_NEEDS, plot_available
from loadtest.plan import NS_PER_S, Gates

SHARD = re.compile(r"^\s*(\d+)\s*/\s*(\d+)\s*$")
DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


class UsageError(Exception):
    pass


class OneLineParser(argparse.ArgumentParser):
    """argparse, but a mistake is one line on stderr, not the whole usage block."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"{self.prog}: {message} (see --help)\n")


def duration(text: str) -> float:
    """Seconds from '30', '30s', '500ms', '2m' or '1h'."""
    match = DURATION.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a duration: {text!r} (try 30, 30s, 500ms, 2m)")
    return float(match.group(1)) * UNIT_SECONDS[match.group(2)]


def shard(text: str) -> tuple[int, int]:
    """(K, N) from 'K/N', 1 <= K <= N."""
    match = SHARD.match(text)
    if not match:
        raise argparse.ArgumentTypeError(f"not a shard: {text!r} (try 1/3)")
    index, count = int(match.group(1)), int(match.group(2))
    if not 1 <= index <= count:
        raise argparse.ArgumentTypeError(f"shard {text!r}: K must be between 1 and N")
    return index, count


def start_time(text: str) -> int:
    """Wall-clock nanoseconds from ISO 8601 with a time zone, or Unix seconds."""
    try:
        return int(float(text) * NS_PER_S)
    except ValueError:
        pass
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"not a time: {text!r} (try 2026-12-01T12:30:00Z or Unix seconds)"
        ) from None
    if moment.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} has no time zone: add Z for UTC, e.g. {text}Z")
    return int(moment.timestamp()) * NS_PER_S + moment.microsecond * 1000


def relay_url(text: str) -> str:
    """ws:// or wss:// URL; a bare host:port gets the relay's /ws path."""
    parts = urlsplit(text)
    if parts.scheme not in ("ws", "wss"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a ws:// or wss:// URL")
    if not parts.hostname:
        raise argparse.ArgumentTypeError(f"{text!r} has no host")
    try:
        parts.port  # noqa: B018 - raises on a port that is not a number
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} has a bad port") from None
    path = parts.path if parts.path not in ("", "/") else WEBSOCKET_PATH
    return urlunsplit((parts.scheme, parts.netloc, path, parts.query, ""))


def add_gate_arguments(parser: argparse.ArgumentParser) -> None:
    gates = parser.add_argument_group(
        "CI gates (exit 1 when missed; a run that measured nothing always fails)"
    )
    gates.add_argument("--max-p99-ms", type=float, help="fan-out latency p99")
    gates.add_argument("--max-p999-ms", type=float, help="fan-out latency p99.9")
    gates.add_argument("--max-loss", type=float, help="lost / expected deliveries, e.g. 0 or 0.001")
    gates.add_argument("--max-join-ms", type=float, help="connect + join p99")
    gates.add_argument("--max-all-joined-s", type=float, help="time until every client had joined")
    gates.add_argument("--max-errors", type=int, help="error frames plus unexpected closes")
    gates.add_argument("--max-duplicates", type=int, help="duplicated deliveries")
    gates.add_argument("--min-deliveries-per-s", type=float, help="delivered messages per second")
    gates.add_argument(
        "--min-delivered", type=int, help="delivered messages (recipient x message), at least"
    )


def gates_from_args(args: argparse.Namespace) -> Gates:
    if args.max_loss is not None and not 0 <= args.max_loss <= 1:
        raise UsageError("--max-loss is a ratio between 0 and 1")
    if args.min_delivered is not None and args.min_delivered < 1:
        raise UsageError("--min-delivered must be at least 1")
    return Gates(
        max_p99_ms=args.max_p99_ms,
        max_p999_ms=args.max_p999_ms,
        max_loss=args.max_loss,
        max_join_ms=args.max_join_ms,
        max_all_joined_s=args.max_all_joined_s,
        max_errors=args.max_errors,
        max_duplicates=args.max_duplicates,
        min_deliveries_per_s=args.min_deliveries_per_s,
        min_delivered=args.min_delivered,
    )


def check_output_paths(args: argparse.Namespace) -> None:
    for path in (args.json, args.plot):
        if path is not None and not path.parent.is_dir():
            raise UsageError(f"no such directory for {path}")
    if args.plot is not None and not plot_available():
        raise UsageError(PLOT_NEEDS)
