"""`agenttui query`: read-only SQL over one database or a folder of session files."""
from __future__ import annotations

import csv
import io
import json
import sqlite3
from pathlib import Path

import pytest

from agenttui import Recorder
from agenttui.cli import main as cli_main
from agenttui.query import main as query_main, run_query
from agenttui.store import SQLiteStore


def session(folder: Path, task: str, tools: int, fail: bool = False) -> Path:
    rec = Recorder.session(folder, task=task)
    try:
        with rec as run:
            tool = run.instrument(lambda x: x, name="echo")
            for i in range(tools):
                tool(i)
            if fail:
                raise RuntimeError("boom")
    except RuntimeError:
        pass
    return Path(rec.path)


@pytest.fixture()
def sessions(tmp_path: Path) -> Path:
    folder = tmp_path / "sessions"
    session(folder, "first task", 2)
    session(folder, "second task", 3, fail=True)
    foreign = sqlite3.connect(folder / "0-other-app.db")  # a SQLite file without our tables
    foreign.execute("CREATE TABLE notes (text TEXT)")
    foreign.commit()
    foreign.close()
    (folder / "zz-not-sqlite.db").write_text("just text")
    (folder / "ignored.txt").write_text("not matched by *.db")
    return folder


def test_one_database_prints_an_aligned_table(tmp_path: Path, capsys) -> None:
    db = session(tmp_path, "t", 3)
    code = cli_main(["query", str(db), "SELECT event_type, count(*) AS n FROM events "
                                       "GROUP BY event_type ORDER BY n DESC, event_type"])
    out, err = capsys.readouterr()
    assert code == 0
    lines = out.splitlines()
    assert lines[0].split() == ["event_type", "n"] and set(lines[1]) <= {"-", " "}
    assert lines[2].split() == ["tool_invoked", "3"] and lines[3].split() == ["tool_returned", "3"]
    assert lines[-1].split() == ["run_started", "1"]
    assert len(lines[-1]) == len(lines[1]) == len(lines[2]), "numbers are right-aligned"
    assert "file" not in lines[0], "one file: no file column"
    assert "rows)" in err


def test_a_folder_tags_rows_with_their_file_and_skips_files_that_cannot_answer(sessions: Path, capsys) -> None:
    code = query_main([str(sessions), "SELECT status, tool_calls FROM runs ORDER BY tool_calls", "--json"])
    out, err = capsys.readouterr()
    assert code == 0
    rows = json.loads(out)
    names = sorted(p.name for p in sessions.glob("*-task-*.db"))
    assert [(r["status"], r["tool_calls"]) for r in rows] == [("completed", 2), ("error", 3)]
    assert sorted(r["file"] for r in rows) == names
    assert list(rows[0]) == ["file", "status", "tool_calls"]
    assert "skipped 0-other-app.db: no such table: runs" in err
    assert "skipped zz-not-sqlite.db: cannot be opened: not a SQLite database" in err
    assert "ignored.txt" not in err
    assert "(2 rows from 2 of 4 files)" in err


def test_csv_output_has_a_header_and_one_line_per_row(sessions: Path, capsys) -> None:
    code = query_main([str(sessions), "SELECT json_extract(payload, '$.args.x') AS x FROM events "
                                      "WHERE event_type = 'tool_invoked' ORDER BY x", "--csv", "-q"])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["file", "x"]
    assert sorted(int(r[1]) for r in rows[1:]) == [0, 0, 1, 1, 2]


def test_files_with_other_columns_leave_blanks_and_duplicate_names_stay_distinct(tmp_path: Path, capsys) -> None:
    for name, cols in (("a.db", "x INTEGER, y TEXT"), ("b.db", "x INTEGER, z TEXT")):
        conn = sqlite3.connect(tmp_path / name)
        conn.execute(f"CREATE TABLE t ({cols})")
        conn.execute("INSERT INTO t VALUES (1, 'v')")
        conn.commit()
        conn.close()
    result = run_query(tmp_path, "SELECT * FROM t")
    assert result.columns == ["file", "x", "y", "z"]
    assert result.rows == [["a.db", 1, "v", None], ["b.db", 1, None, "v"]]
    assert run_query(tmp_path / "a.db", "SELECT x, x FROM t").columns == ["x", "x:2"]


def test_when_no_file_can_answer_the_exit_code_is_1(sessions: Path, capsys) -> None:
    assert query_main([str(sessions), "SELECT * FROM no_such_table"]) == 1
    out, err = capsys.readouterr()
    assert out == "" and err.count("no such table: no_such_table") == 3


