"""`agenttui serve` pieces that need no Redis: settings, entry decoding, query parsing, the hub, logs."""
from __future__ import annotations

import argparse
import asyncio
import io
import json
import logging

import orjson
import pytest
from store_fixtures import sample_lines

from agenttui.serve.command import EPILOG, config_from_args, configure_parser
from agenttui.serve.config import ConfigError, ServeConfig, is_loopback, parse_ws_address, redact_url
from agenttui.serve.entries import Entry, RejectedEntry, decode_entry, dead_letter_fields
from agenttui.serve.hub import EventSelector, Hub
from agenttui.serve.logs import emit, get_logger, setup_logging
from agenttui.serve.ws import BadRequest, parse_feed_query
from agenttui.store import Event

ENV_VARS = ("REDIS_URL", "AGENTTUI_STREAM", "AGENTTUI_GROUP", "AGENTTUI_CONSUMER", "AGENTTUI_DB", "AGENTTUI_WS",
            "AGENTTUI_TOKEN", "RELOAD_LATEST_SESSION", "AGENTTUI_LOG_FORMAT", "AGENTTUI_LOG_LEVEL")


def _parse(argv: list[str]) -> argparse.Namespace:
    return configure_parser(argparse.ArgumentParser(prog="agenttui serve")).parse_args(argv)


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ENV_VARS:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


# ------------------------------------------------------------------------------- settings

@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:8765", ("127.0.0.1", 8765)),
    (":9000", ("127.0.0.1", 9000)),
    ("9001", ("127.0.0.1", 9001)),
    ("[::1]:8765", ("::1", 8765)),
    ("0.0.0.0:0", ("0.0.0.0", 0)),
    ("off", (None, 0)),
])
def test_ws_address_forms(text: str, expected: tuple) -> None:
    assert parse_ws_address(text) == expected


@pytest.mark.parametrize("text, fragment", [("host:http", "port must be a number"), ("1.2.3.4:70000", "out of range"),
                                            ("[::1]8765", "[IPv6]:PORT")])
def test_bad_ws_address_is_named(text: str, fragment: str) -> None:
    with pytest.raises(ConfigError, match=fragment.replace("[", r"\[").replace("]", r"\]")):
        parse_ws_address(text)


def test_loopback_detection() -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost") and is_loopback("127.8.0.1")
    assert not is_loopback("0.0.0.0") and not is_loopback("10.1.2.3") and not is_loopback("example.org")


def test_non_loopback_bind_requires_a_token() -> None:
    with pytest.raises(ConfigError, match="AGENTTUI_TOKEN"):
        ServeConfig(db="x.db", ws_host="0.0.0.0", ws_port=8765)
    assert ServeConfig(db="x.db", ws_host="0.0.0.0", ws_port=8765, token="s3cret").token == "s3cret"
    assert ServeConfig(db="x.db").ws_host == "127.0.0.1"  # the default needs none
    assert ServeConfig(db="x.db", ws_host=None).token is None  # no feed at all needs none


def test_settings_come_from_the_environment(clean_env: pytest.MonkeyPatch) -> None:
    clean_env.setenv("REDIS_URL", "redis://:pw@10.0.0.5:6380/2")
    clean_env.setenv("AGENTTUI_DB", "/data/fleet.db")
    clean_env.setenv("AGENTTUI_TOKEN", "tok")
    clean_env.setenv("AGENTTUI_WS", "0.0.0.0:9999")
    clean_env.setenv("RELOAD_LATEST_SESSION", "true")
    clean_env.setenv("AGENTTUI_STREAM", "events")
    cfg = config_from_args(_parse([]))
    assert (cfg.redis_url, cfg.db, cfg.token, cfg.ws_host, cfg.ws_port) == (
        "redis://:pw@10.0.0.5:6380/2", "/data/fleet.db", "tok", "0.0.0.0", 9999)
    assert cfg.replay_latest and cfg.stream == "events" and cfg.dead_letter_stream == "events:dead"
    assert "pw" not in cfg.redis_display and "10.0.0.5:6380" in cfg.redis_display
    # an option given on the command line wins over its variable
    cfg = config_from_args(_parse(["--db", "other.db", "--redis", "redis://h:1/0", "--stream", "s"]))
    assert (cfg.db, cfg.redis_url, cfg.stream) == ("other.db", "redis://h:1/0", "s")


def test_unusable_settings_are_named(clean_env: pytest.MonkeyPatch) -> None:
    with pytest.raises(ConfigError, match="--db TARGET or set AGENTTUI_DB"):
        config_from_args(_parse([]))
    clean_env.setenv("RELOAD_LATEST_SESSION", "maybe")
    with pytest.raises(ConfigError, match="RELOAD_LATEST_SESSION='maybe'"):
        config_from_args(_parse(["--db", "x.db"]))
    clean_env.delenv("RELOAD_LATEST_SESSION")
    with pytest.raises(ConfigError, match="--batch-size"):
        config_from_args(_parse(["--db", "x.db", "--batch-size", "0"]))
    with pytest.raises(ConfigError, match="expected redis://"):
        config_from_args(_parse(["--db", "x.db", "--redis", "http://localhost"]))
    with pytest.raises(ConfigError, match="different stream"):
        config_from_args(_parse(["--db", "x.db", "--stream", "a", "--dead-letter", "a"]))


