"""JSONL import/export (store/jsonl.py): bad lines are named and skipped, good ones all kept."""
from __future__ import annotations

import io
import json

import orjson
import pytest

from agenttui.store import EnvelopeError, Event, EventFilter, SQLiteStore
from agenttui.store.jsonl import ImportReport, export_jsonl, import_jsonl
from conftest import SAMPLE_EVENTS, SAMPLE_RUN

TS = "2026-01-01T00:00:00Z"


def line(event_id: str, event_type: str = "step_started", **extra: object) -> bytes:
    env = {"event_id": event_id, "run_id": "r1", "event_type": event_type, "timestamp": TS,
           "payload": {"step": 1}}
    env.update(extra)
    return orjson.dumps(env)


def write_lines(path, lines: list[bytes]) -> None:
    path.write_bytes(b"\n".join(lines) + b"\n")


def envelope_fields(e: Event) -> tuple:
    return (e.event_id, e.run_id, e.event_type, e.timestamp, e.payload, e.node_id, e.metadata)


def test_the_sample_imports_completely_with_the_null_run_kept(tmp_path, sample_path):
    with SQLiteStore(tmp_path / "s.db") as store:
        report = import_jsonl(store, sample_path)
        assert (report.read, report.stored, report.duplicates, report.failed) == (SAMPLE_EVENTS, SAMPLE_EVENTS, 0, 0)
        assert report.ok and report.errors == []
        runs = {r["run_id"]: r for r in store.runs()}
        assert set(runs) == {SAMPLE_RUN, "unassigned"}
        assert runs["unassigned"]["event_count"] == 2
        assert runs[SAMPLE_RUN]["status"] == "completed"
        assert store.check() == []


def test_reimport_stores_nothing_new(tmp_path, sample_path):
    with SQLiteStore(tmp_path / "s.db") as store:
        import_jsonl(store, sample_path)
        again = import_jsonl(store, sample_path)
        assert (again.stored, again.duplicates, again.failed) == (0, SAMPLE_EVENTS, 0)
        assert store.count_events() == SAMPLE_EVENTS


def test_every_bad_line_is_named_and_every_good_line_kept(tmp_path):
    ten_mb = orjson.dumps({"event_id": "big", "run_id": "r1", "event_type": "artifact", "timestamp": TS,
                           "payload": {"content": "x" * 10_000_000}})
    lines = [
        line("good-1"),                                                     # 1
        b'{"event_id": "t", "run_id": "r1", "event_type": "step_st',      # 2 truncated
        b"{this is not json}",                                              # 3 malformed
        line("utf8").replace(b'"step":1', b'"text":"caf\xe9 \xff"'),       # 4 invalid UTF-8
        line("nan").replace(b'"step":1', b'"score":NaN'),                  # 5 NaN literal
        orjson.dumps({"event_id": "no-type", "run_id": "r1", "timestamp": TS, "payload": {}}),  # 6
        line("list-payload").replace(b'{"step":1}', b"[1,2]"),             # 7 payload not an object
        line("deep").replace(b'{"step":1}', b'{"a":' + b"[" * 10_000 + b"]" * 10_000 + b"}"),  # 8
        ten_mb,                                                             # 9 stored: under 16 MiB
        b"",                                                                # 10 blank: skipped
        line("good-2"),                                                     # 11
        b"   ",                                                             # 12 blank
        line("good-3", event_type="custom_metric"),                         # 13
    ]
    path = tmp_path / "bad.jsonl"
    write_lines(path, lines)
    with SQLiteStore(tmp_path / "s.db") as store:
        report = import_jsonl(store, path)
        failed = dict(report.errors)
        assert sorted(failed) == [2, 3, 4, 5, 6, 7, 8]
        assert "malformed JSON" in failed[2] and "malformed JSON" in failed[3]
        assert "line 1" not in failed[2] and "at column" in failed[2]  # one line number per report line
        assert "UTF-8" in failed[4]
        assert failed[5].startswith("NaN at column ") and "not valid JSON" in failed[5]
        assert "event_type" in failed[6]
        assert "payload must be a JSON object" in failed[7]
        assert "nested" in failed[8]
        assert (report.read, report.stored, report.failed) == (11, 4, 7)
        stored = {e.event_id for e in store.iter_events()}
        assert stored == {"good-1", "big", "good-2", "good-3"}
        assert len(store.get_event("big").payload["content"]) == 10_000_000
        assert store.check() == []


