"""The `agenttui` command line, run in-process through main(argv) and, where it matters, for real."""
from __future__ import annotations

import io
import json
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from datetime import datetime, timedelta, timezone

import orjson
import pytest

from agenttui import __version__
from agenttui.store import SQLiteStore
from conftest import SAMPLE_EVENTS, SAMPLE_RUN


def _ctrl_c_works() -> None:
    """In the child before exec: SIGINT back to its default, so that Python installs its Ctrl-C
    handler even when this test run was started with SIGINT ignored (a background job, a CI shell),
    which the child would otherwise inherit and never stop on SIGINT."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def _agenttui(*argv: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "agenttui", *argv], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, preexec_fn=_ctrl_c_works)

SUBCOMMANDS = ["import", "export", "tail", "rebuild", "stats", "retention", "demo", "open"]


@pytest.fixture
def db(tmp_path, sample_path, cli):
    path = tmp_path / "run.db"
    code, _, _ = cli("import", path, sample_path)
    assert code == 0
    return path


def assert_clean_error(code: int, err: str, *needles: str) -> None:
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    for needle in needles:
        assert needle in lines[0], lines[0]


# ------------------------------------------------------------------------------ version, help

def assert_usage_error(code: int, err: str, command: str, *needles: str) -> None:
    """argparse's form: the usage (wrapped to the terminal), then one line naming the option and what is wrong."""
    assert code == 2 and "Traceback" not in err
    lines = err.strip().splitlines()
    assert lines[0].startswith(f"usage: agenttui {command}"), err
    assert all(line.startswith(" ") for line in lines[1:-1]), err
    assert lines[-1].startswith(f"agenttui {command}: error: argument "), err
    for needle in needles:
        assert needle in lines[-1], lines[-1]


def test_version_and_help(cli):
    code, out, _ = cli("--version")
    assert code == 0 and out.strip() == f"agenttui {__version__}"
    code, out, _ = cli("--help")
    assert code == 0 and all(c in out for c in SUBCOMMANDS)
    for sub in SUBCOMMANDS:
        code, out, _ = cli(sub, "--help")
        assert code == 0 and "examples:" in out and f"agenttui {sub}" in out, sub


def test_python_dash_m_version():
    proc = subprocess.run([sys.executable, "-m", "agenttui", "--version"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == f"agenttui {__version__}"


def test_usage_errors_exit_2(cli):
    code, _, err = cli("frobnicate")
    assert code == 2 and "invalid choice" in err
    code, _, err = cli()
    assert code == 2
    code, _, err = cli("retention", "x.db")
    assert code == 2 and "--days" in err


# ------------------------------------------------------------------------------------ import

def test_import_sample_then_reimport(tmp_path, sample_path, cli):
    path = tmp_path / "s.db"
    code, out, err = cli("import", path, sample_path)
    assert code == 0 and err == ""
    assert f"{SAMPLE_EVENTS} stored, 0 duplicates, 0 failed" in out
    code, out, _ = cli("import", path, sample_path)
    assert code == 0 and f"0 stored, {SAMPLE_EVENTS} duplicates, 0 failed" in out
    with SQLiteStore(path, readonly=True) as store:
        assert {r["run_id"] for r in store.runs()} == {SAMPLE_RUN, "unassigned"}


def test_import_reports_bad_lines_on_stderr_and_exits_1(tmp_path, cli):
    src = tmp_path / "mixed.jsonl"
    good = {"event_id": "g", "run_id": "r", "event_type": "x", "timestamp": "2026-01-01T00:00:00Z", "payload": {}}
    src.write_bytes(b"\n".join([orjson.dumps(good), b"{broken", b'{"event_type": "x", "payload": {}}']) + b"\n")
    code, out, err = cli("import", tmp_path / "m.db", src, "--json")
    assert code == 1
    report = json.loads(out)
    assert (report["stored"], report["failed"]) == (1, 2)
    assert err.splitlines()[0].startswith("line 2: malformed JSON")
    assert err.splitlines()[1].startswith("line 3: ")


def test_import_lists_50_bad_lines_then_a_count(tmp_path, cli):
    src = tmp_path / "junk.jsonl"
    src.write_bytes(b"junk\n" * 75)
    code, out, err = cli("import", tmp_path / "j.db", src)
    lines = err.splitlines()
    assert code == 1 and len(lines) == 51
    assert lines[49].startswith("line 50: ") and lines[50] == "... and 25 more bad lines"
    assert "0 stored, 0 duplicates, 75 failed" in out


def test_import_from_stdin_and_target_from_env(tmp_path, sample_path, cli, monkeypatch):
    monkeypatch.setenv("AGENTTUI_DB", str(tmp_path / "env.db"))
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(sample_path.read_bytes())))
    code, out, _ = cli("import", "-")
    assert code == 0 and out.startswith("<stdin>: 184 stored")
    assert (tmp_path / "env.db").exists()


