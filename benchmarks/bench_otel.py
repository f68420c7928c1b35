"""Benchmark: OpenTelemetry spans into agenttui, against the OpenTelemetry SDK's own OTLP export of
the same spans, in the same run.

    python benchmarks/bench_otel.py [--traces 200] [--repeats 3]

Spans: `traces` agent runs made by the real SDK, each an invoke_agent span with 10 chat spans (tokens,
messages) and 10 execute_tool spans (arguments, results) under it: GenAI attributes as pydantic-ai
writes them. Prints one JSON object (medians over interleaved repeats, spans/s):
  sdk_export      the baseline: the SDK's OTLPSpanExporter (protobuf over HTTP, batches of 512 as its
                  BatchSpanProcessor sends) to a server that reads the body and answers 200
  receiver        the same exporter, the same batches, to agenttui's OTLP/HTTP receiver, which decodes,
                  maps, and commits every event to a SQLite store before answering
  processor       agenttui.otel.SpanProcessor: on_end for every span, then force_flush (mapped and
                  committed); processor_agent_thread is the part the agent's thread pays (on_end only)
  sdk_batch_processor_agent_thread  the SDK's BatchSpanProcessor + OTLP exporter, on_end only: what
                  exporting costs the agent's thread, for comparison with processor_agent_thread
  store_append_only  the floor under every way in: the events these spans map to (mapped beforehand,
                  not timed) appended to a fresh store in one call; events_per_span says how many
  mapping_only    from_sdk + TraceAssembler for every span (no store), the processor's own share
  decode_only     the exporter's protobuf bodies (encoded beforehand, not timed) read into spans: the
                  receiver's share before the mapping
  *_ratio         agenttui rate / the baseline rate (>= 1.0 meets the target in the README's Performance table)
  store_append_only_ratio  the best processor_ratio this store allows (decoding and mapping free)
  receiver_ratio_bound  the best receiver_ratio this store allows: an exporter sends its next batch
                  only after the answer, and a 200 waits for the commit, so a batch costs the
                  exporter's own time plus the commit: sdk_export / (sdk_export + store_append_only),
                  in seconds
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from agenttui.otel import SpanProcessor, TraceAssembler  # noqa: E402
from agenttui.otel.spans import from_sdk, protobuf_request_spans  # noqa: E402
from agenttui.serve.otlp import ReceiverThread  # noqa: E402
from agenttui.store import open_store  # noqa: E402

BATCH = 512


def make_spans(traces: int) -> list:
    memory = InMemorySpanExporter()
    tp = TracerProvider()
    tp.add_span_processor(SimpleSpanProcessor(memory))
    tracer = tp.get_tracer("bench")
    for t in range(traces):
        with tracer.start_as_current_span("invoke_agent planner", attributes={
                "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "planner",
                "pydantic_ai.all_messages": f'[{{"role":"user","parts":[{{"type":"text","content":"task {t}"}}]}}]'}):
            for i in range(10):
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
    tp.shutdown()
    return list(memory.get_finished_spans())


class _Discard(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def _export_all(endpoint: str, spans: list) -> float:
    exporter = OTLPSpanExporter(endpoint=endpoint)
    t0 = time.perf_counter()
    for i in range(0, len(spans), BATCH):
        if exporter.export(spans[i:i + BATCH]).name != "SUCCESS":
            raise RuntimeError(f"export to {endpoint} failed")
    elapsed = time.perf_counter() - t0
    exporter.shutdown()
    return elapsed


def bench_sdk_export(spans: list) -> float:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discard)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        return _export_all(f"http://127.0.0.1:{server.server_address[1]}/v1/traces", spans)
    finally:
        server.shutdown()
        server.server_close()


def bench_receiver(spans: list, directory: str) -> float:
    path = os.path.join(directory, f"receiver-{time.monotonic_ns()}.db")
    with open_store(path) as store, ReceiverThread(store) as rt:
        elapsed = _export_all(rt.endpoint, spans)
        expected = len(spans) // 21
        if len(store.runs()) != expected:
            raise RuntimeError(f"receiver stored {len(store.runs())} runs, expected {expected}")
    return elapsed


def bench_processor(spans: list, directory: str) -> tuple[float, float]:
    path = os.path.join(directory, f"processor-{time.monotonic_ns()}.db")
    proc = SpanProcessor(path)
    t0 = time.perf_counter()
    for s in spans:
        proc.on_end(s)
    agent = time.perf_counter() - t0
    if not proc.force_flush(600_000):
        raise RuntimeError("processor did not flush")
    total = time.perf_counter() - t0
    proc.shutdown()
    return total, agent


def map_spans(spans: list) -> list:
    asm = TraceAssembler()
    events: list = []
    for s in spans:
        events.extend(asm.ended(from_sdk(s, ended=True)))
    events.extend(asm.release(None))
    return events


def bench_mapping(spans: list) -> float:
    t0 = time.perf_counter()
    map_spans(spans)
    return time.perf_counter() - t0


def bench_decode(bodies: list[bytes]) -> float:
    t0 = time.perf_counter()
    for body in bodies:
        for _ in protobuf_request_spans(body):
            pass
    return time.perf_counter() - t0


def bench_store_append(events: list, directory: str) -> float:
    path = os.path.join(directory, f"append-{time.monotonic_ns()}.db")
    with open_store(path) as store:
        t0 = time.perf_counter()
        store.append(events)
        return time.perf_counter() - t0


def bench_sdk_batch_agent(spans: list) -> float:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discard)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    bsp = BatchSpanProcessor(OTLPSpanExporter(endpoint=f"http://127.0.0.1:{server.server_address[1]}/v1/traces"),
                             max_queue_size=max(len(spans) + 1, 2048))  # none dropped; >= its batch size
    t0 = time.perf_counter()
    for s in spans:
        bsp.on_end(s)
    agent = time.perf_counter() - t0
    bsp.shutdown()
    server.shutdown()
    server.server_close()
    return agent


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--traces", type=int, default=200)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    spans = make_spans(args.traces)
    n = len(spans)
    times: dict[str, list[float]] = {k: [] for k in ("sdk_export", "receiver", "processor", "processor_agent_thread",
                                                     "sdk_batch_processor_agent_thread", "store_append_only",
                                                     "mapping_only", "decode_only")}
    events = map_spans(spans)
    bodies = [encode_spans(spans[i:i + BATCH]).SerializeToString() for i in range(0, n, BATCH)]
    with tempfile.TemporaryDirectory() as directory:
        for _ in range(args.repeats):  # interleaved, so machine load hits every variant alike
            times["sdk_export"].append(bench_sdk_export(spans))
            times["receiver"].append(bench_receiver(spans, directory))
            total, agent = bench_processor(spans, directory)
            times["processor"].append(total)
            times["processor_agent_thread"].append(agent)
            times["sdk_batch_processor_agent_thread"].append(bench_sdk_batch_agent(spans))
            times["store_append_only"].append(bench_store_append(events, directory))
            times["mapping_only"].append(bench_mapping(spans))
            times["decode_only"].append(bench_decode(bodies))
    rate = {k: round(n / statistics.median(v)) for k, v in times.items()}
    out = {
        "benchmark": "otel", "spans": n, "traces": args.traces, "repeats": args.repeats,
        "python": platform.python_version(), "cpus": os.cpu_count(),
        "spans_per_s": rate,
        "receiver_ratio": round(rate["receiver"] / rate["sdk_export"], 2),
        "processor_ratio": round(rate["processor"] / rate["sdk_export"], 2),
        "processor_agent_thread_ratio": round(rate["processor_agent_thread"]
                                              / rate["sdk_batch_processor_agent_thread"], 2),
        "events_per_span": round(len(events) / n, 2),
        "store_append_only_ratio": round(rate["store_append_only"] / rate["sdk_export"], 2),
        "receiver_ratio_bound": round(statistics.median(times["sdk_export"])
                                      / (statistics.median(times["sdk_export"])
                                         + statistics.median(times["store_append_only"])), 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
