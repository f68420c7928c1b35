"""The Recorder as frameworks use it: tools decorated at import time and recorded into whatever run is
current when they are called, arguments left out (by name, and framework context objects by type),
structured values stored as JSON, and calls attached to a given node from callbacks. One test drives a
real pydantic-ai agent (offline TestModel) through two runs in one process.
"""
from __future__ import annotations

import asyncio
import dataclasses
import datetime as dt
import enum
import threading
from pathlib import Path
from typing import Any

import pytest
from pg_server import in_ci

from agenttui import Recorder, instrument
from agenttui.recording.capture import is_context_object, jsonable
from agenttui.store import SQLiteStore


def events(path: Path, *types: str, run_id: str | None = None) -> list:
    with SQLiteStore(path, readonly=True) as store:
        return [e for e in store.events(types=list(types) if types else None, limit=None)
                if run_id is None or e.run_id == run_id]


# defined at import time, before any run exists, as framework tools are
@instrument
def lookup(city: str, units: str = "metric") -> dict:
    return {"city": city, "units": units}


@instrument(skip_args=["api_key"], name="search_web")
def search(query: str, api_key: str) -> list[str]:
    return [query.upper()]


def test_a_tool_decorated_at_import_time_records_into_each_run_it_is_called_in(tmp_path: Path) -> None:
    lookup("nowhere")  # no run open: it just calls through
    db = tmp_path / "runs.db"
    runs = []
    for task in ("first", "second"):
        with Recorder(db, task=task) as run:
            assert lookup("Paris") == {"city": "Paris", "units": "metric"}
            with run.node("inner") as node:
                lookup("Oslo", units="imperial")
        runs.append((run, node))
    for run, node in runs:
        invoked = events(db, "tool_invoked", run_id=run.run_id)
        assert [e.payload["args"] for e in invoked] == [{"city": "Paris"}, {"city": "Oslo", "units": "imperial"}]
        assert invoked[1].node_id == node.node_id and invoked[0].node_id == run.root.node_id
        assert all(e.payload["tool_name"] == "lookup" and e.payload["api_name"] == "lookup" for e in invoked)
        assert invoked[0].payload["function"].endswith("test_recorder_integrations.lookup")
        assert len(events(db, "tool_returned", run_id=run.run_id)) == 2
    assert len(events(db, "tool_invoked")) == 4  # the call made with no run open recorded nothing


def test_a_tool_bound_to_a_finished_run_records_into_the_run_current_now(tmp_path: Path) -> None:
    db = tmp_path / "runs.db"
    with Recorder(db, task="first") as first:
        tool = first.instrument(lambda x: x * 2, name="double")
        tool(1)
    with Recorder(db, task="second") as second:
        assert tool(2) == 4
    assert [e.payload["args"] for e in events(db, "tool_invoked", run_id=first.run_id)] == [{"x": 1}]
    assert [e.payload["args"] for e in events(db, "tool_invoked", run_id=second.run_id)] == [{"x": 2}]


