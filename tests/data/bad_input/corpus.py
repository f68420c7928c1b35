"""The bad-input corpus: one JSONL line per case, with what agenttui must do with it.

Several cases are binary (invalid UTF-8) or large (a 10 MB payload, 10,000-deep nesting), so the
corpus is generated rather than checked in. `python tests/data/bad_input/corpus.py OUTDIR` writes
`corpus.jsonl` (one case per line, in order) and `expected.json` (per line: the case name, whether
`agenttui import` stores it, and the words its error message must contain) for trying the
command by hand; tests/test_reliability_input.py builds the same lines in memory.

Expectations per case:
- "stored": imported as an event (for timestamps, also the normalised form it must be stored as);
- "duplicate": a repeated event_id, skipped (stored once);
- "rejected": refused with a message that must contain every word in `says` (field names, the
  offending value); the command prints it as `line N: message`.
`api` gives the outcome when the decoded object goes through `SQLiteStore.append` instead: the
Python API fills in a missing event_id or timestamp, so those cases are stored there.
"""
from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

TS = "2025-04-17T12:00:00.123456Z"


@dataclass
class Case:
    name: str
    line: bytes
    outcome: str  # stored | duplicate | rejected
    says: tuple[str, ...] = ()
    api: str | None = None  # outcome through SQLiteStore.append when it differs; None = same
    stored_timestamp: str | None = None
    event_id: str | None = None

    @property
    def api_outcome(self) -> str:
        return self.api or self.outcome


def env(eid: str, /, **over: Any) -> dict[str, Any]:
    """A valid envelope with id `eid`; keyword arguments replace fields (_DROP removes one)."""
    e: dict[str, Any] = {"event_id": eid, "run_id": "corpus-run", "event_type": "node_status_changed",
                         "timestamp": TS, "payload": {"node_id": f"n-{eid}", "new_status": "READY"}}
    for k, v in over.items():
        if v is _DROP:
            e.pop(k, None)
        else:
            e[k] = v
    return e


_DROP = object()


def line(eid: str, /, **over: Any) -> bytes:
    return orjson.dumps(env(eid, **over))


def stored(name: str, event_id: str, **over: Any) -> Case:
    return Case(name, line(event_id, **over), "stored", event_id=event_id)


def rejected(name: str, raw: bytes, *says: str, api: str | None = None) -> Case:
    return Case(name, raw, "rejected", tuple(says), api=api)


#: ISO 8601 forms an agent may send, each with the one stored form it must become.
GOOD_TIMESTAMPS = [
    ("2025-04-17T12:00:00.123456Z", "2025-04-17T12:00:00.123456Z"),
    ("2025-04-17T12:00:00Z", "2025-04-17T12:00:00.000000Z"),
    ("2025-04-17t12:00:00z", "2025-04-17T12:00:00.000000Z"),
    ("2025-04-17 12:00:00", "2025-04-17T12:00:00.000000Z"),
    ("2025-04-17T12:00:00", "2025-04-17T12:00:00.000000Z"),
    ("2025-04-17T12:00Z", "2025-04-17T12:00:00.000000Z"),
    ("2025-04-17T12:00:00.1Z", "2025-04-17T12:00:00.100000Z"),
    ("2025-04-17T12:00:00.123456789Z", "2025-04-17T12:00:00.123456Z"),
    ("2025-04-17T12:00:00,5Z", "2025-04-17T12:00:00.500000Z"),
    ("2025-04-17T12:00:00+00:00", "2025-04-17T12:00:00.000000Z"),
    ("2025-04-17T14:30:00+02:30", "2025-04-17T12:00:00.000000Z"),
    ("2025-04-17T17:30:00+0530", "2025-04-17T12:00:00.000000Z"),
    ("2025-04-17T04:00:00-08:00", "2025-04-17T12:00:00.000000Z"),
    ("2025-04-17T15:00:00+03", "2025-04-17T12:00:00.000000Z"),
    ("2025-04-18T00:30:00+12:30", "2025-04-17T12:00:00.000000Z"),
    ("2025-04-17T00:30:00-11:30", "2025-04-17T12:00:00.000000Z"),
    ("2024-02-29T23:59:59.999999Z", "2024-02-29T23:59:59.999999Z"),
    ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000000Z"),
    ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59.000000Z"),
    ("2025-04-17T12:00:00.123456Z ", "2025-04-17T12:00:00.123456Z"),
]
#: Timestamps that are not a moment; each must be refused naming the timestamp field.
BAD_TIMESTAMPS: list[Any] = [
    "yesterday", "", "2025-13-01T00:00:00Z", "2025-02-30T00:00:00Z", "2023-02-29T00:00:00Z",
    "2025-04-17T25:00:00Z", "2025-04-17T12:60:00Z", "2025-04-17T12:00:00+25:00", "2025-04-17",
    "12:00:00", "2025/04/17 12:00:00", "1713355200", "2025-04-17T12:00:00.1234567890Z",
    "0000-01-01T00:00:00Z", "2025-04-17T12:00:00ZZ", "2025-04-17T12:00:00 UTC",
    "\u0662\u0660\u0662\u0665-04-17T12:00:00Z",  # Arabic-Indic digits
    "0001-01-01T00:00:00+01:00",  # before year 1 in UTC
    True, [2025, 4, 17], {"iso": TS},
]


