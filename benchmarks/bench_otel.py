"""Benchmark: OpenTelemetry spans into agenttui, against the OpenTelemetry SDK's own OTLP exporters
sending the same spans, in the same run.

    python benchmarks/bench_otel.py [--traces 800] [--repeats 3] [--exporters 4]

Spans: `traces` agent runs made by the real SDK, each an invoke_agent span with 10 chat spans (tokens,
messages) and 10 execute_tool spans (arguments, results) under it: GenAI attributes as pydantic-ai
writes them. The traces are dealt out to `exporters` SDK OTLPSpanExporters (protobuf over HTTP,
batches of 512 as the SDK's BatchSpanProcessor sends), one thread each, sending at the same time, as
several agent processes or a Collector's workers send to one receiver. Every server is a process of
its own, as it is deployed. Prints one JSON object (medians over interleaved repeats, spans/s):
  sdk_export      the baseline: those exporters to a server that reads each body and answers 200 at
                  once, so the rate is what the SDK's exporters can produce (their encoding and HTTP)
  receiver        the same exporters, the same batches, to `agenttui serve --otlp` (its own process,
                  a fresh SQLite store): every exporter waits for each answer, and a 200 comes only
                  after the request's events are committed, so the time is until all are stored
  sdk_export_one, receiver_one  the same with one exporter (every batch waits for the one before):
                  a single exporter's view, bounded by export / (export + the receiver's work)
  processor       agenttui.otel.SpanProcessor: on_end for every span, then force_flush (mapped and
                  committed); processor_agent_thread is the part the agent's thread pays (on_end only)
  sdk_batch_processor_agent_thread  the SDK's BatchSpanProcessor + OTLP exporter, on_end only: what
                  exporting costs the agent's thread, for comparison with processor_agent_thread
  store_append_only  the floor under every way in: the events these spans map to (mapped beforehand,
                  not timed) appended to a fresh store in one call; events_per_span says how many
  mapping_only    from_sdk + TraceAssembler for every span (no store), the processor's own share
  decode_only     the exporter's protobuf bodies (encoded beforehand, not timed) read into spans: the
                  receiver's share before the mapping
  receiver_ratio, processor_ratio   agenttui rate / sdk_export (>= 1.0 meets the target in the
                  README's Performance table: the receiver stores spans as fast as the SDK's exporters
                  can send them; the processor maps and commits them as fast as they could export them)
  receiver_one_ratio  receiver_one / sdk_export_one
  store_append_only_ratio  store_append_only / sdk_export: the best either ratio this store allows
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans  # noqa: E402
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter  # noqa: E402
from opentelemetry.sdk.trace import TracerProvider  # noqa: E402
from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor  # noqa: E402
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter  # noqa: E402

from agenttui.otel import SpanProcessor, TraceAssembler  # noqa: E402
from agenttui.otel.spans import from_sdk, protobuf_request_spans  # noqa: E402
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


def _null_server() -> None:
    """`--null-server`: the baseline's server, in a process of its own like the receiver; prints its port."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Discard)
    print(server.server_address[1], flush=True)
    server.serve_forever()


def _deal(spans: list, exporters: int) -> list[list]:
    """Whole traces dealt round-robin to the exporters (each exporter is one agent's process)."""
    traces: dict[int, list] = {}
    for s in spans:
        traces.setdefault(s.context.trace_id, []).append(s)
    shares: list[list] = [[] for _ in range(exporters)]
    for i, trace in enumerate(traces.values()):
        shares[i % exporters].extend(trace)
    return shares


def _export_all(endpoint: str, shares: list[list]) -> float:
    """Seconds until every exporter has sent its share, each its batches one after the other (the
    SDK's BatchSpanProcessor exports one batch at a time) and all exporters at once."""
    exporters = [OTLPSpanExporter(endpoint=endpoint, timeout=600) for _ in shares]
    go = threading.Barrier(len(shares) + 1)
    failed: list[str] = []

    def send(exporter: OTLPSpanExporter, share: list) -> None:
        go.wait()
        for i in range(0, len(share), BATCH):
            if exporter.export(share[i:i + BATCH]).name != "SUCCESS":
                failed.append(f"export to {endpoint} failed")
                return

    threads = [threading.Thread(target=send, args=pair) for pair in zip(exporters, shares)]
    for t in threads:
        t.start()
    go.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    for exporter in exporters:
        exporter.shutdown()
    if failed:
        raise RuntimeError(failed[0])
    return elapsed


