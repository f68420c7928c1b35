"""`agenttui query` on Python 3.10, whose sqlite3 has no Connection.setlimit (added in 3.11).

The project supports 3.10 (requires-python), and query used to call setlimit unconditionally: every
query on a SQLite store failed with AttributeError there. The authorizer alone must still refuse ATTACH.
"""
from __future__ import annotations

import sqlite3
import sys
from pathlib import Path
from typing import Any

import pytest

from agenttui.cli import main as cli_main
from test_query import session


class _Python310Connection:
    """A sqlite3 connection as Python 3.10 has it: everything but setlimit."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def __getattr__(self, name: str) -> Any:
        if name == "setlimit":
            raise AttributeError(f"'sqlite3.Connection' object has no attribute {name!r}")
        return getattr(self._conn, name)


@pytest.fixture
def python310(monkeypatch: pytest.MonkeyPatch) -> None:
    real_connect = sqlite3.connect
    monkeypatch.setattr(sys, "version_info", (3, 10, 13, "final", 0))
    monkeypatch.setattr("agenttui.query.sqlite3.connect",
                        lambda *args, **kwargs: _Python310Connection(real_connect(*args, **kwargs)))


def test_query_runs_without_setlimit(tmp_path: Path, capsys: pytest.CaptureFixture[str], python310: None) -> None:
    db = session(tmp_path / "data", "t", 2)
    code = cli_main(["query", str(db), "SELECT count(*) AS n FROM runs"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert "1" in out


def test_attach_still_refused_without_setlimit(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                              python310: None) -> None:
    db = session(tmp_path / "data", "t", 2)
    out_file = tmp_path / "created.db"
    code = cli_main(["query", str(db), f"ATTACH DATABASE '{out_file}' AS x"])
    err = capsys.readouterr().err
    assert code == 2 and "the query was refused" in err and "ATTACH" in err, err
    assert not out_file.exists()
