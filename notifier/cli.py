"""Command line: parses arguments, maps errors to exit codes and one-line messages."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from notifier import __version__
from notifier.errors import ConfigError, NotifierError

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clickfono-notifier",
        description="Watches Clickfono's calls/list and alerts Slack, email and webhooks. "
        "Configured with environment variables (see the README).",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    commands.add_parser("run", help="the daemon: poll loop, delivery, health/metrics server")
    commands.add_parser("once", help="one poll cycle, deliver every due event, then exit")
    commands.add_parser("check", help="validate configuration and reach every dependency")
    commands.add_parser("demo", help="self-contained demo with the built-in simulator")

    dead = commands.add_parser("dead-letters", help="events that exhausted their retries")
    dead_commands = dead.add_subparsers(dest="dead_command", metavar="ACTION", required=True)
    dead_commands.add_parser("list", help="show dead letters (sink, type, call, last error)")
    replay = dead_commands.add_parser("replay", help="queue dead letters for delivery again")
    replay.add_argument("ids", nargs="*", metavar="ID", help="event ids to replay")
    replay.add_argument("--all", action="store_true", help="replay every dead letter")

    simulate = commands.add_parser("simulate", help="serve the built-in Clickfono simulator")
    simulate.add_argument("--host", default="127.0.0.1")
    simulate.add_argument("--port", type=int, default=8081)
    simulate.add_argument(
        "--token", default="demo-token", help="the security-token the simulator accepts"
    )
    simulate.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second (e.g. 120)"
    )
    simulate.add_argument("--seed", type=int, default=7, help="seed of the simulated day")
    return parser


def _fail(message: str, code: int) -> int:
    print(f"clickfono-notifier: error: {message}", file=sys.stderr)
    return code


def _run_async(factory: Callable[[], Coroutine[Any, Any, int]]) -> int:
    try:
        return asyncio.run(factory())
    except KeyboardInterrupt:
        return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        return _dispatch(args)
    except ConfigError as exc:
        return _fail(str(exc), EXIT_CONFIG)
    except NotifierError as exc:
        return _fail(str(exc), EXIT_FAILURE)
    except KeyboardInterrupt:
        return EXIT_OK
    except BrokenPipeError:
        # `dead-letters list | head`: the reader left; say nothing more.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_FAILURE
    except Exception as exc:  # last resort: one line, never a traceback
        from notifier.logs import redact_text

        return _fail(f"unexpected {type(exc).__name__}: {redact_text(str(exc))}", EXIT_FAILURE)


def _dispatch(args: argparse.Namespace) -> int:
    if args.command == "simulate":
        from notifier.clickfono.simulator import serve

        serve(host=args.host, port=args.port, token=args.token, speed=args.speed, seed=args.seed)
        return EXIT_OK

    from notifier.config import load_settings, secret_values
    from notifier.logs import configure, register_secrets

    if args.command == "demo":
        from notifier.demo import run_demo

        return _run_async(run_demo)

    # Settings first: a configuration error must not depend on anything else importing.
    settings = load_settings()
    from notifier import commands

    configure(settings.log_level, settings.log_format)
    register_secrets(secret_values(settings))
    if args.command == "run":
        return _run_async(lambda: commands.run(settings))
    if args.command == "once":
        return _run_async(lambda: commands.once(settings))
    if args.command == "check":
        return _run_async(lambda: commands.check(settings))
    if args.command == "dead-letters":
        if args.dead_command == "list":
            return _run_async(lambda: commands.dead_letters_list(settings))
        if not args.ids and not args.all:
            raise ConfigError("dead-letters replay: name event ids or pass --all")
        return _run_async(lambda: commands.dead_letters_replay(settings, args.ids))
    raise AssertionError(args.command)  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