def test_help_documents_every_option_and_variable() -> None:
    parser = configure_parser(argparse.ArgumentParser(prog="agenttui serve", epilog=EPILOG,
                                                      formatter_class=argparse.RawDescriptionHelpFormatter))
    text = parser.format_help()
    for action in parser._actions:
        for flag in action.option_strings:
            assert flag in text
        if action.option_strings and action.dest != "help":
            assert action.help and len(action.help) > 10, f"{action.option_strings} has no real help"
    for name in ENV_VARS:
        assert name in text, name


def test_redact_url_hides_only_the_password() -> None:
    assert redact_url("redis://user:secret@host:6379/0") == "redis://user:***@host:6379/0"
    assert redact_url("redis://host:6379/0") == "redis://host:6379/0"


# -------------------------------------------------------------------------- stream entries

def _entry(fields: dict | None, entry_id: bytes = b"1745000000123-0") -> Entry:
    return Entry(entry_id, fields)


def test_the_real_agents_envelope_decodes() -> None:
    line = next(l for l in sample_lines() if b'"run_id": null' in l)
    event = decode_entry("agent_events", _entry({b"json_payload": line}))
    original = orjson.loads(line)
    assert event.event_id == original["event_id"]
    assert event.run_id == "unassigned" and event.to_json()["run_id"] is None
    assert event.timestamp.endswith("Z") and event.timestamp[:19] == original["timestamp"][:19]
    node_line = next(l for l in sample_lines() if b'"node_created"' in l)
    node_event = decode_entry("agent_events", _entry({b"json_payload": node_line}))
    assert node_event.node_id == orjson.loads(node_line)["payload"]["node_id"]  # node_id from the payload


def test_naive_and_z_timestamps_mean_utc() -> None:
    base = {"event_id": "e1", "run_id": None, "event_type": "x", "payload": {}}
    z = decode_entry("s", _entry({b"json_payload": orjson.dumps({**base, "timestamp": "2025-04-17T12:00:00.5Z"})}))
    naive = decode_entry("s", _entry({b"json_payload": orjson.dumps({**base, "timestamp": "2025-04-17T12:00:00.5"})}))
    assert z.timestamp == naive.timestamp == "2025-04-17T12:00:00.500000Z"


def test_missing_event_id_and_timestamp_come_from_the_entry() -> None:
    body = orjson.dumps({"event_type": "tool_invoked", "run_id": "r", "payload": {"tool_name": "t"}})
    first = decode_entry("agent_events", _entry({b"json_payload": body}, b"1745000000123-0"))
    again = decode_entry("agent_events", _entry({b"json_payload": body}, b"1745000000123-0"))
    other = decode_entry("agent_events", _entry({b"json_payload": body}, b"1745000000123-1"))
    assert first.event_id == again.event_id != other.event_id  # redelivery stays idempotent
    assert first.timestamp == "2025-04-18T18:13:20.123000Z"  # the entry id's milliseconds


@pytest.mark.parametrize("fields, fragment", [
    ({b"json_payload": b"not json"}, "not valid JSON"),
    ({b"json_payload": b'{"event_id": "a", "timestamp": "2025-01-01T00:00:00Z", "payload": {}}'},
     "missing required field 'event_type'"),
    ({b"json_payload": b'{"event_id": "a", "event_type": 7, "timestamp": "2025-01-01T00:00:00Z", "payload": {}}'},
     "event_type must be a string"),
    ({b"json_payload": b'{"event_id": "a", "event_type": "x", "timestamp": "2025-01-01T00:00:00Z", "payload": [1]}'},
     "payload must be a JSON object"),
    ({b"json_payload": b'{"event_id": "a", "event_type": "x", "timestamp": "yesterday", "payload": {}}'},
     "timestamp"),
    ({b"json_payload": b"[1, 2]"}, "must be a JSON object"),
    ({b"json_payload": b'{"event_type": "\xff\xfe"}'}, "not valid UTF-8"),
    ({b"data": b"{}", b"kind": b"x"}, "missing field 'json_payload' (fields present: data, kind)"),
])
def test_rejections_say_what_is_wrong(fields: dict, fragment: str) -> None:
    with pytest.raises(RejectedEntry) as info:
        decode_entry("agent_events", _entry(fields))
    assert fragment in info.value.reason


def test_dead_letter_keeps_the_original_fields() -> None:
    entry = _entry({b"json_payload": b"oops", b"source": b"agent-7"})
    fields = dead_letter_fields("agent_events", entry, "json_payload is not valid JSON", "2026-01-01T00:00:00Z")
    assert fields[b"json_payload"] == b"oops" and fields[b"source"] == b"agent-7"
    assert fields[b"dead_letter_reason"] == "json_payload is not valid JSON"
    assert fields[b"dead_letter_source_id"] == entry.entry_id and fields[b"dead_letter_stream"] == "agent_events"


