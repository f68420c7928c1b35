"""One span shape for every way in: the SDK's ReadableSpan, OTLP JSON and OTLP protobuf all become a
`Span`, so the mapping to events is written once and cannot drift between the three.

Ids are kept as lowercase hex (the OTLP JSON form), times as integer nanoseconds since the epoch, and
attribute values as plain Python (str, bool, int, float, lists, dicts for kvlists).
"""
from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator, Literal, overload

STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
_STATUS_NAMES = {"STATUS_CODE_UNSET": 0, "STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2, "UNSET": 0, "OK": 1, "ERROR": 2}
_KIND_NAMES = {"SPAN_KIND_UNSPECIFIED": 0, "SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3,
               "SPAN_KIND_PRODUCER": 4, "SPAN_KIND_CONSUMER": 5}
#: Nesting allowed inside one attribute value (arrays / kvlists): deeper input is refused, not recursed.
MAX_VALUE_DEPTH = 64


class SpanError(ValueError):
    """A span that cannot be read; the message names the field, `where` the span's place in its batch."""

    def __init__(self, message: str, where: str = ""):
        super().__init__(f"{where}: {message}" if where else message)
        self.reason = message
        self.where = where


@dataclass(slots=True)
class SpanEvent:
    name: str
    time_ns: int
    attributes: dict[str, Any]


@dataclass(slots=True)
class Span:
    trace_id: str
    span_id: str
    parent_id: str | None
    name: str
    start_ns: int
    end_ns: int | None = None  # None: started, not ended yet (the span processor's on_start)
    attributes: dict[str, Any] = field(default_factory=dict)
    events: list[SpanEvent] = field(default_factory=list)
    status_code: int = STATUS_UNSET
    status_message: str = ""
    kind: int = 0
    resource: dict[str, Any] = field(default_factory=dict)
    scope: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return self.trace_id, self.span_id


# ------------------------------------------------------------------------------ SDK ReadableSpan

def from_sdk(span: Any, *, ended: bool) -> Span:
    """A live or finished `opentelemetry.sdk.trace.ReadableSpan`. A remote parent (a trace continued
    from another process) is not ours to wait for, so it counts as no parent.

    The SDK's own span classes are read through their fields, not their properties (a Python call
    each, with the SpanContext's and the Status's, and an enum's hash is one too: a dozen per span,
    on every span the processor sees); any other ReadableSpan through its public API. An ended
    span's attributes are frozen by the SDK (`end()` makes them immutable), so they are shared, not
    copied; a started span's are copied, as the agent may still set some."""
    if type(span) in _SDK_SPAN_TYPES:
        ctx, parent, status, scope = span._context, span._parent, span._status, span._instrumentation_scope
        if (type(ctx) is _SDK_CONTEXT and (parent is None or type(parent) is _SDK_CONTEXT)
                and type(status) is _SDK_STATUS and (scope is None or type(scope) is _SDK_SCOPE)):
            # a SpanContext is a tuple: (trace id, span id, is remote, ...)
            return _sdk_span(ctx[0], ctx[1], None if parent is None or parent[2] else parent[1],
                             status._status_code, status._description, scope._name if scope is not None else "",
                             span._start_time, span._end_time, span._name, span._attributes,
                             getattr(span._events, "_dq", span._events) if ended else None,  # BoundedList's deque:
                             span._kind, span._resource, ended)  # its len() is C, the list's a Python call
    ctx, parent, status, scope = span.context, span.parent, span.status, getattr(span, "instrumentation_scope", None)
    return _sdk_span(ctx.trace_id, ctx.span_id, None if parent is None or parent.is_remote else parent.span_id,
                     status.status_code if status is not None else None,
                     status.description if status is not None else None, scope.name if scope is not None else "",
                     span.start_time, span.end_time, span.name,
                     span._attributes if hasattr(span, "_attributes") else span.attributes,
                     span.events if ended else None, span.kind, getattr(span, "resource", None), ended)


def _sdk_span(trace_id: int, span_id: int, parent_id: int | None, status_code: Any, description: str | None,
              scope: str, start: int | None, end: int | None, name: str | None, attributes: Any, events: Any,
              kind: Any, resource: Any, ended: bool) -> Span:
    """`parent_id`: None for no parent or a remote one. Enum members are looked up by id (they are
    singletons), not through the enum's hash, a Python call."""
    start = start or 0
    last = _last_trace  # one read: another thread may replace the pair meanwhile
    trace_hex = last[1] if last[0] == trace_id else _trace_hex(trace_id)
    inner = getattr(attributes, "_dict", None)  # not `if attributes`: a BoundedAttributes' len() is a Python call
    if type(inner) is dict:
        attrs = inner if ended else dict(inner)
    else:
        attrs = _sdk_attributes(attributes)
    return Span(
        trace_hex,
        "%016x" % span_id,
        None if parent_id is None else "%016x" % parent_id,
        name or "",
        start,
        (end or start) if ended else None,
        attrs,
        [SpanEvent(e.name, e.timestamp or 0, _sdk_attributes(e.attributes)) for e in events] if events else [],
        _STATUS_CODES.get(id(status_code), 0),
        description or "",
        _KIND_VALUES.get(id(kind), 0),
        _sdk_resource(resource),
        scope,
    )


#: The last trace id seen and its hex: a trace's spans come together.
_last_trace: tuple[int, str] = (-1, "")


def _trace_hex(trace_id: int) -> str:
    global _last_trace
    text = "%032x" % trace_id
    _last_trace = (trace_id, text)
    return text


def _sdk_attributes(attributes: Any) -> dict[str, Any]:
    """A copy of an SDK attribute mapping. The SDK's BoundedAttributes keeps a plain dict, copied in
    one C call; copying through the Mapping interface costs ~1 us a span in Python calls, and this
    runs for every span the processor sees."""
    if not attributes:
        return {}
    inner = getattr(attributes, "_dict", None)
    return dict(inner) if type(inner) is dict else dict(attributes)


#: The last resource seen and its attributes: a provider has one resource for all its spans.
_last_resource: tuple[Any, dict[str, Any]] = (None, {})


def _sdk_resource(resource: Any) -> dict[str, Any]:
    """The resource's attributes, shared by every span of the same resource (the mapping only reads them)."""
    global _last_resource
    if resource is None:
        return {}
    last = _last_resource  # one read: another thread may replace the pair meanwhile
    if last[0] is resource:
        return last[1]
    attrs = _sdk_attributes(getattr(resource, "attributes", None))
    _last_resource = (resource, attrs)
    return attrs


def _enum_values(path: str, names: tuple[str, ...]) -> dict[int, int]:
    """id() of an SDK enum member -> its int value, looked up by a dict instead of the enum's slow
    `.value` (members are singletons, kept alive by their class: their ids stay theirs)."""
    import importlib

    module_name, _, class_name = path.rpartition(".")
    try:
        enum = getattr(importlib.import_module(module_name), class_name)
    except ImportError:  # the API is not installed: only the JSON and protobuf paths are used
        return {}
    return {id(getattr(enum, n)): int(getattr(enum, n).value) for n in names}


_STATUS_CODES = _enum_values("opentelemetry.trace.status.StatusCode", ("UNSET", "OK", "ERROR"))


class _NoSdk:
    """Stands for the SDK's classes when it is not installed (no object is of this type)."""


def _sdk_types() -> tuple[frozenset[type], Any, Any, Any]:
    """The SDK's span classes whose fields `from_sdk` reads directly, and the classes of what it reads
    from them (SpanContext, Status, InstrumentationScope); none without the SDK."""
    try:
        from opentelemetry.sdk import trace as sdk_trace
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope
        from opentelemetry.trace import SpanContext
        from opentelemetry.trace.status import Status
    except ImportError:
        return frozenset(), _NoSdk, _NoSdk, _NoSdk
    return frozenset((sdk_trace.ReadableSpan, sdk_trace.Span)), SpanContext, Status, InstrumentationScope


_SDK_SPAN_TYPES, _SDK_CONTEXT, _SDK_STATUS, _SDK_SCOPE = _sdk_types()
#: The SDK's SpanKind counts from INTERNAL = 0; OTLP (protobuf and JSON) from INTERNAL = 1, 0 being
#: UNSPECIFIED: spans are kept with OTLP's values, whichever way they came in.
_KIND_VALUES = {k: v + 1 for k, v in _enum_values("opentelemetry.trace.SpanKind",
                                                  ("INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER")).items()}


# ------------------------------------------------------------------------------ OTLP JSON

@overload
def _id(value: Any, size: int, name: str, *, required: Literal[True]) -> str: ...
@overload
def _id(value: Any, size: int, name: str, *, required: Literal[False]) -> str | None: ...


def _id(value: Any, size: int, name: str, *, required: bool) -> str | None:
    """Hex per the OTLP JSON spec; base64 (protobuf's default JSON mapping) is tolerated."""
    if value in (None, ""):
        if required:
            raise SpanError(f"{name} is missing")
        return None
    if not isinstance(value, str):
        raise SpanError(f"{name} must be a string, got {type(value).__name__}")
    if len(value) == size * 2:
        try:
            bytes.fromhex(value)
            return value.lower()
        except ValueError:
            pass
    try:
        raw = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) == size:
        return raw.hex()
    raise SpanError(f"{name} {value[:80]!r} is neither {size * 2} hex digits nor base64 of {size} bytes")