def test_payload_limit_option(tmp_path, cli):
    src = tmp_path / "fat.jsonl"
    env = {"event_id": "f", "run_id": "r", "event_type": "x", "timestamp": "2026-01-01T00:00:00Z",
           "payload": {"blob": "b" * 5000}}
    src.write_bytes(orjson.dumps(env) + b"\n")
    code, _, err = cli("import", tmp_path / "f.db", src, "--max-payload-bytes", "1000")
    assert code == 1 and err.startswith("line 1: ") and "limit" in err
    code, _, _ = cli("import", tmp_path / "f.db", src)
    assert code == 0


# ------------------------------------------------------------------------------------ export

def test_export_round_trip_through_the_cli(tmp_path, db, cli):
    out_file = tmp_path / "all.jsonl"
    code, _, err = cli("export", db, "-o", out_file)
    assert code == 0 and f"exported {SAMPLE_EVENTS} events" in err
    code, _, _ = cli("import", tmp_path / "copy.db", out_file)
    assert code == 0
    again = tmp_path / "again.jsonl"
    cli("export", tmp_path / "copy.db", "-o", again)
    assert again.read_bytes() == out_file.read_bytes()
    lines = out_file.read_bytes().splitlines()
    assert len(lines) == SAMPLE_EVENTS and json.loads(lines[0])["run_id"] is None


def test_export_to_stdout_as_bytes_and_into_a_text_stream(db, cli, monkeypatch):
    """stdout: the same JSONL whether it has a binary buffer (a terminal, a pipe) or is a text stream
    (an embedding or a test harness swapped it; that gave a traceback)."""
    code, out, _ = cli("export", db)
    assert code == 0 and len(out.splitlines()) == SAMPLE_EVENTS
    from agenttui.cli import main

    text = io.StringIO()
    monkeypatch.setattr(sys, "stdout", text)
    assert main(["export", str(db)]) == 0
    assert text.getvalue() == out and all(json.loads(line) for line in out.splitlines())


def test_export_writes_stored_payload_versions_not_upcast_ones(tmp_path, cli, monkeypatch):
    from agenttui.store import UpcasterRegistry

    registry = UpcasterRegistry()
    registry.add("tool_invoked", 1, lambda p: {"args_summary": p.get("args", "")})
    monkeypatch.setattr("agenttui.store.sqlite.default_upcasters", registry)
    path = tmp_path / "u.db"
    with SQLiteStore(path) as store:
        store.append({"event_type": "tool_invoked", "run_id": "r", "payload": {"args": "q=1"}})
    code, out, _ = cli("tail", path, "--json")
    assert code == 0 and json.loads(out)["payload"] == {"args_summary": "q=1"}  # readers see v2
    code, out, _ = cli("export", path)
    assert code == 0 and json.loads(out)["payload"] == {"args": "q=1"}  # the export is the stored fact


def test_export_filters_to_stdout(db, cli):
    code, out, _ = cli("export", db, "--run", "unassigned")
    rows = [json.loads(x) for x in out.splitlines()]
    assert code == 0 and len(rows) == 2 and all(r["run_id"] is None for r in rows)
    code, out, _ = cli("export", db, "--type", "run_started", "--type", "run_finished")
    assert [json.loads(x)["event_type"] for x in out.splitlines()] == ["run_started", "run_finished"]


# -------------------------------------------------------------------------------------- tail

