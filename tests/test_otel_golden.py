"""The mapping's exact output, pinned. The mapping runs for every span on every way in and is written
for speed; this keeps a faster mapping the same mapping: for a fixed set of spans (real pydantic-ai
and LangGraph/OpenInference runs, bench_otel's agent runs, and traces made to reach every branch:
errors, cancellations, older attribute names, message events, OpenInference's flattened messages,
cut texts, orphans, other spans), every way in gives exactly the events recorded in
tests/data/otel_golden_events.jsonl.gz (gzip: a cut 64 KiB text
is among them): the same ids, payloads (key order included), nodes and order.

Ways: SDK spans seen start and end as the span processor sees them (start attributes only at the
start), SDK spans ended only, OTLP JSON in file order (the import), one span per request shuffled
with waiting spans released early (the receiver under exporters in any order), the same with an
assembler that remembers 6 spans only, OTLP protobuf.

Re-record, only when the mapping is meant to change (the diff then shows what changed):
    python tests/test_otel_golden.py            # the events, from tests/data/otel_golden_spans.jsonl
    python tests/test_otel_golden.py --spans    # also new spans from the producers (new ids, times)
"""
from __future__ import annotations

import base64
import gzip
import random
import sys
from pathlib import Path
from typing import Any, Callable, Iterable

import orjson
import pytest

pytest.importorskip("opentelemetry.sdk")

from google.protobuf.json_format import ParseDict  # noqa: E402
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import Event as SdkEvent, ReadableSpan  # noqa: E402
from opentelemetry.sdk.util.instrumentation import InstrumentationScope  # noqa: E402
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags  # noqa: E402

from agenttui.otel import TraceAssembler  # noqa: E402
from agenttui.otel.spans import from_sdk, json_request_spans, protobuf_request_spans  # noqa: E402

DATA = Path(__file__).parent / "data"
SPANS_FILE = DATA / "otel_golden_spans.jsonl.gz"
EVENTS_FILE = DATA / "otel_golden_events.jsonl.gz"
#: Attributes a producer typically sets only when the span ends: left out of the processor's view
#: of a span's start.
_END_WORDS = ("output", "usage", "response", "result", "finish", "token_count")


def _requests() -> list[dict[str, Any]]:
    return [orjson.loads(line) for line in gzip.decompress(SPANS_FILE.read_bytes()).splitlines() if line.strip()]


def _raw_spans(requests: list[dict[str, Any]]) -> list[tuple[dict[str, Any], dict[str, Any], str]]:
    """(span JSON, resource JSON, scope name) of every span, in file order."""
    return [(raw, rs.get("resource") or {}, (ss.get("scope") or {}).get("name") or "")
            for req in requests for rs in req["resourceSpans"] for ss in rs["scopeSpans"] for raw in ss["spans"]]


def _value(v: dict[str, Any]) -> Any:
    if "stringValue" in v:
        return v["stringValue"]
    if "boolValue" in v:
        return v["boolValue"]
    if "intValue" in v:
        return int(v["intValue"])
    if "doubleValue" in v:
        return float(v["doubleValue"])
    if "arrayValue" in v:
        return tuple(_value(x) for x in v["arrayValue"].get("values") or [])
    raise ValueError(f"no SDK attribute value for {v}")


def _attrs(items: Iterable[dict[str, Any]]) -> dict[str, Any]:
    return {kv["key"]: _value(kv["value"]) for kv in items}


_KINDS = {"SPAN_KIND_INTERNAL": SpanKind.INTERNAL, "SPAN_KIND_SERVER": SpanKind.SERVER,
          "SPAN_KIND_CLIENT": SpanKind.CLIENT, "SPAN_KIND_PRODUCER": SpanKind.PRODUCER,
          "SPAN_KIND_CONSUMER": SpanKind.CONSUMER}
_STATUS = {"STATUS_CODE_UNSET": StatusCode.UNSET, "STATUS_CODE_OK": StatusCode.OK,
           "STATUS_CODE_ERROR": StatusCode.ERROR}