@overload
def _int(value: Any, name: str) -> int: ...
@overload
def _int(value: Any, name: str, default: None) -> int | None: ...


def _int(value: Any, name: str, default: int | None = 0) -> int | None:
    """int64 fields arrive as JSON strings (the spec's mapping) or as numbers."""
    if value is None:
        return default
    if isinstance(value, bool):
        raise SpanError(f"{name} must be an integer, got a boolean")
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.strip().lstrip("-").isdigit():
        return int(value)
    if isinstance(value, float) and value.is_integer():
        return int(value)
    raise SpanError(f"{name} must be an integer, got {str(value)[:40]!r}")


def _enum(value: Any, names: dict[str, int], name: str) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        if value in names:
            return names[value]
        raise SpanError(f"{name} {value[:40]!r} is not one of {', '.join(n for n in names if '_' in n)}")
    return _int(value, name)


def _json_value(value: Any, name: str, depth: int = 0) -> Any:
    if depth > MAX_VALUE_DEPTH:
        raise SpanError(f"attribute {name!r} is nested deeper than {MAX_VALUE_DEPTH} levels")
    if not isinstance(value, dict):
        raise SpanError(f"attribute {name!r}: value must be an AnyValue object")
    if "stringValue" in value:
        return value["stringValue"]
    if "boolValue" in value:
        return bool(value["boolValue"])
    if "intValue" in value:
        return _int(value["intValue"], f"attribute {name!r}")
    if "doubleValue" in value:
        v = value["doubleValue"]
        return float(v) if isinstance(v, (int, float, str)) and not isinstance(v, bool) else None
    if "arrayValue" in value:
        items = (value["arrayValue"] or {}).get("values") or []
        return [_json_value(v, name, depth + 1) for v in items]
    if "kvlistValue" in value:
        return _json_attrs((value["kvlistValue"] or {}).get("values") or [], depth + 1)
    if "bytesValue" in value:
        return value["bytesValue"]  # base64 text: shown as is
    return None