def test_tail_text_lines(db, cli):
    code, out, _ = cli("tail", db, "-n", "3")
    lines = out.splitlines()
    assert code == 0 and len(lines) == 3
    assert lines[-1].split()[0] == str(SAMPLE_EVENTS) and "run_finished" in lines[-1]
    code, out, _ = cli("tail", db, "--type", "node_status_changed", "-n", "all")
    lines = out.splitlines()
    assert len(lines) == 37
    # the node column shows the nid learnt from the nodes table, the summary the transition
    first = lines[0].split()
    assert first[4] == "node_status_changed" and first[5] == "1.2" and " NOT_READY -> READY" in lines[0]
    code, out, _ = cli("tail", db, "--type", "llm_call_completed", "-n", "1")
    assert "m-large 7.96s 1281+803 tok" in out


def test_tail_json_and_run_filter(db, cli):
    code, out, _ = cli("tail", db, "--json", "--run", "unassigned", "-n", "all")
    rows = [json.loads(x) for x in out.splitlines()]
    assert code == 0 and [r["position"] for r in rows] == [1, 2] and rows[0]["run_id"] is None
    code, out, _ = cli("tail", db, "-n", "0")
    assert code == 0 and out == ""


def test_tail_makes_hostile_payloads_harmless(tmp_path, cli):
    path = tmp_path / "h.db"
    with SQLiteStore(path) as store:
        store.append([
            {"event_type": "tool_returned", "run_id": "r\x1b]0;pwned\x07",
             "payload": {"api_name": "x\x1b[31mred", "state": "OK\r\n", "result_summary": "[bold]hi[/] \u202eevil",
                         "node_id": "n\x1b[1m"}},
            {"event_type": "weird\x1b[2J\x9b", "run_id": "r", "payload": {"text": "line1\nline2\x1b[H"}},
        ])
    code, out, _ = cli("tail", path)
    assert code == 0
    for bad in ("\x1b", "\x07", "\u202e", "\r", "\x9b"):
        assert bad not in out
    assert out.count("\n") == 2
    assert "\\x1b[31mred" in out and "[bold]hi[/]" in out


# ----------------------------------------------------------------------- rebuild, stats, retention

def test_rebuild_check_and_repair(db, cli):
    code, out, _ = cli("rebuild", db, "--check")
    assert code == 0 and "match" in out
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE nodes SET status = 'BOGUS' WHERE node_nid = '1.2'")
    code, out, err = cli("rebuild", db, "--check")
    assert code == 1 and "BOGUS" in out and "1 difference" in err
    code, out, _ = cli("rebuild", db)
    assert code == 0 and "rebuilt 2 runs, 12 nodes" in out
    assert cli("rebuild", db, "--check")[0] == 0


def test_stats(db, cli):
    code, out, _ = cli("stats", db, "--json")
    stats = json.loads(out)
    assert code == 0 and stats["events"] == SAMPLE_EVENTS and stats["runs"] == 2
    assert stats["event_types"]["node_status_changed"] == 37
    assert {r["run_id"] for r in stats["runs_detail"]} == {SAMPLE_RUN, "unassigned"}
    code, out, _ = cli("stats", db)
    assert code == 0 and "events            184" in out and SAMPLE_RUN in out


def test_retention(tmp_path, cli):
    path = tmp_path / "r.db"
    old = (datetime.now(timezone.utc) - timedelta(days=90)).strftime("%Y-%m-%dT%H:%M:%SZ")
    recent = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    with SQLiteStore(path) as store:
        store.append([{"event_type": "step_started", "run_id": "gone", "timestamp": old, "payload": {"step": 1}},
                      {"event_type": "step_started", "run_id": "mixed", "timestamp": old, "payload": {"step": 1}},
                      {"event_type": "step_started", "run_id": "mixed", "timestamp": recent, "payload": {"step": 2}}])
    code, out, _ = cli("retention", path, "--days", "30", "--dry-run")
    assert code == 0 and "would delete 2 events" in out
    code, out, _ = cli("retention", path, "--days", "30")
    assert code == 0 and "deleted 2 events" in out and "runs removed (no events left): 1" in out
    with SQLiteStore(path, readonly=True) as store:
        assert store.count_events() == 1 and [r["run_id"] for r in store.runs()] == ["mixed"]
        assert store.retention_log()[0]["events_deleted"] == 2
    assert cli("rebuild", path, "--check")[0] == 0
    code, out, _ = cli("retention", path, "--days", "0")
    assert code == 0 and "keeps events forever" in out
    code, _, err = cli("retention", path, "--days", "-1")
    assert_usage_error(code, err, "retention", "--days", "from 0 to 365,000", "got -1")


