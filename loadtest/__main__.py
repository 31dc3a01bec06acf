"""`python -m loadtest`: picks the subcommand; each lives in its own module.

    python -m loadtest URL...          run a plan, or one shard of it (cli.py)
    python -m loadtest merge FILE...   merge the shards' reports (merge_command.py)
    python -m loadtest aws ...         run the shards as Fargate tasks (aws/command.py)

The subcommands import what they share from below them (arguments.py, output.py, cli.py's
parser), never from here, so there is no import circle among them.
"""

from __future__ import annotations

import sys

from loadtest.aws.command import aws_main
from loadtest.cli import run_main
from loadtest.merge_command import merge_main

MERGE_COMMAND = "merge"
AWS_COMMAND = "aws"  # needs boto3 (loadtest/requirements.txt), imported only when it runs


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] == MERGE_COMMAND:
        return merge_main(argv[1:])
    if argv and argv[0] == AWS_COMMAND:
        return aws_main(argv[1:])
    return run_main(argv)


if __name__ == "__main__":
    raise SystemExit(main())
