"""The envelope: every way an event can be malformed gets an EnvelopeError naming the field."""
from __future__ import annotations

from datetime import datetime, timezone

import orjson
import pytest

from agenttui.store import Event, EnvelopeError, normalize_timestamp, parse_envelope, parse_json_line
from agenttui.store.envelope import UNASSIGNED_RUN_ID, new_event_id, validate_event

from store_fixtures import ev, open_store, sample_lines

CANON = "2025-04-17T12:00:00.123456Z"


# ----------------------------------------------------------------------------- timestamps

@pytest.mark.parametrize("given, expected", [
    ("2025-04-17T12:00:00.123456Z", CANON),
    ("2025-04-17T12:00:00.123456z", CANON),
    ("2025-04-17t12:00:00.123456Z", CANON),
    ("2025-04-17T14:00:00.123456+02:00", CANON),
    ("2025-04-17T14:00:00.123456+0200", CANON),
    ("2025-04-17T14:00:00.123456+02", CANON),
    ("2025-04-17T06:30:00.123456-0530", CANON),
    ("2025-04-17T06:30:00.123456-05:30", CANON),
    ("2025-04-17T12:00:00.123456", CANON),  # naive means UTC
    ("2025-04-17 12:00:00.123456", CANON),  # space separator
    ("2025-04-17 12:00:00,123456Z", CANON),  # comma fraction
    ("2025-04-17T12:00:00.1Z", "2025-04-17T12:00:00.100000Z"),
    ("2025-04-17T12:00:00.12Z", "2025-04-17T12:00:00.120000Z"),
    ("2025-04-17T12:00:00.123Z", "2025-04-17T12:00:00.123000Z"),
    ("2025-04-17T12:00:00.1234567Z", CANON),  # beyond microseconds is truncated
    ("2025-04-17T12:00:00.123456789Z", CANON),
    ("2025-04-17T12:00:00Z", "2025-04-17T12:00:00.000000Z"),
    ("2025-04-17T12:00Z", "2025-04-17T12:00:00.000000Z"),
    ("  2025-04-17T12:00:00Z  ", "2025-04-17T12:00:00.000000Z"),
    ("2025-04-17T00:30:00+01:00", "2025-04-16T23:30:00.000000Z"),  # crosses midnight backwards
    ("2025-12-31T23:30:00-01:00", "2026-01-01T00:30:00.000000Z"),  # and forwards into a new year
    (1744891200, "2025-04-17T12:00:00.000000Z"),
    (1744891200.123456, CANON),
    (0, "1970-01-01T00:00:00.000000Z"),
    (datetime(2025, 4, 17, 12, 0, 0, 123456), CANON),
    ("0999-01-01T00:00:00Z", "0999-01-01T00:00:00.000000Z"),  # still four digits: sorts before 1000
    (datetime(999, 1, 1), "0999-01-01T00:00:00.000000Z"),
    (datetime(2025, 4, 17, 12, 0, 0, 123456, tzinfo=timezone.utc), CANON),
])
def test_timestamp_forms_normalise_to_one_form(given, expected):
    assert normalize_timestamp(given) == expected


def test_normalised_timestamps_sort_in_time_order():
    forms = [
        "2025-04-17T14:00:00.5+02:00",   # 12:00:00.5
        "2025-04-17 11:59:59.999999",     # 11:59:59.999999
        1744891200.25,                    # 12:00:00.25
        "2025-04-17T06:30:01-05:30",      # 12:00:01
        "2025-04-17T12:00:00Z",           # 12:00:00
    ]
    normalised = sorted(normalize_timestamp(f) for f in forms)
    as_times = [datetime.fromisoformat(n.replace("Z", "+00:00")) for n in normalised]
    assert as_times == sorted(as_times)
    assert len({len(n) for n in normalised}) == 1  # fixed width: string order is time order


@pytest.mark.parametrize("garbage", [
    "yesterday", "", "2025-04-17", "2025-13-01T00:00:00Z", "2025-02-30T00:00:00Z", "2025-04-17T25:00:00Z",
    "2025-04-17T12:00:00+25:00", "2025-04-17T12:00:00+05:75", "2025-04-17T12:00:00.1234567890Z",
    "17/04/2025 12:00", "2025-04-17T12:00:00 PST", "1744891200", float("nan"), float("inf"), 10 ** 20, True,
    "0001-01-01T00:00:00+01:00", "9999-12-31T23:59:59-01:00",
    [2025, 4, 17], {"ts": 1},
])
def test_garbage_timestamps_are_rejected_naming_the_field(garbage):
    with pytest.raises(EnvelopeError) as info:
        normalize_timestamp(garbage)
    assert info.value.field == "timestamp"
    assert "timestamp" in str(info.value)


