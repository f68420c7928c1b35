"""Reading spans: the SDK's spans through their fast path and through the public API alone, one
resource per provider, and the same events from an SDK span, its protobuf export and its JSON form."""
from __future__ import annotations

from types import MappingProxyType

import orjson
import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.resources import Resource  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402
from opentelemetry.trace import Status, StatusCode  # noqa: E402

from agenttui.otel import TraceAssembler  # noqa: E402
from agenttui.otel.spans import from_sdk, json_request_spans, protobuf_request_spans  # noqa: E402

from otel_support import collector_lines  # noqa: E402


class _Started(SimpleSpanProcessor):
    """Keeps what the span processor reads at on_start, by both paths."""

    def __init__(self):
        self.pairs = []

    def on_start(self, span, parent_context=None):
        self.pairs.append((from_sdk(span, ended=False), from_sdk(_PublicOnly(span), ended=False)))

    def on_end(self, span):
        pass

    def shutdown(self):
        pass


class _PublicOnly:
    """A ReadableSpan seen through its public properties only (another SDK, or a wrapper)."""

    def __init__(self, span):
        self._span = span

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(self._span, name)
        if name == "attributes":
            return MappingProxyType(dict(value or {}))
        return value


def _agent_run(tp, task="plan a trip"):
    tracer = tp.get_tracer("test")
    with tracer.start_as_current_span("invoke_agent planner", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner",
            "pydantic_ai.all_messages": orjson.dumps([{"role": "user", "parts": [{"content": task}]}]).decode()}):
        with tracer.start_as_current_span("chat m", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "m", "gen_ai.usage.input_tokens": 5,
                "gen_ai.response.finish_reasons": ("stop",),
                "gen_ai.output.messages": '[{"role": "assistant", "parts": [{"content": "ok"}]}]'}):
            pass
        with tracer.start_as_current_span("execute_tool search", attributes={
                "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "search",
                "gen_ai.tool.call.arguments": '{"q": 1}'}) as tool:
            tool.add_event("exception", {"exception.type": "ValueError", "exception.message": "bad q"})
            tool.set_status(Status(StatusCode.ERROR, "bad q"))


def _provider(service):
    memory = InMemorySpanExporter()
    started = _Started()
    tp = TracerProvider(resource=Resource.create({"service.name": service}))
    tp.add_span_processor(started)
    tp.add_span_processor(SimpleSpanProcessor(memory))
    return tp, memory, started


def test_sdk_spans_read_the_same_through_the_public_api():
    tp, memory, started = _provider("svc")
    _agent_run(tp)
    finished = memory.get_finished_spans()
    assert len(finished) == 3
    for span in finished:
        assert from_sdk(span, ended=True) == from_sdk(_PublicOnly(span), ended=True)
    for fast, public in started.pairs:
        assert fast == public and fast.end_ns is None
    tool = from_sdk(finished[1], ended=True)
    assert (tool.status_code, tool.status_message) == (2, "bad q")
    assert [(e.name, e.attributes["exception.type"]) for e in tool.events] == [("exception", "ValueError")]


def test_each_provider_keeps_its_own_resource():
    """Resources are cached per resource object: spans of two providers, read in turns, keep theirs."""
    a, mem_a, _ = _provider("service-a")
    b, mem_b, _ = _provider("service-b")
    _agent_run(a, "task a")
    _agent_run(b, "task b")
    for sa, sb in zip(mem_a.get_finished_spans(), mem_b.get_finished_spans()):
        assert from_sdk(sa, ended=True).resource["service.name"] == "service-a"
        assert from_sdk(sb, ended=True).resource["service.name"] == "service-b"
    root_b = from_sdk(mem_b.get_finished_spans()[-1], ended=True)
    run_started = TraceAssembler().ended(root_b)[0]
    assert (run_started.event_type, run_started.payload["service"], run_started.payload["task"]) == \
        ("run_started", "service-b", "task b")


def _events(spans):
    asm = TraceAssembler()
    out = []
    for s in spans:
        asm.ended(s, out)
    asm.release(None, out)
    return [orjson.dumps(e.to_envelope()) for e in out]


def test_an_sdk_span_its_protobuf_and_its_json_give_the_same_events():
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans

    tp, memory, _ = _provider("svc")
    _agent_run(tp)
    finished = list(memory.get_finished_spans())
    by_sdk = _events(from_sdk(s, ended=True) for s in finished)
    by_protobuf = _events(protobuf_request_spans(encode_spans(finished).SerializeToString()))
    by_json = _events(json_request_spans(orjson.loads(collector_lines(finished)[0])))
    assert len(by_sdk) == 10  # run, node (3), model call (2), tool (2), run details and end
    assert by_sdk == by_protobuf == by_json


@pytest.mark.parametrize("kind", ["INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER"])
def test_a_spans_kind_is_the_otlp_value_by_every_way_in(kind):
    """The SDK's SpanKind counts from 0 (INTERNAL); OTLP's from 1 (0 is UNSPECIFIED). Other spans keep
    their kind in their event, which must not depend on how the span came in."""
    from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
    from opentelemetry.trace import SpanKind

    tp, memory, _ = _provider("svc")
    with tp.get_tracer("test").start_as_current_span("invoke_agent a",
                                                     attributes={"gen_ai.operation.name": "invoke_agent"}):
        with tp.get_tracer("test").start_as_current_span("GET /x", kind=getattr(SpanKind, kind)):
            pass
    finished = list(memory.get_finished_spans())
    kinds = {"sdk": [s.kind for s in (from_sdk(x, ended=True) for x in finished)],
             "protobuf": [s.kind for s in protobuf_request_spans(encode_spans(finished).SerializeToString())],
             "json": [s.kind for s in json_request_spans(orjson.loads(collector_lines(finished)[0]))]}
    otlp = {"INTERNAL": 1, "SERVER": 2, "CLIENT": 3, "PRODUCER": 4, "CONSUMER": 5}[kind]
    assert kinds["sdk"] == kinds["protobuf"] == kinds["json"] == [otlp, 1]
    by_sdk = _events(from_sdk(x, ended=True) for x in finished)
    assert by_sdk == _events(protobuf_request_spans(encode_spans(finished).SerializeToString()))


def test_remote_parents_and_statuses_read_the_same_through_the_public_api():
    """The SDK's span classes are read through their fields (SpanContext as a tuple, Status's and
    enums' fields): a remote parent counts as none, OK and ERROR keep their codes, by both paths."""
    from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, TraceFlags, set_span_in_context

    tp, memory, started = _provider("svc")
    remote = NonRecordingSpan(SpanContext(5, 6, True, TraceFlags(1)))
    tracer = tp.get_tracer("test")
    with tracer.start_as_current_span("root", context=set_span_in_context(remote), kind=SpanKind.CLIENT) as root:
        root.set_status(Status(StatusCode.ERROR, "boom"))
        with tracer.start_as_current_span("child", kind=SpanKind.PRODUCER) as child:
            child.set_status(StatusCode.OK)
    child_span, root_span = (from_sdk(s, ended=True) for s in memory.get_finished_spans())
    for s in memory.get_finished_spans():
        assert from_sdk(s, ended=True) == from_sdk(_PublicOnly(s), ended=True)
    for fast, public in started.pairs:
        assert fast == public
    assert (root_span.parent_id, root_span.status_code, root_span.status_message, root_span.kind) == \
        (None, 2, "boom", 3)
    assert (child_span.parent_id, child_span.status_code, child_span.kind) == (root_span.span_id, 1, 4)
