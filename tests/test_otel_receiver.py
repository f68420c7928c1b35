"""The OTLP/HTTP receiver: the spec's answers, bad input named, the token rule, and `agenttui serve
--otlp` as a real process without Redis whose events reach the store and the WebSocket feed."""
from __future__ import annotations

import gzip
import json
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import orjson
import pytest

pytest.importorskip("opentelemetry.proto")

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (  # noqa: E402
    ExportTraceServiceRequest, ExportTraceServiceResponse,
)

from agenttui.serve.command import config_from_args, configure_parser  # noqa: E402
from agenttui.serve.config import ConfigError  # noqa: E402
from agenttui.serve.otlp import ReceiverThread  # noqa: E402
from agenttui.store import open_store  # noqa: E402

TRACE = "5b8efff798038103d269b633813fc60c"


def _kv(key, value):
    if isinstance(value, bool):
        v = {"boolValue": value}
    elif isinstance(value, int):
        v = {"intValue": str(value)}
    else:
        v = {"stringValue": value}
    return {"key": key, "value": v}


def span(span_id, name, parent=None, attrs=(), status=0, start=1_700_000_000_000_000_000, trace=TRACE):
    s = {"traceId": trace, "spanId": span_id, "name": name, "kind": 1,
         "startTimeUnixNano": str(start), "endTimeUnixNano": str(start + 1_000_000),
         "attributes": [_kv(k, v) for k, v in attrs], "status": {"code": status}}
    if parent:
        s["parentSpanId"] = parent
    return s


def request(*spans):
    return {"resourceSpans": [{"resource": {"attributes": [_kv("service.name", "svc")]},
                               "scopeSpans": [{"scope": {"name": "t"}, "spans": list(spans)}]}]}


AGENT = span("eee19b7ec3c1b174", "invoke_agent planner", attrs=[("gen_ai.operation.name", "invoke_agent"),
                                                                  ("gen_ai.agent.name", "planner")])
CHAT = span("eee19b7ec3c1b175", "chat m", parent="eee19b7ec3c1b174",
            attrs=[("gen_ai.operation.name", "chat"), ("gen_ai.request.model", "m"),
                   ("gen_ai.usage.input_tokens", 7), ("gen_ai.usage.output_tokens", 3)])


def post(url, body, content_type="application/json", headers=None):
    req = urllib.request.Request(url, data=body, method="POST",
                                 headers={"Content-Type": content_type, **(headers or {})})
    try:
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.status, resp.headers.get("Content-Type"), resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.headers.get("Content-Type"), exc.read()


@pytest.fixture
def receiver(tmp_path):
    with open_store(tmp_path / "r.db") as store, ReceiverThread(store, hold_seconds=120) as rt:
        yield rt, store


def test_json_request_children_first_and_a_retry_stored_once(receiver):
    rt, store = receiver
    assert post(rt.endpoint, orjson.dumps(request(CHAT)))[0] == 200  # child before its parent
    status, ctype, body = post(rt.endpoint, orjson.dumps(request(AGENT)))
    assert (status, ctype, body) == (200, "application/json", b"{}")
    before = store.last_position()
    assert post(rt.endpoint, orjson.dumps(request(AGENT, CHAT)))[0] == 200  # an exporter's retry
    assert store.last_position() == before
    (run,) = store.runs()
    assert run["run_id"] == TRACE and (run["prompt_tokens"], run["completion_tokens"]) == (7, 3)
    (node,) = store.nodes(TRACE)
    assert (node["node_id"], node["task_goal"], node["status"], node["llm_calls"]) == \
        ("eee19b7ec3c1b174", "planner", "FINISH", 1)


def test_protobuf_gzip_and_partial_success(receiver):
    rt, store = receiver
    req = ExportTraceServiceRequest()
    rs = req.resource_spans.add()
    ss = rs.scope_spans.add()
    good = ss.spans.add()
    good.trace_id, good.span_id, good.name = bytes.fromhex(TRACE), bytes.fromhex("aaaaaaaaaaaaaaaa"), "root"
    good.start_time_unix_nano = good.end_time_unix_nano = 1_700_000_000_000_000_000
    bad = ss.spans.add()
    bad.trace_id, bad.span_id, bad.name = b"\x01\x02", bytes.fromhex("bbbbbbbbbbbbbbbb"), "bad"
    status, ctype, body = post(rt.endpoint, gzip.compress(req.SerializeToString()), "application/x-protobuf",
                               {"Content-Encoding": "gzip"})
    assert (status, ctype) == (200, "application/x-protobuf")
    resp = ExportTraceServiceResponse.FromString(body)
    assert resp.partial_success.rejected_spans == 1
    assert "spans[1]" in resp.partial_success.error_message and "traceId" in resp.partial_success.error_message
    assert [r["run_id"] for r in store.runs()] == [TRACE]