def test_writes_are_refused_and_change_nothing(sessions: Path, capsys) -> None:
    db = next(sessions.glob("*first-task*.db"))
    with SQLiteStore(db, readonly=True) as store:
        before = store.count_events()
    for sql in ("DELETE FROM runs", "DROP TABLE events", "CREATE TABLE x (a)", "PRAGMA user_version = 9"):
        assert cli_main(["query", str(db), sql]) == 2, sql
        assert "the query was refused" in capsys.readouterr().err
    with SQLiteStore(db, readonly=True) as store:
        assert store.count_events() == before and store.run(store.latest_run_id())["status"] == "completed"


def test_bad_sql_and_bad_targets_are_clear_errors(sessions: Path, tmp_path: Path, capsys) -> None:
    assert query_main([str(sessions), "SELEC nonsense"]) == 2
    assert 'syntax error' in capsys.readouterr().err
    assert query_main([str(sessions), "SELECT 1; SELECT 2"]) == 2
    assert "one statement" in capsys.readouterr().err
    assert query_main([str(tmp_path / "missing.db"), "SELECT 1"]) == 2
    assert "no such file or folder" in capsys.readouterr().err
    (tmp_path / "empty").mkdir()
    assert query_main([str(tmp_path / "empty"), "SELECT 1"]) == 2
    assert "no files matching '*.db'" in capsys.readouterr().err
    assert query_main([str(sessions), "  "]) == 2
    assert query_main([str(sessions), "SELECT 1", "--json", "--csv"]) == 2  # argparse: not allowed together


