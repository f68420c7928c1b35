"""The one mapping from GenAI spans to agenttui events (documented, as a table, in docs/otel.md).

Pure functions of a `Span` and where it sits in the tree (its nearest enclosing node, the tool call
that spawned it): the span processor, the OTLP/HTTP receiver and `agenttui import --format otlp` all
call these, so the same spans give the same events by every way in. Event ids are uuid5 of
trace id, span id and the event's kind: a re-import or a retried export stores nothing twice.
"""
from __future__ import annotations

import functools
import hashlib
import uuid
from datetime import datetime, timezone
from typing import Any

import orjson

from agenttui.store import Event

from .spans import STATUS_ERROR, Span

ROLE_NODE, ROLE_LLM, ROLE_TOOL, ROLE_OTHER = "node", "llm", "tool", "other"
#: gen_ai.operation.name -> (role, node_type for nodes)
GENAI_OPERATIONS = {
    "invoke_agent": (ROLE_NODE, "AGENT"), "create_agent": (ROLE_NODE, "AGENT"),
    "invoke_workflow": (ROLE_NODE, "WORKFLOW"), "plan": (ROLE_NODE, "PLAN"),
    "chat": (ROLE_LLM, None), "generate_content": (ROLE_LLM, None), "text_completion": (ROLE_LLM, None),
    "embeddings": (ROLE_LLM, None), "execute_tool": (ROLE_TOOL, None),
}
#: openinference.span.kind -> (role, node_type for nodes)
OPENINFERENCE_KINDS = {
    "AGENT": (ROLE_NODE, "AGENT"), "CHAIN": (ROLE_NODE, "CHAIN"),
    "LLM": (ROLE_LLM, None), "EMBEDDING": (ROLE_LLM, None), "TOOL": (ROLE_TOOL, None),
}
NAMESPACE = uuid.UUID("5b0b7f3e-6f1c-4d55-9a57-0a7e11e7c0de")
#: Longest text kept from one attribute (a prompt, a tool result); the rest is cut with a note.
MAX_TEXT = 65_536
SOURCE = {"source": "otel"}
#: Node statuses a span's end gives (the fold's FAILED counts as an error, CANCELLED does not).
FINISHED, FAILED, CANCELLED, RUNNING = "FINISH", "FAILED", "CANCELLED", "DOING"


def classify(span: Span) -> tuple[str, str | None]:
    """(role, node_type): GenAI's operation name first, then OpenInference's span kind."""
    get = span.attributes.get
    op = get("gen_ai.operation.name")
    if isinstance(op, str):
        found = GENAI_OPERATIONS.get(op)
        if found is not None:
            return found
    kind = get("openinference.span.kind")
    if isinstance(kind, str):
        found = OPENINFERENCE_KINDS.get(kind.upper())
        if found is not None:
            return found
    return _OTHER


_OTHER: tuple[str, str | None] = (ROLE_OTHER, None)


def event_id(span: Span, kind: str) -> str:
    """uuid5(NAMESPACE, "trace/span/kind"), computed without the uuid module's per-call overhead
    (this runs for every event on every way in)."""
    return _event_id(_id_prefix(span), kind)


_NS_BYTES = NAMESPACE.bytes
#: A SHA-1 hex digit at the uuid's variant position -> the digit with the RFC 4122 variant bits set.
_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}


def _id_prefix(span: Span) -> bytes:
    """The hashed text up to the kind: shared by all the events of one span."""
    return _NS_BYTES + f"{span.trace_id}/{span.span_id}/".encode()