def _json_attrs(items: Any, depth: int = 0) -> dict[str, Any]:
    if not isinstance(items, list):
        raise SpanError("attributes must be a list of {key, value}")
    out: dict[str, Any] = {}
    for kv in items:
        if not isinstance(kv, dict) or not isinstance(kv.get("key"), str):
            raise SpanError("an attribute has no string 'key'")
        out[kv["key"]] = _json_value(kv.get("value") or {}, kv["key"], depth)
    return out


def json_request_spans(request: Any) -> Iterator[Span | SpanError]:
    """Spans of one ExportTraceServiceRequest in its JSON form; a span that cannot be read is yielded
    as its SpanError (naming where it is) so the spans around it are still taken."""
    if not isinstance(request, dict):
        yield SpanError("an ExportTraceServiceRequest must be a JSON object")
        return
    rs_list = request.get("resourceSpans", request.get("resource_spans"))
    if rs_list is None:
        yield SpanError("no 'resourceSpans' field: not an OTLP trace request")
        return
    if not isinstance(rs_list, list):
        yield SpanError("'resourceSpans' must be a list")
        return
    for ri, rs in enumerate(rs_list):
        if not isinstance(rs, dict):
            yield SpanError("must be an object", f"resourceSpans[{ri}]")
            continue
        try:
            resource = _json_attrs(((rs.get("resource") or {}).get("attributes")) or [])
        except SpanError as exc:
            yield SpanError(f"resource: {exc.reason}", f"resourceSpans[{ri}]")
            continue
        for si, ss in enumerate(rs.get("scopeSpans", rs.get("scope_spans")) or []):
            if not isinstance(ss, dict):
                yield SpanError("must be an object", f"resourceSpans[{ri}].scopeSpans[{si}]")
                continue
            scope = (ss.get("scope") or {}).get("name") or ""
            for pi, raw in enumerate(ss.get("spans") or []):
                where = f"resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]"
                try:
                    yield _json_span(raw, resource, scope)
                except SpanError as exc:
                    yield SpanError(exc.reason, where)


