"""Bad input: every line of the corpus, and hypothesis-made envelopes, is stored or refused by name.

Two ways in are held to the same promise: `agenttui import` (through cli.main, as a user runs it)
and `SQLiteStore.append` (the Python API). A refused line or event gets a message naming its line
number (or `event N`) and the field at fault; every valid line around it is stored; stderr never
shows a traceback. The corpus itself lives in tests/data/bad_input/corpus.py; the limits each
have a test at their exact boundary here (docs/limits.md lists them).
"""
from __future__ import annotations

import contextlib
import io
import json
import re
import sys
import tempfile
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from agenttui.cli import main as cli_main
from agenttui.store import EnvelopeError, SQLiteStore
from agenttui.store.envelope import MAX_ID_LENGTH, MAX_PARSE_DEPTH, MAX_STORE_DEPTH, DEFAULT_MAX_PAYLOAD_BYTES
from agenttui.store.jsonl import ENVELOPE_SLACK

sys.path.insert(0, str(Path(__file__).parent / "data" / "bad_input"))
import corpus  # noqa: E402

ERROR_LINE = re.compile(r"^line (\d+): (.*)$")


def run_cli(*argv: Any) -> tuple[int, str, str]:
    """cli.main in-process with its output captured (usable inside hypothesis examples)."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


def import_errors(err: str) -> dict[int, str]:
    found: dict[int, str] = {}
    for text in err.splitlines():
        m = ERROR_LINE.match(text)
        assert m, f"stderr has a line that is not a named bad line: {text!r}"
        found[int(m.group(1))] = m.group(2)
    return found


def moment(ts: str) -> datetime:
    return datetime.fromisoformat(ts.replace("Z", "+00:00"))


# ----------------------------------------------------------------------------------- the corpus

def test_every_corpus_line_is_stored_or_named_by_agenttui_import(tmp_path: Path) -> None:
    cases = corpus.write(tmp_path / "corpus")
    db = tmp_path / "run.db"
    code, out, err = run_cli("import", db, tmp_path / "corpus" / "corpus.jsonl", "--json")
    assert "Traceback" not in err and "Traceback" not in out
    assert code == 1, "some lines failed: exit code 1"
    report = json.loads(out)
    errors = {e["line"]: e["error"] for e in report["errors"]}
    shown = err.splitlines()
    hidden = len(errors) - 50
    assert shown[-1] == f"... and {hidden} more bad lines", "stderr names 50 bad lines, then counts the rest"
    assert import_errors("\n".join(shown[:-1])) == {n: errors[n] for n in sorted(errors)[:50]}
    for n, case in enumerate(cases, 1):
        if case.outcome == "rejected":
            assert n in errors, f"line {n} ({case.name}) was not refused"
            msg = errors[n].lower()
            missing = [w for w in case.says if w.lower() not in msg]
            assert not missing, f"line {n} ({case.name}): message {errors[n]!r} does not name {missing}"
            assert "\x1b" not in errors[n] and "\x00" not in errors[n]
        else:
            assert n not in errors, f"line {n} ({case.name}) was refused: {errors.get(n)}"
    valid = [c for c in cases if c.outcome == "stored"]
    assert report["stored"] == len(valid)
    assert report["duplicates"] == sum(c.outcome == "duplicate" for c in cases)
    assert report["failed"] == sum(c.outcome == "rejected" for c in cases)
    with SQLiteStore(db, readonly=True) as store:
        assert store.count_events() == len(valid), "every valid line is stored, nothing else"
        for case in valid:
            e = store.get_event(case.event_id)
            assert e is not None, case.name
            if case.stored_timestamp:
                assert e.timestamp == case.stored_timestamp, case.name
        assert store.get_event("dup-1").event_type == "node_status_changed", "the first of a duplicate wins"
        assert store.get_event("ok-null-run").run_id == "unassigned"
        assert len(store.get_event("ok-10mb").payload["content"]) == 10_000_000
        assert store.check() == []


def _decode_like_python(raw: bytes) -> Any:
    """What a Python caller could hand to append: the stdlib decoder, which accepts NaN and Infinity."""
    return json.loads(raw.decode("utf-8"))


def test_every_decodable_corpus_case_is_stored_or_named_by_the_python_api(tmp_path: Path) -> None:
    checked = 0
    with SQLiteStore(tmp_path / "api.db") as store:
        for case in corpus.cases():
            try:
                obj = _decode_like_python(case.line)
            except (ValueError, RecursionError):  # not JSON, or not UTF-8: only a line can carry it
                continue
            checked += 1
            outcome = case.api_outcome
            if outcome == "rejected":
                with pytest.raises(EnvelopeError) as info:
                    store.append([obj])
                msg = str(info.value)
                assert msg.startswith("event 0"), f"{case.name}: {msg!r} does not name the event"
                non_finite = any(t in case.line for t in (b"NaN", b"Infinity", b"1e400"))
                words = ("NaN or Infinity", "payload.new_status") if non_finite else case.says
                missing = [w for w in words if w.lower() not in msg.lower()]
                assert not missing, f"{case.name}: {msg!r} does not name {missing}"
            else:
                result = store.append([obj])
                assert (result.stored, result.duplicates) == ((1, 0) if outcome == "stored" else (0, 1)), case.name
        assert checked >= 70
        assert store.check() == []


# --------------------------------------------------------------------------------- hypothesis

_TEXT = st.text(st.characters(blacklist_categories=("Cs",)), min_size=1, max_size=30)
_JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2 ** 63), 2 ** 63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(st.characters(blacklist_categories=("Cs",))),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
_MISSING = object()
#: Per field: values the envelope accepts, and values it refuses (with the paths that refuse them).
_GOOD: dict[str, Any] = {
    "run_id": st.sampled_from([None, _MISSING, "run-a", "run-b"]) | _TEXT.filter(lambda s: "\x00" not in s),
    "event_type": _TEXT.filter(lambda s: "\x00" not in s),
    "timestamp": st.sampled_from([raw for raw, _ in corpus.GOOD_TIMESTAMPS])
    | st.datetimes(timezones=st.none() | st.just(timezone.utc)).map(lambda d: d.isoformat()),
    "payload": st.dictionaries(st.text(max_size=8), _JSON, max_size=5),
    "node_id": st.sampled_from([_MISSING, None]) | _TEXT.filter(lambda s: "\x00" not in s),
    "metadata": st.sampled_from([_MISSING, None]) | st.dictionaries(st.text(max_size=8), _JSON, max_size=3),
}
# (value, refused by import, refused by the API)
_BAD: dict[str, list[tuple[Any, bool, bool]]] = {
    "event_id": [(42, True, True), ("", True, False), ("a\x00b", True, True), ("e" * (MAX_ID_LENGTH + 1), True, True),
                 (["x"], True, True), (_MISSING, True, False)],
    "run_id": [(5, True, True), (["r"], True, True), ("r" * (MAX_ID_LENGTH + 1), True, True), ("a\x00", True, True)],
    "event_type": [("", True, True), ("t" * 201, True, True), (7, True, True), (_MISSING, True, True),
                   ({"t": 1}, True, True), ("a\x00b", True, True)],
    "timestamp": [(v, True, True) for v in corpus.BAD_TIMESTAMPS] + [(_MISSING, True, False)],
    "payload": [([1], True, True), ("p", True, True), (3.5, True, True), (_MISSING, True, False),
                ({"node_id": "n" * (MAX_ID_LENGTH + 1)}, True, True), ({"added_node_id": "a\x00"}, True, True),
                ({"child_node_id": "c" * (MAX_ID_LENGTH + 1)}, True, True)],
    "node_id": [(3, True, True), (["n"], True, True), ("n" * (MAX_ID_LENGTH + 1), True, True)],
    "metadata": [(["m"], True, True), ("m", True, True), (1, True, True)],
}


@st.composite
def envelopes(draw: Any, index: int) -> tuple[dict[str, Any], str | None, bool, bool]:
    """(envelope, the one field made bad or None, refused by import, refused by the API)."""
    env: dict[str, Any] = {"event_id": f"h{index}-" + draw(st.text(st.characters(min_codepoint=0x21,
                                                                                  max_codepoint=0x2FFF,
                                                                                  blacklist_categories=("Cs",)),
                                                                    max_size=8))}
    for name, strategy in _GOOD.items():
        value = draw(strategy)
        if value is not _MISSING:
            env[name] = value
    bad_field = draw(st.none() | st.sampled_from(sorted(_BAD)))
    cli_bad = api_bad = False
    if bad_field is not None:
        value, cli_bad, api_bad = draw(st.sampled_from(_BAD[bad_field]))
        if value is _MISSING:
            env.pop(bad_field, None)
        else:
            env[bad_field] = value
        if bad_field == "payload" and isinstance(value, dict):
            env.pop("node_id", None)  # the payload's node id is the event's only when the envelope has none
    return env, bad_field, cli_bad, api_bad


@st.composite
def batches(draw: Any) -> list[tuple[dict[str, Any], str | None, bool, bool, str]]:
    """A file's worth of envelopes; some written whole, some truncated, some repeated."""
    out = []
    for i in range(draw(st.integers(1, 12))):
        env, bad_field, cli_bad, api_bad = draw(envelopes(i))
        out.append((env, bad_field, cli_bad, api_bad, draw(st.sampled_from(["whole"] * 6 + ["truncated", "repeat"]))))
    return out


