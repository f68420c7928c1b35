"""The event envelope: parsing, validation and normalisation shared by every ingestion path.

Every way into the store (Python API, JSONL import, Redis, ...) goes through `parse_envelope` so a
malformed event is rejected with the same message naming its field, whatever the source.
"""
from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any

import orjson

from .errors import EnvelopeError
from .ids import new_event_id

#: Runs whose events arrived with ``run_id: null`` are kept under this id (and exported as null).
UNASSIGNED_RUN_ID = "unassigned"
#: Default ceiling for one event's serialised payload; configurable per store.
DEFAULT_MAX_PAYLOAD_BYTES = 16 * 1024 * 1024
MAX_ID_LENGTH = 512
#: orjson's nesting limits: what a JSONL line may hold, and what can be serialised back.
MAX_PARSE_DEPTH = 1024
MAX_STORE_DEPTH = 254

ENVELOPE_FIELDS = ("event_id", "run_id", "event_type", "timestamp", "payload", "node_id", "metadata")


@dataclass(slots=True)
class Event:
    """One immutable fact. `position` and `seq` are assigned by the store when it is appended."""

    event_type: str
    payload: dict[str, Any] = field(default_factory=dict)
    run_id: str = UNASSIGNED_RUN_ID
    event_id: str = ""
    timestamp: str = ""
    node_id: str | None = None
    metadata: dict[str, Any] | None = None
    position: int | None = None
    seq: int | None = None

    def __post_init__(self) -> None:
        if not self.event_id:
            self.event_id = new_event_id()
        if not self.timestamp:
            self.timestamp = now_timestamp()
        if self.node_id is None:
            self.node_id = node_id_of(self.payload)

    @property
    def schema_version(self) -> int:
        meta = self.metadata
        if meta:
            v = meta.get("schema_version")
            if isinstance(v, int):
                return v
        return 1

    def to_envelope(self) -> dict[str, Any]:
        """The wire/JSONL form; re-importing it yields the same event."""
        env: dict[str, Any] = {
            "event_id": self.event_id,
            "run_id": None if self.run_id == UNASSIGNED_RUN_ID else self.run_id,
            "event_type": self.event_type,
            "timestamp": self.timestamp,
            "payload": self.payload,
        }
        if self.node_id is not None:
            env["node_id"] = self.node_id
        if self.metadata is not None:
            env["metadata"] = self.metadata
        return env

    def to_json(self) -> dict[str, Any]:
        """Envelope plus the store-assigned position and sequence (for `tail --json`, WebSocket)."""
        env = self.to_envelope()
        env["position"] = self.position
        env["seq"] = self.seq
        return env


# --------------------------------------------------------------------------------------- ids

# --------------------------------------------------------------------------------- timestamps

_TS_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?"
    r"\s*(Z|z|[+-]\d{2}(?::?\d{2})?)?$",
    re.ASCII,  # ISO 8601 digits are ASCII: int() would read Arabic-Indic or fullwidth digits as a year
)
#: The one stored form; a timestamp already in it needs no parsing. ASCII digits only and \Z (not $,
#: which accepts a trailing newline), so whatever matches is byte-for-byte what we would store.
_CANONICAL_TS_RE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z\Z")
_from_iso = datetime.fromisoformat


def now_timestamp() -> str:
    return format_datetime(datetime.now(timezone.utc))


def format_datetime(dt: datetime) -> str:
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if dt.year >= 1000 else _pad_year(dt)


