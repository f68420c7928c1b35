"""`agenttui import` of OTLP JSON: detection, ids in hex or base64, int64 as strings, bad lines and
spans named by line, and the mapping's details (messages, tokens under every name, errors)."""
from __future__ import annotations

import base64
import io

import orjson
import pytest

from agenttui.cli import main as cli_main
from agenttui.otel import import_otlp
from agenttui.otel.mapping import classify, token_usage
from agenttui.otel.spans import Span
from agenttui.store import open_store

from test_otel_receiver import AGENT, CHAT, TRACE, request, span


def _write(path, *requests):
    path.write_bytes(b"".join(orjson.dumps(r) + b"\n" for r in requests))
    return path


def test_cli_detects_otlp_by_content(tmp_path, capsys):
    f = _write(tmp_path / "traces.json", request(CHAT), request(AGENT))
    assert cli_main(["import", str(tmp_path / "a.db"), str(f), "--json"]) == 0
    out = orjson.loads(capsys.readouterr().out)
    assert out["read"] == 2 and out["stored"] > 0 and out["failed"] == 0
    with open_store(tmp_path / "a.db") as store:
        assert store.nodes(TRACE)[0]["status"] == "FINISH"
    assert cli_main(["import", str(tmp_path / "a.db"), str(f), "--format", "otlp", "--json"]) == 0
    assert orjson.loads(capsys.readouterr().out)["stored"] == 0


def test_base64_ids_and_numeric_int64_tolerated(tmp_path):
    agent = dict(AGENT, traceId=base64.b64encode(bytes.fromhex(TRACE)).decode(),
                 spanId=base64.b64encode(bytes.fromhex(AGENT["spanId"])).decode(),
                 startTimeUnixNano=1_700_000_000_000_000_000, endTimeUnixNano=1_700_000_001_000_000_000)
    with open_store(tmp_path / "b.db") as store:
        report = import_otlp(store, _write(tmp_path / "t.json", request(agent, CHAT)))
        assert report.ok
        (node,) = store.nodes(TRACE)
        assert node["node_id"] == AGENT["spanId"] and node["llm_calls"] == 1


def test_bad_lines_and_spans_named_good_ones_kept(tmp_path, capsys):
    bad_id = span("zz", "bad id")
    no_start = span("dddddddddddddddd", "no start")
    del no_start["startTimeUnixNano"]
    f = tmp_path / "mixed.json"
    f.write_bytes(orjson.dumps(request(AGENT)) + b"\n{broken\n" + orjson.dumps(request(bad_id, CHAT, no_start))
                  + b"\n")
    assert cli_main(["import", str(tmp_path / "c.db"), str(f), "--format", "otlp"]) == 1
    err = capsys.readouterr().err
    assert "line 2: not JSON" in err
    assert "line 3: resourceSpans[0].scopeSpans[0].spans[0]: spanId 'zz'" in err
    assert "spans[2]: startTimeUnixNano is missing" in err
    with open_store(tmp_path / "c.db") as store:
        (run,) = store.runs()
        assert run["llm_calls"] == 1 and run["prompt_tokens"] == 7


def test_stdin_is_detected_too(tmp_path, monkeypatch, capsys):
    data = orjson.dumps(request(AGENT, CHAT)) + b"\n"
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BufferedReader(io.BytesIO(data))))
    assert cli_main(["import", str(tmp_path / "d.db"), "-", "--json", "-q"]) == 0
    with open_store(tmp_path / "d.db") as store:
        assert store.run(TRACE)["prompt_tokens"] == 7


@pytest.mark.parametrize("attrs,expected", [
    ({"gen_ai.usage.input_tokens": 5, "gen_ai.usage.output_tokens": 2}, (5, 2)),
    ({"gen_ai.usage.prompt_tokens": 4, "gen_ai.usage.completion_tokens": 1}, (4, 1)),
    ({"llm.token_count.prompt": 9, "llm.token_count.completion": 3, "llm.token_count.total": 12}, (9, 3)),
    ({"llm.token_count.prompt": "8"}, (8, 0)),
])
def test_tokens_under_every_name(attrs, expected):
    usage = token_usage(attrs)
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == expected


