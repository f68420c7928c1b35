"""The span processor's writer: batches appended with the cyclic garbage collector paused, and the
collector left as it was found, whoever else pauses it meanwhile."""
from __future__ import annotations

import gc
import threading
from typing import Any

import pytest

pytest.importorskip("opentelemetry.sdk")

from opentelemetry.sdk.trace import TracerProvider  # noqa: E402

from agenttui.otel import SpanProcessor  # noqa: E402
from agenttui.store import open_store  # noqa: E402


class _Watched:
    """A store that notes whether the collector was on during each append, and can hold an append
    until released (to make two drains overlap)."""

    def __init__(self, store: Any, hold: threading.Event | None = None) -> None:
        self.store = store
        self.collector_on: list[bool] = []
        self.entered = threading.Event()
        self.hold = hold

    def append(self, events: Any, **kw: Any) -> Any:
        self.collector_on.append(gc.isenabled())
        self.entered.set()
        if self.hold is not None:
            assert self.hold.wait(10)
        return self.store.append(events, **kw)


def _agent(tp: TracerProvider, name: str) -> None:
    tracer = tp.get_tracer("test")
    with tracer.start_as_current_span(f"invoke_agent {name}", attributes={
            "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name}):
        with tracer.start_as_current_span("chat gpt-4o", attributes={
                "gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o",
                "gen_ai.usage.input_tokens": 12, "gen_ai.usage.output_tokens": 3}):
            pass


@pytest.fixture
def collector_on():
    was = gc.isenabled()
    gc.enable()
    yield
    if was:
        gc.enable()
    else:
        gc.disable()


def test_collector_is_paused_during_appends_and_on_after(tmp_path, collector_on):
    with open_store(tmp_path / "run.db") as store:
        watched = _Watched(store)
        tp = TracerProvider()
        processor = SpanProcessor(watched, flush_interval=0.01)
        tp.add_span_processor(processor)
        _agent(tp, "planner")
        assert processor.force_flush(10_000)
        assert gc.isenabled()
        tp.shutdown()
        assert watched.collector_on and not any(watched.collector_on)
        assert gc.isenabled()
        assert processor.stats.stored == len(store.events()) > 0


def test_a_collector_turned_off_by_the_application_stays_off(tmp_path, collector_on):
    with open_store(tmp_path / "run.db") as store:
        tp = TracerProvider()
        processor = SpanProcessor(store)
        tp.add_span_processor(processor)
        gc.disable()
        _agent(tp, "planner")
        assert processor.force_flush(10_000)
        assert not gc.isenabled()
        gc.enable()
        tp.shutdown()
        assert gc.isenabled()


def test_overlapping_drains_turn_the_collector_back_on_only_at_the_last(tmp_path, collector_on):
    release = threading.Event()
    with open_store(tmp_path / "a.db") as a, open_store(tmp_path / "b.db") as b:
        slow = _Watched(a, hold=release)
        quick = _Watched(b)
        tp_slow, tp_quick = TracerProvider(), TracerProvider()
        p_slow = SpanProcessor(slow, flush_interval=0.01)
        p_quick = SpanProcessor(quick, flush_interval=0.01)
        tp_slow.add_span_processor(p_slow)
        tp_quick.add_span_processor(p_quick)
        try:
            _agent(tp_slow, "slow")
            assert slow.entered.wait(10)  # the slow processor's writer is inside its drain
            assert not gc.isenabled()
            _agent(tp_quick, "quick")
            assert p_quick.force_flush(10_000)  # a second drain begins and ends inside the first
            assert quick.collector_on and not any(quick.collector_on)
            assert not gc.isenabled()  # the first drain is still under way
            release.set()
            assert p_slow.force_flush(10_000)
            assert gc.isenabled()
        finally:
            release.set()
        tp_slow.shutdown()
        tp_quick.shutdown()
        assert gc.isenabled()
        assert len(a.events()) == p_slow.stats.stored > 0
        assert len(b.events()) == p_quick.stats.stored > 0


class _Instrumented:
    """A store whose every append makes a span on the same provider, as an application's sqlite3 or
    psycopg instrumentation would (`honours_suppress`: skipped under OpenTelemetry's
    suppress-instrumentation key, as the contrib instrumentations do)."""

    def __init__(self, store: Any, tp: TracerProvider, honours_suppress: bool) -> None:
        self.store, self.tracer, self.honours = store, tp.get_tracer("fake-sqlite3"), honours_suppress
        self.spans_made = 0

    def append(self, events: Any, **kw: Any) -> Any:
        from opentelemetry import context

        if self.honours and context.get_value(context._SUPPRESS_INSTRUMENTATION_KEY):
            return self.store.append(events, **kw)
        self.spans_made += 1
        with self.tracer.start_as_current_span("INSERT run.db", attributes={"db.system": "sqlite"}):
            return self.store.append(events, **kw)


@pytest.mark.parametrize("honours_suppress", [True, False])
def test_the_processors_own_writes_are_not_traced_into_the_store(tmp_path, honours_suppress):
    """With the queue full the agent's thread drains itself: a span made inside that write used to
    drain again and wait on the processor's own lock for good (and every write recorded more spans)."""
    with open_store(tmp_path / "run.db") as store:
        tp = TracerProvider()
        instrumented = _Instrumented(store, tp, honours_suppress)
        processor = SpanProcessor(instrumented, max_queue=1)
        tp.add_span_processor(processor)
        agent = threading.Thread(target=lambda: [_agent(tp, f"agent-{k}") for k in range(5)], daemon=True)
        agent.start()
        agent.join(30)
        assert not agent.is_alive(), "the agent's thread is stuck in the processor's drain"
        assert processor.force_flush(10_000)
        processor.shutdown()
        stored = list(store.iter_events())
        assert stored, "nothing was recorded"
        assert not any("INSERT run.db" in str(e.payload) for e in stored), "a span of the processor's own write"
        assert len(store.runs()) == 5, "one run per agent trace, none for the writes"
        assert (instrumented.spans_made == 0) == honours_suppress