def test_garbage_timestamp_in_an_envelope_names_the_field():
    with pytest.raises(EnvelopeError) as info:
        parse_envelope(ev("x", ts="not a time"))
    assert info.value.field == "timestamp"
    assert "not a time" in str(info.value)


# ------------------------------------------------------------------------ field validation

@pytest.mark.parametrize("field, value, words", [
    ("event_id", 42, "event_id must be a string"),
    ("event_id", "", "event_id must not be empty"),
    ("event_id", "x" * 600, "event_id is 600 characters"),
    ("event_id", "a\x00b", "NUL"),
    ("run_id", ["r1"], "run_id must be a string"),
    ("run_id", {"id": 1}, "run_id must be a string"),
    ("event_type", 7, "event_type must be a string"),
    ("event_type", "", "event_type must be 1 to 200"),
    ("event_type", "a\x00b", "event_type contains a NUL character"),
    ("payload", [1, 2], "payload must be a JSON object, got an array"),
    ("payload", "text", "payload must be a JSON object, got a string"),
    ("metadata", "causation", "metadata must be a JSON object, got a string"),
    ("metadata", [1], "metadata must be a JSON object, got an array"),
    ("node_id", 3, "node_id must be a string"),
    ("timestamp", [1], "timestamp must be an ISO 8601 string"),
])
def test_wrong_field_types_are_rejected_naming_the_field(field, value, words):
    env = ev("node_created", node_id="n1")
    env[field] = value
    with pytest.raises(EnvelopeError) as info:
        parse_envelope(env)
    assert info.value.field == field
    assert words in str(info.value)


@pytest.mark.parametrize("key, value, words", [
    ("node_id", "n" * 513, "payload.node_id is 513 characters long (limit 512)"),
    ("node_id", "a\x00", "payload.node_id contains a NUL character"),
    ("added_node_id", "a" * 600, "payload.added_node_id is 600 characters long"),
    ("child_node_id", "\x00", "payload.child_node_id contains a NUL character"),
], ids=["node_id too long", "node_id NUL", "added_node_id too long", "child_node_id NUL"])
def test_the_node_id_a_payload_names_is_held_to_the_id_rules(key, value, words):
    """It becomes the event's node_id, which the store would refuse: say so here, naming the field."""
    env = ev("node_created")
    env["payload"] = {key: value}
    with pytest.raises(EnvelopeError) as info:
        parse_envelope(env)
    assert info.value.field == f"payload.{key}" and words in str(info.value)
    with pytest.raises(EnvelopeError, match="node_id"):
        validate_event(Event("node_created", payload={key: value}, node_id=""))
    env["node_id"] = "n1"  # the envelope names the node: the payload's field is only data
    assert parse_envelope(env).node_id == "n1"


def test_validate_event_holds_python_events_to_the_same_event_type_rule():
    with pytest.raises(EnvelopeError, match="event_type contains a NUL character"):
        validate_event(Event("a\x00b"))


@pytest.mark.parametrize("field", ["event_id", "event_type", "timestamp", "payload"])
def test_missing_required_fields_are_rejected_in_strict_mode(field):
    env = ev("x")
    del env[field]
    with pytest.raises(EnvelopeError) as info:
        parse_envelope(env, strict=True)
    assert info.value.field == field
    assert f"missing required field {field!r}" in str(info.value)


def test_api_mode_fills_in_id_and_timestamp_but_still_needs_a_type():
    e = parse_envelope({"event_type": "decision", "payload": {"x": 1}}, strict=False)
    assert e.event_id and e.timestamp.endswith("Z") and e.run_id == UNASSIGNED_RUN_ID
    with pytest.raises(EnvelopeError) as info:
        parse_envelope({"payload": {}}, strict=False)
    assert info.value.field == "event_type"


