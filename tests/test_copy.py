"""`agenttui copy`: SQLite -> PostgreSQL -> SQLite keeps every event as it was, and is idempotent."""
from __future__ import annotations

import orjson

from agenttui.cli import main
from agenttui.store import SQLiteStore, open_store
from pg_server import pg_schemas, pg_server_url, pg_url  # noqa: F401  (fixtures)
from store_fixtures import SAMPLE_RUN, sample_events


def _envelopes(store) -> list[dict]:
    return [e.to_envelope() for e in store.iter_events()]


def _copy(capsys, *argv: str) -> dict:
    assert main(["copy", *argv, "--json"]) == 0
    return orjson.loads(capsys.readouterr().out)


def test_round_trip_through_postgres_is_lossless_and_idempotent(tmp_path, pg_url, capsys):
    local = tmp_path / "agent.db"
    with SQLiteStore(local) as s:
        s.append(sample_events())
        original = _envelopes(s)
        original_states = {r["run_id"]: s.stored_state(r["run_id"]).comparable() for r in s.runs()}

    first = _copy(capsys, str(local), pg_url)
    assert (first["read"], first["stored"], first["already_there"]) == (184, 184, 0)
    again = _copy(capsys, str(local), pg_url)
    assert (again["stored"], again["already_there"]) == (0, 184)

    back = tmp_path / "back.db"
    assert _copy(capsys, pg_url, str(back))["stored"] == 184
    assert _copy(capsys, pg_url, str(back))["stored"] == 0
    with open_store(pg_url) as team, SQLiteStore(back) as s:
        assert _envelopes(team) == original
        assert _envelopes(s) == original
        assert [e.position for e in s.iter_events()] == list(range(1, 185))
        for run_id, state in original_states.items():
            assert team.stored_state(run_id).comparable() == state
            assert s.stored_state(run_id).comparable() == state
        assert team.check() == [] and s.check() == []


def test_copy_one_run_and_a_missing_run(tmp_path, pg_url, capsys):
    local = tmp_path / "agent.db"
    with SQLiteStore(local) as s:
        s.append(sample_events())
    report = _copy(capsys, str(local), pg_url, "--run", "unassigned")
    assert (report["runs"], report["stored"]) == (["unassigned"], 2)
    with open_store(pg_url) as team:
        assert [r["run_id"] for r in team.runs()] == ["unassigned"]
        assert all(e["run_id"] is None for e in _envelopes(team))
    assert main(["copy", str(local), pg_url, "--run", "no-such-run"]) == 2
    err = capsys.readouterr().err
    assert "no run 'no-such-run'" in err and SAMPLE_RUN in err