def normalize_timestamp(value: Any, *, field_name: str = "timestamp") -> str:
    """ISO 8601 with Z, an offset or none (UTC), or epoch seconds -> 'YYYY-MM-DDTHH:MM:SS.ffffffZ'.

    One fixed-width UTC form means string order is time order, so SQL range queries just work.
    """
    if isinstance(value, str):
        # Fast path (bulk imports): already canonical, so only the calendar needs checking, which
        # the C parser does ~10x quicker than the general path below. Anything it rejects falls
        # through, so the error message stays the general path's.
        if _CANONICAL_TS_RE.match(value):
            try:
                _from_iso(value[:-1])
            except ValueError:
                pass
            else:
                return value
        m = _TS_RE.match(value.strip())
        if not m:
            raise EnvelopeError(f"{field_name} {_show(value)} is not an ISO 8601 timestamp", field=field_name)
        y, mo, d, h, mi, s, frac, tz = m.groups()
        micro = int((frac or "0")[:6].ljust(6, "0"))
        try:
            dt = datetime(int(y), int(mo), int(d), int(h), int(mi), int(s or 0), micro)
        except ValueError as exc:
            raise EnvelopeError(f"{field_name} {_show(value)} is not a valid date/time ({exc})",
                                field=field_name) from None
        if tz and tz not in ("Z", "z"):
            sign = -1 if tz[0] == "-" else 1
            digits = tz[1:].replace(":", "")
            hours, minutes = int(digits[:2]), int(digits[2:4] or 0)
            if hours >= 24 or minutes >= 60:
                raise EnvelopeError(f"{field_name} {_show(value)} has an impossible UTC offset", field=field_name)
            offset = timedelta(hours=hours, minutes=minutes)
            try:
                dt = dt - sign * offset
            except OverflowError:
                raise EnvelopeError(f"{field_name} {_show(value)} is out of range", field=field_name) from None
        return dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ") if dt.year >= 1000 else _pad_year(dt)
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise EnvelopeError(f"{field_name} must be a finite number, got {value!r}", field=field_name)
        try:
            return format_datetime(datetime.fromtimestamp(value, timezone.utc))
        except (OverflowError, OSError, ValueError):
            raise EnvelopeError(f"{field_name} {value!r} is out of range for epoch seconds", field=field_name) from None
    if isinstance(value, datetime):
        return format_datetime(value if value.tzinfo else value.replace(tzinfo=timezone.utc))
    raise EnvelopeError(f"{field_name} must be an ISO 8601 string, got {_json_type(value)}", field=field_name)


#: Canonical stamps joined with "\n", digits mapped to "0", equal this template (per batch size).
_STAMP_DIGITS = bytes.maketrans(b"0123456789", b"0000000000")
_STAMP_SHAPE = b"0000-00-00T00:00:00.000000Z"
_STAMP_LEN = len(_STAMP_SHAPE) + 1  # with its "\n"
_stamp_templates: dict[int, bytes] = {}
#: "YYYY-MM-DDTHH" prefixes known to be a real date and hour (bounded: cleared when full).
_valid_hours: set[str] = set()
_hour_of = operator.itemgetter(slice(0, 13))


def canonical_timestamps(stamps: list[Any]) -> bool:
    """True when every stamp is already canonical (what `normalize_timestamp` returns unchanged):
    the batch form of its fast path, ~0.1 instead of ~0.6 us a stamp. False sends the batch down
    the per-event path, which normalises what it can and names what it cannot.

    One C-level pass checks the shape of all of them (ASCII digits where digits go, the separators
    elsewhere, and, as the joined length is exactly 28 per stamp, no stamp holding a line feed);
    minutes and seconds are below 60 when their tens digits are 0-5; the date and hour are checked
    once per distinct "YYYY-MM-DDTHH", by datetime itself, as fromisoformat would."""
    try:
        joined = "\n".join(stamps).encode("ascii")
    except (TypeError, UnicodeEncodeError):
        return False
    n = len(stamps)
    template = _stamp_templates.get(n)
    if template is None:
        template = b"\n".join([_STAMP_SHAPE] * n)
        if n <= 4096:
            _stamp_templates[n] = template
    if joined.translate(_STAMP_DIGITS) != template:
        return False
    if joined[14::_STAMP_LEN].translate(None, b"012345") or joined[17::_STAMP_LEN].translate(None, b"012345"):
        return False
    for hour in set(map(_hour_of, stamps)):
        if hour not in _valid_hours:
            try:
                datetime(int(hour[:4]), int(hour[5:7]), int(hour[8:10]), int(hour[11:13]))
            except ValueError:
                return False
            if len(_valid_hours) >= 65536:
                _valid_hours.clear()
            _valid_hours.add(hour)
    return True