def _sdk_span(raw: dict[str, Any], resource: Resource, scope: str, *, started: bool) -> ReadableSpan:
    """The SDK's ReadableSpan for a span of the file; `started`: as on_start sees it (no end, no
    events, only the attributes known at the start)."""
    trace_id, span_id = int(raw["traceId"], 16), int(raw["spanId"], 16)
    parent = raw.get("parentSpanId")
    attrs = _attrs(raw.get("attributes") or [])
    if started:
        attrs = {k: v for k, v in attrs.items() if not any(w in k for w in _END_WORDS)}
        if span_id % 2:  # OpenInference says what a span is only when it ends (some of its spans here)
            attrs.pop("openinference.span.kind", None)
    status = raw.get("status") or {}
    code = _STATUS[status.get("code", "STATUS_CODE_UNSET")]
    return ReadableSpan(
        raw["name"],
        context=SpanContext(trace_id, span_id, False, TraceFlags(1)),
        parent=SpanContext(trace_id, int(parent, 16), False, TraceFlags(1)) if parent else None,
        resource=resource,
        attributes=attrs,
        events=() if started else tuple(SdkEvent(e["name"], _attrs(e.get("attributes") or []), int(e["timeUnixNano"]))
                                        for e in raw.get("events") or []),
        kind=_KINDS[raw.get("kind", "SPAN_KIND_INTERNAL")],
        status=Status(code, status.get("message")) if code is StatusCode.ERROR else Status(code),
        start_time=int(raw["startTimeUnixNano"]),
        end_time=None if started else int(raw["endTimeUnixNano"]),
        instrumentation_scope=InstrumentationScope(scope),
    )


def _sdk_spans(requests: list[dict[str, Any]], *, started: bool) -> list[ReadableSpan]:
    resources: dict[bytes, Resource] = {}
    out = []
    for raw, res, scope in _raw_spans(requests):
        key = orjson.dumps(res)
        if key not in resources:
            resources[key] = Resource(_attrs(res.get("attributes") or []))
        out.append(_sdk_span(raw, resources[key], scope, started=started))
    return out


def _processor_way(requests: list[dict[str, Any]]) -> list[Any]:
    """What the span processor does: each span's start (from_sdk of the live span), then its end, in
    the order of their times."""
    starts, ends = _sdk_spans(requests, started=True), _sdk_spans(requests, started=False)
    timeline = sorted([(s.start_time, 1, i, s) for i, s in enumerate(starts)]
                      + [(s.end_time, 0, i, s) for i, s in enumerate(ends)], key=lambda x: x[:3])
    asm, out = TraceAssembler(), []
    for _, is_start, _, span in timeline:
        if is_start:
            asm.started(from_sdk(span, ended=False), out)
        else:
            asm.ended(from_sdk(span, ended=True), out)
    asm.release(None, out)
    return out


def _ended_way(spans: Iterable[Any], release_every: int = 0, max_spans: int | None = None) -> list[Any]:
    asm, out = (TraceAssembler() if max_spans is None else TraceAssembler(max_spans=max_spans)), []
    for i, span in enumerate(spans, 1):
        asm.ended(span, out)
        if release_every and i % release_every == 0:
            asm.release(None, out)
    asm.release(None, out)
    return out


def _single_span_requests(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{"resourceSpans": [{"resource": res, "scopeSpans": [{"scope": {"name": scope}, "spans": [raw]}]}]}
            for raw, res, scope in _raw_spans(requests)]


def _json_spans(requests: Iterable[dict[str, Any]]) -> Iterable[Any]:
    for req in requests:
        yield from json_request_spans(req)


def _b64_ids(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: (base64.b64encode(bytes.fromhex(v)).decode() if k in ("traceId", "spanId", "parentSpanId")
                    else _b64_ids(v)) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_b64_ids(v) for v in obj]
    return obj


def _protobuf_spans(requests: list[dict[str, Any]]) -> Iterable[Any]:
    for req in requests:
        body = ParseDict(_b64_ids(req), ExportTraceServiceRequest()).SerializeToString()
        yield from protobuf_request_spans(body)


def _shuffled(requests: list[dict[str, Any]]) -> list[dict[str, Any]]:
    single = _single_span_requests(requests)
    random.Random(7).shuffle(single)
    return single


WAYS: dict[str, Callable[[list[dict[str, Any]]], list[Any]]] = {
    "processor": _processor_way,
    "sdk_ended": lambda r: _ended_way(from_sdk(s, ended=True) for s in _sdk_spans(r, started=False)),
    "json": lambda r: _ended_way(_json_spans(r)),
    "json_shuffled_released": lambda r: _ended_way(_json_spans(_shuffled(r)), release_every=4),
    # an assembler remembering few spans: parents forgotten, their children placed as orphans
    "json_shuffled_forgetful": lambda r: _ended_way(_json_spans(_shuffled(r)), release_every=4, max_spans=6),
    "protobuf": lambda r: _ended_way(_protobuf_spans(r)),
}