def test_an_event_must_be_an_object():
    with pytest.raises(EnvelopeError, match="must be a JSON object, got an array"):
        parse_envelope([1, 2])


def test_null_and_empty_run_id_mean_unassigned_and_export_back_as_null():
    for value in (None, ""):
        env = ev("x", run_id=None)
        env["run_id"] = value
        e = parse_envelope(env)
        assert e.run_id == UNASSIGNED_RUN_ID
        assert e.to_envelope()["run_id"] is None


def test_node_id_comes_from_the_envelope_else_the_payload():
    assert parse_envelope(ev("x", node_id="env-node", node_id_in_payload=1)).node_id == "env-node"
    payload_env = ev("tool_invoked")
    payload_env["payload"] = {"node_id": "p-node"}
    assert parse_envelope(payload_env).node_id == "p-node"
    added = ev("node_added", added_node_id="child", graph_owner_node_id="owner")
    assert parse_envelope(added).node_id == "child"


def test_envelope_round_trips_through_to_envelope():
    for line in sample_lines():
        e = parse_json_line(line)
        again = parse_envelope(orjson.loads(orjson.dumps(e.to_envelope())))
        assert again.to_envelope() == e.to_envelope()


def test_new_event_ids_are_unique_and_time_ordered():
    ids = [new_event_id() for _ in range(5000)]
    assert len(set(ids)) == len(ids)
    assert ids == sorted(ids)
    assert all(i[14] == "7" for i in ids)  # UUID version 7


# ------------------------------------------------------------------ hand-built Event objects

def test_hand_built_events_are_normalised_like_dicts():
    e = validate_event(Event(event_type="x", run_id=None, timestamp="2025-04-17T14:00:00.123456+02:00"))
    assert e.timestamp == CANON
    assert e.run_id == UNASSIGNED_RUN_ID


@pytest.mark.parametrize("kwargs, field", [
    ({"event_type": 5}, "event_type"),
    ({"event_type": "x", "payload": [1]}, "payload"),
    ({"event_type": "x", "metadata": "m"}, "metadata"),
    ({"event_type": "x", "run_id": ["r"]}, "run_id"),
    ({"event_type": "x", "timestamp": "soon"}, "timestamp"),
])
def test_hand_built_events_with_bad_fields_are_rejected(kwargs, field):
    with pytest.raises(EnvelopeError) as info:
        validate_event(Event(**kwargs))
    assert info.value.field == field


# --------------------------------------------------------------- payload contents and size

def _nested(depth: int) -> dict:
    value: dict = {}
    for _ in range(depth):
        value = {"d": value}
    return value


@pytest.mark.parametrize("bad, path", [
    ({"score": float("nan")}, "payload.score"),
    ({"score": float("inf")}, "payload.score"),
    ({"deep": [1, {"x": -float("inf")}]}, "payload.deep[1].x"),
])
def test_nan_and_infinity_in_an_api_payload_are_rejected(tmp_path, bad, path):
    store = open_store(tmp_path)
    with pytest.raises(EnvelopeError) as info:
        store.append({"event_type": "metric", "run_id": "r1", "payload": bad})
    assert info.value.field == path
    assert path in str(info.value) and "NaN or Infinity" in str(info.value)
    assert store.count_events() == 0


def test_nan_in_metadata_is_rejected_not_silently_nulled(tmp_path):
    store = open_store(tmp_path)
    with pytest.raises(EnvelopeError) as info:
        store.append(ev("x", metadata={"confidence": float("nan")}))
    assert info.value.field == "metadata.confidence"
    assert store.count_events() == 0


@pytest.mark.parametrize("payload", [{1: "int key"}, {"raw": b"bytes"}, {"n": 2 ** 70}, {"s": {1, 2}}])
def test_payloads_json_cannot_hold_are_rejected(tmp_path, payload):
    store = open_store(tmp_path)
    with pytest.raises(EnvelopeError) as info:
        store.append({"event_type": "x", "run_id": "r", "payload": payload})
    assert info.value.field == "payload" and "cannot be stored as JSON" in str(info.value)
    assert store.count_events() == 0


def test_unserialisable_metadata_is_an_envelope_error(tmp_path):
    store = open_store(tmp_path)
    with pytest.raises(EnvelopeError) as info:
        store.append(ev("x", metadata={"tags": {"a", "b"}}))
    assert info.value.field == "metadata"


