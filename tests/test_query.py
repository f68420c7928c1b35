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