def test_payload_over_a_configured_limit_is_named_and_its_batch_kept(tmp_path):
    # "floaty" is a 600-byte line whose payload re-serialises to ~2.6 kB (1e9 -> 1000000000.0):
    # only the store's own size check inside append can catch it, and the import must still
    # pin it on its line and store the rest of that batch.
    floats = b"[" + b",".join([b"1e9"] * 150) + b"]"
    floaty = line("floaty", payload={"v": "PLACEHOLDER"}).replace(b'"PLACEHOLDER"', floats)
    assert len(floaty) < 1000
    lines = [line(f"ok-{i}") for i in range(5)]
    lines.insert(3, line("fat", payload={"blob": "y" * 5000}))
    lines.insert(5, floaty)
    lines.append(line("huge", payload={"blob": "z" * 200_000}))  # over limit + envelope slack
    path = tmp_path / "limit.jsonl"
    write_lines(path, lines)
    with SQLiteStore(tmp_path / "s.db", max_payload_bytes=1000) as store:
        report = import_jsonl(store, path, batch_size=100)
        assert [n for n, _ in report.errors] == [4, 6, 8]
        assert "1,000-byte limit" in report.errors[0][1]
        assert "1,000-byte limit" in report.errors[1][1]
        assert "over the" in report.errors[2][1]
        assert report.stored == 5 and report.failed == 3
        assert {e.event_id for e in store.iter_events()} == {f"ok-{i}" for i in range(5)}


class _StrictBackend:
    """A store with a rule of its own, as a backend may have (PostgreSQL's text cannot hold NUL).

    It refuses a batch holding an event of type "poison", naming the event the way the store does
    ("event 3 (id)") or, with named=False, not saying which.
    """

    def __init__(self, store: SQLiteStore, *, named: bool) -> None:
        self.store, self.named, self.calls = store, named, 0
        self.max_payload_bytes = store.max_payload_bytes

    def append(self, events):
        self.calls += 1
        for i, e in enumerate(events):
            if e.event_type == "poison":
                raise EnvelopeError("this backend cannot store poison", field="event_type",
                                    where=f"event {i} ({e.event_id})" if self.named else None)
        return self.store.append(events)


@pytest.mark.parametrize("named", [True, False], ids=["store names the event", "store names no event"])
def test_an_event_only_the_store_refuses_costs_only_its_line(tmp_path, named):
    lines = [line(f"ok-{i}") if i % 97 else line(f"bad-{i}", "poison") for i in range(1, 1001)]
    path = tmp_path / "poison.jsonl"
    write_lines(path, lines)
    with SQLiteStore(tmp_path / "s.db") as store:
        backend = _StrictBackend(store, named=named)
        report = import_jsonl(backend, path, batch_size=400)
        bad = [i for i in range(1, 1001) if i % 97 == 0]
        assert report.errors == [(i, "this backend cannot store poison") for i in bad]
        assert report.stored == 1000 - len(bad) and report.failed == len(bad)
        stored = [e.event_id for e in store.iter_events()]
        assert stored == [f"ok-{i}" for i in range(1, 1001) if i % 97], "every good line, in file order"
        # a named event costs one refused and one good append; otherwise halving costs ~2 log2(400) calls
        per_bad = 2 if named else 2 * 9
        assert backend.calls <= 3 + per_bad * len(bad), "the bad line is found without one append per line"


def test_an_over_long_line_is_skipped_without_losing_the_next_one(tmp_path):
    path = tmp_path / "long.jsonl"
    path.write_bytes(b'{"x": "' + b"a" * 300_000 + b'"}\n' + line("after") + b"\n")
    with SQLiteStore(tmp_path / "s.db", max_payload_bytes=1000) as store:
        report = import_jsonl(store, path)
        assert report.errors[0][0] == 1 and "bytes" in report.errors[0][1]
        assert report.stored == 1 and store.get_event("after") is not None


