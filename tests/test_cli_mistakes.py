"""Mistakes named, not silent (issue 14.5, 14.8): a target that cannot be opened, a run or type that
is not there, a 0-byte file, a copy that fails: exit code and the stderr message of each."""
from __future__ import annotations

from pathlib import Path

import pytest

from agenttui.store import SQLiteStore

from conftest import SAMPLE_EVENTS, SAMPLE_RUN  # noqa: F401

COMMANDS = [("stats",), ("tail",), ("export",), ("verify",), ("rebuild", "--check"), ("open",), ("copy",)]


@pytest.fixture
def good_db(tmp_path: Path) -> Path:
    path = tmp_path / "good.db"
    with SQLiteStore(path) as store:
        store.append([{"event_type": "step_started", "run_id": "r1", "payload": {"step": 1}},
                      {"event_type": "node_created", "run_id": "r2", "payload": {"node_id": "n"}}])
    return path


@pytest.fixture
def no_ui(monkeypatch):
    """`open` without a terminal: record whether the UI would have started."""
    started: list[tuple] = []
    monkeypatch.setattr("agenttui.cli._load_run_app",
                        lambda: lambda path, run_id=None, types=None: started.append((path, run_id, types)) or 0)
    return started


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: c[0])
def test_a_0_byte_file_gets_one_message_in_every_command(tmp_path, cli, no_ui, command):
    empty = tmp_path / "empty.db"
    empty.touch()
    argv = [*command, empty] + ([tmp_path / "out.db"] if command[0] == "copy" else [])
    code, out, err = cli(*argv)
    assert code == 2 and out == ""
    assert err.strip() == f"agenttui {command[0]}: error: {empty}: an empty file (0 bytes), not an agenttui store"
    assert not no_ui and not (tmp_path / "out.db").exists()


def test_open_of_a_file_that_is_not_a_store_exits_2_before_the_ui(tmp_path, cli, no_ui):
    text = tmp_path / "notes.db"
    text.write_text("hello\n")
    code, _, err = cli("open", text)
    assert code == 2 and "not a SQLite database (wrong file header)" in err and not no_ui
    other = tmp_path / "other.sqlite"
    import sqlite3

    with sqlite3.connect(other) as conn:
        conn.execute("CREATE TABLE t (x)")
    code, _, err = cli("open", other)
    assert code == 2 and "not an agenttui store" in err and not no_ui


def test_open_of_what_may_still_come_starts_the_ui(tmp_path, cli, no_ui, good_db):
    assert cli("open", tmp_path / "later.db")[0] == 0, "a file not created yet: the inspector waits"
    assert cli("open", tmp_path)[0] == 0, "a folder: the session picker"
    assert cli("open", good_db, "--run", "run-0000")[0] == 0, "a run that may still appear: said in the UI"
    assert [p for p, *_ in no_ui] == [str(tmp_path / "later.db"), str(tmp_path), str(good_db)]


def test_open_with_a_type_that_is_not_there_names_the_types_that_are(cli, no_ui, good_db):
    code, _, err = cli("open", good_db, "--type", "step_started", "--type", "tool_invoked")
    assert code == 2 and not no_ui
    assert err.strip() == (f"agenttui open: error: {good_db}: no event of type 'tool_invoked' "
                           "(types here: node_created, step_started)")
    code, _, err = cli("open", good_db, "--run", "r1", "--type", "node_created")
    assert code == 2 and f"{good_db} run 'r1': no event of type 'node_created' (types here: step_started)" in err
    assert cli("open", good_db, "--type", "node_created")[0] == 0 and no_ui


def test_copy_of_a_missing_run_names_the_runs_and_creates_nothing(tmp_path, cli, good_db):
    dest = tmp_path / "out.db"
    code, _, err = cli("copy", good_db, dest, "--run", "nope")
    assert code == 2
    assert err.strip() == f"agenttui copy: error: {good_db}: no run 'nope' (runs here: r2, r1)"
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out")) == []


def test_a_copy_that_fails_midway_removes_the_store_it_created(tmp_path, cli, good_db, monkeypatch):
    def broken(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr("agenttui.copy.copy_events", broken)
    dest = tmp_path / "out.db"
    code, _, err = cli("copy", good_db, dest)
    assert code == 2 and "No space left on device" in err
    assert not [p for p in tmp_path.iterdir() if p.name.startswith("out")]
    existing = tmp_path / "kept.db"
    with SQLiteStore(existing):
        pass
    assert cli("copy", good_db, existing)[0] == 2
    assert existing.exists(), "a store that was there before is never removed"
