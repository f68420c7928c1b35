"""The run summary: percentiles against a direct computation, calls, critical path, prices, the panel."""
from __future__ import annotations

import math
import random

import orjson
import pytest

from agenttui.report import load_prices, percentile, summarize_run, PriceError
from agenttui.report.critical_path import critical_path, graph_shape, plan_graph
from agenttui.compare import PlanTree
from agenttui.tui.screens.summary import SummaryScreen
from compare_fixtures import BASE, agent_run, store_with, variant
from textual.app import App
from tui_support import wait_for


def _direct(values, p):
    """Nearest rank, written out: the smallest value with at least p% of the values <= it."""
    ordered = sorted(values)
    for v in ordered:
        if sum(1 for x in ordered if x <= v) >= p / 100 * len(ordered):
            return v


@pytest.mark.parametrize("n", [1, 2, 7, 100, 1001])
def test_percentile_matches_direct_computation(n):
    rng = random.Random(n)
    values = [round(rng.uniform(0.01, 30), 3) for _ in range(n)]
    for p in (50, 95, 99, 100):
        assert percentile(sorted(values), p) == _direct(values, p)
    assert percentile([], 50) is None


def test_per_model_and_tool_figures(tmp_path):
    rng = random.Random(5)
    spec = [BASE[0]] + [{"nid": f"0.{i}", "goal": f"step {i}", "model": rng.choice(["big", "small"]),
                         "llm_seconds": round(rng.uniform(0.1, 5), 3), "tokens": (rng.randrange(10, 500), rng.randrange(1, 90)),
                         "tools": [("search", f"q{i}")], "tool_seconds": round(rng.uniform(0.1, 2), 3),
                         **({"tool_error": "boom"} if i % 7 == 0 else {})}
                        for i in range(1, 60)]
    store = store_with(tmp_path / "s.db", r=spec)
    summary = summarize_run(store, "r")
    d = summary.to_dict()
    for g in d["models"]:
        mine = [n for n in spec if n.get("model", "m-large") == g["name"]]
        lat = [n.get("llm_seconds", 1.0) for n in mine]
        assert g["count"] == len(mine)
        assert (g["p50"], g["p95"], g["p99"], g["max"]) == (_direct(lat, 50), _direct(lat, 95), _direct(lat, 99), max(lat))
        assert g["prompt_tokens"] == sum(n.get("tokens", (100, 20))[0] for n in mine)
        assert g["completion_tokens"] == sum(n.get("tokens", (100, 20))[1] for n in mine)
    [tool] = d["tools"]
    tool_lat = [n["tool_seconds"] for n in spec[1:]]
    assert (tool["name"], tool["count"], tool["errors"]) == ("search", 59, sum(1 for i in range(1, 60) if i % 7 == 0))
    assert (tool["p50"], tool["p95"], tool["max"]) == (_direct(tool_lat, 50), _direct(tool_lat, 95), max(tool_lat))
    slow = d["slowest_calls"]
    assert [c["seconds"] for c in slow] == sorted((c["seconds"] for c in slow), reverse=True)
    assert slow[0]["seconds"] == max(tool_lat + [n["llm_seconds"] for n in spec[1:]])
    assert sum(d["event_types"].values()) == d["events"]
    assert sum(round(r * d["events_per_second"]["bucket_seconds"]) for r in d["events_per_second"]["rates"]) == d["events"]


def test_critical_path_follows_the_longest_child(tmp_path):
    spec = [BASE[0], {"nid": "0.1", "goal": "quick", "llm_seconds": 1.0},
            {"nid": "0.2", "goal": "slow plan", "type": "PLAN_NODE", "llm_seconds": 2.0},
            {"nid": "0.2.1", "goal": "slowest leaf", "llm_seconds": 30.0},
            {"nid": "0.2.2", "goal": "fast leaf", "llm_seconds": 1.0},
            {"nid": "0.3", "goal": "medium", "llm_seconds": 5.0}]
    d = summarize_run(store_with(tmp_path / "c.db", r=spec), "r").to_dict()
    assert [s["nid"] for s in d["critical_path"]] == ["0", "0.2", "0.2.1"]
    assert d["plan_is_tree"] is True and d["plan_problems"] == []
    # the root runs from its first step to its last event: nearly all of the run (not run_started, node_created)
    assert 0.95 < d["critical_path"][0]["share"] <= 1.0