def _pad_year(dt: datetime) -> str:
    return f"{dt.year:04d}" + dt.strftime("-%m-%dT%H:%M:%S.%fZ")


def _show(value: str, limit: int = 60) -> str:
    return repr(value if len(value) <= limit else value[:limit] + "...")


# ------------------------------------------------------------------------------- validation

#: Payload fields that name the node an event is about, in the order they are looked up.
NODE_ID_KEYS = ("node_id", "added_node_id", "child_node_id")


def node_id_of(payload: dict[str, Any]) -> str | None:
    """Which node an event is about: the envelope's node_id, else the payload's (as the agent sends)."""
    if not isinstance(payload, dict):
        return None
    for key in NODE_ID_KEYS:
        v = payload.get(key)
        if isinstance(v, str) and v:
            return v
    return None


def _checked_node_id_of(payload: dict[str, Any]) -> str | None:
    """`node_id_of`, held to the id rules: the node id a payload names is stored as the event's, so
    the store refuses the same values there as in the envelope, and naming the payload field here
    lets an import refuse that one line instead of its whole batch."""
    for key in NODE_ID_KEYS:
        v = payload.get(key)
        if isinstance(v, str) and v:
            if not (len(v) <= MAX_ID_LENGTH and "\x00" not in v and v.isascii()):
                _check_id(v, f"payload.{key}", required=False)
            return v
    return None


def _check_id(value: Any, name: str, *, required: bool) -> str | None:
    if value is None:
        if required:
            raise EnvelopeError(f"missing required field {name!r}", field=name)
        return None
    if not isinstance(value, str):
        raise EnvelopeError(f"{name} must be a string, got {_json_type(value)}", field=name)
    if not value:
        if required:
            raise EnvelopeError(f"{name} must not be empty", field=name)
        return None
    if len(value) > MAX_ID_LENGTH:
        raise EnvelopeError(f"{name} is {len(value)} characters long (limit {MAX_ID_LENGTH})", field=name)
    if "\x00" in value:
        raise EnvelopeError(f"{name} contains a NUL character", field=name)
    if not value.isascii():
        _check_text(value, name)
    return value


def _check_event_type(value: Any) -> None:
    """The rules for event_type, on the slow path (the callers pass plain short ASCII types at once)."""
    if not isinstance(value, str):
        raise EnvelopeError(f"event_type must be a string, got {_json_type(value)}", field="event_type")
    if not value or len(value) > 200:
        raise EnvelopeError("event_type must be 1 to 200 characters", field="event_type")
    if "\x00" in value:  # PostgreSQL text cannot hold it: refused on both backends alike
        raise EnvelopeError("event_type contains a NUL character", field="event_type")
    if not value.isascii():
        _check_text(value, "event_type")