def _started(args: list[str], ready: Any, what: str) -> tuple[subprocess.Popen, str]:
    """A server process and what `ready` reads from its output lines once it listens."""
    proc = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert proc.stdout is not None
    for line in proc.stdout:
        found = ready(line)
        if found:
            threading.Thread(target=proc.stdout.read, daemon=True).start()  # keep its pipe drained
            return proc, found
    raise RuntimeError(f"{what} did not start (exit code {proc.wait()})")


def _stopped(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=120)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def bench_sdk_export(shares: list[list]) -> float:
    proc, port = _started([sys.executable, __file__, "--null-server"], lambda line: line.strip(), "null server")
    try:
        return _export_all(f"http://127.0.0.1:{port}/v1/traces", shares)
    finally:
        _stopped(proc)


def _listening(line: str) -> str | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record.get("url") if record.get("message") == "OTLP/HTTP receiver listening" else None


def bench_receiver(shares: list[list], directory: str, traces: int) -> float:
    path = os.path.join(directory, f"receiver-{time.monotonic_ns()}.db")
    proc, endpoint = _started([sys.executable, "-m", "agenttui", "serve", "--otlp", "127.0.0.1:0", "--db", path,
                               "--log-format", "json"], _listening, "agenttui serve --otlp")
    try:
        elapsed = _export_all(endpoint, shares)
    finally:
        _stopped(proc)
    with open_store(path) as store:
        if len(store.runs()) != traces:
            raise RuntimeError(f"receiver stored {len(store.runs())} runs, expected {traces}")
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
    ap.add_argument("--traces", type=int, default=800)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--exporters", type=int, default=4)
    ap.add_argument("--null-server", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.null_server:
        _null_server()
        return
    spans = make_spans(args.traces)
    n = len(spans)
    shares, one = _deal(spans, args.exporters), [spans]
    times: dict[str, list[float]] = {k: [] for k in ("sdk_export", "receiver", "sdk_export_one", "receiver_one",
                                                     "processor", "processor_agent_thread",
                                                     "sdk_batch_processor_agent_thread", "store_append_only",
                                                     "mapping_only", "decode_only")}
    events = map_spans(spans)
    bodies = [encode_spans(spans[i:i + BATCH]).SerializeToString() for i in range(0, n, BATCH)]
    with tempfile.TemporaryDirectory() as directory:
        for _ in range(args.repeats):  # interleaved, so machine load hits every variant alike
            times["sdk_export"].append(bench_sdk_export(shares))
            times["receiver"].append(bench_receiver(shares, directory, args.traces))
            times["sdk_export_one"].append(bench_sdk_export(one))
            times["receiver_one"].append(bench_receiver(one, directory, args.traces))
            total, agent = bench_processor(spans, directory)
            times["processor"].append(total)
            times["processor_agent_thread"].append(agent)
            times["sdk_batch_processor_agent_thread"].append(bench_sdk_batch_agent(spans))
            times["store_append_only"].append(bench_store_append(events, directory))
            times["mapping_only"].append(bench_mapping(spans))
            times["decode_only"].append(bench_decode(bodies))
    rate = {k: round(n / statistics.median(v)) for k, v in times.items()}
    out = {
        "benchmark": "otel", "spans": n, "traces": args.traces, "exporters": args.exporters, "batch": BATCH,
        "repeats": args.repeats, "python": platform.python_version(), "cpus": os.cpu_count(),
        "spans_per_s": rate,
        "receiver_ratio": round(rate["receiver"] / rate["sdk_export"], 2),
        "processor_ratio": round(rate["processor"] / rate["sdk_export"], 2),
        "receiver_one_ratio": round(rate["receiver_one"] / rate["sdk_export_one"], 2),
        "processor_agent_thread_ratio": round(rate["processor_agent_thread"]
                                              / rate["sdk_batch_processor_agent_thread"], 2),
        "events_per_span": round(len(events) / n, 2),
        "store_append_only_ratio": round(rate["store_append_only"] / rate["sdk_export"], 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "seconds": {k: [round(x, 3) for x in v] for k, v in times.items()},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
