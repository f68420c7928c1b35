"""Real OpenTelemetry producers for the OTel tests, and the three ways their spans get in.

Each producer runs a small agent offline (pydantic-ai with FunctionModel, LangGraph with a fake chat
model through the OpenInference LangChain instrumentor) on a TracerProvider the caller builds, so one
run's spans can be fed to the span processor, the OTLP/HTTP exporter and a collector-format file at
the same time.
"""

import base64
import random
from pathlib import Path
from typing import Any, Callable

import orjson
from google.protobuf.json_format import MessageToDict
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans


def run_pydantic_ai(tp: Any) -> None:
    """A planner that delegates to a researcher sub-agent through a tool, with a tool that fails."""
    from pydantic_ai import Agent, RunContext
    from pydantic_ai.messages import ModelResponse, TextPart, ToolCallPart
    from pydantic_ai.models.function import AgentInfo, FunctionModel
    from pydantic_ai.models.instrumented import InstrumentationSettings

    def sub_model(messages: list, info: AgentInfo) -> ModelResponse:
        return ModelResponse(parts=[TextPart("Lisbon has trams")])

    def plan_model(messages: list, info: AgentInfo) -> ModelResponse:
        if sum(1 for m in messages if m.kind == "response") == 0:
            return ModelResponse(parts=[ToolCallPart("research", {"q": "Lisbon"}, tool_call_id="call-1")])
        if sum(1 for m in messages if m.kind == "response") == 1:
            return ModelResponse(parts=[ToolCallPart("book", {"city": "Lisbon"}, tool_call_id="call-2")])
        return ModelResponse(parts=[TextPart("Trip planned")])

    Agent.instrument_all(InstrumentationSettings(tracer_provider=tp, include_content=True))
    try:
        sub = Agent(FunctionModel(sub_model), name="researcher")
        planner = Agent(FunctionModel(plan_model), name="planner")

        @planner.tool
        async def research(ctx: RunContext, q: str) -> str:
            return (await sub.run(f"facts about {q}", usage=ctx.usage)).output

        @planner.tool_plain
        def book(city: str) -> str:
            raise RuntimeError(f"booking service down for {city}")

        try:
            planner.run_sync("Plan a weekend in Lisbon")
        except RuntimeError:
            pass
    finally:
        Agent.instrument_all(False)


def run_langgraph(tp: Any) -> None:
    """A three-step LangGraph (plan -> act -> answer) with a fake chat model and two tools, one failing."""
    from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
    from langchain_core.messages import AIMessage, HumanMessage
    from langchain_core.tools import tool
    from langgraph.graph import END, START, MessagesState, StateGraph
    from openinference.instrumentation.langchain import LangChainInstrumentor

    instrumentor = LangChainInstrumentor()
    instrumentor.instrument(tracer_provider=tp)
    try:
        llm = GenericFakeChatModel(messages=iter([
            AIMessage(content="plan: look it up",
                      usage_metadata={"input_tokens": 11, "output_tokens": 5, "total_tokens": 16}),
            AIMessage(content="the answer", usage_metadata={"input_tokens": 20, "output_tokens": 3, "total_tokens": 23}),
        ]))

        @tool
        def lookup(q: str) -> str:
            """Look something up."""
            return "found " + q

        @tool
        def broken(q: str) -> str:
            """Always fails."""
            raise ValueError("lookup service down")

        def plan(state: dict) -> dict:
            return {"messages": [llm.invoke(state["messages"])]}

        def act(state: dict) -> dict:
            found = lookup.invoke({"q": "x"})
            try:
                broken.invoke({"q": "y"})
            except ValueError:
                pass
            return {"messages": [HumanMessage(content=found)]}

        def answer(state: dict) -> dict:
            return {"messages": [llm.invoke(state["messages"])]}

        graph = StateGraph(MessagesState)
        for name, fn in (("plan", plan), ("act", act), ("answer", answer)):
            graph.add_node(name, fn)
        graph.add_edge(START, "plan")
        graph.add_edge("plan", "act")
        graph.add_edge("act", "answer")
        graph.add_edge("answer", END)
        graph.compile().invoke({"messages": [HumanMessage(content="find x")]})
    finally:
        instrumentor.uninstrument()


PRODUCERS: dict[str, Callable[[Any], None]] = {"pydantic_ai": run_pydantic_ai, "langgraph": run_langgraph}


def _hex_ids(obj: Any) -> Any:
    """protobuf's JSON mapping writes ids as base64; the collector's file exporter writes hex."""
    if isinstance(obj, dict):
        return {k: (base64.b64decode(v).hex() if k in ("traceId", "spanId", "parentSpanId") and v else _hex_ids(v))
                for k, v in obj.items()}
    if isinstance(obj, list):
        return [_hex_ids(v) for v in obj]
    return obj


def collector_lines(spans: list[Any], *, per_span: bool = False, shuffle_seed: int | None = None,
                    hex_ids: bool = True) -> list[bytes]:
    """ExportTraceServiceRequest JSON lines as the collector's file exporter writes them: one request
    for all spans, or one per span (optionally shuffled, to check that order does not matter)."""
    groups = [[s] for s in spans] if per_span else [list(spans)]
    if shuffle_seed is not None:
        random.Random(shuffle_seed).shuffle(groups)
    out = []
    for group in groups:
        data = MessageToDict(encode_spans(group))
        out.append(orjson.dumps(_hex_ids(data) if hex_ids else data))
    return out


def write_collector_file(path: Path, spans: list[Any], **kwargs: Any) -> Path:
    path.write_bytes(b"\n".join(collector_lines(spans, **kwargs)) + b"\n")
    return path


def tree_summary(store: Any) -> dict[str, Any]:
    """What must agree across ways in: nodes, edges, statuses, token totals and error counts."""
    out: dict[str, Any] = {}
    for run in store.runs():
        rid = run["run_id"]
        nodes = {n["node_id"]: (n["status"], n["task_goal"], n["node_type"], n["error_count"], n["llm_calls"],
                                n["tool_calls"], n["prompt_tokens"], n["completion_tokens"], n["pending"])
                 for n in store.nodes(rid)}
        edges = sorted((e["parent_node_id"], e["child_node_id"]) for e in store.edges(rid))
        out[rid] = {"run": {k: run[k] for k in ("status", "task", "llm_calls", "tool_calls", "error_count",
                                                "prompt_tokens", "completion_tokens", "total_nodes", "root_node_id")},
                    "nodes": nodes, "edges": edges}
    return out
