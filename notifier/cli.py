"""Command line: parses arguments, maps errors to exit codes and one-line messages."""

from __future__ import annotations

import argparse
import gc
import os
import sys
import textwrap
from collections.abc import Callable, Coroutine, Sequence
from typing import Any, NoReturn

from notifier import __version__
from notifier.errors import ConfigError, NotifierError

EXIT_OK, EXIT_FAILURE, EXIT_CONFIG = 0, 1, 2

# Commands that have closed everything they opened when they return (no server, no child
# process): the console script ends them without tearing the interpreter down. A thread
# still running then (an Apprise send past its timeout, whose event is already queued
# for retry) is stopped with the process instead of being waited for.
ONE_SHOT = frozenset({"once", "check", "dead-letters", "schema"})


_CLICKFONO = "CLICKFONO_TOKEN, CLICKFONO_BASE_URL, CLICKFONO_POPUP_UUIDS, CLICKFONO_TIMEOUT"
_REDIS = (
    "REDIS_URL, REDIS_CLUSTER, REDIS_SENTINELS, REDIS_SENTINEL_MASTER, REDIS_TLS_CA, "
    "NOTIFIER_REDIS_PREFIX"
)
_SINKS = "SLACK_*, SMTP_* and EMAIL_*, WEBHOOK_*, APPRISE_*, NOTIFIER_CONSOLE"
_CYCLE = (
    "NOTIFIER_TIMEZONE, NOTIFIER_BUSINESS_HOURS, NOTIFIER_HOLIDAYS, NOTIFIER_ROLLOVER_GRACE, "
    "NOTIFIER_QUEUE_ALERT_MINUTES, NOTIFIER_BASELINE, NOTIFIER_STATE_TTL_DAYS"
)
_DELIVERY = "NOTIFIER_RETRY_SCHEDULE, NOTIFIER_CLAIM_TIMEOUT, NOTIFIER_DEAD_LETTER_DAYS"
_WORDING = "NOTIFIER_LANGUAGE, NOTIFIER_MASK_PII"
_LOGS = "LOG_LEVEL, LOG_FORMAT"
_EXITS_RUN = "0 stopped by SIGTERM/SIGINT; 1 a task crashed; 2 invalid configuration."
_EXITS_ONE_SHOT = (
    "0 success; 1 a runtime failure (Clickfono unreachable, token rejected, malformed "
    "answer, Redis unavailable, a failed delivery); 2 invalid configuration."
)


def _epilog(variables: Sequence[str], exits: str) -> str:
    lines = ["environment variables:"]
    lines += [
        textwrap.fill(g, 88, initial_indent="  ", subsequent_indent="    ") for g in variables
    ]
    lines += ["", textwrap.fill(f"exit codes: {exits}", 88, subsequent_indent="  ")]
    lines += ["", "See the README for every variable and its default."]
    return "\n".join(lines)


def _command(
    commands: Any,
    name: str,
    summary: str,
    description: str,
    variables: Sequence[str],
    exits: str,
    *,
    defaults: bool = False,
) -> argparse.ArgumentParser:
    formatter = _DefaultsFormatter if defaults else argparse.RawDescriptionHelpFormatter
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=summary,
        description=textwrap.fill(description, 88),
        epilog=_epilog(variables, exits),
        formatter_class=formatter,
    )
    return parser


