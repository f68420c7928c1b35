"""Real producers (pydantic-ai, LangGraph + OpenInference) through all three ways in: the span
processor, the SDK's OTLP/HTTP exporter against the receiver, and a collector-format file. Every way
must give the same nodes, edges, statuses, token totals and error counts."""
from __future__ import annotations

import random

import pytest

pytest.importorskip("opentelemetry.sdk")
pytest.importorskip("opentelemetry.exporter.otlp.proto.http")

from opentelemetry.exporter.otlp.proto.http import Compression  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from agenttui.otel import SpanProcessor, import_otlp  # noqa: E402
from agenttui.serve.otlp import ReceiverThread  # noqa: E402
from agenttui.store import open_store  # noqa: E402

from otel_support import PRODUCERS, tree_summary, write_collector_file  # noqa: E402


@pytest.fixture(params=sorted(PRODUCERS))
def producer(request):
    if request.param == "pydantic_ai":
        pytest.importorskip("pydantic_ai")
    else:
        pytest.importorskip("langgraph")
        pytest.importorskip("openinference.instrumentation.langchain")
    return request.param


def _three_ways(tmp_path, producer: str, *, gzip: bool = False):
    """Run the producer once with all three ways in attached; return the three stores' summaries."""
    memory = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(memory))
    processor = SpanProcessor(tmp_path / "processor.db")
    tp.add_span_processor(processor)
    with open_store(tmp_path / "receiver.db") as rstore, ReceiverThread(rstore, hold_seconds=120) as receiver:
        exporter = OTLPSpanExporter(endpoint=receiver.endpoint, compression=Compression.Gzip if gzip else None)
        tp.add_span_processor(BatchSpanProcessor(exporter))
        PRODUCERS[producer](tp)
        assert tp.force_flush(60_000)
        tp.shutdown()  # processor.shutdown() with it: all written
    spans = list(memory.get_finished_spans())
    with open_store(tmp_path / "file.db") as fstore:
        report = import_otlp(fstore, write_collector_file(tmp_path / "traces.jsonl", spans))
        assert report.ok, report.errors
    summaries = {}
    for way in ("processor", "receiver", "file"):
        with open_store(tmp_path / f"{way}.db") as store:
            summaries[way] = tree_summary(store)
    return spans, summaries


def test_same_tree_by_every_way_in(tmp_path, producer):
    spans, s = _three_ways(tmp_path, producer)
    assert s["processor"] == s["receiver"] == s["file"]
    (run_id, run), = s["file"].items()
    assert run_id == format(spans[0].context.trace_id, "032x")
    r = run["run"]
    assert r["llm_calls"] >= 2 and r["tool_calls"] >= 2
    assert r["prompt_tokens"] > 0 and r["completion_tokens"] > 0
    assert r["error_count"] >= 1  # the failing tool
    assert all(not v[-1] for v in run["nodes"].values()), "no node left pending"
    if producer == "pydantic_ai":
        assert r["task"] == "Plan a weekend in Lisbon"
        assert r["status"] == "error"  # the failing tool's exception ends the planner's run
        assert r["error_count"] == 3  # the tool, the planner FAILED, the run
        goals = {v[1]: v for v in run["nodes"].values()}
        assert set(goals) == {"planner", "researcher"}
        planner_id = next(k for k, v in run["nodes"].items() if v[1] == "planner")
        researcher_id = next(k for k, v in run["nodes"].items() if v[1] == "researcher")
        assert run["edges"] == [(planner_id, researcher_id)]
        assert goals["planner"][0] == "FAILED" and goals["researcher"][0] == "FINISH"
        assert goals["planner"][3] == 2  # its failing tool and its own failure
    else:
        assert r["task"] == "find x"
        assert (r["prompt_tokens"], r["completion_tokens"]) == (31, 8)
        goals = {v[1] for v in run["nodes"].values()}
        assert {"LangGraph", "plan", "act", "answer"} <= goals
        root = r["root_node_id"]
        assert {c for p, c in run["edges"] if p == root} == {k for k, v in run["nodes"].items()
                                                             if v[1] in ("plan", "act", "answer")}


def test_subagent_is_linked_to_the_tool_call_that_spawned_it(tmp_path):
    pytest.importorskip("pydantic_ai")
    _three_ways(tmp_path, "pydantic_ai")
    for way in ("processor", "receiver", "file"):
        with open_store(tmp_path / f"{way}.db") as store:
            (run,) = store.runs()
            sub = next(n for n in store.nodes(run["run_id"]) if n["task_goal"] == "researcher")
            link = sub["metadata"]["spawned_by_tool_call"]
            assert (link["tool_name"], link["call_id"]) == ("research", "call-1"), way


def test_gzip_export_and_reimport_store_nothing_twice(tmp_path, producer):
    spans, s = _three_ways(tmp_path, producer, gzip=True)
    assert s["receiver"] == s["file"]
    with open_store(tmp_path / "file.db") as store:
        before = store.last_position()
        again = import_otlp(store, tmp_path / "traces.jsonl")
        assert again.stored == 0 and again.duplicates > 0
        assert store.last_position() == before


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_any_span_order_gives_the_same_tree(tmp_path, producer, seed):
    memory = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(memory))
    PRODUCERS[producer](tp)
    spans = list(memory.get_finished_spans())
    with open_store(tmp_path / "in_order.db") as a:
        import_otlp(a, write_collector_file(tmp_path / "a.jsonl", spans))
        expected = tree_summary(a)
    with open_store(tmp_path / "shuffled.db") as b:
        import_otlp(b, write_collector_file(tmp_path / "b.jsonl", spans, per_span=True, shuffle_seed=seed))
        assert tree_summary(b) == expected
    # the receiver: one request per span, in a random order, parents often after their children
    with open_store(tmp_path / "receiver.db") as c, ReceiverThread(c, hold_seconds=120) as receiver:
        exporter = OTLPSpanExporter(endpoint=receiver.endpoint)
        order = list(spans)
        random.Random(seed).shuffle(order)
        for span in order:
            assert exporter.export([span]).name == "SUCCESS"
    with open_store(tmp_path / "receiver.db") as c:
        assert tree_summary(c) == expected