# --------------------------------------------------------------------------------------- demo

def test_demo_headless_writes_a_consistent_run(tmp_path, cli):
    path = tmp_path / "demo.db"
    code, _, err = cli("demo", "--headless", "--db", path, "--rate", "0", "--events", "1500", "--seed", "4")
    assert code == 0 and "finished: 1,500 events" in err
    code, out, _ = cli("rebuild", path, "--check")
    assert code == 0
    with SQLiteStore(path, readonly=True) as store:
        (run,) = store.runs()
        assert run["event_count"] == 1500 and run["status"] in ("completed", "error")
        assert run["total_nodes"] > 20 and run["llm_calls"] > 20


def test_demo_without_headless_opens_the_inspector_on_a_growing_db(tmp_path, cli, monkeypatch):
    seen = {}

    def fake_run_app(path, run_id=None, types=None):
        with SQLiteStore(path, readonly=True) as store:
            for _ in range(500):  # the writer runs in the background while the "inspector" is open
                if store.count_events(run_id=run_id) >= 5:
                    break
                time.sleep(0.01)
            seen.update(path=path, run_id=run_id, count=store.count_events(run_id=run_id))
        return 0

    monkeypatch.setattr("agenttui.cli._load_run_app", lambda: fake_run_app)
    code, _, err = cli("demo", "--db", tmp_path / "live.db", "--rate", "500")
    assert code == 0 and seen["count"] >= 5 and seen["run_id"].startswith("demo-") and seen["run_id"].endswith("-s0")
    assert "agenttui open" in err
    with SQLiteStore(tmp_path / "live.db", readonly=True) as store:
        run = store.run(seen["run_id"])
        assert run["status"] in ("completed", "error")  # stopped runs are closed, never left running


def test_open_passes_the_filters(tmp_path, cli, monkeypatch):
    calls = []
    monkeypatch.setattr("agenttui.cli._load_run_app",
                        lambda: lambda path, run_id=None, types=None: calls.append((path, run_id, types)) or 0)
    assert cli("open", tmp_path / "x.db", "--run", "r1", "--type", "a", "--type", "b")[0] == 0
    assert calls == [(str(tmp_path / "x.db"), "r1", ["a", "b"])]


# ------------------------------------------------------------------------------------- errors

def test_missing_files(tmp_path, cli, monkeypatch):
    code, _, err = cli("tail", tmp_path / "nope.db")
    assert_clean_error(code, err, "nope.db", "no such database")
    code, _, err = cli("import", tmp_path / "x.db", tmp_path / "missing.jsonl")
    assert_clean_error(code, err, "missing.jsonl", "No such file")
    monkeypatch.delenv("AGENTTUI_DB", raising=False)
    code, _, err = cli("stats")
    assert_clean_error(code, err, "AGENTTUI_DB")


def test_importing_a_database_as_jsonl_is_caught(db, tmp_path, cli, monkeypatch):
    monkeypatch.setenv("AGENTTUI_DB", str(tmp_path / "other.db"))
    code, _, err = cli("import", db)  # FILE forgotten: the database itself would be read as JSONL
    assert_clean_error(code, err, "is a SQLite database, not a JSONL file")


def test_not_a_sqlite_file(tmp_path, cli):
    bogus = tmp_path / "notes.db"
    bogus.write_text("these are my notes, not a database\n" * 10)
    for argv in (("stats", bogus), ("tail", bogus), ("import", bogus, "-"), ("rebuild", bogus)):
        code, _, err = cli(*argv)
        assert_clean_error(code, err, "not a SQLite database")
    assert bogus.read_text().startswith("these are my notes")


def test_newer_schema(db, cli):
    with sqlite3.connect(db) as conn:
        conn.execute("PRAGMA user_version = 99")
    for argv in (("stats", db), ("tail", db), ("rebuild", db, "--check"), ("export", db)):
        code, _, err = cli(*argv)
        assert_clean_error(code, err, "newer agenttui")


# ---------------------------------------------------------------------------- tail --follow, live