def _check_text(value: str, name: str) -> None:
    """A Python str may hold lone surrogates (from surrogateescape'd input); SQLite cannot store them."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise EnvelopeError(f"{name} contains a lone surrogate at character {exc.start}, which is not valid "
                            "Unicode", field=name) from None


def find_non_finite(value: Any, path: str = "payload", depth: int = 0) -> str | None:
    """Path of the first NaN/Infinity in a decoded payload (JSON has no such numbers)."""
    if depth > 2000:
        return None
    if isinstance(value, float):
        return None if math.isfinite(value) else path
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, (dict, list, float)):
                p = find_non_finite(v, f"{path}.{k}", depth + 1)
                if p:
                    return p
    elif isinstance(value, list):
        for i, v in enumerate(value):
            if isinstance(v, (dict, list, float)):
                p = find_non_finite(v, f"{path}[{i}]", depth + 1)
                if p:
                    return p
    return None


def dumps_payload(payload: Any, *, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES, name: str = "payload",
                  from_json: bool = False) -> str:
    """Serialise a payload, refusing what JSON cannot hold or what exceeds the size limit.

    from_json: the payload was decoded from JSON text, which cannot hold NaN or Infinity, so the
    check for them (a scan of the text, and a walk of the payload when it holds a null: ~1.3 us an
    event on an import, measured) is skipped.
    """
    try:
        raw = orjson.dumps(payload)
    except orjson.JSONEncodeError as exc:
        if "recursion" in str(exc).lower():
            raise EnvelopeError(f"{name} is nested too deeply to store (limit {MAX_STORE_DEPTH} levels)",
                                field=name) from None
        raise EnvelopeError(f"{name} cannot be stored as JSON: {exc}", field=name) from None
    if len(raw) > max_bytes:
        raise EnvelopeError(
            f"{name} is {len(raw):,} bytes, over the {max_bytes:,}-byte limit (max_payload_bytes)", field=name
        )
    if not from_json and b"null" in raw:  # orjson writes NaN/Infinity as null; only then is the slow check worth it
        bad = find_non_finite(payload, name)
        if bad:
            raise EnvelopeError(f"{bad} is NaN or Infinity, which JSON cannot represent", field=bad)
    return raw.decode()


def parse_envelope(obj: Any, *, strict: bool = True) -> Event:
    """Validate one decoded envelope and return a normalised Event.

    strict=True (imports, streams) requires event_id and timestamp, so re-imports stay idempotent;
    strict=False (our Python API) fills them in.
    """
    if not isinstance(obj, dict):
        raise EnvelopeError(f"an event must be a JSON object, got {_json_type(obj)}")
    event_type = obj.get("event_type")
    if event_type is None:
        raise EnvelopeError("missing required field 'event_type'", field="event_type")
    if not (type(event_type) is str and 0 < len(event_type) <= 200 and "\x00" not in event_type
            and event_type.isascii()):
        _check_event_type(event_type)
    # ids: a plain, short, NUL-free ASCII string is by far the common case and passes as is
    # (isascii is O(1)); anything else goes through _check_id, which owns the rules and the messages
    event_id = obj.get("event_id")
    if not (type(event_id) is str and 0 < len(event_id) <= MAX_ID_LENGTH and "\x00" not in event_id
            and event_id.isascii()):
        event_id = _check_id(event_id, "event_id", required=strict)
    run_id = obj.get("run_id")
    if not (type(run_id) is str and 0 < len(run_id) <= MAX_ID_LENGTH and "\x00" not in run_id
            and run_id.isascii()):
        run_id = _check_id(run_id, "run_id", required=False) or UNASSIGNED_RUN_ID
    ts = obj.get("timestamp")
    if ts is None:
        if strict:
            raise EnvelopeError("missing required field 'timestamp'", field="timestamp")
        timestamp = now_timestamp()
    else:
        timestamp = normalize_timestamp(ts)
    payload = obj.get("payload")
    if payload is None:
        if strict and "payload" not in obj:
            raise EnvelopeError("missing required field 'payload'", field="payload")
        payload = {}
    elif not isinstance(payload, dict):
        raise EnvelopeError(f"payload must be a JSON object, got {_json_type(payload)}", field="payload")
    node_id = obj.get("node_id")
    if node_id is not None and not (type(node_id) is str and 0 < len(node_id) <= MAX_ID_LENGTH
                                    and "\x00" not in node_id and node_id.isascii()):
        node_id = _check_id(node_id, "node_id", required=False)
    metadata = obj.get("metadata")
    if metadata is not None and not isinstance(metadata, dict):
        raise EnvelopeError(f"metadata must be a JSON object, got {_json_type(metadata)}", field="metadata")
    if node_id is None:
        node_id = _checked_node_id_of(payload)
    # Built without Event.__init__: it runs once per imported line, and __post_init__ would only
    # redo what was just checked (ids, timestamp, the payload's node id).
    e = _new_event(Event)
    e.event_type = event_type
    e.payload = payload
    e.run_id = run_id
    e.event_id = event_id or new_event_id()
    e.timestamp = timestamp
    e.node_id = node_id
    e.metadata = metadata
    e.position = e.seq = None
    return e


_new_event = object.__new__


def validate_event(event: Event) -> Event:
    """Hold an Event built in Python to the envelope's rules, as `parse_envelope` does for dicts.

    Events skip `parse_envelope`, so without this a hand-made Event could store an offset
    timestamp (breaking time order), a null run_id or a non-object payload. Our own Recorder's
    events are already canonical, so the common case costs a few type checks and one regex.
    """
    et = event.event_type
    if not (type(et) is str and 0 < len(et) <= 200 and "\x00" not in et and et.isascii()):
        _check_event_type(et)
    eid = event.event_id
    if not (type(eid) is str and 0 < len(eid) <= MAX_ID_LENGTH and "\x00" not in eid and eid.isascii()):
        _check_id(eid, "event_id", required=True)
    rid = event.run_id
    if rid is None or rid == "":
        event.run_id = UNASSIGNED_RUN_ID
    elif not (type(rid) is str and len(rid) <= MAX_ID_LENGTH and "\x00" not in rid and rid.isascii()):
        _check_id(rid, "run_id", required=True)
    if not isinstance(event.payload, dict):
        raise EnvelopeError(f"payload must be a JSON object, got {_json_type(event.payload)}", field="payload")
    nid = event.node_id
    if nid == "":
        event.node_id = _checked_node_id_of(event.payload)
    elif nid is not None and not (type(nid) is str and len(nid) <= MAX_ID_LENGTH and "\x00" not in nid
                                  and nid.isascii()):
        _check_id(nid, "node_id", required=False)
    if event.metadata is not None and not isinstance(event.metadata, dict):
        raise EnvelopeError(f"metadata must be a JSON object, got {_json_type(event.metadata)}", field="metadata")
    # canonical stamps take normalize_timestamp's fast path, which still rejects impossible dates
    event.timestamp = normalize_timestamp(event.timestamp)
    return event


def canonical_payloads(events: list[Any], max_bytes: int, *, from_json: bool = False) -> list[str] | None:
    """The payload texts of a batch whose events all take the fast path: plain `Event`s that
    `validate_event` would leave as they are (short NUL-free ASCII ids and type, a canonical
    timestamp, dicts for payload and metadata) and whose payload and metadata `dumps_payload`
    accepts. None as soon as one does not: the caller then takes the per-event path, which
    normalises what it can and raises the error naming the first bad event, so the result is
    the same either way. from_json: as for `dumps_payload`, and the events came out of
    `parse_envelope`, so only the serialisation is left to check."""
    payloads: list[str] = []
    add = payloads.append
    stamps: list[Any] = []
    add_stamp = stamps.append
    dumps = orjson.dumps
    limit = MAX_ID_LENGTH
    for e in events:
        if type(e) is not Event:
            return None
        if not from_json:
            et, eid, rid, nid = e.event_type, e.event_id, e.run_id, e.node_id
            if not (type(et) is str and 0 < len(et) <= 200 and "\x00" not in et and et.isascii()
                    and type(eid) is str and 0 < len(eid) <= limit and "\x00" not in eid and eid.isascii()
                    and type(rid) is str and 0 < len(rid) <= limit and "\x00" not in rid and rid.isascii()
                    and (nid is None or (type(nid) is str and 0 < len(nid) <= limit and "\x00" not in nid
                                         and nid.isascii()))):
                return None
            add_stamp(e.timestamp)
        payload, meta = e.payload, e.metadata
        if type(payload) is not dict:
            return None
        try:
            raw = dumps(payload)
            if meta is not None:
                if type(meta) is not dict:
                    return None
                meta_raw = dumps(meta)
                if len(meta_raw) > max_bytes or (not from_json and b"null" in meta_raw
                                                 and find_non_finite(meta) is not None):
                    return None
        except orjson.JSONEncodeError:
            return None
        if len(raw) > max_bytes or (not from_json and b"null" in raw and find_non_finite(payload) is not None):
            return None
        add(raw.decode())
    if stamps and not canonical_timestamps(stamps):
        return None
    return payloads


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__


def parse_json_line(line: bytes | str, *, max_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES) -> Event:
    """Decode and validate one JSONL line (bytes keep invalid UTF-8 detectable)."""
    if len(line) > max_bytes + 65536:
        raise EnvelopeError(f"line is {len(line):,} bytes, over the {max_bytes:,}-byte payload limit", field="payload")
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError as exc:
        msg = str(exc)
        low = msg.lower()
        if "utf-8" in low or "surrogate" in low:
            raise _unicode_error(line) from None
        if "recursion" in low or "depth" in low:
            key = _too_deep_key(line)
            where = f" (in {key})" if key else ""
            raise EnvelopeError(f"JSON nested more than {MAX_PARSE_DEPTH} levels deep{where}",
                                field=key) from None
        raise EnvelopeError(f"malformed JSON: {msg}") from None
    return parse_envelope(obj, strict=True)


def _unicode_error(line: bytes | str) -> EnvelopeError:
    """Name the byte and the envelope field holding text JSON cannot carry (error path only)."""
    if isinstance(line, str):
        try:
            line = line.encode("utf-8")
        except UnicodeEncodeError as exc:  # a str holding lone surrogates
            return EnvelopeError(f"contains a lone surrogate at character {exc.start}, which is not valid Unicode")
    try:
        text = line.decode("utf-8")
    except UnicodeDecodeError as exc:
        field_name = _field_with_surrogates(line.decode("utf-8", "surrogateescape"))
        where = f" in {field_name}" if field_name else ""
        return EnvelopeError(f"invalid UTF-8 at byte {exc.start}{where}", field=field_name)
    field_name = _field_with_surrogates(text)
    where = f" in {field_name}" if field_name else ""
    return EnvelopeError(f"a \\u escape{where} is a lone surrogate, which is not valid Unicode", field=field_name)


def _field_with_surrogates(text: str) -> str | None:
    import json

    try:
        obj = json.loads(text)
    except (ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None

    def bad(v: Any) -> bool:
        if isinstance(v, str):
            return any("\ud800" <= ch <= "\udfff" for ch in v)
        if isinstance(v, dict):
            return any(bad(k) or bad(x) for k, x in v.items())
        if isinstance(v, list):
            return any(bad(x) for x in v)
        return False

    for k, v in obj.items():
        if bad(k) or bad(v):
            # a broken key itself is shown with its bad bytes escaped, so the message stays printable
            return k.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace") if bad(k) else k
    return None


def _too_deep_key(line: bytes | str) -> str | None:
    """The top-level key whose value exceeds the nesting limit, by a quote-aware scan of the line."""
    text = line.decode("utf-8", "replace") if isinstance(line, bytes) else line
    depth = 0
    in_string = escaped = False
    start = 0
    last_top_string: str | None = None
    for i, ch in enumerate(text):
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
                if depth == 1:
                    last_top_string = text[start:i]
            continue
        if ch == '"':
            in_string, start = True, i + 1
        elif ch in "[{":
            depth += 1
            if depth > MAX_PARSE_DEPTH:
                return last_top_string
        elif ch in "]}":
            depth -= 1
    return None
