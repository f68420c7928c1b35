"""`agenttui diff --json` and `--fail-on`, checked by exit code."""
from __future__ import annotations

import orjson
import pytest

from compare_fixtures import BASE, store_with, variant


@pytest.fixture
def db(tmp_path):
    worse = variant(**{"0.3": {"status": "FAILED", "tool_error": "boom", "tokens": (900, 300)}})
    store_with(tmp_path / "runs.db", base=BASE, same=BASE, worse=worse).close()
    return tmp_path / "runs.db"


def test_json_of_identical_runs(cli, db):
    code, out, err = cli("diff", db, "--run", "base", "--run", "same", "--json")
    assert code == 0, err
    d = orjson.loads(out)
    assert d["identical"] is True and d["first_divergence"] is None
    assert (d["a"]["run_id"], d["b"]["run_id"]) == ("base", "same")


def test_json_of_a_worse_run(cli, db):
    code, out, _ = cli("diff", db, "--run", "base", "--run", "worse", "--json")
    assert code == 0  # no --fail-on: a difference alone is not a failure
    d = orjson.loads(out)
    assert d["identical"] is False
    assert d["totals"]["total_tokens"]["delta"] == (900 + 300) - (100 + 20)
    assert [n["nid"] for n in d["new_errors"]] == ["0.3"]
    assert d["first_divergence"]["node_b"]["nid"] == "0.3"
    assert {"added", "removed", "changed", "unchanged", "paired"} <= set(d["nodes"])


@pytest.mark.parametrize("condition, expected", [
    ("new-errors", 1), ("divergence", 1), ("changed-nodes", 1), ("failed", 0), ("added-nodes", 0),
    ("removed-nodes", 0), ("tokens>10%", 1), ("tokens>200%", 0), ("tokens>1000", 1), ("tokens>2000", 0),
    ("errors>0", 1), ("errors>=5", 0), ("nodes>0", 0), ("duration>1000%", 0),
])
def test_fail_on_conditions(cli, db, condition, expected):
    code, out, err = cli("diff", db, "--run", "base", "--run", "worse", "--fail-on", condition)
    assert code == expected, (out, err)
    if expected:
        assert f"--fail-on {condition}:" in err
    assert f"--fail-on {condition}: {'MET' if expected else 'ok'}" in out


def test_fail_on_identical_runs_passes(cli, db):
    code, out, _ = cli("diff", db, "--run", "base", "--run", "same", "--json",
                       "--fail-on", "new-errors", "--fail-on", "divergence", "--fail-on", "tokens>0%")
    assert code == 0
    assert all(not c["met"] for c in orjson.loads(out)["fail_on"])


def test_two_targets(cli, tmp_path):
    store_with(tmp_path / "a.db", r=BASE).close()
    store_with(tmp_path / "b.db", r=variant(**{"0.1": {"tools": [("web.search", "sea otters")]}})).close()
    code, out, _ = cli("diff", tmp_path / "a.db", tmp_path / "b.db", "--json", "--fail-on", "divergence")
    assert code == 1
    d = orjson.loads(out)
    assert d["first_divergence"]["fields"] == ["arguments"]
    assert d["a"]["target"].endswith("a.db r") and d["b"]["target"].endswith("b.db r")


def test_latest_two_runs_by_default(cli, db):
    code, out, _ = cli("diff", db, "--json")
    assert code == 0
    d = orjson.loads(out)
    assert (d["a"]["run_id"], d["b"]["run_id"]) == ("same", "worse")


@pytest.mark.parametrize("argv, message", [
    (["--run", "base", "--run", "worse", "--fail-on", "tokns>5%"], "unknown metric 'tokns'"),
    (["--run", "base", "--run", "worse", "--fail-on", "more-bugs"], "expected one of new-errors"),
    (["--run", "base"], "give two runs"),
    (["--run", "base", "--run", "nope", "--json"], "no run 'nope'"),
    (["--run", "a", "--run", "b", "--run", "c"], "got 3 --run"),
])
def test_bad_usage_exits_2_with_a_clear_message(cli, db, argv, message):
    code, out, err = cli("diff", db, *argv)
    assert code == 2
    assert message in err and out == ""


def test_missing_store(cli, tmp_path):
    code, _, err = cli("diff", tmp_path / "nope.db", tmp_path / "nope2.db", "--json")
    assert code == 2 and "nope.db" in err