@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_tail_follow_prints_events_another_process_writes(tmp_path, stop):
    path = tmp_path / "live.db"
    with SQLiteStore(path) as store:
        store.append({"event_type": "step_started", "run_id": "r", "payload": {"step": 0}})
    proc = _agenttui("tail", str(path), "--follow", "-n", "1")
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True)
    reader.start()
    try:
        deadline = time.monotonic() + 30
        while not lines and time.monotonic() < deadline:
            time.sleep(0.02)
        assert lines and "step 0" in lines[0]
        writer = subprocess.run(
            [sys.executable, "-c",
             "import sys; from agenttui.store import SQLiteStore\n"
             "with SQLiteStore(sys.argv[1]) as s:\n"
             "    for i in range(1, 4):\n"
             "        s.append({'event_type': 'step_started', 'run_id': 'r', 'payload': {'step': i}})",
             str(path)], timeout=60)
        assert writer.returncode == 0
        while len(lines) < 4 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [line.split()[0] for line in lines] == ["1", "2", "3", "4"]
        assert "step 3" in lines[-1]
    finally:
        proc.send_signal(stop)
        try:
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert code == 0
    assert "Traceback" not in proc.stderr.read()


def test_tail_follow_waits_for_the_database_to_be_created(tmp_path):
    path = tmp_path / "later.db"
    proc = _agenttui("tail", str(path), "-f", "--json")
    lines: list[str] = []
    errors: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()
    threading.Thread(target=lambda: errors.extend(iter(proc.stderr.readline, "")), daemon=True).start()
    try:
        deadline = time.monotonic() + 30
        while not errors and time.monotonic() < deadline:
            time.sleep(0.02)
        assert errors and errors[0].startswith(f"waiting for {path}")
        with SQLiteStore(path) as store:  # created only now, while tail waits
            store.append([{"event_type": "step_started", "run_id": "r", "payload": {"step": i}} for i in range(3)])
        while len(lines) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert [json.loads(x)["position"] for x in lines] == [1, 2, 3]
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            code = proc.wait(timeout=30)
        finally:
            if proc.poll() is None:
                proc.kill()
    assert code == 0 and not any("Traceback" in e for e in errors)


@pytest.mark.parametrize("stop", [signal.SIGINT, signal.SIGTERM], ids=["ctrl-c", "sigterm"])
def test_ctrl_c_stops_the_headless_demo_and_closes_its_run(tmp_path, stop):
    path = tmp_path / "demo.db"
    proc = _agenttui("demo", "--headless", "--db", str(path), "--rate", "200")
    try:
        deadline = time.monotonic() + 30
        count = 0
        while count < 20 and time.monotonic() < deadline:
            time.sleep(0.05)
            if path.exists():
                try:
                    with SQLiteStore(path, readonly=True) as store:
                        count = store.count_events()
                except Exception:  # the writer may still be creating the schema
                    count = 0
        assert count >= 20
        proc.send_signal(stop)
        code = proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    err = proc.stderr.read()
    assert code == 0 and "stopped early" in err and "Traceback" not in err
    with SQLiteStore(path, readonly=True) as store:
        (run,) = store.runs()
        assert run["status"] == "error"
        last = store.events(order="desc", limit=1)[0]
        assert last.event_type == "run_error" and last.payload["error_type"] == "Interrupted"
        assert store.check() == []


def test_follow_falls_back_to_polling_when_the_folder_cannot_be_watched(tmp_path, monkeypatch):
    import watchfiles

    from agenttui.cli import _follow
    from agenttui.store import EventFilter

    def no_watch(*args, **kwargs):
        raise OSError("inotify watch limit reached")

    monkeypatch.setattr(watchfiles, "watch", no_watch)
    path = tmp_path / "poll.db"
    writer = SQLiteStore(path)
    writer.append({"event_type": "a", "run_id": "r", "payload": {}})
    got: list[int] = []

    def emit(events):
        got.extend(e.position for e in events)
        if len(got) == 1:  # the first wake-up: another writer commits while we follow
            writer.append([{"event_type": "b", "run_id": "r", "payload": {}},
                           {"event_type": "a", "run_id": "r", "payload": {}}])
        elif len(got) >= 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        _follow(str(path), EventFilter(types=["a"]), 0, emit)
    writer.close()
    assert got == [1, 3]