def test_bad_bodies_are_named(receiver):
    rt, store = receiver
    status, _, body = post(rt.endpoint, b"{not json")
    assert status == 400 and b"not JSON" in body
    status, _, body = post(rt.endpoint, b"\xff\xff\xff", "application/x-protobuf")
    assert status == 400
    status, _, body = post(rt.endpoint, b"{}", "text/plain")
    assert status == 415 and b"application/x-protobuf" in body
    status, _, body = post(rt.endpoint, b"not gzip", headers={"Content-Encoding": "gzip"})
    assert status == 400 and b"gzip" in body
    status, _, body = post(rt.endpoint, orjson.dumps({"something": "else"}))
    assert status == 400 and b"resourceSpans" in body
    bad_span = span("cccccccccccccccc", "x")
    bad_span["startTimeUnixNano"] = "soon"
    status, _, body = post(rt.endpoint, orjson.dumps(request(bad_span, AGENT)))
    partial = orjson.loads(body)["partialSuccess"]
    assert status == 200 and partial["rejectedSpans"] == "1" and "startTimeUnixNano" in partial["errorMessage"]
    assert post(rt.endpoint.replace("/v1/traces", "/v1/logs"), b"{}")[0] == 404
    assert store.nodes(TRACE)[0]["task_goal"] == "planner"  # the good span of the bad request is kept


def test_token_required_when_set(tmp_path):
    with open_store(tmp_path / "t.db") as store, ReceiverThread(store, token="s3cret") as rt:
        assert post(rt.endpoint, orjson.dumps(request(AGENT)))[0] == 401
        assert post(rt.endpoint, orjson.dumps(request(AGENT)), headers={"Authorization": "Bearer nope"})[0] == 401
        assert post(rt.endpoint, orjson.dumps(request(AGENT)), headers={"Authorization": "Bearer s3cret"})[0] == 200
        assert store.last_position() > 0


def _config(*argv):
    import argparse

    return config_from_args(configure_parser(argparse.ArgumentParser()).parse_args(list(argv)))


def test_otlp_option_rules(monkeypatch):
    monkeypatch.delenv("REDIS_URL", raising=False)
    monkeypatch.delenv("AGENTTUI_TOKEN", raising=False)
    monkeypatch.delenv("AGENTTUI_OTLP", raising=False)
    cfg = _config("--db", "x.db", "--otlp", "127.0.0.1:4318")
    assert (cfg.otlp_host, cfg.otlp_port, cfg.redis_enabled) == ("127.0.0.1", 4318, False)
    assert _config("--db", "x.db", "--otlp", "4318", "--redis", "redis://h:1/0").redis_enabled
    assert _config("--db", "x.db").redis_enabled and _config("--db", "x.db").otlp_host is None
    with pytest.raises(ConfigError, match="--otlp 0.0.0.0:4318 listens beyond"):
        _config("--db", "x.db", "--otlp", "0.0.0.0:4318")
    assert _config("--db", "x.db", "--otlp", "0.0.0.0:4318", "--token", "t").otlp_host == "0.0.0.0"
    with pytest.raises(ConfigError, match="--otlp 'x:y'"):
        _config("--db", "x.db", "--otlp", "x:y")
    with pytest.raises(ConfigError, match="needs --otlp"):
        _config("--db", "x.db", "--redis", "off")


def _wait(cond, what, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = cond()
        if value:
            return value
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def test_serve_otlp_process_without_redis(tmp_path):
    websockets = pytest.importorskip("websockets")
    del websockets
    from websockets.sync.client import connect

    log_path = tmp_path / "serve.log"
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL", "AGENTTUI_TOKEN")}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen([sys.executable, "-m", "agenttui", "serve", "--otlp", "127.0.0.1:0", "--ws",
                                 "127.0.0.1:0", "--db", str(tmp_path / "s.db"), "--log-format", "json"],
                                stdout=log, stderr=log, env={**env, "PYTHONUNBUFFERED": "1"})
    try:
        def find(message):
            for raw in log_path.read_text().splitlines():
                try:
                    line = json.loads(raw)
                except ValueError:
                    continue
                if line.get("message") == message:
                    return line
            assert proc.poll() is None, log_path.read_text()
            return None

        otlp_url = _wait(lambda: find("OTLP/HTTP receiver listening"), "the receiver")["url"]
        ws_url = _wait(lambda: find("websocket feed listening"), "the feed")["url"]
        with connect(ws_url + "?type=node_created", open_timeout=60) as ws:
            assert post(otlp_url, orjson.dumps(request(AGENT, CHAT)))[0] == 200
            message = json.loads(ws.recv(timeout=60))
            assert message["event_type"] == "node_created" and message["run_id"] == TRACE
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, log_path.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    with open_store(tmp_path / "s.db") as store:
        assert store.nodes(TRACE)[0]["status"] == "FINISH"