def test_edges_that_are_not_a_tree_are_named(tmp_path):
    events = agent_run("r", BASE)
    ids = {e["payload"]["node_nid"]: e["payload"]["node_id"] for e in events if e["event_type"] == "node_created"}
    extra = [{"event_id": f"x{i}", "run_id": "r", "event_type": "edge_added", "timestamp": "2026-03-01T10:00:00Z",
              "payload": {"parent_node_id": ids[p], "child_node_id": ids[c]}} for i, (p, c) in enumerate([("0.1", "0.3"), ("0.3", "0.1")])]
    store = store_with(tmp_path / "bad.db", r=events + extra)
    d = summarize_run(store, "r").to_dict()
    assert d["plan_is_tree"] is False
    problems = " | ".join(d["plan_problems"])
    assert "node 0.3 has 2 parents (0, 0.1)" in problems
    assert "cycle" in problems and "0.1" in problems
    assert [s["nid"] for s in d["critical_path"]][0] == "0"  # the walk still ends


def test_prices(tmp_path):
    prices = tmp_path / "prices.toml"
    prices.write_text('currency = "EUR"\n[models."m-large"]\ninput = 3.0\noutput = 15.0\n')
    store = store_with(tmp_path / "p.db", r=variant(**{"0.1": {"model": "other"}}))
    d = summarize_run(store, "r", prices=load_prices(prices)).to_dict()
    large = next(g for g in d["models"] if g["name"] == "m-large")
    assert large["cost"] == pytest.approx((large["prompt_tokens"] * 3 + large["completion_tokens"] * 15) / 1e6)
    assert d["cost"] == {"currency": "EUR", "total": round(large["cost"], 6), "unpriced_models": ["other"]}
    assert "cost" not in summarize_run(store, "r").to_dict()


@pytest.mark.parametrize("text, message", [
    ('[models."m"]\ninput = 1\noutput = \n', "not valid TOML: .*line 3"),
    ('[models."m"]\ninput = 1\n', r"models.'m' has no output price"),
    ('[models."m"]\ninput = -1\noutput = 2\n', r"models.'m'.input must be a finite price >= 0"),
    ('[models."m"]\ninput = "cheap"\noutput = 2\n', r"models.'m'.input must be a number"),
    ('[models."m"]\ninput = 1\noutput = 2\nextra = 3\n', "unknown key 'extra'"),
    ('currency = "USD"\n', "no \\[models"),
])
def test_bad_price_tables_name_the_problem(tmp_path, text, message):
    path = tmp_path / "prices.toml"
    path.write_text(text)
    with pytest.raises(PriceError, match=message):
        load_prices(path)
    with pytest.raises(PriceError, match="no such price table"):
        load_prices(tmp_path / "missing.toml")


def test_stats_command(cli, tmp_path):
    store = store_with(tmp_path / "s.db", r=variant(**{"0.3": {"tool_error": "boom", "status": "FAILED"}}))
    store.close()
    code, out, err = cli("stats", tmp_path / "s.db", "--run", "r")
    assert code == 0, err
    for section in ("Slowest calls", "Slowest nodes", "Models", "Tools", "Critical path", "Events per second"):
        assert section in out
    code, out, _ = cli("stats", tmp_path / "s.db", "--run", "r", "--json")
    d = orjson.loads(out)
    assert d["tools"][0]["name"] in {"web.search", "web.fetch", "db.query"} and d["errors"] > 0
    code, _, err = cli("stats", tmp_path / "s.db", "--run", "nope")
    assert code == 2 and "no run 'nope'" in err
    bad = tmp_path / "bad.toml"
    bad.write_text("[models\n")
    code, _, err = cli("stats", tmp_path / "s.db", "--run", "r", "--prices", bad)
    assert code == 2 and "not valid TOML" in err


@pytest.mark.anyio
async def test_summary_screen(tmp_path):
    store_with(tmp_path / "s.db", r=BASE).close()

    class Host(App):
        def on_mount(self) -> None:
            self.push_screen(SummaryScreen(tmp_path / "s.db", "r"))

    app = Host()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen) and app.screen.summary is not None,
                       "the summary to be computed")
        text = str(app.screen.query_one("#summary").render())
        assert "Critical path" in text and "m-large" in text and "Events per second" in text
        await pilot.press("escape")
        assert not isinstance(app.screen, SummaryScreen)
    app = type("Missing", (App,), {"on_mount": lambda self: self.push_screen(SummaryScreen(tmp_path / "s.db", "nope"))})()
    async with app.run_test(size=(120, 40)) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SummaryScreen) and app.screen.error is not None,
                       "the error to be shown")
        assert "no run 'nope'" in app.screen.error
