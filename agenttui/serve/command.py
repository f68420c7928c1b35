"""The `agenttui serve` command line: options, their environment variables, and --help."""
from __future__ import annotations

import argparse
import os
import sys
from typing import Any, overload

from agenttui.summary import safe_text

from .config import (
    DEFAULT_BATCH, DEFAULT_CLAIM_IDLE_S, DEFAULT_CLIENT_QUEUE, DEFAULT_GROUP, DEFAULT_MAX_BACKOFF_S,
    DEFAULT_REDIS_URL, DEFAULT_STREAM, DEFAULT_WS, ConfigError, ServeConfig, parse_bool_env, parse_ws_address,
)

DESCRIPTION = """\
Persist agent events from a Redis stream into an agenttui store and stream them to WebSocket clients.

Entries are read through a consumer group; each batch is committed to the store in one transaction
and acknowledged only afterwards, so a crash at any moment loses nothing, and re-delivered events
are skipped by event_id, so nothing is stored twice. Each entry holds the event envelope as JSON in
its `json_payload` field. Entries that can never be stored (not JSON, missing event_type, wrong
types, no json_payload field) are copied with the reason to the dead-letter stream and acknowledged.

Clients connect to ws://HOST:PORT/ws/events and receive each stored event as one JSON text message
(the envelope plus its store position and per-run seq). Query parameters:
  run=RUN_ID          only this run's events
  type=T (repeatable, or type=A,B)   only these event types
  replay=latest|none  first send the latest run's history (or run=RUN_ID's), then the live feed
  after=POSITION      first send stored events after POSITION (resume after a disconnect)
  token=TOKEN         the access token (or send 'Authorization: Bearer TOKEN')
GET /healthz answers a small JSON status. `agenttui open DB` shows the same events live.
"""

EPILOG = """\
environment variables (an option given on the command line wins):
  REDIS_URL               --redis           (default %(redis)s)
  AGENTTUI_STREAM         --stream          (default %(stream)s)
  AGENTTUI_GROUP          --group           (default %(group)s)
  AGENTTUI_CONSUMER       --consumer        (default agenttui-HOSTNAME)
  AGENTTUI_DB             --db              (SQLite path or postgresql:// URL)
  AGENTTUI_WS             --ws              (default %(ws)s; 'off' disables the WebSocket feed)
  AGENTTUI_TOKEN          --token
  AGENTTUI_OTLP           --otlp            (OTLP/HTTP receiver address; off by default)
  RELOAD_LATEST_SESSION   --replay-latest   (true/false)
  AGENTTUI_LOG_FORMAT     --log-format      (text or json)
  AGENTTUI_LOG_LEVEL      --log-level       (debug, info, warning, error)

examples:
  agenttui serve --db run.db
  agenttui serve --redis redis://10.0.0.5:6379/0 --db run.db --ws 0.0.0.0:8765 --token s3cret --replay-latest
  websocat 'ws://127.0.0.1:8765/ws/events?type=node_status_changed&replay=latest'
  agenttui serve --otlp 127.0.0.1:4318 --db run.db     # then OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4318
""" % {"redis": DEFAULT_REDIS_URL, "stream": DEFAULT_STREAM, "group": DEFAULT_GROUP, "ws": DEFAULT_WS}


@overload
def _env(name: str) -> str | None: ...
@overload
def _env(name: str, default: str) -> str: ...


def _env(name: str, default: str | None = None) -> str | None:
    value = os.environ.get(name)
    return value if value not in (None, "") else default