def _json_span(raw: Any, resource: dict[str, Any], scope: str) -> Span:
    if not isinstance(raw, dict):
        raise SpanError("a span must be an object")
    status = raw.get("status") or {}
    events = []
    for i, ev in enumerate(raw.get("events") or []):
        if not isinstance(ev, dict):
            raise SpanError(f"events[{i}] must be an object")
        events.append(SpanEvent(str(ev.get("name") or ""), _int(ev.get("timeUnixNano"), f"events[{i}].timeUnixNano"),
                                _json_attrs(ev.get("attributes") or [])))
    start = _int(raw.get("startTimeUnixNano"), "startTimeUnixNano", None)
    if start is None:
        raise SpanError("startTimeUnixNano is missing")
    end = _int(raw.get("endTimeUnixNano"), "endTimeUnixNano", None)
    return Span(
        trace_id=_id(raw.get("traceId"), 16, "traceId", required=True),
        span_id=_id(raw.get("spanId"), 8, "spanId", required=True),
        parent_id=_id(raw.get("parentSpanId"), 8, "parentSpanId", required=False),
        name=str(raw.get("name") or ""),
        start_ns=start,
        end_ns=end if end else start,
        attributes=_json_attrs(raw.get("attributes") or []),
        events=events,
        status_code=_enum(status.get("code"), _STATUS_NAMES, "status.code") if isinstance(status, dict) else 0,
        status_message=str(status.get("message") or "") if isinstance(status, dict) else "",
        kind=_enum(raw.get("kind"), _KIND_NAMES, "kind"),
        resource=resource,
        scope=scope,
    )


# ------------------------------------------------------------------------------ OTLP protobuf

def _pb_value(v: Any, depth: int = 0) -> Any:
    which = v.WhichOneof("value")
    if which is None:
        return None
    if which == "array_value":
        if depth >= MAX_VALUE_DEPTH:
            raise SpanError(f"an attribute is nested deeper than {MAX_VALUE_DEPTH} levels")
        return [_pb_value(x, depth + 1) for x in v.array_value.values]
    if which == "kvlist_value":
        if depth >= MAX_VALUE_DEPTH:
            raise SpanError(f"an attribute is nested deeper than {MAX_VALUE_DEPTH} levels")
        return {kv.key: _pb_value(kv.value, depth + 1) for kv in v.kvlist_value.values}
    if which == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return getattr(v, which)


_PB_SCALARS = frozenset(("string_value", "bool_value", "int_value", "double_value"))


def _pb_attrs(items: Iterable[Any]) -> dict[str, Any]:
    """Scalar values (nearly all) read inline: a call per attribute is a tenth of a span's decoding."""
    out: dict[str, Any] = {}
    for kv in items:
        v = kv.value
        which = v.WhichOneof("value")
        out[kv.key] = getattr(v, which) if which in _PB_SCALARS else _pb_value(v)
    return out


def protobuf_request_spans(body: bytes) -> Iterator[Span | SpanError]:
    """Spans of a binary ExportTraceServiceRequest, converted as they are iterated; SpanError at
    once (before any span) if the body does not decode."""
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as exc:
        raise SpanError(f"the body is not a protobuf ExportTraceServiceRequest ({exc})") from None
    return _pb_request_spans(request)


def _pb_request_spans(request: Any) -> Iterator[Span | SpanError]:
    for ri, rs in enumerate(request.resource_spans):
        resource = _pb_attrs(rs.resource.attributes)
        for si, ss in enumerate(rs.scope_spans):
            scope = ss.scope.name
            for pi, s in enumerate(ss.spans):
                trace_id, span_id, parent_id = s.trace_id, s.span_id, s.parent_span_id
                if len(trace_id) != 16 or len(span_id) != 8 or (parent_id and len(parent_id) != 8):
                    yield _pb_id_error(trace_id, span_id, parent_id,
                                       f"resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]")
                    continue
                start = s.start_time_unix_nano
                status = s.status
                try:
                    yield Span(
                        trace_id.hex(), span_id.hex(), parent_id.hex() if parent_id else None,
                        s.name, start, s.end_time_unix_nano or start,
                        _pb_attrs(s.attributes),
                        [SpanEvent(e.name, e.time_unix_nano, _pb_attrs(e.attributes)) for e in s.events]
                        if s.events else [],
                        status.code, status.message, s.kind, resource, scope,
                    )
                except SpanError as exc:
                    yield SpanError(exc.reason, f"resourceSpans[{ri}].scopeSpans[{si}].spans[{pi}]")


def _pb_id_error(trace_id: bytes, span_id: bytes, parent_id: bytes, where: str) -> SpanError:
    if len(trace_id) != 16 or len(span_id) != 8:
        return SpanError(f"traceId must be 16 bytes and spanId 8 bytes, got {len(trace_id)} and {len(span_id)}",
                         where)
    return SpanError(f"parentSpanId must be 8 bytes, got {len(parent_id)}", where)