# ---------------------------------------------------------------------------------- summaries

def test_summaries_of_the_built_in_types(sample_path):
    from agenttui.store import parse_json_line
    from agenttui.summary import summarize

    events = {}
    for raw in sample_path.read_bytes().splitlines():
        e = parse_json_line(raw)
        events.setdefault(e.event_type, e)
    nids = {"39a7ff57bffa47758a5d5bfe345986d3": "1.2", "ba4e6c3686ff4de2aa7698065aab0a37": "0"}
    text = {t: summarize(e, nids.get) for t, e in events.items()}
    assert text["node_status_changed"] == "1.2 NOT_READY -> READY"
    assert summarize(events["node_status_changed"], nids.get, include_node=False) == "NOT_READY -> READY"
    assert text["llm_call_completed"] == "m-large 1.95s 2306+147 tok"
    assert text["tool_returned"] == "web.search SUCCESS 0.75s: 3 hits..."
    assert text["edge_added"] == "0 -> 1"
    assert text["plan_received"].startswith("0 plan of 4: Goal 1: plan outline;")
    assert text["run_started"] == "run started: Write a report (model m-large) mode report"
    assert text["custom_metric"].startswith('{"name":"confidence"')
    assert all(t and "\n" not in t and len(t) <= 200 for t in text.values())


def test_summaries_survive_odd_payloads():
    from agenttui.store import Event
    from agenttui.summary import safe_text, summarize

    odd = Event(event_type="node_added", run_id="r", payload={"added_node_id": 42, "graph_owner_node_id": ["x"]})
    assert summarize(odd)  # never raises, whatever the shape
    huge = Event(event_type="llm_call_started", run_id="r", payload={"prompt_preview": "\x1b" * 100_000, "model": "m"})
    assert len(summarize(huge)) <= 200 and "\x1b" not in summarize(huge)
    assert safe_text("a\tb\nc\x00\x7f\u2066") == "a b c\\x00\\x7f\\u2066"


# ------------------------------------------------------------------ out-of-range numbers

@pytest.mark.parametrize("argv, command, words", [
    (["retention", "{db}", "--days", "1000000000"], "retention", ["--days", "from 0 to 365,000", "got 1000000000"]),
    (["retention", "{db}", "--days", "1000000000", "--dry-run"], "retention", ["--days", "365,000"]),
    (["retention", "{db}", "--days", "ten"], "retention", ["--days", "expected a whole number", "got ten"]),
    (["tail", "{db}", "-n", "99999999999999999999"], "tail",
     ["-n/--lines", "'all' or from 0 to 9,223,372,036,854,775,807", "got 99999999999999999999"]),
    (["tail", "{db}", "-n", "-1"], "tail", ["-n/--lines", "got -1"]),
    (["tail", "{db}", "-n", "9" * 5000], "tail", ["-n/--lines", "expected a whole number", "(5,000 characters)"]),
    (["import", "{db}", "x.jsonl", "--max-payload-bytes", "1" + "0" * 30], "import",
     ["--max-payload-bytes", "1,073,741,824"]),
    (["import", "{db}", "x.jsonl", "--max-payload-bytes", "0"], "import", ["--max-payload-bytes", "from 2"]),
    (["demo", "--headless", "--db", "{db}", "--rate", "nan"], "demo", ["--rate", "finite", "got nan"]),
    (["demo", "--headless", "--db", "{db}", "--rate", "1e400"], "demo", ["--rate", "finite"]),
    (["demo", "--headless", "--db", "{db}", "--rate", "-1"], "demo", ["--rate", ">= 0"]),
    (["demo", "--headless", "--db", "{db}", "--events", "2"], "demo", ["--events", "from 3"]),
    (["demo", "--headless", "--db", "{db}", "--nodes", "10000000000"], "demo", ["--nodes", "1,000,000"]),
    (["demo", "--headless", "--db", "{db}", "--seed", "1" + "0" * 40], "demo", ["--seed", "9,223,372,036,854,775,807"]),
    (["copy", "{db}", "{db}.2", "--batch", "0"], "copy", ["--batch", "from 1"]),
    (["copy", "{db}", "{db}.2", "--batch", "1" + "0" * 30], "copy", ["--batch", "1,000,000"]),
], ids=lambda v: " ".join(v)[:60] if isinstance(v, list) else None)
def test_out_of_range_numbers_are_one_line_usage_errors(db, cli, argv, command, words):
    code, out, err = cli(*[a.format(db=db) for a in argv])
    assert out == ""
    assert_usage_error(code, err, command, *words)