class _RefusingStore:
    """A store that refuses the next `refuse` writes, as a locked or full database would."""

    def __init__(self, store):
        self.store, self.refuse = store, 0

    def append(self, events, **kwargs):
        if self.refuse:
            self.refuse -= 1
            raise OSError("disk full")
        return self.store.append(events, **kwargs)


def test_a_refused_write_is_answered_503_and_loses_nothing(tmp_path):
    """The child came in an earlier request and waits for its parent; the parent's request meets a
    store that refuses the write: 503, and the exporter's retry stores both the parent and the child
    (the retry does not carry the child again)."""
    with open_store(tmp_path / "r.db") as store:
        flaky = _RefusingStore(store)
        with ReceiverThread(flaky, hold_seconds=120) as rt:
            assert post(rt.endpoint, orjson.dumps(request(CHAT)))[0] == 200
            flaky.refuse = 1
            status, _, body = post(rt.endpoint, orjson.dumps(request(AGENT)))
            assert status == 503 and b"disk full" in body
            assert post(rt.endpoint, orjson.dumps(request(AGENT)))[0] == 200  # the exporter's retry
        (node,) = store.nodes(TRACE)
        assert (node["status"], node["llm_calls"]) == ("FINISH", 1)
        (run,) = store.runs()
        assert (run["prompt_tokens"], run["completion_tokens"]) == (7, 3)


def test_a_request_without_spans_is_answered_200(receiver):
    rt, store = receiver
    assert post(rt.endpoint, orjson.dumps({"resourceSpans": []}))[:3] == (200, "application/json", b"{}")
    status, ctype, body = post(rt.endpoint, ExportTraceServiceRequest().SerializeToString(), "application/x-protobuf")
    assert (status, ctype) == (200, "application/x-protobuf")
    assert ExportTraceServiceResponse.FromString(body).partial_success.rejected_spans == 0
    assert store.last_position() == 0


class _GatedStore:
    """A store whose appends wait for `gate`, so requests pile up behind the first write."""

    def __init__(self, store):
        self.store, self.gate, self.entered, self.batches = store, threading.Event(), threading.Event(), []

    def append(self, events, **kwargs):
        self.entered.set()
        assert self.gate.wait(60)
        result = self.store.append(events, **kwargs)
        self.batches.append(sorted({e.run_id for e in events}))
        return result

    def __getattr__(self, name):
        return getattr(self.store, name)


def test_requests_waiting_for_a_write_are_committed_together_and_answered_after_it(tmp_path):
    """Group commit: the requests that arrive while a write is under way go into the next
    transaction, all of them, and none is answered before its events are stored. A bad body among
    them gets its own 400 and does not hold the others back."""
    traces = [f"{i:032x}" for i in range(1, 5)]
    with open_store(tmp_path / "g.db") as store:
        gated = _GatedStore(store)
        with ReceiverThread(gated, hold_seconds=120) as rt:
            answers: dict[str, tuple[int, bool]] = {}

            def send(trace):
                status = post(rt.endpoint, orjson.dumps(request({**AGENT, "traceId": trace})))[0]
                answers[trace] = (status, any(r["run_id"] == trace for r in store.runs()))

            first = threading.Thread(target=send, args=(traces[0],))
            first.start()
            assert gated.entered.wait(60)
            others = [threading.Thread(target=send, args=(t,)) for t in traces[1:]]
            bad = threading.Thread(target=lambda: answers.setdefault("bad", (post(rt.endpoint, b"{no")[0], False)))
            for t in [*others, bad]:
                t.start()
            _wait(lambda: len(rt.receiver._waiting) == 4 or None, "the requests to wait for the write")
            gated.gate.set()
            for t in [first, *others, bad]:
                t.join(60)
        assert gated.batches == [traces[:1], traces[1:]]
        assert answers == {**{t: (200, True) for t in traces}, "bad": (400, False)}


def test_serve_without_the_feed_does_not_follow_the_store(tmp_path, monkeypatch):
    """The follower reads back every commit for the WebSocket feed: with --ws off it is never started,
    with the feed on only once a client connects (tests/test_serve_live.py)."""
    import asyncio

    from agenttui.serve.app import ServeApp

    for name in ("REDIS_URL", "AGENTTUI_TOKEN", "AGENTTUI_OTLP", "AGENTTUI_WS"):
        monkeypatch.delenv(name, raising=False)

    async def followers(*argv):
        app = ServeApp(_config("--db", str(tmp_path / "f.db"), "--otlp", "127.0.0.1:0", *argv))
        await app.start()
        try:
            return app.follower is not None
        finally:
            await app.close()

    assert asyncio.run(followers("--ws", "off")) is False
    assert asyncio.run(followers("--ws", "127.0.0.1:0")) is False