@pytest.mark.parametrize("attrs,role", [
    ({"gen_ai.operation.name": "invoke_agent"}, "node"), ({"gen_ai.operation.name": "invoke_workflow"}, "node"),
    ({"gen_ai.operation.name": "plan"}, "node"), ({"gen_ai.operation.name": "create_agent"}, "node"),
    ({"openinference.span.kind": "CHAIN"}, "node"), ({"openinference.span.kind": "AGENT"}, "node"),
    ({"gen_ai.operation.name": "chat"}, "llm"), ({"gen_ai.operation.name": "embeddings"}, "llm"),
    ({"gen_ai.operation.name": "generate_content"}, "llm"), ({"openinference.span.kind": "LLM"}, "llm"),
    ({"gen_ai.operation.name": "execute_tool"}, "tool"), ({"openinference.span.kind": "TOOL"}, "tool"),
    ({"http.request.method": "GET"}, "other"),
])
def test_classification(attrs, role):
    assert classify(Span(TRACE, "a" * 16, None, "s", 0, 0, attrs))[0] == role


def test_errors_cancellation_and_other_spans(tmp_path):
    exc = {"timeUnixNano": "1700000000000500000", "name": "exception", "attributes": [
        {"key": "exception.type", "value": {"stringValue": "ValueError"}},
        {"key": "exception.message", "value": {"stringValue": "bad city"}},
        {"key": "exception.stacktrace", "value": {"stringValue": "Traceback ..."}}]}
    failing = span("1111111111111111", "execute_tool book", parent=AGENT["spanId"], status=2,
                   attrs=[("gen_ai.operation.name", "execute_tool"), ("gen_ai.tool.name", "book"),
                          ("gen_ai.tool.call.id", "c9"), ("gen_ai.tool.call.arguments", '{"city": "x"}')])
    failing["events"] = [exc]
    cancelled = span("2222222222222222", "invoke_agent helper", parent=AGENT["spanId"], status=2,
                     attrs=[("gen_ai.operation.name", "invoke_agent"), ("gen_ai.agent.name", "helper"),
                            ("error.type", "asyncio.CancelledError")])
    http = span("3333333333333333", "GET /weather", parent=AGENT["spanId"], attrs=[("http.request.method", "GET")])
    with open_store(tmp_path / "e.db") as store:
        assert import_otlp(store, _write(tmp_path / "e.json", request(failing, cancelled, http, AGENT))).ok
        nodes = {n["task_goal"]: n for n in store.nodes(TRACE)}
        assert nodes["helper"]["status"] == "CANCELLED" and nodes["helper"]["error_count"] == 0
        assert nodes["planner"]["error_count"] == 1 and nodes["planner"]["status"] == "FINISH"
        events = {e.event_type: e for e in store.events(run_id=TRACE)}
        returned = events["tool_returned"].payload
        assert returned["state"] == "FAILED" and returned["error"]["error_message"] == "bad city"
        assert returned["error"]["stack_trace"] == "Traceback ..." and returned["call_id"] == "c9"
        assert events["tool_invoked"].payload["args"] == {"city": "x"}
        other = events["otel_span"]
        assert other.node_id == AGENT["spanId"] and other.payload["name"] == "GET /weather"
        assert store.run(TRACE)["error_count"] == 1


class _FailsAfter:
    """A source that yields `lines`, then fails (a read error, a kill) before the file ends."""

    def __init__(self, lines: list[bytes]) -> None:
        self.lines = lines

    def __iter__(self):
        yield from self.lines
        raise OSError("the disk went away mid-file")


@pytest.mark.parametrize("atomic", [True, False], ids=["atomic", "commit-batches"])
def test_an_otlp_import_failing_midway_stores_all_or_nothing(tmp_path, monkeypatch, atomic: bool) -> None:
    """As for JSONL (issue 17.4): by default a failed import leaves nothing of its file."""
    from pathlib import Path

    from agenttui.otel import importer
    from agenttui.store import SQLiteStore

    monkeypatch.setattr(importer, "BATCH_EVENTS", 1)  # every line's events are appended before the next
    lines = (Path(__file__).parent.parent / "examples" / "otel_collector_trace.jsonl").read_bytes().splitlines(True)
    with SQLiteStore(tmp_path / "run.db") as store:
        with pytest.raises(OSError, match="went away"):
            importer.import_otlp(store, _FailsAfter(lines), atomic=atomic)
        stored = store.count_events()
    if atomic:
        assert stored == 0, "nothing of the file is stored"
    else:
        assert stored > 0, "the batches before the failure stay committed"