def test_nan_in_a_jsonl_line_is_malformed_json():
    line = b'{"event_id":"a","run_id":"r","event_type":"x","timestamp":"2025-01-01T00:00:00Z","payload":{"v":NaN}}'
    with pytest.raises(EnvelopeError, match="malformed JSON"):
        parse_json_line(line)


def test_payload_over_max_payload_bytes_is_rejected(tmp_path):
    store = open_store(tmp_path, max_payload_bytes=10_000)
    big = ev("artifact", content="x" * 20_000)
    with pytest.raises(EnvelopeError) as info:
        store.append(big)
    assert info.value.field == "payload"
    assert "over the 10,000-byte limit" in str(info.value)
    assert big["event_id"] in str(info.value)
    assert store.count_events() == 0
    store.append(ev("artifact", content="x" * 5_000))  # under the limit is fine
    assert store.count_events() == 1


def test_an_oversized_jsonl_line_is_rejected_before_parsing():
    line = orjson.dumps(ev("artifact", content="x" * 200_000))
    with pytest.raises(EnvelopeError) as info:
        parse_json_line(line, max_bytes=1000)
    assert info.value.field == "payload"


def test_ten_thousand_deep_nesting_in_a_jsonl_line_names_the_field():
    env = ev("x")
    line = orjson.dumps(env)[:-1] + b',"payload_extra":1,"metadata":' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    with pytest.raises(EnvelopeError) as info:
        parse_json_line(line)
    assert info.value.field == "metadata"
    assert "nested more than 1024 levels" in str(info.value) and "metadata" in str(info.value)


def test_ten_thousand_deep_nesting_in_an_api_payload_is_rejected(tmp_path):
    store = open_store(tmp_path)
    with pytest.raises(EnvelopeError) as info:
        store.append({"event_type": "x", "run_id": "r", "payload": _nested(10_000)})
    assert info.value.field == "payload"
    assert "nested too deeply" in str(info.value)
    assert store.count_events() == 0


def test_nesting_within_the_limit_is_stored(tmp_path):
    store = open_store(tmp_path)
    store.append({"event_type": "x", "run_id": "r", "payload": _nested(200)})
    assert store.count_events() == 1


def test_invalid_utf8_in_a_jsonl_line_names_byte_and_field():
    good = orjson.dumps(ev("llm_call_started", prompt="PLACEHOLDER"))
    line = good.replace(b"PLACEHOLDER", b"caf\xe9 \xff")
    with pytest.raises(EnvelopeError) as info:
        parse_json_line(line)
    assert info.value.field == "payload"
    assert "invalid UTF-8 at byte" in str(info.value)
    first_bad = line.index(b"\xe9")
    assert f"byte {first_bad}" in str(info.value)


def test_lone_surrogate_escape_is_rejected():
    line = orjson.dumps(ev("x", text="PLACEHOLDER")).replace(b"PLACEHOLDER", b"\\ud800")
    with pytest.raises(EnvelopeError) as info:
        parse_json_line(line)
    assert info.value.field == "payload"
    assert "surrogate" in str(info.value)


@pytest.mark.parametrize("line, words", [
    (b"", "malformed JSON"),
    (b"{not json", "malformed JSON"),
    (b'{"event_id": "a"', "malformed JSON"),
    (b"[1, 2]", "must be a JSON object"),
    (b"null", "must be a JSON object"),
])
def test_malformed_lines_are_rejected(line, words):
    with pytest.raises(EnvelopeError, match=words):
        parse_json_line(line)


# -------------------------------------------------------------------------- whole batches

def test_a_batch_with_one_bad_event_writes_nothing_and_names_it(tmp_path):
    store = open_store(tmp_path)
    batch = [ev("x") for _ in range(5)]
    batch[3]["payload"] = ["not", "an", "object"]
    with pytest.raises(EnvelopeError) as info:
        store.append(batch)
    message = str(info.value)
    assert info.value.field == "payload"
    assert "event 3" in message and batch[3]["event_id"] in message
    assert info.value.where.startswith("event 3")
    assert store.count_events() == 0
    assert store.runs() == []