class _DefaultsFormatter(
    argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter
):
    """Keeps the epilog's lines and shows each option's default."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="clickfono-notifier",
        description="Watches Clickfono's calls/list and alerts Slack, email, webhooks and "
        "other chat tools. Configured with environment variables (see the README); "
        "`clickfono-notifier COMMAND --help` lists the ones each command reads.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    _command(
        commands,
        "run",
        "the daemon: poll loop, delivery, health/metrics server",
        "Polls Clickfono every NOTIFIER_POLL_INTERVAL seconds (the first time at once), "
        "queues the changes it finds and delivers them to every configured sink. Replicas "
        "may share one Redis: one polls, all deliver. Serves /healthz, /readyz and /metrics "
        "on NOTIFIER_HTTP_PORT. Stops cleanly on SIGTERM or SIGINT. Refuses to start "
        "without a sink.",
        [
            _CLICKFONO,
            "NOTIFIER_POLL_INTERVAL, NOTIFIER_HTTP_PORT, NOTIFIER_DAILY_SUMMARY_AT",
            _CYCLE,
            _REDIS,
            _SINKS,
            "SLACK_APP_TOKEN, SLACK_ESCALATE_MINUTES, SLACK_ESCALATE_MENTION",
            _DELIVERY,
            _WORDING,
            _LOGS,
        ],
        _EXITS_RUN,
    )
    _command(
        commands,
        "once",
        "one poll cycle, deliver every due event, then exit",
        "Runs one poll cycle, then makes at most one delivery attempt for every due event, "
        "and exits: for cron or a Kubernetes CronJob. Later runs retry per "
        "NOTIFIER_RETRY_SCHEDULE. Refuses to start without a sink.",
        [_CLICKFONO, _CYCLE, _REDIS, _SINKS, _DELIVERY, _WORDING, _LOGS],
        _EXITS_ONE_SHOT,
    )
    _command(
        commands,
        "check",
        "validate configuration and reach every dependency",
        "Validates the configuration and reaches Clickfono, Redis (mode, the node owning "
        "this deployment's slot, persistence) and every configured sink without sending "
        "an alert. Prints one row per part on stdout.",
        [_CLICKFONO, _REDIS, _SINKS, "SLACK_APP_TOKEN", _LOGS],
        "0 every row is ok; 1 a row failed; 2 invalid configuration.",
    )
    _command(
        commands,
        "demo",
        "self-contained demo with the built-in simulator",
        "Starts the built-in Clickfono simulator on a lively simulated morning and, when "
        "REDIS_URL is unset, an embedded Redis server, then runs the daemon with every "
        "alert printed on the console. Needs no configuration. Ctrl-C stops it.",
        ["REDIS_URL (optional: use this Redis instead of an embedded one)"],
        "0 stopped with Ctrl-C; 1 the demo could not start (no redis-server found).",
    )
    dead = _command(
        commands,
        "dead-letters",
        "events that exhausted their retries",
        "Lists the events that exhausted NOTIFIER_RETRY_SCHEDULE for some sink, or queues "
        "them for delivery again.",
        [_REDIS, _SINKS, _LOGS],
        "0 success; 1 Redis unavailable or an unknown id; 2 invalid configuration.",
    )
    dead_commands = dead.add_subparsers(dest="dead_command", metavar="ACTION", required=True)
    dead_exits = "0 success; 1 Redis unavailable or an unknown id; 2 invalid configuration."
    _command(
        dead_commands,
        "list",
        "show dead letters (sink, type, call, last error)",
        "Prints one row per dead letter: id, sink, type, call, tries, when it failed and "
        "its last error.",
        [_REDIS, _SINKS, _LOGS],
        dead_exits,
    )
    replay = _command(
        dead_commands,
        "replay",
        "queue dead letters for delivery again",
        "Queues the named dead letters (or --all) for delivery again, with a fresh retry "
        "schedule. An unknown id replays nothing.",
        [_REDIS, _SINKS, _LOGS],
        dead_exits,
    )
    replay.add_argument("ids", nargs="*", metavar="ID", help="event ids to replay")
    replay.add_argument("--all", action="store_true", help="replay every dead letter")

    simulate = _command(
        commands,
        "simulate",
        "serve the built-in Clickfono simulator",
        "Serves a faithful implementation of Clickfono's GET /calls/list whose calls "
        "evolve over a seeded simulated day (for trials and tests). Point "
        "CLICKFONO_BASE_URL at it and set CLICKFONO_TOKEN to its --token.",
        ["none: configured by its options"],
        "0 stopped with Ctrl-C; 1 the port could not be opened.",
        defaults=True,
    )
    simulate.add_argument("--host", default="127.0.0.1", help="address to listen on")
    simulate.add_argument("--port", type=int, default=8081, help="port to listen on")
    simulate.add_argument(
        "--token", default="demo-token", help="the security-token the simulator accepts"
    )
    simulate.add_argument(
        "--speed", type=float, default=1.0, help="simulated seconds per real second (e.g. 120)"
    )
    simulate.add_argument("--seed", type=int, default=7, help="seed of the simulated day")
    _command(
        commands,
        "schema",
        "print the webhook contract (OpenAPI 3.1, JSON) on stdout",
        "Prints the webhook contract as an OpenAPI 3.1 document in JSON: one webhooks "
        "entry per event type, keyed by the type, with the Standard Webhooks headers and a "
        "JSON Schema 2020-12 request body under components/schemas. Needs no configuration.",
        ["none"],
        "0 printed.",
    )
    return parser


def _fail(message: str, code: int) -> int:
    print(f"clickfono-notifier: error: {message}", file=sys.stderr)
    return code


def _run_async(factory: Callable[[], Coroutine[Any, Any, int]]) -> int:
    import asyncio  # here: the console script pauses the GC only once this module loaded

    try:
        return asyncio.run(factory())
    except KeyboardInterrupt:
        return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """The whole program but the process exit: returns the exit code (tests call this)."""
    return _main(_parser().parse_args(argv))


def script() -> NoReturn:
    """The console script and ``python -m notifier``: a CronJob pays every start and exit.

    The cyclic GC waits until the command's modules are imported (``_main``): the ~100k
    objects they allocate live until exit, and collecting them as they arrive costs a few
    tens of ms per start. A one-shot command that returned has flushed its logs and
    closed its connections, so it exits with ``os._exit`` once stdout and stderr are
    flushed: tearing down ~600 modules and the heap would take ~150 ms more, for nothing.
    """
    gc.disable()
    args = _parser().parse_args()
    code = _main(args)
    if args.command in ONE_SHOT:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError, AttributeError):  # closed, gone, or no stream
                code = code or EXIT_FAILURE
        os._exit(code)
    sys.exit(code)


def _main(args: argparse.Namespace) -> int:
    try:
        command = _prepare(args)
        # Everything the command needs is imported: let the cyclic GC run again, leaving
        # out what start-up allocated (the console script paused it; see script).
        if not gc.isenabled():
            gc.freeze()
            gc.enable()
        return command()
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
    finally:
        gc.enable()  # also after a configuration error


def _prepare(args: argparse.Namespace) -> Callable[[], int]:
    """Import what the command needs and read its configuration; return the command."""
    # No pydantic plugin is used; skipping their discovery (every installed distribution's
    # entry points) saves ~40 ms of each start, which a CronJob's `once` pays every run.
    os.environ.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    if args.command == "schema":  # needs no configuration
        from notifier.schema import render

        def schema() -> int:
            sys.stdout.write(render())
            return EXIT_OK

        return schema
    if args.command == "simulate":
        from notifier.clickfono.simulator import serve

        def simulate() -> int:
            serve(
                host=args.host, port=args.port, token=args.token, speed=args.speed, seed=args.seed
            )
            return EXIT_OK

        return simulate

    from notifier.config import load_settings, secret_values, unknown_variables
    from notifier.logs import configure, register_secrets
    from notifier.sinks import enabled_specs, how_to_enable

    if args.command == "demo":
        from notifier.demo import run_demo

        return lambda: _run_async(run_demo)

    # Settings first: a configuration error must not depend on anything else importing.
    for warning in unknown_variables():
        print(f"clickfono-notifier: warning: {warning}", file=sys.stderr)
    settings = load_settings()
    if args.command in ("run", "once") and not enabled_specs(settings):
        raise ConfigError(
            "no sink is configured, so no alert would reach anyone; set one of: " + how_to_enable()
        )
    from notifier import commands

    configure(settings.log_level, settings.log_format)
    register_secrets(secret_values(settings))
    # Retries are logged as our own lines (clickfono_retrying, …), not stamina's.
    import stamina.instrumentation

    stamina.instrumentation.set_on_retry_hooks([])
    if args.command == "run":
        return lambda: _run_async(lambda: commands.run(settings))
    if args.command == "once":
        return lambda: _run_async(lambda: commands.once(settings))
    if args.command == "check":
        return lambda: _run_async(lambda: commands.check(settings))
    if args.command == "dead-letters":
        if args.dead_command == "list":
            return lambda: _run_async(lambda: commands.dead_letters_list(settings))
        if not args.ids and not args.all:
            raise ConfigError("dead-letters replay: name event ids or pass --all")
        return lambda: _run_async(lambda: commands.dead_letters_replay(settings, args.ids))
    raise AssertionError(args.command)  # pragma: no cover


if __name__ == "__main__":  # pragma: no cover
    script()