def test_payload_text_is_shown_literally_in_the_table(tmp_path: Path, capsys) -> None:
    db = tmp_path / "run.db"
    with Recorder(db, task="t") as run:
        run.decision("x", reasoning="\x1b[2J\x1b[31mred[/] [bold]")
    assert query_main([str(db), "SELECT json_extract(payload, '$.reasoning') AS r FROM events "
                                "WHERE event_type = 'decision'"]) == 0
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\\x1b[2J\\x1b[31mred[/] [bold]" in out


def test_a_database_being_written_can_be_queried_live(tmp_path: Path, capsys) -> None:
    db = tmp_path / "live.db"
    with Recorder(db, task="live") as run:
        for i in range(50):
            run.event("tick", i=i)
        run.flush()
        assert query_main([str(db), "SELECT count(*) AS n FROM events WHERE event_type = 'tick'", "--json"]) == 0
        assert json.loads(capsys.readouterr().out) == [{"n": 50}]
        run.event("tick", i=50)  # the writer is not blocked by the reader
    with SQLiteStore(db, readonly=True) as store:
        assert store.count_events(types=["tick"]) == 51


def test_a_pattern_can_reach_into_subfolders(sessions: Path) -> None:
    session(sessions / "archive" / "2026-03", "archived task", 1)
    flat = run_query(sessions, "SELECT tool_calls FROM runs")
    deep = run_query(sessions, "SELECT tool_calls FROM runs", pattern="**/*.db")
    assert len(flat.rows) == 2 and len(deep.rows) == 3
    archived = [r for r in deep.rows if r[0].startswith("archive/2026-03/")]
    assert len(archived) == 1 and archived[0][1] == 1


# ----------------------------------------------------------------- no file created or changed

def _tree(folder: Path) -> dict[str, tuple[int, int]]:
    """Every file under `folder` with its size and modification time."""
    return {str(p.relative_to(folder)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("sql, names", [
    ("ATTACH DATABASE '{out}' AS x", "ATTACH"),
    ("ATTACH DATABASE 'file:{out}?mode=rwc' AS x", "ATTACH"),
    ("VACUUM INTO '{out}'", "ATTACH"),
    ("VACUUM", None),
    ("DETACH DATABASE main", "DETACH"),
    ("PRAGMA wal_checkpoint(TRUNCATE)", "wal_checkpoint"),
    ("PRAGMA journal_mode = DELETE", "journal_mode"),
    ("PRAGMA optimize", "optimize"),
    ("CREATE TEMP TABLE t AS SELECT 1", "schema change"),
    ("CREATE INDEX i ON events(run_id)", "schema change"),
    ("INSERT INTO events(event_id) VALUES ('x')", "INSERT"),
    ("UPDATE runs SET status = 'x'", "UPDATE"),
    ("DELETE FROM runs", "DELETE"),
    ("REINDEX", "REINDEX"),
    ("ANALYZE", "ANALYZE"),
])
def test_no_statement_creates_or_changes_a_file(tmp_path: Path, capsys, sql: str, names: str | None) -> None:
    folder = tmp_path / "data"
    db = session(folder, "t", 2)
    # a writer keeps the WAL open, so a checkpoint or a journal-mode change would have work to do
    writer = sqlite3.connect(db, isolation_level=None)
    writer.execute("PRAGMA wal_autocheckpoint = 0")
    writer.execute("CREATE TABLE IF NOT EXISTS scratch (x)")
    writer.execute("INSERT INTO scratch VALUES (1)")
    try:
        before = _tree(tmp_path)
        out = tmp_path / "created.db"
        code = cli_main(["query", str(db), sql.format(out=out)])
        err = capsys.readouterr().err
        assert code == 2 and "the query was refused" in err, err
        if names:
            assert names in err and "would create or change a file" in err
        assert not out.exists()
        assert _tree(tmp_path) == before, "query changed or created a file"
    finally:
        writer.close()


def test_the_guard_leaves_reading_statements_alone(tmp_path: Path) -> None:
    db = session(tmp_path, "t", 2)
    for sql in ("PRAGMA table_info(events)", "SELECT count(*) FROM pragma_table_info('events')",
                "PRAGMA journal_mode", "PRAGMA integrity_check",
                "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < 3) SELECT * FROM c",
                "SELECT json_extract(payload, '$.args') FROM events"):
        assert run_query(db, sql).files == [str(db)], sql


# ----------------------------------------------------------------- terminal-safe output

HOSTILE = "\x1b]2;owned\x07\x1b]52;c;aGk=\x07\x1b[2J\x9b2J\u202eevil\u2028x"


def _hostile_db(tmp_path: Path) -> Path:
    db = tmp_path / "run.db"
    with Recorder(db, task="t") as run:
        run.decision("x", reasoning=HOSTILE + "\nsecond line\ttab")
    return db


SELECT_HOSTILE = ("SELECT json_extract(payload, '$.reasoning') AS \"col\x1b[2J\" FROM events "
                  "WHERE event_type = 'decision'")


def _assert_inert(text: str) -> None:
    for ch in ("\x1b", "\x07", "\x9b", "\u202e", "\u2028", "\r"):
        assert ch not in text, f"{ch!r} reached the output"


def test_csv_escapes_controls_but_keeps_multi_line_cells(tmp_path: Path, capsys) -> None:
    assert query_main([str(_hostile_db(tmp_path)), SELECT_HOSTILE, "--csv", "-q"]) == 0
    out = capsys.readouterr().out
    _assert_inert(out)
    rows = list(csv.reader(io.StringIO(out)))
    assert rows[0] == ["col\\x1b[2J"]
    assert rows[1] == ["\\x1b]2;owned\\x07\\x1b]52;c;aGk=\\x07\\x1b[2J\\x9b2J\\u202eevil\\u2028x\nsecond line\ttab"]


def test_json_stays_exact_with_controls_as_unicode_escapes(tmp_path: Path, capsys) -> None:
    assert query_main([str(_hostile_db(tmp_path)), SELECT_HOSTILE, "--json", "-q"]) == 0
    out = capsys.readouterr().out
    _assert_inert(out)
    assert json.loads(out) == [{"col\x1b[2J": HOSTILE + "\nsecond line\ttab"}]


def test_a_crafted_file_name_is_shown_escaped_when_skipped(tmp_path: Path, capsys) -> None:
    folder = tmp_path / "sessions"
    session(folder, "t", 1)
    (folder / "x\x1b]2;owned\x07\u202e.db").write_text("not a database")
    assert query_main([str(folder), "SELECT count(*) FROM events"]) == 0
    out, err = capsys.readouterr()
    _assert_inert(out + err)
    assert "skipped x\\x1b]2;owned\\x07\\u202e.db: cannot be opened: not a SQLite database" in err


@pytest.mark.parametrize("pattern, words", [
    ("/abs/*.db", "--pattern must be a glob relative to the folder"),
    ("", "--pattern must be a glob relative to the folder"),
    ("a**b.db", "'**' can only be an entire path component"),
])
def test_a_pattern_that_cannot_be_globbed_is_a_clear_error(sessions: Path, capsys, pattern: str, words: str) -> None:
    assert query_main([str(sessions), "SELECT 1", "--pattern", pattern]) == 2
    err = capsys.readouterr().err
    assert words in err and "Traceback" not in err