# ------------------------------------------------------------------------------ WS queries

def test_feed_query_parameters() -> None:
    req = parse_feed_query("run=r1&type=a&type=b,c&after=42&token=t", default_replay=False)
    assert req.selector == EventSelector(runs=frozenset({"r1"}), types=frozenset({"a", "b", "c"}))
    assert req.after == 42 and not req.replay
    assert parse_feed_query("", default_replay=True).replay
    assert not parse_feed_query("replay=none", default_replay=True).replay
    assert parse_feed_query("replay=latest", default_replay=False).replay
    assert parse_feed_query("", default_replay=False).selector == EventSelector()


@pytest.mark.parametrize("query, fragment", [
    ("colour=red", "unknown query parameter 'colour'"), ("after=-1", "'after' must be"),
    ("after=abc", "'after' must be"), ("run=a&run=b", "'run' may be given once"), ("type=", "'type' must"),
    ("replay=sometimes", "'replay' must be"),
])
def test_bad_feed_queries_are_named(query: str, fragment: str) -> None:
    with pytest.raises(BadRequest, match=fragment):
        parse_feed_query(query, default_replay=False)


# ------------------------------------------------------------------------------------- hub

def _stored(position: int | None, run: str = "r1", kind: str = "x") -> Event:
    e = Event(event_type=kind, run_id=run, payload={"n": position})
    e.position = position
    return e


def test_hub_seam_filters_and_overflow() -> None:
    async def scenario() -> None:
        hub = Hub(high_water=10)
        early, seam = hub.subscribe(EventSelector(), limit=100)
        assert seam == 10
        hub.publish([_stored(11), _stored(None), _stored(12, run="r2", kind="y")])  # None: a skipped duplicate
        late, seam2 = hub.subscribe(EventSelector(types=frozenset({"y"})), limit=1)
        assert seam2 == 12  # the late subscriber gets 11 and 12 from history, not from the queue
        hub.publish([_stored(13, kind="y"), _stored(14, kind="y")])
        assert [p for p, _ in early.drain()] == [11, 12, 13, 14]
        assert late.overflowed and not late.drain()  # one slot, two events: it must be dropped
        hub.publish([_stored(15)])
        (position, text), = early.drain()
        assert json.loads(text)["position"] == position == 15 and hub.high_water == 15

    asyncio.run(scenario())


# ------------------------------------------------------------------------------------ logs

@pytest.fixture
def restore_logging():
    """setup_logging reconfigures process-wide loggers; put them back for the other tests."""
    names = ("agenttui.serve", "websockets")
    saved = {n: (list(logging.getLogger(n).handlers), logging.getLogger(n).propagate, logging.getLogger(n).level)
             for n in names}
    yield
    for n, (handlers, propagate, level) in saved.items():
        logger = logging.getLogger(n)
        logger.handlers[:] = handlers
        logger.propagate = propagate
        logger.setLevel(level)


def test_json_log_lines_carry_fields(restore_logging: None) -> None:
    out = io.StringIO()
    setup_logging("json", "info", stream=out)
    emit(get_logger("bridge"), logging.WARNING, "entry moved to the dead-letter stream",
         entry_id=b"17-0", reason="bad json", events=3)
    emit(get_logger("bridge"), logging.DEBUG, "not shown at info")
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert len(lines) == 1
    assert lines[0]["level"] == "warning" and lines[0]["message"] == "entry moved to the dead-letter stream"
    assert lines[0]["entry_id"] == "17-0" and lines[0]["events"] == 3 and lines[0]["time"].endswith("Z")


def test_text_log_lines_are_readable(restore_logging: None) -> None:
    out = io.StringIO()
    setup_logging("text", "debug", stream=out)
    emit(get_logger(), logging.INFO, "client connected", peer="127.0.0.1:5000", types=["a"], note="two words")
    line = out.getvalue().strip()
    assert 'INFO    client connected peer=127.0.0.1:5000 types=["a"] note="two words"' in line


def test_retry_is_decided_by_the_error_type_not_its_name() -> None:
    """A refused event is dead-lettered; a store that is away is retried. Names do not decide it."""
    import sqlite3

    import psycopg

    from agenttui.serve.bridge import is_transient_store_error
    from agenttui.store.errors import ConcurrencyError, EnvelopeError, StoreLockedError, StoreUnavailableError

    for transient in (sqlite3.OperationalError("database is locked"), OSError(28, "No space left on device"),
                      StoreUnavailableError("db: no connection"), StoreLockedError("run.db", 30.0),
                      psycopg.OperationalError("server closed the connection"), psycopg.InterfaceError("closed"),
                      TimeoutError()):
        assert is_transient_store_error(transient), transient
    impostor = type("OperationalError", (Exception,), {})  # same name, not a backend's error
    for refused in (EnvelopeError("bad field"), ConcurrencyError("r", 1, 2), sqlite3.IntegrityError("x"),
                    ValueError("x"), impostor("x")):
        assert not is_transient_store_error(refused), refused