def test_bom_crlf_duplicates_in_file_and_streams(tmp_path):
    data = b"\xef\xbb\xbf" + line("a") + b"\r\n" + line("b") + b"\r\n" + line("a") + b"\r\n"
    with SQLiteStore(tmp_path / "s.db") as store:
        report = import_jsonl(store, io.BytesIO(data))
        assert (report.read, report.stored, report.duplicates, report.failed) == (3, 2, 1, 0)


def test_errors_are_capped_in_memory_but_counted(tmp_path):
    data = b"\n".join([b"nope"] * 10 + [line("fine")])
    with SQLiteStore(tmp_path / "s.db") as store:
        report = import_jsonl(store, io.BytesIO(data), max_errors=3)
    assert report.failed == 10 and len(report.errors) == 3 and report.errors_dropped == 7
    assert [n for n, _ in report.errors] == [1, 2, 3]
    assert report.stored == 1 and not report.ok


def test_batches_and_progress(tmp_path, sample_path):
    seen: list[tuple[int, int | None]] = []
    with SQLiteStore(tmp_path / "s.db") as store:
        report = import_jsonl(store, sample_path, batch_size=50,
                              progress=lambda done, total: seen.append((done, total)))
        size = sample_path.stat().st_size
        assert report.stored == SAMPLE_EVENTS
        assert len(seen) >= 4  # one per full batch of 50, plus the end
        assert seen[-1] == (size, size)
        assert [d for d, _ in seen] == sorted(d for d, _ in seen)
        assert report.first_position == 1 and report.last_position == SAMPLE_EVENTS


def test_export_reimports_to_the_same_events(tmp_path, sample_path):
    extra = [
        {"event_id": "with-meta", "run_id": "r2", "event_type": "decision", "timestamp": "2026-01-01T01:00:00+02:00",
         "payload": {"decision_type": "retry", "text": "caf\u00e9 \u2603 \x1b[31m"}, "node_id": "n1",
         "metadata": {"causation_id": "c1", "schema_version": 1, "source": "test"}},
    ]
    src = tmp_path / "src.db"
    with SQLiteStore(src) as store:
        import_jsonl(store, sample_path)
        store.append(extra)
        out = io.BytesIO()
        n = export_jsonl(store, out)
        original = [envelope_fields(e) for e in store.iter_events()]
    assert n == SAMPLE_EVENTS + 1
    exported = out.getvalue()
    first = json.loads(exported.splitlines()[0])
    assert first["run_id"] is None  # a null run id stays null on the wire
    with SQLiteStore(tmp_path / "copy.db") as copy:
        report = import_jsonl(copy, io.BytesIO(exported))
        assert report.ok and report.stored == n
        assert [envelope_fields(e) for e in copy.iter_events()] == original
        again = io.BytesIO()
        export_jsonl(copy, again)
    assert again.getvalue() == exported


def test_export_filters(tmp_path, sample_path):
    with SQLiteStore(tmp_path / "s.db") as store:
        import_jsonl(store, sample_path)
        out = io.BytesIO()
        n = export_jsonl(store, out, EventFilter(run_id=SAMPLE_RUN, types=["node_created", "run_finished"]))
    rows = [json.loads(x) for x in out.getvalue().splitlines()]
    assert n == len(rows) == 13
    assert {r["event_type"] for r in rows} == {"node_created", "run_finished"}
    assert {r["run_id"] for r in rows} == {SAMPLE_RUN}


def test_report_as_dict_is_json():
    r = ImportReport()
    r.read = 2
    r.fail(2, "bad")
    d = json.loads(json.dumps(r.as_dict()))
    assert d["failed"] == 1 and d["errors"] == [{"line": 2, "error": "bad"}]


def test_the_import_path_loads_no_ui_library():
    import subprocess
    import sys

    code = ("import sys, agenttui.store.jsonl; "
            "bad = [m for m in sys.modules if m.split('.')[0] in ('textual', 'rich')]; "
            "print(bad); sys.exit(1 if bad else 0)")
    assert subprocess.run([sys.executable, "-c", code]).returncode == 0