def _lines(way: str, events: list[Any]) -> list[bytes]:
    return [orjson.dumps({"way": way, "event": [e.event_type, e.payload, e.run_id, e.event_id, e.timestamp,
                                                 e.node_id, e.metadata]}) for e in events]


def _golden() -> dict[str, list[bytes]]:
    out: dict[str, list[bytes]] = {way: [] for way in WAYS}
    for line in gzip.decompress(EVENTS_FILE.read_bytes()).splitlines():
        out[orjson.loads(line)["way"]].append(line)
    return out


@pytest.mark.parametrize("way", sorted(WAYS))
def test_every_way_in_gives_the_recorded_events(way):
    expected = _golden()[way]
    got = _lines(way, WAYS[way](_requests()))
    assert len(got) == len(expected)
    for i, (g, e) in enumerate(zip(got, expected)):
        assert g == e, f"{way}: event {i} differs"


def test_the_recorded_spans_reach_every_branch():
    """The golden set covers what the mapping distinguishes, so a shortcut cannot go unchecked."""
    types = {orjson.loads(line)["event"][0] for lines in _golden().values() for line in lines}
    assert types >= {"run_started", "run_finished", "run_error", "node_created", "details_updated",
                     "node_result_available", "node_status_changed", "llm_call_started", "llm_call_completed",
                     "tool_invoked", "tool_returned", "otel_span"}
    text = gzip.decompress(EVENTS_FILE.read_bytes())
    for needle in (b'"CANCELLED"', b"spawned_by_tool_call", b"more characters]", b'"stack_trace"', b"word499",
                   b'"finish_reasons"', b'"prompt_preview"', b'"tool_calls"', b'"service"'):
        assert needle in text, needle


# ------------------------------------------------------------------------------ recording