def test_a_batch_with_one_oversized_event_writes_nothing(tmp_path):
    store = open_store(tmp_path, max_payload_bytes=1000)
    batch = [ev("x"), ev("x", blob="y" * 2000), ev("x")]
    with pytest.raises(EnvelopeError) as info:
        store.append(batch)
    assert "event 1" in str(info.value) and batch[1]["event_id"] in str(info.value)
    assert store.count_events() == 0


def test_a_batch_with_a_bad_hand_built_event_names_it(tmp_path):
    store = open_store(tmp_path)
    good = Event(event_type="x", run_id="r")
    bad = Event(event_type="x", run_id="r", timestamp="whenever")
    with pytest.raises(EnvelopeError) as info:
        store.append([good, bad])
    assert info.value.field == "timestamp"
    assert f"event 1 ({bad.event_id})" in str(info.value)
    assert store.count_events() == 0


# ------------------------------------------------------------------ property: any ISO form

from datetime import timedelta  # noqa: E402

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=200, deadline=None)
@given(
    moment=st.datetimes(min_value=datetime(1000, 1, 2), max_value=datetime(9998, 12, 30)),
    offset_minutes=st.integers(-(23 * 60 + 59), 23 * 60 + 59),
    style=st.sampled_from(["colon", "compact", "z", "naive", "space"]),
    digits=st.integers(0, 9),
)
def test_any_iso_rendering_of_a_moment_normalises_to_that_moment(moment, offset_minutes, style, digits):
    if style in ("z", "naive", "space"):
        offset_minutes = 0
    local = moment + timedelta(minutes=offset_minutes)
    frac = f"{local.microsecond:06d}{'0' * 3}"[:digits] if digits else ""
    text = local.strftime("%Y-%m-%d") + (" " if style == "space" else "T") + local.strftime("%H:%M:%S")
    if frac:
        text += "." + frac
    sign = "-" if offset_minutes < 0 else "+"
    hh, mm = divmod(abs(offset_minutes), 60)
    text += {"colon": f"{sign}{hh:02d}:{mm:02d}", "compact": f"{sign}{hh:02d}{mm:02d}", "z": "Z"}.get(style, "")
    expected_micro = int(frac[:6].ljust(6, "0")) if frac else 0
    expected = moment.replace(microsecond=expected_micro)
    got = normalize_timestamp(text)
    assert got == expected.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), text


def test_invalid_utf8_in_a_key_gives_a_printable_message():
    line = b'{"event_id":"a","run_id":"r","event_type":"x","timestamp":"2025-01-01T00:00:00Z","payload":{},"bad\xe9key":1}'
    with pytest.raises(EnvelopeError) as info:
        parse_json_line(line)
    assert info.value.field == "bad\\xe9key"
    str(info.value).encode("utf-8")  # no lone surrogates that would break printing or JSON output


def test_a_str_line_with_a_lone_surrogate_is_rejected():
    with pytest.raises(EnvelopeError, match="lone surrogate at character"):
        parse_json_line('{"event_id": "a", "payload": "\udcff"}')


@pytest.mark.parametrize("field", ["event_id", "run_id", "node_id", "event_type"])
def test_ids_with_lone_surrogates_are_rejected_not_crashing_sqlite(tmp_path, field):
    """Text decoded with surrogateescape reaches the API as str; SQLite cannot store it."""
    store = open_store(tmp_path)
    env = ev("x")
    env[field] = "bad\udcff"
    with pytest.raises(EnvelopeError) as info:
        store.append(env)
    assert info.value.field == field and "lone surrogate" in str(info.value)
    str(info.value).encode("utf-8")
    assert store.count_events() == 0


def test_non_ascii_ids_are_fine(tmp_path):
    store = open_store(tmp_path)
    store.append(ev("schritt_ausgeführt", run_id="lauf-ü", node_id="knoten-ñ"))
    (e,) = store.events(run_id="lauf-ü")
    assert (e.event_type, e.node_id) == ("schritt_ausgeführt", "knoten-ñ")


@pytest.mark.parametrize("field", ["event_id", "run_id", "node_id", "event_type"])
def test_hand_built_events_with_lone_surrogates_are_rejected(tmp_path, field):
    store = open_store(tmp_path)
    e = Event(event_type="x", run_id="r", node_id="n")
    setattr(e, field, "bad\udcff")
    with pytest.raises(EnvelopeError) as info:
        store.append(e)
    assert info.value.field == field
    assert store.count_events() == 0
