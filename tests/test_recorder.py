"""The Recorder: run lifecycle, nodes across threads and tasks, instrumented tools, LLM calls, flushing.

Every test reads back through a separate store object, so what is asserted is what reached the
file, not what the recorder holds in memory.
"""
from __future__ import annotations

import asyncio
import logging
import os
import re
import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from agenttui import Recorder
from agenttui.store import SQLiteStore

REPO = Path(__file__).resolve().parents[1]


def read(path: Path) -> SQLiteStore:
    return SQLiteStore(path, readonly=True)


def events(path: Path, *types: str) -> list:
    with read(path) as store:
        return store.events(types=list(types) if types else None, limit=None)


def nodes_by_nid(path: Path, run_id: str) -> dict[str, dict[str, Any]]:
    with read(path) as store:
        return {n["node_nid"]: n for n in store.nodes(run_id)}


def parent_nid(path: Path, run_id: str) -> dict[str, str]:
    """child nid -> parent nid, from the edges projection."""
    with read(path) as store:
        return {e["child_nid"]: e["parent_nid"] for e in store.edges(run_id)}


def consistent(path: Path) -> list[str]:
    with read(path) as store:
        return store.check()


# ---------------------------------------------------------------------------------- run lifecycle

def test_a_run_records_start_root_node_and_finish_with_totals(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with Recorder(db, task="write a market report", model="m-1", agent="tester") as run:
        with run.node("Research", task_type="RETRIEVAL"):
            run.instrument(lambda q: q.upper(), name="shout")("hi")
            with run.llm_call("m-1", "hello") as call:
                call.complete("world", prompt_tokens=7, completion_tokens=3)
    evs = events(db)
    assert evs[0].event_type == "run_started"
    assert evs[0].payload["task"] == "write a market report"
    assert evs[0].payload["config"]["model"] == "m-1"
    assert evs[-1].event_type == "run_finished"
    totals = evs[-1].payload
    assert totals["total_nodes"] == 2 and totals["total_steps"] == 1
    assert totals["total_tool_calls"] == 1 and totals["total_llm_calls"] == 1
    assert totals["token_usage_summary"] == {"prompt_tokens": 7, "completion_tokens": 3, "total_tokens": 10}
    assert totals["duration_seconds"] >= 0
    with read(db) as store:
        summary = store.run(run.run_id)
    assert summary["status"] == "completed"
    assert summary["task"] == "write a market report" and summary["model"] == "m-1"
    assert (summary["prompt_tokens"], summary["completion_tokens"]) == (7, 3)
    nodes = nodes_by_nid(db, run.run_id)
    assert nodes["0"]["task_goal"] == "write a market report"
    assert nodes["0"]["status"] == "FINISH" and nodes["1"]["status"] == "FINISH"
    assert summary["root_node_id"] == nodes["0"]["node_id"]
    assert consistent(db) == []


def test_an_exception_leaving_the_run_records_run_error_and_is_reraised(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    boom = ValueError("the model returned nonsense")

    def deep_in_the_agent() -> None:
        raise boom

    with pytest.raises(ValueError) as info:
        with Recorder(db, task="t") as run:
            with run.node("outer"):
                with run.node("inner"):
                    deep_in_the_agent()
    assert info.value is boom
    err = events(db, "run_error")
    assert len(err) == 1
    p = err[0].payload
    assert p["error_type"] == "ValueError"
    assert p["error_message"] == "the model returned nonsense"
    assert "deep_in_the_agent" in p["stack_trace"] and "Traceback" in p["stack_trace"]
    nodes = nodes_by_nid(db, run.run_id)
    assert p["node_id"] == nodes["1.1"]["node_id"], "run_error names the node the error came from"
    assert {n["status"] for n in nodes.values()} == {"FAILED"}
    with read(db) as store:
        summary = store.run(run.run_id)
    assert summary["status"] == "error" and summary["error_message"] == "the model returned nonsense"
    assert not events(db, "run_finished")
    assert consistent(db) == []


def test_sys_exit_zero_inside_the_run_is_a_normal_finish(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with pytest.raises(SystemExit):
        with Recorder(db, task="t"):
            sys.exit(0)
    assert events(db, "run_finished") and not events(db, "run_error")


def test_explicit_start_and_finish_without_a_with_block(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    run = Recorder(db, task="t").start()
    run.decision("d", context="c")
    run.finish()
    run.finish()  # a second finish is a no-op
    assert [e.event_type for e in events(db)][-1] == "run_finished"
    with pytest.raises(RuntimeError, match="already started"):
        run.start()


def test_misuse_gets_clear_errors(tmp_path: Path) -> None:
    run = Recorder(tmp_path / "run.db", task="t")
    with pytest.raises(RuntimeError, match="has not started"):
        run.node("too early")
    with pytest.raises(TypeError, match="database path or a store"):
        Recorder(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="run_id must be a non-empty string"):
        Recorder(tmp_path / "x.db", run_id="a\x00b")
    with pytest.raises(ValueError, match="flush_interval"):
        Recorder(tmp_path / "x.db", flush_interval=0)
    with run:
        with pytest.raises(ValueError, match="event_type must be a string of 1 to 200 characters"):
            run.event("")
        with pytest.raises(ValueError, match="event_type"):
            run.event("x" * 201)
        with pytest.raises(TypeError, match="needs a function"):
            run.instrument(3)


def test_events_after_the_run_closed_are_dropped_with_one_warning(tmp_path: Path, caplog) -> None:
    db = tmp_path / "run.db"
    with Recorder(db, task="t") as run:
        tool = run.instrument(lambda: 1, name="late_tool")
    caplog.set_level(logging.WARNING, logger="agenttui.recorder")
    assert tool() == 1  # an instrumented function keeps working after the run ended
    run.decision("late")
    run.decision("later")
    assert [e.event_type for e in events(db)][-1] == "run_finished"
    warnings = [r for r in caplog.records if "is closed" in r.getMessage()]
    assert len(warnings) == 1


def test_a_recorder_on_an_open_store_leaves_it_open(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "run.db")
    with Recorder(store, task="t") as run:
        run.decision("d")
    assert store.run(run.run_id)["status"] == "completed"  # still usable
    store.close()


# ------------------------------------------------------------------------------------------ nodes

def test_nested_nodes_get_hierarchical_nids_edges_and_statuses(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with Recorder(db, task="t") as run:
        with run.node("a", task_type="COMPOSITION", node_type="PLAN_NODE") as a:
            with run.node("a1"):
                with run.node("a1x") as deep:
                    assert run.current_node() is deep
            with run.node("a2"):
                pass
            assert run.current_node() is a
        with run.node("b"):
            pass
        assert run.current_node() is run.root
    nodes = nodes_by_nid(db, run.run_id)
    assert sorted(nodes) == ["0", "1", "1.1", "1.1.1", "1.2", "2"]
    assert parent_nid(db, run.run_id) == {"1": "0", "1.1": "1", "1.1.1": "1.1", "1.2": "1", "2": "0"}
    assert nodes["1"]["task_type"] == "COMPOSITION" and nodes["1"]["node_type"] == "PLAN_NODE"
    assert nodes["1.1.1"]["layer"] == 3 and nodes["0"]["layer"] == 0
    assert all(n["status"] == "FINISH" for n in nodes.values())
    statuses = [(e.payload["old_status"], e.payload["new_status"]) for e in events(db, "node_status_changed")
                if e.node_id == nodes["1.1"]["node_id"]]
    assert statuses == [("NOT_READY", "DOING"), ("DOING", "FINISH")]
    assert consistent(db) == []


def test_an_exception_in_a_node_fails_it_and_propagates(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with Recorder(db, task="t") as run:
        with run.node("parent"):
            with pytest.raises(KeyError):
                with run.node("child"):
                    raise KeyError("missing")
            with run.node("sibling"):
                pass
    nodes = nodes_by_nid(db, run.run_id)
    assert nodes["1.1"]["status"] == "FAILED"
    assert nodes["1"]["status"] == "FINISH" and nodes["1.2"]["status"] == "FINISH"
    failed = [e for e in events(db, "node_status_changed") if e.payload["new_status"] == "FAILED"]
    assert failed[0].payload["error_type"] == "KeyError"
    assert failed[0].payload["error_message"] == "'missing'"
    with read(db) as store:
        assert store.run(run.run_id)["status"] == "completed"  # the agent handled it


def test_node_results_custom_statuses_and_explicit_parents(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with Recorder(db, task="t", root_node=False) as run:
        with run.node("plan") as plan:
            plan.set_status("PLAN_DONE")
            plan.result({"steps": ["x", "y"]}, action_name="plan")
        detached = run.node("detached", parent=plan).start()
        detached.finish(status="NEED_UPDATE")
        with run.node("second"):
            pass
    nodes = nodes_by_nid(db, run.run_id)
    assert sorted(nodes) == ["1", "1.1", "2"], "without a root node, top-level nodes are 1, 2, ..."
    assert nodes["1"]["result"] == {"action_name": "plan", "result_summary": '{"steps":["x","y"]}'}
    assert nodes["1.1"]["status"] == "NEED_UPDATE"
    assert [e.payload["new_status"] for e in events(db, "node_status_changed")
            if e.node_id == nodes["1"]["node_id"]] == ["DOING", "PLAN_DONE", "FINISH"]


def test_nodes_opened_in_bound_threads_nest_and_get_unique_nids(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with Recorder(db, task="t") as run:
        def work(i: int) -> str:
            with run.node(f"worker {i}") as node:
                with run.node(f"worker {i} step"):
                    run.decision("d", context=i)
                return node.nid

        with run.node("fan out"):
            with ThreadPoolExecutor(max_workers=8) as pool:
                nids = list(pool.map(run.bind(work), range(16)))
    assert sorted(nids) == sorted(f"1.{i}" for i in range(1, 17))
    parents = parent_nid(db, run.run_id)
    for nid in nids:
        assert parents[nid] == "1" and parents[f"{nid}.1"] == nid
    log = events(db)
    assert [e.timestamp for e in log] == sorted(e.timestamp for e in log), "log order is time order"
    assert [e.event_id for e in log] == sorted(e.event_id for e in log), "and id order"
    for d in events(db, "decision"):  # each decision belongs to its own thread's innermost node
        with read(db) as store:
            assert store.node(run.run_id, d.node_id)["task_goal"] == f"worker {d.payload['context']} step"
    assert consistent(db) == []


def test_a_thread_started_without_bind_records_under_the_root(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with Recorder(db, task="t") as run:
        with run.node("main thread node"):
            t = threading.Thread(target=lambda: run.node("orphan").__enter__().__exit__(None, None, None))
            t.start()
            t.join()
    parents = parent_nid(db, run.run_id)
    nodes = nodes_by_nid(db, run.run_id)
    orphan = next(nid for nid, n in nodes.items() if n["task_goal"] == "orphan")
    assert parents[orphan] == "0"


def test_asyncio_tasks_nest_under_the_node_that_awaits_them(tmp_path: Path) -> None:
    db = tmp_path / "run.db"

    async def agent(run: Recorder) -> None:
        @run.instrument
        async def fetch(url: str) -> str:
            await asyncio.sleep(0.001)
            return url

        async def task(i: int) -> None:
            with run.node(f"task {i}"):
                await asyncio.sleep(0.001 * (3 - i))  # interleave the tasks
                await fetch(f"u{i}")
                async with run.node(f"task {i} inner"):
                    await asyncio.sleep(0)

        with run.node("gather"):
            await asyncio.gather(*(task(i) for i in range(3)))

    with Recorder(db, task="t") as run:
        asyncio.run(agent(run))
    nodes = nodes_by_nid(db, run.run_id)
    parents = parent_nid(db, run.run_id)
    by_goal = {n["task_goal"]: nid for nid, n in nodes.items()}
    for i in range(3):
        assert parents[by_goal[f"task {i}"]] == "1"
        assert parents[by_goal[f"task {i} inner"]] == by_goal[f"task {i}"]
    for e in events(db, "tool_invoked"):  # each call is attributed to the task that made it
        with read(db) as store:
            goal = store.node(run.run_id, e.node_id)["task_goal"]
        assert goal == f"task {e.payload['args']['url'][1:]}"


# ------------------------------------------------------------------------------------ instrument

def test_instrument_records_arguments_result_and_duration(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with Recorder(db, task="t") as run:
        @run.instrument
        def web_search(query: str, limit: int = 3, **options: Any) -> dict:
            """Search the web."""
            return {"hits": [query] * limit}

        assert web_search("agents", limit=2, lang="en") == {"hits": ["agents", "agents"]}
        assert web_search.__name__ == "web_search" and web_search.__doc__ == "Search the web."
    inv, = events(db, "tool_invoked")
    ret, = events(db, "tool_returned")
    assert inv.payload["tool_name"] == "web_search"
    assert inv.payload["api_name"].endswith("web_search")
    assert inv.payload["args"] == {"query": "agents", "limit": 2, "lang": "en"}
    assert inv.payload["args_summary"] == "query='agents', limit=2, lang='en'"
    assert ret.payload["state"] == "SUCCESS" and "error" not in ret.payload
    assert ret.payload["result"] == {"hits": ["agents", "agents"]}
    assert ret.payload["call_id"] == inv.event_id
    assert ret.payload["duration_seconds"] >= 0
    assert ret.node_id == inv.node_id is not None


def test_a_failing_tool_is_recorded_and_its_exception_reraised_unchanged(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    err = TimeoutError("upstream did not answer")
    with Recorder(db, task="t") as run:
        @run.instrument(name="price", api_name="shop.price")
        def price(item: str) -> float:
            raise err

        with run.node("n"):
            with pytest.raises(TimeoutError) as info:
                price("book")
        assert info.value is err
    ret, = events(db, "tool_returned")
    assert ret.payload["tool_name"] == "price" and ret.payload["api_name"] == "shop.price"
    assert ret.payload["state"] == "FAILED"
    assert ret.payload["error"] == "TimeoutError: upstream did not answer"
    assert ret.payload["error_type"] == "TimeoutError"
    with read(db) as store:
        assert store.run(run.run_id)["error_count"] == 1
        assert store.run(run.run_id)["status"] == "completed"


def test_instrument_async_functions_and_generators(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with Recorder(db, task="t") as run:
        @run.instrument
        async def fetch(url: str) -> int:
            await asyncio.sleep(0)
            return len(url)

        @run.instrument
        async def explode() -> None:
            raise RuntimeError("async failure")

        @run.instrument
        def numbers(n: int):
            yield from range(n)
            return "done"

        @run.instrument
        async def stream(n: int):
            for i in range(n):
                yield i

        async def main() -> list[int]:
            assert await fetch("abcd") == 4
            with pytest.raises(RuntimeError):
                await explode()
            return [i async for i in stream(3)]

        assert asyncio.run(main()) == [0, 1, 2]
        assert list(numbers(4)) == [0, 1, 2, 3]
        gen = numbers(10)
        next(gen)
        gen.close()  # a consumer stopping early is not a tool failure
    returned = {e.payload["tool_name"] + str(i): e.payload
                for i, e in enumerate(events(db, "tool_returned"))}
    states = [(p["tool_name"], p["state"], p.get("result")) for p in returned.values()]
    assert states == [("fetch", "SUCCESS", 4), ("explode", "FAILED", None),
                      ("stream", "SUCCESS", "<async generator: 3 items>"), ("numbers", "SUCCESS", "done"),
                      ("numbers", "CLOSED", None)]
    with read(db) as store:
        assert store.run(run.run_id)["error_count"] == 1


def test_values_json_cannot_hold_are_summarised_never_crash(tmp_path: Path) -> None:
    db = tmp_path / "run.db"

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("repr is broken")

        def __str__(self) -> str:
            raise RuntimeError("str is broken")

    cyclic: list[Any] = [1]
    cyclic.append(cyclic)
    weird = {"nan": float("nan"), "inf": float("-inf"), "bytes": b"\x00\xff", "set": {3}, "big": 10 ** 40,
             "cyclic": cyclic, (1, 2): "tuple key", "obj": Hostile(), "long": "x" * 100_000,
             "deep": [[[[[[[[["bottom"]]]]]]]]]}
    with Recorder(db, task="t") as run:
        @run.instrument
        def tool(arg: Any) -> Any:
            return arg

        assert tool(weird) is weird
        run.decision("odd", context=weird, reasoning=Hostile(), chosen_action=float("nan"))
        run.artifact("blob", content=weird)
        run.event("custom", value=weird)
        with run.llm_call("m", prompt=Hostile()) as call:
            call.complete(Hostile(), token_usage={"prompt_tokens": 1})

        class BadError(Exception):
            def __str__(self) -> str:
                raise RuntimeError("no message")

        @run.instrument
        def fails() -> None:
            raise BadError()

        with pytest.raises(BadError):
            fails()
    args = events(db, "tool_invoked")[0].payload["args"]["arg"]
    assert args["nan"] == "nan" and args["inf"] == "-inf" and args["bytes"] == "<2 bytes>"
    assert args["big"] == str(10 ** 40) and args["set"] == [3]
    assert args["cyclic"][1].startswith("<cycle")
    assert args["obj"].endswith("Hostile object (repr failed)>")
    assert len(args["long"]) <= 2000
    assert [e.event_type for e in events(db)][-1] == "run_finished"
    assert consistent(db) == []


def test_an_event_the_store_refuses_is_replaced_not_lost_with_its_batch(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    store = SQLiteStore(db, max_payload_bytes=50_000)
    with Recorder(store, task="t") as run:
        run.decision("before")
        run.artifact("file", path="big.txt", content="y" * 200_000)  # over this store's limit
        run.decision("after")
    types = [e.event_type for e in store.events(limit=None)]
    assert types.count("decision") == 2 and types[-1] == "run_finished"
    art, = store.events(types=["artifact"], limit=None)
    assert "over the 50,000-byte limit" in art.payload["recording_error"]
    store.close()


# ------------------------------------------------------------------------------ LLM calls, others

def test_llm_calls_as_context_manager_and_explicit_start_complete(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with Recorder(db, task="t", model="default-model") as run:
        with run.node("n"):
            with run.llm_call(prompt=[{"role": "user", "content": "Summarise\nthis"}], agent_class="Executor") as c:
                c.complete({"text": "ok"}, prompt_tokens=100, completion_tokens=20, finish_reason="stop")
            call = run.llm_call("other-model", "plan it", agent_class="Planner").start()
            call.complete("a plan", token_usage={"prompt_tokens": 5, "completion_tokens": 1})
            call.complete("ignored")  # only the first completion counts
            with pytest.raises(ConnectionError):
                with run.llm_call("m", "x"):
                    raise ConnectionError("rate limited")
    started = events(db, "llm_call_started")
    done = events(db, "llm_call_completed")
    assert [e.payload["model"] for e in started] == ["default-model", "other-model", "m"]
    assert started[0].payload["prompt_preview"] == "Summarise this"
    assert started[0].payload["agent_class"] == "Executor"
    assert len(done) == 3
    assert done[0].payload["token_usage"] == {"prompt_tokens": 100, "completion_tokens": 20}
    assert done[0].payload["response"] == {"text": "ok"} and done[0].payload["finish_reason"] == "stop"
    assert done[1].payload["call_id"] == started[1].event_id
    assert done[2].payload["error"] == "ConnectionError: rate limited"
    with read(db) as store:
        s = store.run(run.run_id)
    assert (s["llm_calls"], s["prompt_tokens"], s["completion_tokens"], s["error_count"]) == (3, 105, 21, 1)
    assert events(db, "run_finished")[0].payload["token_usage_summary"]["total_tokens"] == 126


def test_decisions_artifacts_and_custom_events_belong_to_the_current_node(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with Recorder(db, task="t") as run:
        with run.node("choose") as node:
            run.decision("pick_source", context="3 sources", reasoning="most recent", chosen_action="source 2",
                         confidence=0.8)
            run.artifact("file", path=Path("report.md"), content="# Report")
            run.event("FundsDeposited", {"amount": 10}, asset="USD")
    d, = events(db, "decision")
    a, = events(db, "artifact")
    f, = events(db, "FundsDeposited")
    assert d.payload == {"decision_type": "pick_source", "context": "3 sources", "reasoning": "most recent",
                         "chosen_action": "source 2", "confidence": 0.8}
    assert a.payload == {"artifact_type": "file", "path": "report.md", "content": "# Report"}
    assert f.payload == {"amount": 10, "asset": "USD"}
    assert d.node_id == a.node_id == f.node_id == node.node_id


# ------------------------------------------------------------------------------------ flushing

def test_a_new_event_becomes_visible_to_another_connection_quickly(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with Recorder(db, task="t") as run:
        run.flush()
        reader = read(db)
        latencies = []
        for i in range(5):
            time.sleep(0.03)  # let the flusher go idle: measure a lone event, the worst case
            t0 = time.perf_counter()
            event_id = run.decision("probe", context=i)
            while reader.get_event(event_id) is None:
                assert time.perf_counter() - t0 < 2.0, "event not visible after 2 s"
                time.sleep(0.0005)
            latencies.append(time.perf_counter() - t0)
        reader.close()
    latencies.sort()
    print(f"\nrecord -> visible in another connection: median {latencies[2] * 1000:.1f} ms, "
          f"max {latencies[-1] * 1000:.1f} ms (flush_interval {run.flush_interval * 1000:.0f} ms)")


def test_flush_commits_everything_recorded_so_far(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with Recorder(db, task="t", flush_interval=60) as run:  # the flusher alone would wait a minute
        for i in range(100):
            run.decision("d", context=i)
        run.flush()
        assert len(events(db, "decision")) == 100
        assert run.stats()["buffered"] == 0


def test_backpressure_keeps_every_event_when_the_buffer_fills(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with Recorder(db, task="t", max_buffer=10) as run:
        for i in range(500):
            run.event("tick", i=i)
    ticks = events(db, "tick")
    assert [e.payload["i"] for e in ticks] == list(range(500))


class FlakyStore:
    """A store whose first appends fail like a locked or full disk would."""

    def __init__(self, inner: SQLiteStore, failures: int) -> None:
        self.inner = inner
        self.failures = failures
        self.path = inner.path

    def append(self, events: Any) -> Any:
        if self.failures > 0:
            self.failures -= 1
            raise sqlite3.OperationalError("database is locked")
        return self.inner.append(events)


def test_a_write_failure_is_retried_and_never_raised_into_the_agent(tmp_path: Path, caplog) -> None:
    caplog.set_level(logging.WARNING, logger="agenttui.recorder")
    inner = SQLiteStore(tmp_path / "run.db")
    with Recorder(FlakyStore(inner, failures=3), task="t") as run:
        for i in range(20):
            run.decision("d", context=i)
    assert len(inner.events(types=["decision"], limit=None)) == 20
    assert inner.run(run.run_id)["status"] == "completed"
    assert any("database is locked" in r.getMessage() for r in caplog.records)
    assert run.stats()["lost"] == 0
    inner.close()


def _run_script(code: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=REPO)


def test_interpreter_exit_flushes_and_closes_a_run_left_open(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    proc = _run_script("""
        import sys
        from agenttui import Recorder
        run = Recorder(sys.argv[1], task="left open", flush_interval=60).start()
        for i in range(300):
            run.event("tick", i=i)
        # no finish(), no flush(): only the atexit hook can save these
    """, str(db))
    assert proc.returncode == 0, proc.stderr
    assert len(events(db, "tick")) == 300
    assert events(db)[-1].event_type == "run_finished"
    assert consistent(db) == []


def test_an_uncaught_exception_at_exit_closes_the_run_as_an_error(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    proc = _run_script("""
        import sys
        from agenttui import Recorder
        run = Recorder(sys.argv[1], task="dies", flush_interval=60).start()
        run.event("tick")
        raise LookupError("no such thing")
    """, str(db))
    assert proc.returncode == 1 and "LookupError" in proc.stderr
    err, = events(db, "run_error")
    assert err.payload["error_type"] == "LookupError"
    assert err.payload["error_message"] == "no such thing"
    assert events(db, "tick")


def test_sigkill_mid_run_keeps_every_committed_event_and_the_run_unfinished(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    code = textwrap.dedent("""
        import sys, time
        from agenttui import Recorder
        run = Recorder(sys.argv[1], task="doomed").start()
        i = 0
        while True:
            with run.node(f"step {i}"):
                run.instrument(lambda x: x * 2, name="double")(i)
            i += 1
            if i == 100:
                run.flush()
                print(f"flushed {run.committed}", flush=True)
            if i % 20 == 0:
                time.sleep(0.002)
    """)
    proc = subprocess.Popen([sys.executable, "-c", code, str(db)], stdout=subprocess.PIPE, text=True, cwd=REPO)
    try:
        line = proc.stdout.readline()  # type: ignore[union-attr]
        assert line.startswith("flushed "), line
        flushed = int(line.split()[1])
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:  # let it run on, with batches in flight
            with read(db) as store:
                if store.count_events() > flushed + 500:
                    break
            time.sleep(0.01)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.kill()
        proc.wait(timeout=10)
        proc.stdout.close()  # type: ignore[union-attr]
    assert proc.returncode == -signal.SIGKILL
    with read(db) as store:
        run_id = store.latest_run_id()
        n = store.count_events()
        seqs = [e.seq for e in store.iter_events(run_id=run_id)]
        summary = store.run(run_id)
        problems = store.check()
    assert n >= flushed + 500, "everything committed before the kill is still there"
    assert seqs == list(range(1, n + 1)), "no gap, no partial batch"
    assert summary["status"] == "running", "a killed run shows as not finished"
    assert problems == []


def test_session_files_are_named_by_time_task_and_id(tmp_path: Path) -> None:
    with Recorder.session(tmp_path / "sessions", task="Write a Market Report: Q3 / ünïcode!") as run:
        run.decision("d")
    name = Path(run.path).name
    assert re.fullmatch(r"\d{8}-\d{6}-write-a-market-report-q3-unicode-[0-9a-f]{8}\.db", name), name
    assert Path(run.path).parent == tmp_path / "sessions"
    with Recorder.session(tmp_path / "sessions") as other:
        pass
    assert re.fullmatch(r"\d{8}-\d{6}-session-[0-9a-f]{8}\.db", Path(other.path).name)
    assert sorted(p.name for p in (tmp_path / "sessions").glob("*.db")) == sorted([name, Path(other.path).name])


def test_a_forked_child_does_not_write_through_the_parents_connection(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with Recorder(db, task="t") as run:
        run.decision("before fork")
        run.flush()
        pid = os.fork()
        if pid == 0:  # the child: recording is refused quietly, never through the parent's connection
            code = 0
            try:
                run.decision("from the child")
                run.flush()
                code = 0 if run.stats()["state"] == "forked" else 3
            except BaseException:
                code = 4
            finally:
                os._exit(code)
        _, status = os.waitpid(pid, 0)
        assert os.waitstatus_to_exitcode(status) == 0
        run.decision("after fork")
    assert [e.payload["decision_type"] for e in events(db, "decision")] == ["before fork", "after fork"]
    assert consistent(db) == []


def test_event_ids_are_unique_time_ordered_and_timestamps_normalised() -> None:
    from agenttui.store import normalize_timestamp
    from agenttui.recording.recorder import _stamper

    per_thread: dict[int, list[tuple[str, str]]] = {}

    def make(k: int) -> None:
        per_thread[k] = [_stamper.next() for _ in range(3000)]

    threads = [threading.Thread(target=make, args=(k,)) for k in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    ids = [i for seq in per_thread.values() for i, _ in seq]
    assert len(set(ids)) == len(ids)
    for seq in per_thread.values():
        assert [i for i, _ in seq] == sorted(i for i, _ in seq), "ids of one thread only grow"
        assert all(normalize_timestamp(ts) == ts for _, ts in seq[:50])
        assert all(re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", i)
                   for i, _ in seq[:50])


def test_the_example_agent_runs_without_an_api_key(tmp_path: Path) -> None:
    db = tmp_path / "example.db"
    proc = subprocess.run([sys.executable, str(REPO / "examples" / "example_agent.py"), "--db", str(db)],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert "status completed" in proc.stdout and "net P&L" in proc.stdout
    with read(db) as store:
        run_id = store.latest_run_id()
        types = store.count_by_type()
        assert store.run(run_id)["status"] == "completed"
        assert store.check() == []
    for t in ("node_created", "tool_invoked", "llm_call_completed", "decision", "artifact", "BetPlaced"):
        assert types.get(t), t
    failing = subprocess.run([sys.executable, str(REPO / "examples" / "example_agent.py"), "--db",
                              str(tmp_path / "fail.db"), "--fail"], capture_output=True, text=True, timeout=120,
                             cwd=tmp_path)
    assert failing.returncode == 1 and "RuntimeError" in failing.stderr
    assert events(tmp_path / "fail.db", "run_error")[0].payload["error_type"] == "RuntimeError"


def test_async_with_for_the_run_and_llm_calls(tmp_path: Path) -> None:
    db = tmp_path / "run.db"

    async def agent() -> None:
        async with Recorder(db, task="async agent") as run:
            async with run.llm_call("m", "hi") as call:
                await asyncio.sleep(0)
                call.complete("hello", prompt_tokens=2, completion_tokens=1)
            async with run.node("async node"):
                raise asyncio.TimeoutError("model too slow")

    with pytest.raises(asyncio.TimeoutError):
        asyncio.run(agent())
    assert [e.event_type for e in events(db, "llm_call_started", "llm_call_completed", "run_error")] == [
        "llm_call_started", "llm_call_completed", "run_error"]
    assert events(db, "run_error")[0].payload["error_type"] == "TimeoutError"


def test_a_wall_clock_stepping_back_keeps_log_order_and_time_order(tmp_path: Path, monkeypatch) -> None:
    db = tmp_path / "run.db"
    real = time.time_ns
    with Recorder(db, task="t") as run:
        run.event("before")
        monkeypatch.setattr(time, "time_ns", lambda: real() - 10 * 1_000_000_000)  # NTP steps back 10 s
        run.event("after the step")
        monkeypatch.setattr(time, "time_ns", real)
        run.event("later")
    log = events(db)
    assert [e.timestamp for e in log] == sorted(e.timestamp for e in log)
    assert [e.event_id for e in log] == sorted(e.event_id for e in log)


def test_undecodable_text_is_kept_with_visible_escapes(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    bad_name = os.fsdecode(b"report-\xff.md")  # a file name that is not UTF-8 decodes to a lone surrogate
    with Recorder(db, task="t") as run:
        with run.node(f"write {bad_name}"):
            run.artifact("file", path=bad_name, content="ok")
            run.decision("fine", context="plain")
    art, = events(db, "artifact")
    assert art.payload["path"] == "report-\\udcff.md" and art.payload["content"] == "ok"
    assert nodes_by_nid(db, run.run_id)["1"]["task_goal"] == "write report-\\udcff.md"
    assert events(db, "decision")[0].payload["context"] == "plain"
    assert consistent(db) == []