def _edge_traces(tp: Any) -> None:
    """Traces made to reach the mapping's branches (see the module's docstring)."""
    from opentelemetry import trace
    from opentelemetry.trace import NonRecordingSpan

    tracer = tp.get_tracer("golden")
    msgs = orjson.dumps
    with tracer.start_as_current_span("invoke_agent boss", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "boss", "gen_ai.request.model": "m1",
            "gen_ai.input.messages": msgs([
                {"role": "system", "content": "be brief"},
                {"role": "user", "content": [{"type": "text", "text": "do the thing"}]}]).decode()}) as root:
        with tracer.start_as_current_span("chat old-names", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.system": "openai", "llm.request.model_name": "m2",
                "gen_ai.usage.prompt_tokens": 7, "gen_ai.usage.completion_tokens": "3",
                "gen_ai.response.finish_reasons": ("stop", "length"), "gen_ai.response.id": "r1",
                "gen_ai.agent.name": "boss"}) as s:
            s.add_event("gen_ai.system.message", {"content": "be brief"})
            s.add_event("gen_ai.user.message", {"content": '{"text": "hello"}'})
            s.add_event("gen_ai.choice", {"index": 0, "message": '{"role": "assistant", "content": "hi"}'})
        with tracer.start_as_current_span("chat fallbacks", attributes={
                "gen_ai.operation.name": "generate_content", "gen_ai.request.model": "", "llm.model_name": "m3",
                "llm.provider": "acme", "gen_ai.usage.input_tokens": 5.0, "gen_ai.usage.output_tokens": True,
                "llm.token_count.total": 9,
                "gen_ai.output.messages": "[not json", "gen_ai.input.messages": '{"role": "user"}'}):
            pass
        with tracer.start_as_current_span("text_completion", attributes={
                "gen_ai.operation.name": "text_completion", "model_name": "m4",
                "gen_ai.output.messages": msgs([{"role": "assistant", "parts": [
                    {"type": "text", "content": "a"}, {"type": "text", "content": "b"}]}]).decode(),
                "llm.token_count.prompt": "12"}):
            pass
        with tracer.start_as_current_span("embeddings", attributes={"gen_ai.operation.name": "embeddings"}):
            pass
        with tracer.start_as_current_span("execute_tool book", attributes={
                "gen_ai.operation.name": "execute_tool", "tool.name": "book", "tool_call.id": 42,
                "tool_call.function.arguments": '{"city": "x"}'}) as s:
            s.add_event("exception", {"exception.type": "ValueError", "exception.message": "bad city",
                                      "exception.stacktrace": "Traceback (most recent call last): ..."})
            s.set_status(Status(StatusCode.ERROR, "bad city"))
        with tracer.start_as_current_span("execute_tool research", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "research",
                "gen_ai.tool.call.id": "call-9", "gen_ai.tool.call.arguments": "{bad json"}):
            with tracer.start_as_current_span("invoke_agent helper", attributes={
                    "gen_ai.operation.name": "invoke_agent", "agent_name": "helper",
                    "error.type": "asyncio.CancelledError", "output.value": "partial"}) as s:
                s.set_status(Status(StatusCode.ERROR))
                with tracer.start_as_current_span("chat inner", attributes={
                        "gen_ai.operation.name": "chat", "gen_ai.request.model": "m1",
                        "gen_ai.usage.input_tokens": 1, "gen_ai.usage.output_tokens": 0}):
                    pass
        with tracer.start_as_current_span("execute_tool big", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "big",
                "gen_ai.tool.call.result": "x" * 66_000, "input.value": "plain args"}):
            pass
        with tracer.start_as_current_span("execute_tool nothing", attributes={
                "gen_ai.operation.name": "execute_tool"}) as s:
            s.set_attribute("error.type", "TimeoutError")
        with tracer.start_as_current_span("GET /x", kind=SpanKind.CLIENT, attributes={
                "http.request.method": "GET", "http.response.status_code": 500, "error.type": "500",
                "tags": ("a", "b")}):
            pass
        with tracer.start_as_current_span("plan", attributes={
                "gen_ai.operation.name": "plan", "final_result": msgs({"steps": [1, 2]}).decode()}):
            with tracer.start_as_current_span("invoke_workflow flow", attributes={
                    "gen_ai.operation.name": "invoke_workflow", "gen_ai.workflow.name": "flow",
                    "output.value": "done"}):
                with tracer.start_as_current_span("db query", kind=SpanKind.SERVER, attributes={"db.system": "x"}):
                    pass
        with tracer.start_as_current_span("create_agent maker", attributes={
                "gen_ai.operation.name": "create_agent", "graph.node.name": "maker",
                "gen_ai.output.messages": msgs([{"role": "assistant", "content": "made"}]).decode()}):
            pass
        root.add_event("exception", {"exception.type": "RuntimeError", "exception.message": "the boss gave up"})
        root.set_status(Status(StatusCode.ERROR))
    # an LLM span as the root, cancelled
    with tracer.start_as_current_span("chat alone", attributes={
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "m5",
            "pydantic_ai.all_messages": msgs([{"role": "user", "parts": [{"content": "solo"}]}]).decode(),
            "error.type": "Cancelled"}):
        pass
    # OpenInference: flattened messages, kinds in any case, input.value as the task
    with tracer.start_as_current_span("LangGraph", attributes={
            "openinference.span.kind": "chain", "input.value": msgs({"messages": [[{"content": "find y"}]]}).decode(),
            "output.value": "y found"}):
        with tracer.start_as_current_span("ChatModel", attributes={
                "openinference.span.kind": "LLM", "llm.model_name": "fake", "llm.system": "fake-sys",
                "llm.input_messages.0.message.role": "system", "llm.input_messages.0.message.content": "sys",
                "llm.input_messages.1.message.role": "user", "llm.input_messages.1.message.content": "find y",
                "llm.input_messages.x.message.role": "ignored", "llm.input_messages.2.other": "ignored",
                "llm.output_messages.0.message.role": "assistant",
                "llm.output_messages.0.message.tool_calls.0.tool_call.function.name": "lookup",
                "llm.output_messages.0.message.tool_call_id": "t1",
                "llm.token_count.prompt": 11, "llm.token_count.completion": 5, "llm.token_count.total": 16}):
            pass
        with tracer.start_as_current_span("lookup", attributes={
                "openinference.span.kind": "TOOL", "tool.name": "lookup", "input.value": '{"q": "y"}',
                "output.value": "found y"}):
            pass
        with tracer.start_as_current_span("embed", attributes={"openinference.span.kind": "EMBEDDING"}):
            pass
        with tracer.start_as_current_span("agent", attributes={"openinference.span.kind": "AGENT",
                                                               "input.value": "plain task"}):
            pass
    # an HTTP server span as the root, an agent under it
    with tracer.start_as_current_span("POST /run", kind=SpanKind.SERVER, attributes={
            "http.request.method": "POST", "input.value": "not json task"}):
        with tracer.start_as_current_span("invoke_agent served", attributes={
                "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "served"}):
            pass
    # texts longer than the summaries and previews keep (200 characters, 2,000 for a node's)
    long = " ".join(f"word{i}" for i in range(500))
    with tracer.start_as_current_span("invoke_agent long", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "long",
            "gen_ai.input.messages": msgs([{"role": "user", "content": long}]).decode(), "final_result": long}):
        with tracer.start_as_current_span("chat long", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "m7",
                "gen_ai.input.messages": msgs([{"role": "user", "parts": [{"type": "text",
                                                                           "content": long}]}]).decode(),
                "gen_ai.output.messages": msgs([{"role": "assistant", "content": long}]).decode()}):
            pass
        with tracer.start_as_current_span("execute_tool long", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "long",
                "gen_ai.tool.call.arguments": msgs({"text": long}).decode(), "gen_ai.tool.call.result": long}):
            pass
    # a span whose parent never comes (started before the processor, or lost): its run waits for it
    orphan_parent = NonRecordingSpan(SpanContext(0x0123456789abcdef0123456789abcdef, 0x0fedcba987654321, False,
                                                 TraceFlags(1)))
    with tracer.start_as_current_span("chat orphan", context=trace.set_span_in_context(orphan_parent), attributes={
            "gen_ai.operation.name": "chat", "gen_ai.request.model": "m6"}):
        with tracer.start_as_current_span("GET /orphan-child", attributes={"http.request.method": "GET"}):
            pass


