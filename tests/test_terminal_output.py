"""diff --json, stats --json and report's messages never carry raw control or bidi characters (issue 17.6)."""
from __future__ import annotations

from pathlib import Path

import orjson

from agenttui.store import SQLiteStore

HOSTILE = "goal \x9b31m \u202eevil\u202c \x1b]52;c;AAAA\x07 end"


def _two_runs(db: Path) -> None:
    with SQLiteStore(db) as store:
        for run, goal in (("A", "plain goal"), ("B", HOSTILE)):
            store.append([
                {"event_id": f"{run}-1", "run_id": run, "event_type": "node_created",
                 "payload": {"node_id": f"{run}-n", "node_nid": "0", "node_type": "PLAN_NODE", "task_goal": goal}},
                {"event_id": f"{run}-2", "run_id": run, "event_type": "node_status_changed",
                 "payload": {"node_id": f"{run}-n", "old_status": "READY", "new_status": "FINISH"}},
            ])


def _strings(value: object) -> set[str]:
    if isinstance(value, str):
        return {value}
    if isinstance(value, dict):
        return set().union(*map(_strings, value.values())) if value else set()
    if isinstance(value, list):
        return set().union(*map(_strings, value)) if value else set()
    return set()


def test_diff_json_escapes_controls_and_stays_exact_json(tmp_path: Path, cli) -> None:
    db = tmp_path / "runs.db"
    _two_runs(db)
    code, out, err = cli("diff", db, "--run", "A", "--run", "B", "--json")
    assert code == 0, err
    for raw in ("\x9b", "\u202e", "\x1b", "\x07"):
        assert raw not in out
    assert "\\u009b" in out and "\\u202e" in out
    assert HOSTILE in _strings(orjson.loads(out)), "the JSON still decodes to the exact text"


def test_report_message_names_a_hostile_output_path_escaped(tmp_path: Path, cli) -> None:
    db = tmp_path / "runs.db"
    _two_runs(db)
    target = tmp_path / "rep\u202eort.md"
    code, _out, err = cli("report", db, "--run", "B", "-o", target)
    assert code == 0, err
    assert "\u202e" not in err and target.exists()