def test_retention_at_its_largest_number_of_days_deletes_nothing(db, cli):
    code, out, err = cli("retention", db, "--days", "365000")
    assert code == 0 and "deleted 0 events" in out, err


def test_tail_with_more_lines_than_events_prints_them_all(db, cli):
    code, out, _ = cli("tail", db, "-n", str(2 ** 63 - 1))
    assert code == 0 and out.count("\n") == SAMPLE_EVENTS


# ------------------------------------------------------------------- terminal-safe output

HOSTILE = "\x1b]0;pwned\x07\x9b2J\u202e\u2028\x85"
ACTED_ON = ("\x1b", "\x07", "\x9b", "\u202e", "\u2028", "\x85", "\r")


def _inert(text: str) -> None:
    for ch in ACTED_ON:
        assert ch not in text, f"{ch!r} reached the terminal"


@pytest.fixture
def hostile_db(tmp_path):
    path = tmp_path / f"run{HOSTILE}.db"
    with SQLiteStore(path) as store:
        store.append([{"event_id": "h1", "run_id": f"run{HOSTILE}", "event_type": f"type{HOSTILE}",
                       "payload": {"node_id": "n1", "text": f"text{HOSTILE}\r\n"},
                       "metadata": {"source": HOSTILE}}])
    return path


@pytest.mark.parametrize("argv", [
    ["tail", "{db}"], ["stats", "{db}"], ["rebuild", "{db}"], ["rebuild", "{db}", "--check"],
    ["retention", "{db}", "--days", "30", "--dry-run"], ["retention", "{db}", "--days", "0"],
    ["export", "{db}", "-o", "{db}.jsonl"], ["copy", "{db}", "{db}.copy.db"],
], ids=lambda v: " ".join(v))
def test_text_output_shows_file_names_and_event_text_escaped(hostile_db, cli, argv):
    code, out, err = cli(*[a.format(db=hostile_db) for a in argv])
    assert code == 0, err
    _inert(out + err)


@pytest.mark.parametrize("argv", [
    ["tail", "{db}", "--json"], ["stats", "{db}", "--json"], ["export", "{db}"], ["copy", "{db}", "{db}.c.db", "--json"],
    ["retention", "{db}", "--days", "30", "--json", "--dry-run"],
], ids=lambda v: " ".join(v))
def test_json_output_stays_exact_with_controls_as_unicode_escapes(hostile_db, cli, argv):
    code, out, err = cli(*[a.format(db=hostile_db) for a in argv])
    assert code == 0, err
    _inert(out + err)
    docs = [json.loads(line) for line in out.splitlines()] if argv[0] in ("tail", "export") else [json.loads(out)]
    strings: list[str] = []

    def walk(v):
        if isinstance(v, dict):
            for k, x in v.items():
                strings.append(k)
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        elif isinstance(v, str):
            strings.append(v)

    walk(docs)
    assert any(HOSTILE in t for t in strings) or argv[0] == "retention", "the values are the stored ones, escaped"


def test_import_names_a_crafted_file_and_its_bad_lines_escaped(tmp_path, cli):
    src = tmp_path / f"events{HOSTILE}.jsonl"
    src.write_bytes(b'{"event_type": 1}\n' + orjson.dumps({"event_id": "x", "event_type": "t", "payload": {},
                                                          "timestamp": f"2025{HOSTILE}"}) + b"\n")
    code, out, err = cli("import", tmp_path / "i.db", src)
    assert code == 1
    _inert(out + err)
    assert "events\\x1b]0;pwned" in out and "line 2: timestamp" in err
    code, out, err = cli("import", tmp_path / "i.db", src, "--json")
    _inert(out + err)
    errors = json.loads(out)["errors"]
    assert [e["line"] for e in errors] == [1, 2] and errors[1]["error"].startswith("timestamp ")
