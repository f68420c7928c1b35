"""Benchmark: OpenTelemetry spans into agenttui, against the OpenTelemetry SDK's own OTLP exporters
sending the same spans, in the same run.

    python benchmarks/bench_otel.py [--traces 800] [--repeats 3] [--exporters 4]
    python benchmarks/bench_otel.py --only mapping [--traces 800] [--repeats 7] [--against REV]   # ~30 s
    python benchmarks/bench_otel.py --only processor [--repeats 7] [--against REV]   # ~40 s

Spans: `traces` agent runs made by the real SDK, each an invoke_agent span with 10 chat spans (tokens,
messages) and 10 execute_tool spans (arguments, results) under it: GenAI attributes as pydantic-ai
writes them. The traces are dealt out to `exporters` SDK OTLPSpanExporters (protobuf over HTTP,
batches of 512 as the SDK's BatchSpanProcessor sends), one thread each, sending at the same time, as
several agent processes or a Collector's workers send to one receiver. Every server is a process of
its own, as deployed.

The target compares what one CPU core sustains on each side: spans per CPU-second, the CPU time of
the side doing the work (the exporters' process for the export, the receiver's process for the
receiver, the processor's for the processor), measured while they run. On 2 cores shared with other
work, wall-clock rates of two processes that must both run (exporters and receiver) measure the
machine's free cores more than the receiver; spans per CPU-second does not. Wall-clock rates are
printed too. Medians over interleaved repeats.
  sdk_export      the baseline: those exporters to a server that reads each body and answers 200 at
                  once (its own process); the CPU is the exporters' process: encoding and HTTP
  receiver        the same exporters, the same batches, to `agenttui serve --otlp --ws off` (its own
                  process, a fresh SQLite store); a 200 comes only after the request's events are
                  committed, so when the exporters are done, all is stored. CPU: the receiver's process
  receiver_with_feed  the same with serve's WebSocket feed on (its default), no client connected: serve
                  follows the store (reads every commit back) only while a client is connected
  sdk_export_small, receiver_small  the same with `small_exporters` exporters sending batches of
                  `small_batch` spans: many agents, each flushing a few spans at a time (the
                  receiver then commits the requests that wait together; see agenttui/serve/otlp.py)
  processor       agenttui.otel.SpanProcessor: on_end for every span, then force_flush (mapped and
                  committed); processor_agent_thread is the part the agent's thread pays (on_end only)
  sdk_batch_processor_agent_thread  the SDK's BatchSpanProcessor + OTLP exporter, on_end only: what
                  exporting costs the agent's thread, for comparison with processor_agent_thread
  store_append_only  the floor under every way in: the events these spans map to (mapped beforehand,
                  not timed) appended to a fresh store in one call; events_per_span says how many.
                  CPU: this process's (the append and the store's checkpoint thread)
  mapping_only    from_sdk + TraceAssembler for every span (no store), the processor's own share
  decode_only     the exporter's protobuf bodies (encoded beforehand, not timed) read into spans: the
                  receiver's share before the mapping
  receiver_ratio, receiver_small_ratio, processor_ratio   spans per CPU-second, agenttui / sdk_export (>= 1.0 meets the
                  target in the README's Performance table: one core takes spans in as fast as one
                  core of the SDK's exporters sends them out)
  store_floor_ratio  the same for store_append_only: the most any way in that stores through the
                  store's append can reach (below 1.0, the target is out of reach without a cheaper
                  append or fewer events per span)
  wall_ratios     the same from wall-clock spans/s

`--only processor`: the span processor alone against the baseline (`sdk_export`, 4 x 512), both as
above, `repeats` interleaved repeats (default 7); with `--against REV`, REV's agenttui/otel's
SpanProcessor too (imported beside the working tree's, interleaved): the before/after of a processor
change in one run. `full_collections`: the garbage collector's full (generation 2) collections
during one processor case, median.

`--only mapping`: the mapping alone (span -> events, no store, no HTTP), in microseconds of CPU per
span, median over `repeats` interleaved repeats, against the SDK exporter's own encoding of the same
spans (`encode_spans(batch).SerializeToString()`, batches of 512: what OTLPSpanExporter.export does
before HTTP) as the baseline in the same run. Spans go through one TraceAssembler in the exporters'
order (children end before their parent, so most wait for it), a batch of 512 at a time, each
batch's events dropped before the next as the receiver and the processor drop them once appended
(freeing them is measured too). The benchmark's own inputs are frozen out of the garbage collector
(gc.freeze) first, so its collections scan what the mapping made, as in a way in's process.
`--against REV` also measures agenttui/otel as it was at git revision REV (imported beside the
working tree's, the same spans, interleaved): the before/after of a change in one run.
  encode_us       the baseline: the SDK's encoding, per span
  mapping_sdk_us  from_sdk + TraceAssembler.ended: the processor's mapping of an ended span
  mapping_protobuf_us  TraceAssembler.ended of spans decoded beforehand: the receiver's mapping
  decode_protobuf_us   protobuf_request_spans of the encoded bodies: the receiver's decoding
  *_ratio         encode_us / that figure (> 1: cheaper than the SDK's encoding)
  *_at_rev_us, speedup_vs_rev   with --against: REV's figures, and REV's / the working tree's
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


def _export_all(endpoint: str, shares: list[list], batch: int) -> tuple[float, float]:
    """(wall seconds, this process's CPU seconds) until every exporter has sent its share, each its
    batches one after the other (the SDK's BatchSpanProcessor exports one batch at a time) and all
    exporters at once."""
    exporters = [OTLPSpanExporter(endpoint=endpoint, timeout=600) for _ in shares]
    go = threading.Barrier(len(shares) + 1)
    failed: list[str] = []

    def send(exporter: OTLPSpanExporter, share: list) -> None:
        go.wait()
        for i in range(0, len(share), batch):
            if exporter.export(share[i:i + batch]).name != "SUCCESS":
                failed.append(f"export to {endpoint} failed")
                return

    threads = [threading.Thread(target=send, args=pair) for pair in zip(exporters, shares)]
    for t in threads:
        t.start()
    go.wait()
    t0, c0 = time.perf_counter(), time.process_time()
    for t in threads:
        t.join()
    elapsed, cpu = time.perf_counter() - t0, time.process_time() - c0
    for exporter in exporters:
        exporter.shutdown()
    if failed:
        raise RuntimeError(failed[0])
    return elapsed, cpu


def _cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system, all threads) a process has used so far (Linux /proc)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


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


def bench_sdk_export(shares: list[list], batch: int = BATCH) -> tuple[float, float]:
    """(wall seconds, the exporters' CPU seconds)."""
    proc, port = _started([sys.executable, __file__, "--null-server"], lambda line: line.strip(), "null server")
    try:
        return _export_all(f"http://127.0.0.1:{port}/v1/traces", shares, batch)
    finally:
        _stopped(proc)


def _listening(line: str) -> str | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record.get("url") if record.get("message") == "OTLP/HTTP receiver listening" else None


def bench_receiver(shares: list[list], directory: str, traces: int, batch: int = BATCH, *,
                   feed: bool = False) -> tuple[float, float]:
    """(wall seconds, the receiver process's CPU seconds) for the exporters to send everything;
    every 200 came after a commit, so it is all stored then."""
    path = os.path.join(directory, f"receiver-{time.monotonic_ns()}.db")
    proc, endpoint = _started([sys.executable, "-m", "agenttui", "serve", "--otlp", "127.0.0.1:0", "--db", path,
                               "--ws", "127.0.0.1:0" if feed else "off", "--log-format", "json"],
                              _listening, "agenttui serve --otlp")
    try:
        c0 = _cpu_seconds(proc.pid)
        elapsed, _ = _export_all(endpoint, shares, batch)
        cpu = _cpu_seconds(proc.pid) - c0
    finally:
        _stopped(proc)
    with open_store(path) as store:
        if len(store.runs()) != traces:
            raise RuntimeError(f"receiver stored {len(store.runs())} runs, expected {traces}")
    return elapsed, cpu


def bench_processor(spans: list, directory: str, processor: Any = SpanProcessor) -> tuple[float, float, float]:
    """(wall seconds, CPU seconds, the agent thread's wall seconds); `processor`: the class (a
    revision's, with --only processor --against)."""
    path = os.path.join(directory, f"processor-{time.monotonic_ns()}.db")
    proc = processor(path)
    t0, c0 = time.perf_counter(), time.process_time()
    for s in spans:
        proc.on_end(s)
    agent = time.perf_counter() - t0
    if not proc.force_flush(600_000):
        raise RuntimeError("processor did not flush")
    total, cpu = time.perf_counter() - t0, time.process_time() - c0
    proc.shutdown()
    return total, cpu, agent


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


def bench_store_append(events: list, directory: str) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) to append `events` in one call."""
    path = os.path.join(directory, f"append-{time.monotonic_ns()}.db")
    with open_store(path) as store:
        t0, c0 = time.perf_counter(), time.process_time()
        store.append(events)
        return time.perf_counter() - t0, time.process_time() - c0


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


def _batches(items: list, size: int = BATCH) -> list[list]:
    return [items[i:i + size] for i in range(0, len(items), size)]


def _cpu_per_span(run: Any, n: int) -> float:
    """Microseconds of this process's CPU per span for `run()`."""
    c0 = time.process_time()
    run()
    return (time.process_time() - c0) / n * 1e6


def _otel_at(rev: str, directory: str) -> tuple[Any, Any]:
    """(spans module, assemble module) of agenttui/otel as it was at git revision `rev`, imported as
    a package of its own beside the working tree's (it imports agenttui.store from the working tree)."""
    return _otel_module(rev, directory, "spans"), _otel_module(rev, directory, "assemble")


def _otel_module(rev: str, directory: str, module: str) -> Any:
    """agenttui/otel/`module` as it was at git revision `rev` (see _otel_at); the package is
    written into `directory` once."""
    import importlib

    name = "otel_at_" + "".join(c if c.isalnum() else "_" for c in rev)
    if (Path(directory) / name).is_dir():
        return importlib.import_module(f"{name}.{module}")
    root = Path(__file__).resolve().parents[1]
    package = Path(directory) / name
    package.mkdir()
    files = subprocess.run(["git", "ls-tree", "--name-only", rev, "agenttui/otel/"], cwd=root, check=True,
                           capture_output=True, text=True).stdout.split()
    for f in files:
        text = subprocess.run(["git", "show", f"{rev}:{f}"], cwd=root, check=True, capture_output=True).stdout
        (package / Path(f).name).write_bytes(text)
    sys.path.insert(0, directory)
    return importlib.import_module(f"{name}.{module}")


def _mapping_cases(spans_module: Any, assemble_module: Any, batches: list[list], bodies: list[bytes]) -> dict[str, Any]:
    """The processor's and the receiver's mapping by one version of agenttui/otel."""
    decoded = [list(spans_module.protobuf_request_spans(body)) for body in bodies]
    sdk_span, assembler = spans_module.from_sdk, assemble_module.TraceAssembler

    def map_sdk() -> None:
        asm = assembler()
        for b in batches:
            events: list = []
            for s in b:
                asm.ended(sdk_span(s, ended=True), events)
            del events  # freed as a way in frees them once appended
        asm.release(None)

    def map_protobuf() -> None:
        asm = assembler()
        for b in decoded:
            events: list = []
            for s in b:
                asm.ended(s, events)
            del events
        asm.release(None)

    return {"mapping_sdk_us": map_sdk, "mapping_protobuf_us": map_protobuf}


def bench_mapping_only(spans: list, repeats: int, against: str | None = None) -> dict[str, Any]:
    """`--only mapping` (see the docstring)."""
    import gc

    n = len(spans)
    batches = _batches(spans)
    bodies = [encode_spans(b).SerializeToString() for b in batches]

    def encode() -> None:
        for b in batches:
            encode_spans(b).SerializeToString()

    def decode() -> None:
        for body in bodies:
            for _ in protobuf_request_spans(body):
                pass

    from agenttui.otel import assemble as assemble_now, spans as spans_now

    cases = {"encode_us": encode, **_mapping_cases(spans_now, assemble_now, batches, bodies),
             "decode_protobuf_us": decode}
    with tempfile.TemporaryDirectory() as directory:
        if against:
            old_spans, old_assemble = _otel_at(against, directory)
            cases.update({f"{k[:-3]}_at_rev_us": run
                          for k, run in _mapping_cases(old_spans, old_assemble, batches, bodies).items()})
        # the inputs (spans, bodies, decoded spans) out of the collector's way: a full collection then
        # scans what the mapping made, not the benchmark's own data
        gc.collect()
        gc.freeze()
        times: dict[str, list[float]] = {k: [] for k in cases}
        for _ in range(repeats):  # interleaved, so machine load hits every case alike
            for key, run in cases.items():
                times[key].append(_cpu_per_span(run, n))
        gc.unfreeze()
    med = {k: round(statistics.median(v), 2) for k, v in times.items()}
    out: dict[str, Any] = {
        "benchmark": "otel_mapping", "spans": n, "batch": BATCH, "repeats": repeats,
        "python": platform.python_version(), "us_per_span": med,
        **{k.replace("_us", "_ratio"): round(med["encode_us"] / med[k], 2)
           for k in ("mapping_sdk_us", "mapping_protobuf_us", "decode_protobuf_us")}}
    if against:
        out["against"] = against
        out["speedup_vs_rev"] = {k: round(med[f"{k[:-3]}_at_rev_us"] / med[k], 2)
                                 for k in ("mapping_sdk_us", "mapping_protobuf_us")}
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    out["us_per_span_all"] = {k: [round(x, 2) for x in v] for k, v in times.items()}
    return out


def bench_processor_only(spans: list, repeats: int, exporters: int, against: str | None = None) -> dict[str, Any]:
    """`--only processor` (see the docstring)."""
    import gc

    n = len(spans)
    shares = _deal(spans, exporters)
    full_collections = [0]

    def count(phase: str, info: dict[str, int]) -> None:
        if phase == "stop" and info["generation"] == 2:
            full_collections[0] += 1

    with tempfile.TemporaryDirectory() as directory:
        cases: dict[str, Any] = {"processor": SpanProcessor}
        if against:
            cases["processor_at_rev"] = _otel_module(against, directory, "processor").SpanProcessor
        cpu: dict[str, list[float]] = {k: [] for k in ("sdk_export", *cases)}
        collections: dict[str, list[int]] = {k: [] for k in cases}
        for _ in range(repeats):  # interleaved, so machine load hits every case alike
            cpu["sdk_export"].append(bench_sdk_export(shares)[1])
            for key, processor in cases.items():
                full_collections[0] = 0
                gc.callbacks.append(count)
                try:
                    cpu[key].append(bench_processor(spans, directory, processor)[1])
                finally:
                    gc.callbacks.remove(count)
                collections[key].append(full_collections[0])
    per_cpu = {k: round(n / statistics.median(v)) for k, v in cpu.items()}
    out: dict[str, Any] = {
        "benchmark": "otel_processor", "spans": n, "exporters": exporters, "batch": BATCH, "repeats": repeats,
        "python": platform.python_version(), "spans_per_cpu_s": per_cpu,
        "us_per_span": {k: round(statistics.median(v) / n * 1e6, 2) for k, v in cpu.items()},
        **{f"{k}_ratio": round(per_cpu[k] / per_cpu["sdk_export"], 2) for k in cases},
        "full_collections": {k: statistics.median(v) for k, v in collections.items()}}
    if against:
        out["against"] = against
        out["speedup_vs_rev"] = round(per_cpu["processor"] / per_cpu["processor_at_rev"], 2)
    out["load_average"] = [round(x, 2) for x in os.getloadavg()]
    out["us_per_span_all"] = {k: [round(x / n * 1e6, 2) for x in v] for k, v in cpu.items()}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--traces", type=int, default=800)
    ap.add_argument("--repeats", type=int, help="default: 3, or 7 with --only")
    ap.add_argument("--exporters", type=int, default=4)
    ap.add_argument("--small-exporters", type=int, default=16)
    ap.add_argument("--small-batch", type=int, default=32)
    ap.add_argument("--only", choices=["mapping", "processor"], help="one section alone (see the docstring)")
    ap.add_argument("--against", metavar="REV",
                    help="with --only mapping or processor: also agenttui/otel as it was at git revision REV")
    ap.add_argument("--null-server", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.null_server:
        _null_server()
        return
    if args.only == "mapping":
        print(json.dumps(bench_mapping_only(make_spans(args.traces), args.repeats or 7, args.against), indent=2))
        return
    if args.only == "processor":
        print(json.dumps(bench_processor_only(make_spans(args.traces), args.repeats or 7, args.exporters,
                                              args.against), indent=2))
        return
    args.repeats = args.repeats or 3
    spans = make_spans(args.traces)
    n = len(spans)
    shares, small = _deal(spans, args.exporters), _deal(spans, args.small_exporters)
    wall: dict[str, list[float]] = {k: [] for k in ("sdk_export", "receiver", "receiver_with_feed",
                                                    "sdk_export_small", "receiver_small", "processor",
                                                    "processor_agent_thread", "sdk_batch_processor_agent_thread",
                                                    "store_append_only", "mapping_only", "decode_only")}
    cpu: dict[str, list[float]] = {k: [] for k in ("sdk_export", "receiver", "receiver_with_feed",
                                                   "sdk_export_small", "receiver_small", "processor",
                                                   "store_append_only")}
    events = map_spans(spans)
    bodies = [encode_spans(spans[i:i + BATCH]).SerializeToString() for i in range(0, n, BATCH)]
    with tempfile.TemporaryDirectory() as directory:
        for _ in range(args.repeats):  # interleaved, so machine load hits every variant alike
            for key, (w, c) in (("sdk_export", bench_sdk_export(shares)),
                                ("receiver", bench_receiver(shares, directory, args.traces)),
                                ("receiver_with_feed", bench_receiver(shares, directory, args.traces, feed=True)),
                                ("sdk_export_small", bench_sdk_export(small, args.small_batch)),
                                ("receiver_small", bench_receiver(small, directory, args.traces, args.small_batch))):
                wall[key].append(w)
                cpu[key].append(c)
            total, processor_cpu, agent = bench_processor(spans, directory)
            wall["processor"].append(total)
            cpu["processor"].append(processor_cpu)
            wall["processor_agent_thread"].append(agent)
            wall["sdk_batch_processor_agent_thread"].append(bench_sdk_batch_agent(spans))
            w, c = bench_store_append(events, directory)
            wall["store_append_only"].append(w)
            cpu["store_append_only"].append(c)
            wall["mapping_only"].append(bench_mapping(spans))
            wall["decode_only"].append(bench_decode(bodies))
    rate = {k: round(n / statistics.median(v)) for k, v in wall.items()}
    per_cpu = {k: round(n / statistics.median(v)) for k, v in cpu.items()}
    out = {
        "benchmark": "otel", "spans": n, "traces": args.traces, "exporters": args.exporters, "batch": BATCH,
        "small_exporters": args.small_exporters, "small_batch": args.small_batch,
        "repeats": args.repeats, "python": platform.python_version(), "cpus": os.cpu_count(),
        "spans_per_cpu_s": per_cpu,
        "receiver_ratio": round(per_cpu["receiver"] / per_cpu["sdk_export"], 2),
        "receiver_with_feed_ratio": round(per_cpu["receiver_with_feed"] / per_cpu["sdk_export"], 2),
        "receiver_small_ratio": round(per_cpu["receiver_small"] / per_cpu["sdk_export_small"], 2),
        "processor_ratio": round(per_cpu["processor"] / per_cpu["sdk_export"], 2),
        "store_floor_ratio": round(per_cpu["store_append_only"] / per_cpu["sdk_export"], 2),
        "spans_per_s": rate,
        "wall_ratios": {k: round(rate[k] / rate["sdk_export"], 2)
                        for k in ("receiver", "receiver_with_feed", "processor", "store_append_only")},
        "wall_ratio_small": round(rate["receiver_small"] / rate["sdk_export_small"], 2),
        "processor_agent_thread_ratio": round(rate["processor_agent_thread"]
                                              / rate["sdk_batch_processor_agent_thread"], 2),
        "events_per_span": round(len(events) / n, 2),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "wall_seconds": {k: [round(x, 3) for x in v] for k, v in wall.items()},
        "cpu_seconds": {k: [round(x, 3) for x in v] for k, v in cpu.items()},
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