def configure_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    src = parser.add_argument_group("source (Redis)")
    src.add_argument("--redis", metavar="URL", default=None,
                     help=f"Redis to read from: redis://[:PASSWORD@]HOST:PORT/DB, rediss://... (TLS) or "
                          f"unix:///path.sock [env REDIS_URL; default {DEFAULT_REDIS_URL}]")
    src.add_argument("--stream", metavar="NAME", default=None,
                     help=f"stream the agents write to [env AGENTTUI_STREAM; default {DEFAULT_STREAM}]")
    src.add_argument("--group", metavar="NAME", default=None,
                     help="consumer group; servers sharing a group share the work "
                          f"[env AGENTTUI_GROUP; default {DEFAULT_GROUP}]")
    src.add_argument("--consumer", metavar="NAME", default=None,
                     help="this server's consumer name; keep it stable across restarts so its pending entries "
                          "are read back at once [env AGENTTUI_CONSUMER; default agenttui-HOSTNAME]")
    src.add_argument("--dead-letter", metavar="NAME", default=None,
                     help="stream receiving entries that cannot be stored, with the reason (default STREAM:dead)")
    src.add_argument("--batch-size", metavar="N", type=int, default=DEFAULT_BATCH,
                     help=f"entries read and committed per transaction (default {DEFAULT_BATCH})")
    src.add_argument("--claim-idle", metavar="SECONDS", type=float, default=DEFAULT_CLAIM_IDLE_S,
                     help="claim entries other consumers left unacknowledged this long (XAUTOCLAIM) "
                          f"(default {DEFAULT_CLAIM_IDLE_S:g})")
    src.add_argument("--max-backoff", metavar="SECONDS", type=float, default=DEFAULT_MAX_BACKOFF_S,
                     help="longest wait between reconnection attempts; waits start at 0.1 s and double "
                          f"(default {DEFAULT_MAX_BACKOFF_S:g})")
    dst = parser.add_argument_group("store")
    dst.add_argument("--db", metavar="TARGET", default=None,
                     help="store to write: a SQLite file (created if missing) or a postgresql:// URL [env AGENTTUI_DB]")
    feed = parser.add_argument_group("WebSocket feed")
    feed.add_argument("--ws", metavar="HOST:PORT", default=None,
                      help="address of the /ws/events feed; 'off' disables it "
                           f"[env AGENTTUI_WS; default {DEFAULT_WS}]. Any address other than loopback requires a token")
    feed.add_argument("--token", metavar="TOKEN", default=None,
                      help="clients must present this token (?token= or 'Authorization: Bearer'); prefer the "
                           "env var, which other users cannot see in the process list [env AGENTTUI_TOKEN]")
    feed.add_argument("--replay-latest", action="store_true", default=None,
                      help="send each new client the latest run's history before the live feed "
                           "[env RELOAD_LATEST_SESSION=true]")
    feed.add_argument("--client-queue", metavar="N", type=int, default=DEFAULT_CLIENT_QUEUE,
                      help="events buffered for a slow client before it is disconnected (code 1013, with the "
                           f"position to resume from) (default {DEFAULT_CLIENT_QUEUE})")
    otlp = parser.add_argument_group("OpenTelemetry (needs agenttui[otel])")
    otlp.add_argument("--otlp", metavar="HOST:PORT", default=None,
                      help="also receive OTLP/HTTP traces (POST /v1/traces, protobuf or JSON) here and store "
                           "their GenAI spans as events (docs/otel.md); without --redis or REDIS_URL, Redis is "
                           "not used. Any address other than loopback requires --token [env AGENTTUI_OTLP]")
    logs = parser.add_argument_group("logging")
    logs.add_argument("--log-format", choices=("text", "json"), default=None,
                      help="text lines, or one JSON object per line [env AGENTTUI_LOG_FORMAT; default text]")
    logs.add_argument("--log-level", choices=("debug", "info", "warning", "error"), default=None,
                      help="[env AGENTTUI_LOG_LEVEL; default info]")
    parser.set_defaults(func=run_serve_command, handler=run_serve_command)
    return parser


def add_serve_command(subparsers: Any) -> argparse.ArgumentParser:
    """Register `serve` on the main CLI's subparsers."""
    parser = subparsers.add_parser(
        "serve", help="persist a Redis event stream into the store and stream it over WebSocket",
        description=DESCRIPTION, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    return configure_parser(parser)


def config_from_args(args: argparse.Namespace) -> ServeConfig:
    ws_host, ws_port = parse_ws_address(args.ws or _env("AGENTTUI_WS", DEFAULT_WS))
    replay = args.replay_latest if args.replay_latest else parse_bool_env("RELOAD_LATEST_SESSION")
    stream = args.stream or _env("AGENTTUI_STREAM", DEFAULT_STREAM)
    otlp_text = args.otlp or _env("AGENTTUI_OTLP")
    otlp_host, otlp_port = parse_ws_address(otlp_text, "--otlp") if otlp_text else (None, 0)
    redis_given = args.redis or _env("REDIS_URL")
    redis_enabled = (redis_given or "").lower() != "off" and (otlp_host is None or bool(redis_given))
    return ServeConfig(
        db=args.db or _env("AGENTTUI_DB") or "",
        redis_url=DEFAULT_REDIS_URL if not redis_enabled else args.redis or _env("REDIS_URL", DEFAULT_REDIS_URL),
        stream=stream,
        group=args.group or _env("AGENTTUI_GROUP", DEFAULT_GROUP),
        consumer=args.consumer or _env("AGENTTUI_CONSUMER", ""),
        dead_letter_stream=args.dead_letter or "",
        ws_host=ws_host,
        ws_port=ws_port,
        token=args.token or _env("AGENTTUI_TOKEN"),
        replay_latest=replay,
        batch_size=args.batch_size,
        claim_idle_s=args.claim_idle,
        max_backoff_s=args.max_backoff,
        client_queue=args.client_queue,
        otlp_host=otlp_host,
        otlp_port=otlp_port,
        redis_enabled=redis_enabled,
    )


def run_serve_command(args: argparse.Namespace) -> int:
    try:
        from .app import run_serve
    except ImportError as exc:  # redis / websockets come with the optional `serve` extra
        missing = (exc.name or str(exc)).split(".")[0]
        print(f"agenttui serve: error: {missing} is not installed; "
              "install it with: pip install 'agenttui[serve]'", file=sys.stderr)
        return 2
    from .logs import setup_logging

    try:
        config = config_from_args(args)
    except ConfigError as exc:
        print(f"agenttui serve: error: {safe_text(str(exc), 500)}", file=sys.stderr)
        return 2
    setup_logging(args.log_format or _env("AGENTTUI_LOG_FORMAT", "text"),
                  args.log_level or _env("AGENTTUI_LOG_LEVEL", "info"))
    return run_serve(config)


def main(argv: list[str] | None = None) -> int:
    """`python -m agenttui.serve`: the same command without the main CLI."""
    parser = argparse.ArgumentParser(prog="agenttui serve", description=DESCRIPTION, epilog=EPILOG,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    configure_parser(parser)
    return run_serve_command(parser.parse_args(argv))