def test_a_tool_called_in_a_thread_without_the_context_records_into_the_only_open_run(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with Recorder(db, task="threads") as run:
        t = threading.Thread(target=lookup, args=("Rome",))
        t.start()
        t.join(timeout=60)
    assert [e.payload["args"]["city"] for e in events(db, "tool_invoked", run_id=run.run_id)] == ["Rome"]


def test_skip_args_leaves_named_arguments_out_and_says_so(tmp_path: Path) -> None:
    db = tmp_path / "run.db"
    with Recorder(db, task="secrets") as run:
        search("agents", api_key="sk-secret-1")
        search("agents", "sk-secret-2")  # positional: left out all the same
    invoked = events(db, "tool_invoked", run_id=run.run_id)
    for e in invoked:
        assert e.payload["tool_name"] == "search_web"
        assert e.payload["args"] == {"query": "agents"} and e.payload["args_left_out"] == ["api_key"]
        assert "sk-secret" not in repr(e.payload)
    with pytest.raises(TypeError, match="parameter names"):
        instrument(lambda a: a, skip_args=[1])


# a stand-in for a framework's context class, recognised by module and name like the real ones
RunContext = type("RunContext", (), {"__module__": "pydantic_ai.tools"})
SubContext = type("SubContext", (RunContext,), {"__module__": "myapp.context"})


class Secrets:
    def __repr__(self) -> str:
        return "Secrets(token='sk-live-123')"


def test_framework_context_objects_are_left_out_by_default_and_kept_on_request(tmp_path: Path) -> None:
    ctx = RunContext()
    ctx.deps = Secrets()
    assert is_context_object(ctx) and is_context_object(SubContext()) and not is_context_object(Secrets())
    db = tmp_path / "run.db"
    with Recorder(db, task="ctx") as run:
        run.instrument(lambda ctx, q: q, name="plain")(ctx, "x")
        run.instrument(lambda c, q: q, name="keep", skip_context=False)(ctx, "y")
        run.instrument(lambda q, extra: q, name="nested")("z", {"ctx": SubContext()})
    by_tool = {e.payload["tool_name"]: e.payload for e in events(db, "tool_invoked", run_id=run.run_id)}
    assert by_tool["plain"]["args"] == {"q": "x"} and by_tool["plain"]["args_left_out"] == ["ctx"]
    assert by_tool["keep"]["args"] == {"c": "<RunContext left out>", "q": "y"}  # kept as a name, never its deps
    assert by_tool["nested"]["args"] == {"q": "z", "extra": {"ctx": "<SubContext left out>"}}
    assert "sk-live" not in repr(by_tool)


@dataclasses.dataclass
class Order:
    item: str
    qty: int
    when: dt.date
    tags: list[str] = dataclasses.field(default_factory=list)
    secret_ctx: Any = None


class Colour(enum.Enum):
    RED = "red"


def test_dataclasses_pydantic_models_and_common_types_are_stored_as_json() -> None:
    pydantic = pytest.importorskip("pydantic")

    class Item(pydantic.BaseModel):
        name: str
        price: float
        at: dt.datetime

    class Cart(pydantic.BaseModel):
        items: list[Item]

    when = dt.datetime(2025, 4, 17, 12, 0, tzinfo=dt.timezone.utc)
    cart = Cart(items=[Item(name="pen", price=1.5, at=when)] * 2)
    assert jsonable(cart) == {"items": [{"name": "pen", "price": 1.5, "at": "2025-04-17T12:00:00Z"}] * 2}
    order = Order("pen", 2, dt.date(2025, 1, 2), ["a"], secret_ctx=RunContext())
    assert jsonable(order) == {"item": "pen", "qty": 2, "when": "2025-01-02", "tags": ["a"],
                               "secret_ctx": "<RunContext left out>"}
    assert jsonable([Colour.RED, Path("/tmp/x")]) == ["red", "/tmp/x"]
    assert jsonable(Order) != {}  # a dataclass CLASS is not an instance: its repr

    @dataclasses.dataclass
    class Loop:
        me: Any = None

    loop = Loop()
    loop.me = loop
    assert set(jsonable(loop)) == {"me"} and jsonable(loop)["me"].startswith("<cycle: ")
    deep: Any = Order("x", 1, dt.date(2025, 1, 1))
    for _ in range(10):
        deep = Order("x", 1, dt.date(2025, 1, 1), secret_ctx=None, tags=[deep])  # type: ignore[list-item]
    assert "Order(" in str(jsonable(deep))  # bounded depth: the deepest level is a short repr


def test_calls_attached_to_a_given_node_from_callbacks(tmp_path: Path) -> None:
    """A callback integration sees starts and ends apart, away from where the node was entered."""
    db = tmp_path / "run.db"
    with Recorder(db, task="callbacks") as run:
        planner = run.node("planner").start()
        worker = run.node("worker", parent=planner).start()
        calls = {}
        calls["t1"] = run.tool_call("search", {"q": "agents"}, node=worker).start()     # on_tool_start
        calls["l1"] = run.llm_call("gpt-x", [{"role": "user", "content": "hi"}], node=planner.node_id).start()
        calls["t1"].complete({"hits": 3})                                                 # on_tool_end
        calls["l1"].complete("hello", prompt_tokens=5, completion_tokens=1)
        with run.tool_call("fetch", {"url": "x"}, node=worker) as failing:
            failing.fail(TimeoutError("slow"))
        with pytest.raises(KeyError):
            with run.tool_call("broken", node=planner):
                raise KeyError("k")
        with pytest.raises(ValueError, match="belongs to run"):
            with Recorder(tmp_path / "other.db", task="other") as other:
                other.tool_call("x", node=worker)
        with pytest.raises(TypeError, match="dict of arguments"):
            run.tool_call("x", ["not", "a", "dict"])  # type: ignore[arg-type]
        worker.finish()
        planner.finish()
    invoked = {e.payload["tool_name"]: e for e in events(db, "tool_invoked", run_id=run.run_id)}
    returned = {e.payload["tool_name"]: e for e in events(db, "tool_returned", run_id=run.run_id)}
    assert invoked["search"].node_id == worker.node_id and invoked["search"].payload["args"] == {"q": "agents"}
    assert returned["search"].payload["result"] == {"hits": 3} and returned["search"].payload["state"] == "SUCCESS"
    assert returned["search"].payload["call_id"] == invoked["search"].event_id
    assert returned["fetch"].payload["state"] == "FAILED" and returned["fetch"].payload["error_type"] == "TimeoutError"
    assert returned["broken"].payload["state"] == "FAILED" and invoked["broken"].payload["args_summary"] == \
        "(not captured)"
    llm = events(db, "llm_call_started", "llm_call_completed", run_id=run.run_id)
    assert {e.node_id for e in llm} == {planner.node_id}
    with SQLiteStore(db, readonly=True) as store:
        state = store.run(run.run_id)
        assert state["tool_calls"] == 3 and state["llm_calls"] == 1 and state["error_count"] >= 2


# ------------------------------------------------------------------------------ real pydantic-ai

try:  # the tools below are defined at import time, as in an application
    import pydantic_ai
    from pydantic import BaseModel
except ImportError:  # pragma: no cover - the test using them is skipped
    pydantic_ai = None
    BaseModel = object  # type: ignore[assignment,misc]


@dataclasses.dataclass
class Deps:
    api_key: str


class Forecast(BaseModel):  # type: ignore[misc,valid-type]
    city: str
    temperature: float


@instrument
async def weather(ctx: pydantic_ai.RunContext[Deps], city: str) -> Forecast:
    assert ctx.deps.api_key == "sk-very-secret"
    return Forecast(city=city, temperature=21.5)


@instrument(skip_args=["token"])
def convert(celsius: float, token: str = "tok-hidden") -> float:
    return celsius * 9 / 5 + 32


def test_a_real_pydantic_ai_agent_with_tools_defined_once_recorded_in_two_runs(tmp_path: Path) -> None:
    if pydantic_ai is None:  # it is in the test extra: in CI its absence is a failure, not a skip
        if in_ci():
            pytest.fail("pydantic-ai is not installed (pip install -e '.[test]')")
        pytest.skip("pydantic-ai is not installed")
    from pydantic_ai.models.test import TestModel

    agent = pydantic_ai.Agent(TestModel(), deps_type=Deps)
    agent.tool(weather)
    agent.tool_plain(convert)
    db = tmp_path / "runs.db"
    runs = []
    for task in ("weather in Paris", "weather in Oslo"):
        with Recorder(db, task=task) as run:
            result = agent.run_sync(task, deps=Deps(api_key="sk-very-secret"))
            assert result.output
        runs.append(run)
    for run in runs:
        invoked = events(db, "tool_invoked", run_id=run.run_id)
        returned = events(db, "tool_returned", run_id=run.run_id)
        assert sorted(e.payload["tool_name"] for e in invoked) == ["convert", "weather"]
        weather_call = next(e for e in invoked if e.payload["tool_name"] == "weather")
        assert set(weather_call.payload["args"]) == {"city"} and weather_call.payload["args_left_out"] == ["ctx"]
        forecast = next(e for e in returned if e.payload["tool_name"] == "weather").payload["result"]
        assert isinstance(forecast, dict) and forecast["temperature"] == 21.5  # the model as JSON, not a repr
        assert all(e.payload["state"] == "SUCCESS" for e in returned)
    everything = repr([e.payload for e in events(db)])
    assert "sk-very-secret" not in everything and "tok-hidden" not in everything


def test_an_async_tool_in_asyncio_tasks_of_two_concurrent_runs_records_into_its_own_run(tmp_path: Path) -> None:
    async def one(task: str) -> Recorder:
        async with Recorder(tmp_path / f"{task}.db", task=task) as run:
            await asyncio.sleep(0.01)
            await fetch(task)
        return run

    @instrument
    async def fetch(what: str) -> str:
        await asyncio.sleep(0.01)
        return what

    async def both() -> list[Recorder]:
        return list(await asyncio.gather(one("a"), one("b")))

    for run in asyncio.run(both()):
        got = events(tmp_path / f"{run.task}.db", "tool_invoked")
        assert [e.payload["args"] for e in got] == [{"what": run.task}]