def _bench_traces(tp: Any, traces: int = 2) -> None:
    """bench_otel.py's agent runs (the spans the speed of the mapping is measured on)."""
    tracer = tp.get_tracer("bench")
    for t in range(traces):
        with tracer.start_as_current_span("invoke_agent planner", attributes={
                "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner",
                "pydantic_ai.all_messages": f'[{{"role":"user","parts":[{{"type":"text","content":"task {t}"}}]}}]'}):
            for i in range(3):
                with tracer.start_as_current_span("chat gpt-4o", attributes={
                        "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                        "gen_ai.provider.name": "openai", "gen_ai.response.model": "gpt-4o-2024-08-06",
                        "gen_ai.usage.input_tokens": 120 + i, "gen_ai.usage.output_tokens": 30,
                        "gen_ai.input.messages": '[{"role":"user","parts":[{"type":"text","content":"step"}]}]',
                        "gen_ai.output.messages": '[{"role":"assistant","parts":[{"type":"text","content":"ok"}]}]'}):
                    pass
                with tracer.start_as_current_span("execute_tool search", attributes={
                        "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search",
                        "gen_ai.tool.call.id": f"call-{t}-{i}", "gen_ai.tool.call.arguments": '{"q": "x"}',
                        "gen_ai.tool.call.result": '"found"'}):
                    pass


def _record_spans() -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from otel_support import PRODUCERS, collector_lines

    lines = []
    for name, produce in [*sorted(PRODUCERS.items()), ("edge", _edge_traces), ("bench", _bench_traces)]:
        memory = InMemorySpanExporter()
        tp = TracerProvider(resource=Resource.create({"service.name": f"golden-{name}"}))
        tp.add_span_processor(SimpleSpanProcessor(memory))
        produce(tp)
        tp.shutdown()
        spans = list(memory.get_finished_spans())
        by_trace: dict[int, list[Any]] = {}
        for s in spans:
            by_trace.setdefault(s.context.trace_id, []).append(s)
        for trace_spans in by_trace.values():
            lines.extend(collector_lines(trace_spans))
    SPANS_FILE.write_bytes(gzip.compress(b"\n".join(lines) + b"\n", mtime=0))


def _record_events() -> None:
    requests = _requests()
    EVENTS_FILE.write_bytes(gzip.compress(b"".join(line + b"\n" for way, fn in WAYS.items()
                                                 for line in _lines(way, fn(requests))), mtime=0))


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    if "--spans" in sys.argv:
        _record_spans()
    _record_events()
    print(f"recorded {EVENTS_FILE}")