def _event_id(prefix: bytes, kind: str) -> str:
    h = hashlib.sha1(prefix + kind.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


@functools.lru_cache(maxsize=4096)
def _second(secs: int) -> str:
    return datetime.fromtimestamp(secs, tz=timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.")


def timestamp(ns: int) -> str:
    """ISO 8601 UTC with microseconds and Z. `span_events` writes the same inline (with the
    microseconds as digits of 1_000_000 + us, cheaper than a zero-padding format)."""
    return f"{_second(ns // 1_000_000_000)}{str(ns % 1_000_000_000 // 1000 + 1_000_000)[1:]}Z"


def _first(attrs: dict[str, Any], keys: tuple[str, ...]) -> Any:
    """The first of `keys` with a value (None and "" count as none)."""
    get = attrs.get
    for k in keys:
        v = get(k)
        if v is not None and v != "":
            return v
    return None


def _clip(value: Any) -> Any:
    if isinstance(value, str) and len(value) > MAX_TEXT:
        return value[:MAX_TEXT] + f"… [{len(value) - MAX_TEXT:,} more characters]"
    return value


def _json(value: Any) -> Any:
    """Attributes that carry JSON as text (messages, tool arguments) are stored as JSON."""
    if isinstance(value, str) and value[:1] in ("{", "["):
        try:
            return orjson.loads(value)
        except orjson.JSONDecodeError:
            return _clip(value)
    return _clip(value)


def _count(value: Any) -> int | None:
    if type(value) is int:
        return value
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return int(value)
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


# ------------------------------------------------------------------------------ what a span says

#: Attribute names in order of preference, per field (GenAI's current names, its older ones, OpenInference's).
_MODEL = ("gen_ai.request.model", "llm.request.model_name", "llm.model_name", "model_name")
_RESPONSE_MODEL = ("gen_ai.response.model", "llm.response.model_name", "llm.model_name")
_PROVIDER = ("gen_ai.provider.name", "gen_ai.system", "llm.provider", "llm.system")
_PROMPT_TOKENS = ("gen_ai.usage.input_tokens", "gen_ai.usage.prompt_tokens", "llm.token_count.prompt")
_COMPLETION_TOKENS = ("gen_ai.usage.output_tokens", "gen_ai.usage.completion_tokens", "llm.token_count.completion")
_NODE_NAME = ("gen_ai.agent.name", "agent_name", "gen_ai.workflow.name", "graph.node.name")
_TOOL_NAME = ("gen_ai.tool.name", "tool.name", "tool_call.function.name")
_TOOL_CALL_ID = ("gen_ai.tool.call.id", "tool_call.id")
_TOOL_ARGS = ("gen_ai.tool.call.arguments", "tool_call.function.arguments", "tool_arguments", "input.value")
_TOOL_RESULT = ("gen_ai.tool.call.result", "tool_response", "output.value")
_NODE_RESULT = ("final_result", "output.value", "gen_ai.output.messages")
_INPUT_MESSAGES = ("gen_ai.input.messages",)
_OUTPUT_MESSAGES = ("gen_ai.output.messages",)
_FINISH_REASONS = ("gen_ai.response.finish_reasons",)


_MODEL_REST, _RESPONSE_MODEL_REST, _PROVIDER_REST = _MODEL[1:], _RESPONSE_MODEL[1:], _PROVIDER[1:]
_PROMPT_TOKENS_REST, _COMPLETION_TOKENS_REST = _PROMPT_TOKENS[1:], _COMPLETION_TOKENS[1:]
_TOOL_ARGS_REST, _TOOL_RESULT_REST = _TOOL_ARGS[1:], _TOOL_RESULT[1:]
_TOOL_NAME_REST, _TOOL_CALL_ID_REST = _TOOL_NAME[1:], _TOOL_CALL_ID[1:]


def model_info(attrs: dict[str, Any]) -> dict[str, Any]:
    return _model_info(attrs.get, attrs)


def _model_info(get: Any, attrs: dict[str, Any]) -> dict[str, Any]:
    """`model_info`, each field's current GenAI name tried inline before the others (`_first`)."""
    info: dict[str, Any] = {}
    v = get("gen_ai.request.model")
    if v is None or v == "":
        v = _first(attrs, _MODEL_REST)
    if v is not None:
        info["model"] = v
    v = get("gen_ai.response.model")
    if v is None or v == "":
        v = _first(attrs, _RESPONSE_MODEL_REST)
    if v is not None:
        info["response_model"] = v
    v = get("gen_ai.provider.name")
    if v is None or v == "":
        v = _first(attrs, _PROVIDER_REST)
    if v is not None:
        info["provider"] = v
    return info


def token_usage(attrs: dict[str, Any]) -> dict[str, int] | None:
    """Input/output tokens under every name in use: GenAI's current and older names, OpenInference's."""
    get = attrs.get
    pt = get("gen_ai.usage.input_tokens")
    if pt is None or pt == "":
        pt = _first(attrs, _PROMPT_TOKENS_REST)
    if type(pt) is not int:
        pt = _count(pt)
    ct = get("gen_ai.usage.output_tokens")
    if ct is None or ct == "":
        ct = _first(attrs, _COMPLETION_TOKENS_REST)
    if type(ct) is not int:
        ct = _count(ct)
    total = get("llm.token_count.total")
    if total is not None:
        total = _count(total)
    if pt is None and ct is None and total is None:
        return None
    usage = {"prompt_tokens": pt or 0, "completion_tokens": ct or 0}
    usage["total_tokens"] = total if total is not None else usage["prompt_tokens"] + usage["completion_tokens"]
    return usage


def _flattened_messages(attrs: dict[str, Any], prefix: str) -> list[dict[str, Any]]:
    """OpenInference's `llm.input_messages.0.message.role` style back into a list of messages."""
    out: dict[int, dict[str, Any]] = {}
    for key, value in attrs.items():
        if not key.startswith(prefix):
            continue
        index, _, rest = key[len(prefix):].partition(".")
        if not index.isdigit() or not rest.startswith("message."):
            continue
        msg = out.setdefault(int(index), {})
        field_name = rest[len("message."):]
        if field_name in ("role", "content", "name", "tool_call_id"):
            msg[field_name] = _clip(value)
        elif field_name.startswith("tool_calls."):
            msg.setdefault("tool_calls", {})[field_name[len("tool_calls."):]] = _clip(value)
    return [out[i] for i in sorted(out)]


_MESSAGE_EVENTS = {"gen_ai.system.message": "system", "gen_ai.user.message": "user",
                   "gen_ai.assistant.message": "assistant", "gen_ai.tool.message": "tool"}


def _attribute_messages(attrs: dict[str, Any], keys: tuple[str, ...], flat_prefix: str) -> Any:
    v = _first(attrs, keys)
    return _json(v) if v is not None else (_flattened_messages(attrs, flat_prefix) or None)


def input_messages(span: Span) -> Any:
    """The input messages when the producer recorded them, else None (`messages(span)[0]`, without
    reading the output ones)."""
    a = span.attributes
    inp = _attribute_messages(a, _INPUT_MESSAGES, "llm.input_messages.")
    if inp is not None or _attribute_messages(a, _OUTPUT_MESSAGES, "llm.output_messages.") is not None:
        return inp
    return _event_messages(span)[0]


def output_messages(span: Span) -> Any:
    """The output messages when the producer recorded them, else None (`messages(span)[1]`)."""
    a = span.attributes
    out = _attribute_messages(a, _OUTPUT_MESSAGES, "llm.output_messages.")
    if out is not None or _attribute_messages(a, _INPUT_MESSAGES, "llm.input_messages.") is not None:
        return out
    return _event_messages(span)[1]


def messages(span: Span) -> tuple[Any, Any]:
    """(input messages, output messages) when the producer recorded them, else (None, None)."""
    a = span.attributes
    inp = _attribute_messages(a, _INPUT_MESSAGES, "llm.input_messages.")
    out = _attribute_messages(a, _OUTPUT_MESSAGES, "llm.output_messages.")
    if inp is None and out is None:
        return _event_messages(span)
    return inp, out


def _event_messages(span: Span) -> tuple[Any, Any]:
    """The older GenAI convention: one span event per message."""
    if not span.events:
        return None, None
    ev_in = [{"role": _MESSAGE_EVENTS[e.name], **{k: _json(v) for k, v in e.attributes.items()}}
             for e in span.events if e.name in _MESSAGE_EVENTS]
    ev_out = [{k: _json(v) for k, v in e.attributes.items()} for e in span.events if e.name == "gen_ai.choice"]
    return ev_in or None, ev_out or None


def _text_of(message: Any) -> str | None:
    """The text of one message in any of the shapes in use (parts, content string, content list)."""
    if isinstance(message, dict):
        content = message.get("content")
        if isinstance(content, str):
            return content
        parts = message.get("parts")
        if isinstance(parts, list):
            if len(parts) == 1:  # most messages: one part, whose text is what joining gives
                part = parts[0]
                text = (part.get("content") or part.get("text")) if isinstance(part, dict) else None
                if text and isinstance(text, str):
                    return text
            text = _joined_text(parts)
            if text:
                return text
        return _joined_text(content) if isinstance(content, list) else None
    return message if isinstance(message, str) else None


def _joined_text(parts: list[Any]) -> str | None:
    texts = []
    for p in parts:
        if isinstance(p, dict):
            t = p.get("content") or p.get("text")
            if isinstance(t, str):
                texts.append(t)
    return " ".join(texts) if texts else None


def _put_messages(payload: dict[str, Any], msgs: Any, key: str, preview_key: str) -> None:
    """The messages under `key` and the last one's text, cut short, under `preview_key`."""
    if msgs is None:
        return
    payload[key] = msgs
    text = _text_of(msgs[-1]) if isinstance(msgs, list) and msgs else None
    if text:
        payload[preview_key] = text[:200]


def first_user_text(span: Span) -> str | None:
    """The run's task as its producer asked it: the first user message, else the plain input."""
    a = span.attributes
    for key in ("pydantic_ai.all_messages", "gen_ai.input.messages", "all_messages_events"):
        v = a.get(key)
        if v is not None:
            text = _first_user_text_in(_json(v))
            if text:
                return text
    text = _first_user_text_in(_flattened_messages(a, "llm.input_messages."))
    if text:
        return text
    value = a.get("input.value")
    if isinstance(value, str) and value:
        data = _json(value)
        if isinstance(data, dict):
            for m in data.get("messages") or []:
                text = _text_of(m[-1] if isinstance(m, list) and m else m)
                if text:
                    return text
            return None
        return value if isinstance(data, str) else None
    return None


def _first_user_text_in(msgs: Any) -> str | None:
    """The text of the first user message with one, in one candidate list of messages."""
    if isinstance(msgs, list):
        for m in msgs:
            if isinstance(m, dict) and m.get("role") == "user":
                text = _text_of(m)
                if text:
                    return text
    return None


def node_name(span: Span) -> str:
    name = _first(span.attributes, _NODE_NAME)
    return str(name) if name is not None else span.name


def tool_info(span: Span) -> dict[str, Any]:
    return _tool_dict(*tool_ref(span))


def tool_ref(span: Span) -> tuple[str, str | None]:
    """(tool name, call id) of a tool span: `tool_info` as a tuple of strings, which is what the
    assembler keeps per placed tool span (the garbage collector stops scanning such tuples)."""
    a = span.attributes
    get = a.get
    name = get("gen_ai.tool.name")
    if name is None or name == "":
        name = _first(a, _TOOL_NAME_REST)
    call_id = get("gen_ai.tool.call.id")
    if call_id is None or call_id == "":
        call_id = _first(a, _TOOL_CALL_ID_REST)
    return str(name or span.name), (str(call_id) if call_id is not None else None)


def tool_link(tool: tuple[str, str | None], span_id: str | None) -> dict[str, Any]:
    """A sub-agent's `spawned_by_tool_call`: the `tool_ref` and span id of the tool span enclosing it."""
    link = _tool_dict(*tool)
    link["span_id"] = span_id
    return link


def _tool_dict(name: str, call_id: str | None) -> dict[str, Any]:
    info = {"tool_name": name, "api_name": name}
    if call_id is not None:
        info["call_id"] = call_id
    return info


def error_info(span: Span) -> dict[str, Any] | None:
    """Type, message and stack trace when the span failed (status ERROR, `error.type`, an exception
    event); `cancelled` when that failure is a cancellation."""
    err_type = span.attributes.get("error.type")
    if span.status_code != STATUS_ERROR and err_type is None:
        return None
    exc = next((e for e in span.events if e.name == "exception"), None)
    info: dict[str, Any] = {}
    if exc is not None:
        info["error_type"] = exc.attributes.get("exception.type")
        info["error_message"] = _clip(exc.attributes.get("exception.message"))
        if exc.attributes.get("exception.stacktrace"):
            info["stack_trace"] = _clip(exc.attributes["exception.stacktrace"])
    if not info.get("error_type"):
        info["error_type"] = err_type or "error"
    if not info.get("error_message"):
        info["error_message"] = span.status_message or str(info["error_type"])
    info["cancelled"] = "cancel" in str(info["error_type"]).lower()
    return info


def _end_status(err: dict[str, Any] | None) -> str:
    if err is None:
        return FINISHED
    return CANCELLED if err["cancelled"] else FAILED


def _duration(span: Span) -> float | None:
    if span.end_ns is None:
        return None
    return max(0.0, (span.end_ns - span.start_ns) / 1e9)


def _otel_ref(span: Span) -> dict[str, Any]:
    ref = {"trace_id": span.trace_id, "span_id": span.span_id, "span_name": span.name}
    if span.parent_id:
        ref["parent_span_id"] = span.parent_id
    return ref


# ------------------------------------------------------------------------------ events

#: Event kinds as hashed into event ids (bytes, appended to a span's id prefix).
_K_RUN_STARTED, _K_RUN_DETAILS, _K_RUN_END = b"run_started", b"run_details", b"run_end"
_K_LLM_STARTED, _K_LLM_COMPLETED = b"llm_call_started", b"llm_call_completed"
_K_TOOL_INVOKED, _K_TOOL_RETURNED = b"tool_invoked", b"tool_returned"
_K_NODE_CREATED, _K_SPAWNED_BY, _K_DETAILS = b"node_created", b"spawned_by", b"details"
_K_RESULT, _K_NODE_STATUS, _K_SPAN = b"result", b"node_status_changed", b"span"


def _eid(prefix: bytes, kind: bytes) -> str:
    """`_event_id` with the kind as bytes (the span's prefix is made once for all its events)."""
    h = _sha1(prefix + kind).hexdigest()
    return f"{h[:8]}-{h[8:12]}-5{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:32]}"


_sha1 = hashlib.sha1


def start_events(span: Span, role: str, node_type: str | None, node: str | None,
                 spawned_by: dict[str, Any] | None, tool: dict[str, Any] | None = None,
                 out: list[Event] | None = None) -> list[Event]:
    """Events for a span's start, appended to `out` (a new list if None) and returned. `node` is the
    nearest enclosing node (for a node span, its outer node); `spawned_by` the tool call whose span
    encloses this node span, if any; `tool` the span's `tool_info` if the caller has it already."""
    out = [] if out is None else out
    span_events(span, role, node_type, node, spawned_by, _as_ref(tool), True, False, out)
    return out


def end_events(span: Span, role: str, node_type: str | None, node: str | None,
               tool: dict[str, Any] | None = None, out: list[Event] | None = None) -> list[Event]:
    """Events for a span's end (results, tokens, statuses, errors, and fields only known now),
    appended to `out` (a new list if None) and returned; `tool` as for `start_events`."""
    out = [] if out is None else out
    span_events(span, role, node_type, node, None, _as_ref(tool), False, True, out)
    return out


def _as_ref(tool: dict[str, Any] | None) -> tuple[str, str | None] | None:
    return None if tool is None else (tool["tool_name"], tool.get("call_id"))


def span_events(span: Span, role: str, node_type: str | None, node: str | None,
                spawned_by: dict[str, Any] | None, tool: tuple[str, str | None] | None,
                start: bool, end: bool, out: list[Event]) -> None:
    """`start_events` then `end_events` (either or both) in one pass: a span that arrives ended (every
    span an exporter sends) reads its attributes, ids and messages once for both. `tool`: the span's
    `tool_ref` if the caller has it. This runs for every span on every way in, so the attributes are
    looked up inline, most used name first, and the text hashed into the event ids is made once."""
    a = span.attributes
    get = a.get
    trace_id, span_id, parent_id = span.trace_id, span.span_id, span.parent_id
    prefix = _NS_BYTES + f"{trace_id}/{span_id}/".encode()
    is_root = parent_id is None
    # one `otel` reference for the span's events: payloads are only read once made (stored, folded)
    ref = {"trace_id": trace_id, "span_id": span_id, "span_name": span.name}
    if parent_id:
        ref["parent_span_id"] = parent_id
    start_ns = span.start_ns
    ts = f"{_second(start_ns // 1_000_000_000)}{str(start_ns % 1_000_000_000 // 1000 + 1_000_000)[1:]}Z"
    node_end = end and role == ROLE_NODE
    info = _model_info(get, a) if (role == ROLE_LLM or is_root or node_end) else _NO_INFO
    question = first_user_text(span) if (is_root or node_end) else None
    if role == ROLE_LLM:
        inp, outp = _llm_messages(span, a, get, start, end)
    elif role == ROLE_TOOL:
        tool_name, call_id = tool if tool is not None else tool_ref(span)
    elif role == ROLE_NODE:
        goal = node_name(span)
    if start:
        if is_root:
            _run_started(span, question, info, ref, prefix, ts, out)
        if role == ROLE_LLM:
            payload = {**info, "otel": ref}
            agent = get("gen_ai.agent.name")
            if agent is not None:
                payload["agent_class"] = agent
            if inp is not None:
                _put_messages(payload, inp, "prompt", "prompt_preview")
            out.append(Event("llm_call_started", payload, trace_id, _eid(prefix, _K_LLM_STARTED), ts, node, SOURCE))
        elif role == ROLE_TOOL:
            payload = _tool_dict(tool_name, call_id)
            payload["otel"] = ref
            args = get("gen_ai.tool.call.arguments")
            if args is None or args == "":
                args = _first(a, _TOOL_ARGS_REST)
            if args is not None:
                payload["args"] = _json(args)
                payload["args_summary"] = str(args)[:200]
            out.append(Event("tool_invoked", payload, trace_id, _eid(prefix, _K_TOOL_INVOKED), ts, node, SOURCE))
        elif role == ROLE_NODE:
            payload = {"node_id": span_id, "node_type": node_type, "task_goal": goal, "status": RUNNING,
                       "otel": ref}
            if node is not None:
                payload["outer_node_id"] = node
            out.append(Event("node_created", payload, trace_id, _eid(prefix, _K_NODE_CREATED), ts, span_id, SOURCE))
            if spawned_by is not None:
                link = {"node_id": span_id, "node": {"metadata": {"spawned_by_tool_call": spawned_by}}}
                out.append(Event("details_updated", link, trace_id, _eid(prefix, _K_SPAWNED_BY), ts, span_id, SOURCE))
    if not end:
        return
    end_ns = span.end_ns
    if end_ns is not None and end_ns != start_ns:
        ts = f"{_second(end_ns // 1_000_000_000)}{str(end_ns % 1_000_000_000 // 1000 + 1_000_000)[1:]}Z"
    err = error_info(span) if (span.status_code == STATUS_ERROR or get("error.type") is not None) else None
    duration = None if end_ns is None else (end_ns - start_ns) / 1e9
    if duration is not None and not duration > 0.0:  # max(0.0, ...) without the call
        duration = 0.0
    if role == ROLE_LLM:
        payload = {**info, "otel": ref}
        if duration is not None:
            payload["duration_seconds"] = duration
        pt = get("gen_ai.usage.input_tokens")
        if type(pt) is not int:
            if pt is None or pt == "":
                pt = _first(a, _PROMPT_TOKENS_REST)
            pt = _count(pt)
        ct = get("gen_ai.usage.output_tokens")
        if type(ct) is not int:
            if ct is None or ct == "":
                ct = _first(a, _COMPLETION_TOKENS_REST)
            ct = _count(ct)
        total = get("llm.token_count.total")
        if total is not None:
            total = _count(total)
        if pt is not None or ct is not None or total is not None:
            pt, ct = pt or 0, ct or 0
            payload["token_usage"] = {"prompt_tokens": pt, "completion_tokens": ct,
                                      "total_tokens": total if total is not None else pt + ct}
        reasons = get("gen_ai.response.finish_reasons")
        if reasons is not None and reasons != "":
            payload["finish_reasons"] = reasons
        response_id = get("gen_ai.response.id")
        if response_id is not None:
            payload["response_id"] = response_id
        if outp is not None:
            _put_messages(payload, outp, "response", "result_summary")
        if err is not None:
            payload["error"] = err
        out.append(Event("llm_call_completed", payload, trace_id, _eid(prefix, _K_LLM_COMPLETED), ts, node, SOURCE))
    elif role == ROLE_TOOL:
        payload = _tool_dict(tool_name, call_id)
        payload["state"] = "SUCCESS"
        payload["otel"] = ref
        if duration is not None:
            payload["duration_seconds"] = duration
        result = get("gen_ai.tool.call.result")
        if result is None or result == "":
            result = _first(a, _TOOL_RESULT_REST)
        if result is not None:
            payload["result"] = _json(result)
            payload["result_summary"] = str(result)[:200]
        if err is not None:
            payload["state"] = CANCELLED if err["cancelled"] else FAILED
            payload["error"] = err
        out.append(Event("tool_returned", payload, trace_id, _eid(prefix, _K_TOOL_RETURNED), ts, node, SOURCE))
    elif role == ROLE_NODE:
        metadata = {**info}
        if question:
            metadata["input"] = question[:2000]
        details = {"node_id": span_id, "node": {"task_goal": goal, "node_type": node_type, "metadata": metadata}}
        out.append(Event("details_updated", details, trace_id, _eid(prefix, _K_DETAILS), ts, span_id, SOURCE))
        result = _first(a, _NODE_RESULT)
        if result is not None:
            summary = {"node_id": span_id, "action_name": node_type.lower() if node_type else "result",
                       "result_summary": str(result)[:2000]}
            out.append(Event("node_result_available", summary, trace_id, _eid(prefix, _K_RESULT), ts, span_id,
                             SOURCE))
        status: dict[str, Any] = {"node_id": span_id, "old_status": RUNNING, "new_status": _end_status(err)}
        if err is not None:
            status["error"] = err
        out.append(Event("node_status_changed", status, trace_id, _eid(prefix, _K_NODE_STATUS), ts, span_id, SOURCE))
    else:
        payload = {"name": span.name, "kind": span.kind, "scope": span.scope, "otel": ref,
                   "attributes": {k: _clip(v) for k, v in a.items()}}
        if duration is not None:
            payload["duration_seconds"] = duration
        if err is not None:
            payload["error"] = err
        out.append(Event("otel_span", payload, trace_id, _eid(prefix, _K_SPAN), ts, node, SOURCE))
    if is_root:
        _run_ended(question, info, err, duration, prefix, trace_id, ts, out)


#: The model info of spans that have none to give (a tool's, another span's): never changed, only read.
_NO_INFO: dict[str, Any] = {}


def _run_started(span: Span, question: str | None, info: dict[str, Any], ref: dict[str, Any], prefix: bytes,
                 ts: str, out: list[Event]) -> None:
    """A root span's start: the run's."""
    run = {"task": question or span.name, "run_mode": "otel", "config": {**info}, "otel": ref}
    service = span.resource.get("service.name")
    if service:
        run["service"] = service
    out.append(Event("run_started", run, span.trace_id, _eid(prefix, _K_RUN_STARTED), ts, None, SOURCE))


def _run_ended(question: str | None, info: dict[str, Any], err: dict[str, Any] | None, duration: float | None,
               prefix: bytes, trace_id: str, ts: str, out: list[Event]) -> None:
    """A root span's end, after the span's own events: the run's details known now, and its end."""
    run_details: dict[str, Any] = {}
    if question:
        run_details["task"] = question
    model = info.get("model")
    if model:
        run_details["model"] = model
    if run_details:
        out.append(Event("details_updated", {"run": run_details}, trace_id, _eid(prefix, _K_RUN_DETAILS), ts, None,
                     SOURCE))
    if err is not None and not err["cancelled"]:
        out.append(Event("run_error", {**err, "duration_seconds": duration}, trace_id, _eid(prefix, _K_RUN_END), ts,
                     None, SOURCE))
    else:
        fin: dict[str, Any] = {"duration_seconds": duration}
        if err is not None:
            fin["cancelled"] = True
        out.append(Event("run_finished", fin, trace_id, _eid(prefix, _K_RUN_END), ts, None, SOURCE))


def _llm_messages(span: Span, a: dict[str, Any], get: Any, start: bool, end: bool) -> tuple[Any, Any]:
    """(`input_messages(span)` if start, `output_messages(span)` if end), each None otherwise: the
    attribute forms read once, the other one only tested for presence (not parsed) when needed."""
    inp = outp = None
    if start:
        v = get("gen_ai.input.messages")
        inp = _json(v) if (v is not None and v != "") else (_flattened_messages(a, "llm.input_messages.") or None)
    if end:
        v = get("gen_ai.output.messages")
        outp = _json(v) if (v is not None and v != "") else (_flattened_messages(a, "llm.output_messages.") or None)
    if (start and inp is None) or (end and outp is None):
        # the attribute forms count if either is there (`messages`); else the older span events
        if start and end:
            found = False
        elif start:
            found = _has_messages(a, get, "gen_ai.output.messages", "llm.output_messages.")
        else:
            found = _has_messages(a, get, "gen_ai.input.messages", "llm.input_messages.")
        if not found and inp is None and outp is None:
            ev_in, ev_out = _event_messages(span)
            inp, outp = (ev_in if start else None), (ev_out if end else None)
    return inp, outp


def _has_messages(a: dict[str, Any], get: Any, key: str, flat_prefix: str) -> bool:
    """`_attribute_messages(a, (key,), flat_prefix) is not None`, without parsing them."""
    v = get(key)
    return (v is not None and v != "") or bool(_flattened_messages(a, flat_prefix))


def promoted_node(span: Span, role: str, node: str | None) -> Event:
    """A non-node span that an earlier child was attached to as if it were a node (its parent came
    too late to wait for): it becomes a node of its own, so the tree stays connected."""
    payload: dict[str, Any] = {"node_id": span.span_id, "node_type": role.upper(), "task_goal": span.name,
                               "status": FINISHED, "otel": _otel_ref(span)}
    if node is not None:
        payload["outer_node_id"] = node
    return Event("node_created", payload, span.trace_id, event_id(span, "promoted_node"), timestamp(span.start_ns),
                 span.span_id, SOURCE)