def cases(*, big: bool = True) -> list[Case]:
    """Every corpus case in order. big=False leaves out the two multi-megabyte lines."""
    good = line("shape")
    out: list[Case] = [stored("valid baseline", "ok-first")]
    # malformed JSON
    out += [
        rejected("not JSON at all", b"{this is not json}", "malformed JSON", "column"),
        rejected("trailing comma", good[:-1] + b",}", "malformed JSON", "column"),
        rejected("single quotes", b"{'event_id': 'x'}", "malformed JSON"),
        rejected("two objects on one line", good + good, "malformed JSON", "column"),
        rejected("unescaped newline in a string is two broken lines (1)", b'{"event_id": "a', "malformed JSON"),
        rejected("unescaped newline in a string is two broken lines (2)", b'b", "x": 1}', "malformed JSON"),
        rejected("array instead of object", b"[1, 2, 3]", "must be a JSON object", "an array"),
        rejected("string instead of object", b'"node_created"', "must be a JSON object", "a string"),
        rejected("null instead of object", b"null", "must be a JSON object", "null"),
        rejected("number overflowing a double", good.replace(b'"READY"', b"1e400"), "malformed JSON", "infinity"),
    ]
    # truncated lines (a writer killed mid-line)
    for cut in (1, len(good) // 3, len(good) // 2, len(good) - 1):
        out.append(rejected(f"truncated at byte {cut}", good[:cut], "malformed JSON"))
    # invalid UTF-8 and lone surrogates
    out += [
        rejected("invalid UTF-8 in a payload value", good.replace(b"READY", b"caf\xe9 \xff"),
                 "invalid UTF-8", "payload"),
        rejected("invalid UTF-8 in event_type", good.replace(b"node_status_changed", b"node_\xc3"),
                 "invalid UTF-8", "event_type"),
        rejected("overlong UTF-8 encoding", good.replace(b"READY", b"\xc0\xaf"), "invalid UTF-8", "payload"),
        rejected("UTF-8 encoded surrogate", good.replace(b"READY", b"\xed\xa0\x80"), "invalid UTF-8", "payload"),
        rejected("invalid UTF-8 in a key", good.replace(b'"new_status"', b'"new_\xfestatus"'), "invalid UTF-8",
                 "payload"),
        rejected("lone surrogate escape", good.replace(b"READY", b"\\ud800"), "surrogate", "payload"),
        stored("escaped surrogate pair (a valid emoji)", "ok-pair",
               payload={"node_id": "n", "text": "\U0001F600"}),
    ]
    # NaN / Infinity
    for token in (b"NaN", b"Infinity", b"-Infinity"):
        out.append(rejected(f"{token.decode()} literal", good.replace(b'"READY"', token),
                            token.decode(), "not valid JSON"))
    # sizes and nesting
    if big:
        out.append(Case("10 MB payload (under the 16 MiB default)",
                        line("ok-10mb", payload={"content": "x" * 10_000_000}), "stored", event_id="ok-10mb"))
        out.append(rejected("17 MB payload (over the default limit)",
                            line("too-big", payload={"content": "y" * 17_000_000}), "bytes", "limit"))
    deep = b'{"a":' + b"[" * 10_000 + b"]" * 10_000 + b"}"
    out.append(rejected("10,000-deep nesting", good.replace(b'{"node_id"', deep[:-1] + b',"node_id"', 1),
                        "nested", "1024", "payload"))
    # wrong field types
    out += [
        rejected("event_id is a number", line("x", event_id=42), "event_id", "string", "number"),
        rejected("event_id is empty", line("x", event_id=""), "event_id", "empty", api="stored"),
        rejected("event_id has a NUL", line("x", event_id="a\x00b"), "event_id", "NUL"),
        rejected("run_id is a list", line("run-list", run_id=["r"]), "run_id", "string", "an array"),
        rejected("event_type is a number", line("type-num", event_type=7), "event_type", "string"),
        rejected("event_type is empty", line("type-empty", event_type=""), "event_type", "1 to 200"),
        rejected("payload is a string", line("pl-str", payload="READY"), "payload", "JSON object", "a string"),
        rejected("payload is a list", line("pl-list", payload=[1]), "payload", "JSON object", "an array"),
        rejected("node_id is a number", line("nid-num", node_id=3), "node_id", "string", "a number"),
        rejected("metadata is a list", line("meta-list", metadata=["x"]), "metadata", "JSON object"),
        stored("timestamp as epoch seconds", "ok-epoch", timestamp=1713355200.5),
        stored("payload null means empty", "ok-null-payload", payload=None),
        stored("unknown top-level fields are ignored", "ok-extra", extra={"anything": [1, 2]}),
    ]
    # rules the store holds every event to: refused as one line, never as the whole batch
    too_long = "n" * 600
    deep_300 = {"a": json.loads("[" * 299 + "]" * 299)}  # orjson cannot write it: that is the point
    out += [
        rejected("payload node_id over 512 characters", line("pl-nid-long", payload={"node_id": too_long}),
                 "payload.node_id", "600 characters", "limit 512"),
        rejected("payload node_id with a NUL", line("pl-nid-nul", payload={"node_id": "a\x00b"}),
                 "payload.node_id", "NUL"),
        rejected("payload added_node_id with a NUL", line("pl-added-nul", event_type="node_added",
                                                          payload={"added_node_id": "x\x00"}),
                 "payload.added_node_id", "NUL"),
        rejected("payload child_node_id over 512 characters", line("pl-child-long", event_type="edge_added",
                                                                   payload={"child_node_id": too_long}),
                 "payload.child_node_id", "limit 512"),
        stored("a long payload node_id is only data when the envelope names the node", "ok-env-nid",
               node_id="n-1", payload={"node_id": too_long}),
        rejected("node_id over 512 characters", line("nid-long", node_id=too_long), "node_id", "limit 512"),
        rejected("node_id with a NUL", line("nid-nul", node_id="a\x00"), "node_id", "NUL"),
        rejected("run_id over 512 characters", line("run-long", run_id="r" * 513), "run_id", "limit 512"),
        rejected("event_type with a NUL", line("type-nul", event_type="a\x00b"), "event_type", "NUL"),
        rejected("payload nested 300 levels (parsed, too deep to store)",
                 json.dumps(env("deep-300", payload=deep_300)).encode(), "payload", "nested", "254"),
        rejected("metadata nested 300 levels", json.dumps(env("meta-deep", metadata=deep_300)).encode(),
                 "metadata", "nested", "254"),
        stored("a valid line after the store-side refusals", "ok-after-store-rules"),
    ]
    # missing required fields
    out += [
        rejected("missing event_id", line("x", event_id=_DROP), "missing", "event_id", api="stored"),
        rejected("missing event_type", line("no-type", event_type=_DROP), "missing", "event_type"),
        rejected("missing timestamp", line("no-ts", timestamp=_DROP), "missing", "timestamp", api="stored"),
        rejected("missing payload", line("no-payload", payload=_DROP), "missing", "payload", api="stored"),
        rejected("empty object", b"{}", "missing", "event_type"),
        stored("null run_id is kept under 'unassigned'", "ok-null-run", run_id=None),
        stored("missing run_id is kept under 'unassigned'", "ok-no-run", run_id=_DROP),
    ]
    # duplicates and unknown types
    out += [
        stored("an event id seen first here", "dup-1"),
        Case("the same event id again", line("dup-1"), "duplicate", event_id="dup-1"),
        Case("the same event id with other content", line("dup-1", event_type="other", payload={"x": 1}),
             "duplicate", event_id="dup-1"),
        stored("unknown event type", "ok-unknown", event_type="totally_new_type", payload={"whatever": True}),
        stored("event type with markup and spaces", "ok-odd-type", event_type="[bold]weird type[/]"),
    ]
    # timestamps in every ISO form, and garbage ones
    for i, (raw, want) in enumerate(GOOD_TIMESTAMPS):
        c = stored(f"timestamp {raw!r}", f"ok-ts-{i}", timestamp=raw)
        c.stored_timestamp = want
        out.append(c)
    for i, raw in enumerate(BAD_TIMESTAMPS):
        out.append(rejected(f"timestamp {raw!r}", line(f"bad-ts-{i}", timestamp=raw), "timestamp"))
    out.append(stored("valid line after all of that", "ok-last"))
    return out


def write(outdir: Path, *, big: bool = True) -> list[Case]:
    """corpus.jsonl plus expected.json (line number -> case) in `outdir`."""
    outdir.mkdir(parents=True, exist_ok=True)
    all_cases = cases(big=big)
    (outdir / "corpus.jsonl").write_bytes(b"".join(c.line + b"\n" for c in all_cases))
    expected = {n: {"case": c.name, "outcome": c.outcome, "says": list(c.says), "api": c.api_outcome}
                for n, c in enumerate(all_cases, 1)}
    (outdir / "expected.json").write_text(json.dumps(expected, indent=1, ensure_ascii=True))
    return all_cases


if __name__ == "__main__":
    target = Path(sys.argv[1] if len(sys.argv) > 1 else ".")
    written = write(target)
    print(f"{target / 'corpus.jsonl'}: {len(written)} cases")