_GOOD_TS = dict(corpus.GOOD_TIMESTAMPS)


def _ids_equal_payloads(store: SQLiteStore, expected: dict[str, dict[str, Any]]) -> None:
    stored = {e.event_id: e for e in store.iter_events()}
    assert set(stored) == set(expected), "exactly the valid events are stored"
    for eid, env in expected.items():
        e = stored[eid]
        assert e.payload == orjson.loads(orjson.dumps(env.get("payload") or {})), eid
        assert e.event_type == env["event_type"]
        assert e.run_id == (env.get("run_id") or "unassigned")
        raw = env["timestamp"]
        if raw in _GOOD_TS:
            assert e.timestamp == _GOOD_TS[raw]
        else:  # generated by datetime.isoformat: naive means UTC
            want = datetime.fromisoformat(raw)
            assert moment(e.timestamp) == (want if want.tzinfo else want.replace(tzinfo=timezone.utc))


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_generated_envelopes_through_agenttui_import(items: list) -> None:
    lines: list[bytes] = []
    bad_lines: dict[int, str | None] = {}
    valid: dict[str, dict[str, Any]] = {}
    for env, bad_field, cli_bad, _, form in items:
        raw = orjson.dumps(env)
        if form == "truncated":
            lines.append(raw[:max(1, len(raw) // 2)])
            bad_lines[len(lines)] = None
            continue
        for _ in range(2 if form == "repeat" else 1):
            lines.append(raw)
            if cli_bad:
                bad_lines[len(lines)] = bad_field
            else:
                valid.setdefault(env["event_id"], env)
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "gen.jsonl"
        src.write_bytes(b"\n".join(lines) + b"\n")
        code, out, err = run_cli("import", Path(d) / "gen.db", src, "--json")
        assert "Traceback" not in err
        errors = import_errors(err)
        assert set(errors) == set(bad_lines), (errors, bad_lines)
        for n, field in bad_lines.items():
            if field is not None:
                assert field in errors[n], f"line {n}: {errors[n]!r} does not name {field}"
        assert code == (1 if bad_lines else 0)
        report = json.loads(out)
        assert report["stored"] == len(valid)
        with SQLiteStore(Path(d) / "gen.db", readonly=True) as store:
            _ids_equal_payloads(store, valid)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(batches())
def test_generated_envelopes_through_sqlitestore_append(items: list) -> None:
    with tempfile.TemporaryDirectory() as d, SQLiteStore(Path(d) / "api.db") as store:
        valid: dict[str, dict[str, Any]] = {}
        for env, bad_field, _, api_bad, _ in items:
            if api_bad:
                with pytest.raises(EnvelopeError) as info:
                    store.append([env])
                assert str(info.value).startswith("event 0") and bad_field in str(info.value)
                if isinstance(env.get("event_id"), str) and env["event_id"]:
                    assert store.get_event(env["event_id"]) is None, "a refused event is not stored"
            else:
                result = store.append([env])
                if isinstance(env.get("event_id"), str) and env["event_id"]:
                    valid.setdefault(env["event_id"], env)
                    assert result.stored + result.duplicates == 1
        stored = {e.event_id for e in store.iter_events()}
        assert set(valid) <= stored, "every accepted event is stored"
        assert store.check() == []


# ------------------------------------------------------------------------------------ limits

def _env(eid: str, /, **over: Any) -> dict[str, Any]:
    return corpus.env(eid, **over)


def _payload_of_size(n: int) -> dict[str, str]:
    """A payload whose serialised JSON is exactly n bytes: {"b":"xxx..."} is 8 bytes plus the x's."""
    return {"b": "x" * (n - 8)}


def test_limit_payload_size_is_exact_configurable_and_refusal_keeps_the_rest(tmp_path: Path) -> None:
    limit = 5000
    at, over = _payload_of_size(limit), _payload_of_size(limit + 1)
    assert len(orjson.dumps(at)) == limit
    with SQLiteStore(tmp_path / "api.db", max_payload_bytes=limit) as store:
        store.append([_env("at-limit", payload=at)])
        with pytest.raises(EnvelopeError, match=r"event 0 \(over-limit\): payload is 5,001 bytes, over the "
                                                r"5,000-byte limit \(max_payload_bytes\)"):
            store.append([_env("over-limit", payload=over)])
        with pytest.raises(EnvelopeError, match=r"metadata is 5,001 bytes"):
            store.append([_env("meta-over", metadata=over)])
        assert [e.event_id for e in store.iter_events()] == ["at-limit"]
    src = tmp_path / "limit.jsonl"
    src.write_bytes(b"\n".join(orjson.dumps(_env(i, payload=p)) for i, p in
                               [("a", at), ("b", over), ("c", {"k": 1})]) + b"\n")
    code, _, err = run_cli("import", tmp_path / "cli.db", src, "--max-payload-bytes", limit)
    assert code == 1 and import_errors(err) == {2: "payload is 5,001 bytes, over the 5,000-byte limit "
                                                   "(max_payload_bytes)"}
    with SQLiteStore(tmp_path / "cli.db", readonly=True) as store:
        assert {e.event_id for e in store.iter_events()} == {"a", "c"}


def test_limit_default_payload_size_is_16_mib() -> None:
    assert DEFAULT_MAX_PAYLOAD_BYTES == 16 * 1024 * 1024
    with tempfile.TemporaryDirectory() as d, SQLiteStore(Path(d) / "x.db") as store:
        assert store.max_payload_bytes == DEFAULT_MAX_PAYLOAD_BYTES


def test_limit_line_size_is_payload_limit_plus_envelope_slack(tmp_path: Path) -> None:
    limit = 1000
    line_limit = limit + ENVELOPE_SLACK

    def padded(event_id: str, size: int) -> bytes:
        """A valid line of exactly `size` bytes: JSON whitespace after the brace, a small payload."""
        base = orjson.dumps(_env(event_id))
        return b"{" + b" " * (size - len(base)) + base[1:]

    at_limit, over = padded("long-ok", line_limit), padded("long-no", line_limit + 1)
    assert (len(at_limit), len(over)) == (line_limit, line_limit + 1)
    src = tmp_path / "lines.jsonl"
    src.write_bytes(at_limit + b"\n" + over + b"\n" + orjson.dumps(_env("after")) + b"\n")
    code, _, err = run_cli("import", tmp_path / "l.db", src, "--max-payload-bytes", limit)
    errors = import_errors(err)
    assert code == 1 and list(errors) == [2]
    assert f"over the {line_limit:,}-byte limit" in errors[2]
    with SQLiteStore(tmp_path / "l.db", readonly=True) as store:
        assert {e.event_id for e in store.iter_events()} == {"long-ok", "after"}


@pytest.mark.parametrize("field", ["event_id", "run_id", "node_id", "payload.node_id", "payload.added_node_id",
                                   "payload.child_node_id"])
def test_limit_id_length_is_512_characters(tmp_path: Path, field: str) -> None:
    def with_id(eid: str, value: str) -> dict[str, Any]:
        if field == "event_id":
            return _env(value, payload={})
        if field.startswith("payload."):
            return _env(eid, payload={field.split(".")[1]: value})
        return _env(eid, **{field: value})

    with SQLiteStore(tmp_path / "ids.db") as store:
        store.append([with_id("ok", "i" * MAX_ID_LENGTH)])
        with pytest.raises(EnvelopeError, match=f"{field} is 513 characters long \\(limit 512\\)"):
            store.append([with_id("too-long", "j" * (MAX_ID_LENGTH + 1))])
        assert store.count_events() == 1


def test_limit_event_type_length_is_200_characters(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "t.db") as store:
        store.append([_env("ok", event_type="t" * 200)])
        with pytest.raises(EnvelopeError, match="event_type must be 1 to 200 characters"):
            store.append([_env("no", event_type="t" * 201)])
        assert store.count_events() == 1


def _nested(depth: int) -> bytes:
    """A JSON object `depth` levels deep ({"a":0} is 1)."""
    return b'{"a":' * depth + b"0" + b"}" * depth


def test_limit_payload_nesting_is_254_levels(tmp_path: Path) -> None:
    ok = orjson.loads(_nested(MAX_STORE_DEPTH))
    deep = orjson.loads(_nested(MAX_STORE_DEPTH + 1))
    with SQLiteStore(tmp_path / "n.db") as store:
        store.append([_env("deep-ok", payload=ok)])
        with pytest.raises(EnvelopeError, match="payload is nested too deeply to store \\(limit 254 levels\\)"):
            store.append([_env("deep-no", payload=deep)])
        assert store.count_events() == 1


def test_limit_line_nesting_is_1024_levels_from_orjson(tmp_path: Path) -> None:
    head = b'{"event_id":"%s","event_type":"t","timestamp":"2025-01-01T00:00:00Z","payload":'
    ok = head % b"parse-ok" + b'{"a":' + _nested(MAX_PARSE_DEPTH - 2) + b"}}"
    over = head % b"parse-no" + b'{"a":' + _nested(MAX_PARSE_DEPTH - 1) + b"}}"
    src = tmp_path / "deep.jsonl"
    src.write_bytes(ok + b"\n" + over + b"\n")
    code, _, err = run_cli("import", tmp_path / "d.db", src)
    errors = import_errors(err)
    # the line nested 1024 deep parses, then its payload is over the 254 levels a store can hold
    assert errors[1] == "payload is nested too deeply to store (limit 254 levels)"
    assert errors[2] == "JSON nested more than 1024 levels deep (in payload)"
    assert code == 1


def test_limit_integers_beyond_64_bits_are_read_as_floats(tmp_path: Path) -> None:
    src = tmp_path / "ints.jsonl"
    src.write_bytes(orjson.dumps(_env("big", payload={"n": 0})).replace(b'"n":0', b'"n":100000000000000000000000')
                    + b"\n" + orjson.dumps(_env("u64", payload={"n": 2 ** 64 - 1})) + b"\n")
    code, _, err = run_cli("import", tmp_path / "i.db", src)
    assert code == 0, err
    with SQLiteStore(tmp_path / "i.db", readonly=True) as store:
        assert store.get_event("big").payload["n"] == 1e23 and isinstance(store.get_event("big").payload["n"], float)
        assert store.get_event("u64").payload["n"] == 2 ** 64 - 1


def test_limit_timestamps_span_years_1_to_9999(tmp_path: Path) -> None:
    with SQLiteStore(tmp_path / "y.db") as store:
        store.append([_env("y1", timestamp="0001-01-01T00:00:00Z"), _env("y9999", timestamp="9999-12-31T23:59:59Z")])
        with pytest.raises(EnvelopeError, match="timestamp '10000-01-01T00:00:00Z' is not an ISO 8601 timestamp"):
            store.append([_env("y10000", timestamp="10000-01-01T00:00:00Z")])
        assert [e.timestamp for e in store.iter_events()] == ["0001-01-01T00:00:00.000000Z",
                                                             "9999-12-31T23:59:59.000000Z"]


def test_timestamps_with_non_ascii_digits_are_refused(tmp_path: Path) -> None:
    """Regression: \\d matched Arabic-Indic and fullwidth digits, so '٢٠٢٥-...' was stored as 2025."""
    with SQLiteStore(tmp_path / "d.db") as store:
        for raw in ("\u0662\u0660\u0662\u0665-04-17T12:00:00Z", "\uff12\uff10\uff12\uff15-04-17T12:00:00Z",
                    "2025-04-17T12:00:00\u2003Z"):
            with pytest.raises(EnvelopeError, match="is not an ISO 8601 timestamp"):
                store.append([_env("digits", timestamp=raw)])
        assert store.count_events() == 0
