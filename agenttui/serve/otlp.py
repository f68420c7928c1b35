"""The OTLP/HTTP trace receiver of `agenttui serve --otlp`: POST /v1/traces, protobuf or JSON, gzip.

Answers as the OTLP/HTTP spec says: 200 with an ExportTraceServiceResponse (its partialSuccess
counting the spans that could not be read, with the first reasons); 400 with a Status naming the
problem when the body cannot be decoded at all; 415 for a content type other than
application/x-protobuf or application/json; 401 without the token; 503 (retryable) if the store
refuses the write. A 200 is sent only after the events are committed, so an exporter's retry after
any failure stores nothing twice (event ids come from trace id, span id and kind).

Requests that arrive while a write is under way are decoded, mapped and committed together, in one
transaction, by the next write (group commit, up to GROUP_BYTES of bodies); each is still answered
only after that commit. A commit costs about as much as appending 20 events, so many exporters
sending small batches (agents flushing every few seconds) would otherwise pay it for every request.

The same listener rule as the WebSocket feed: loopback only unless a token is set.
"""
from __future__ import annotations

import asyncio
import gzip
import hmac
import itertools
import logging
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterator
from urllib.parse import parse_qsl, urlsplit

import orjson

from agenttui.otel.assemble import TraceAssembler
from agenttui.otel.sink import SinkStats, append_events
from agenttui.otel.spans import Span, SpanError, json_request_spans, protobuf_request_spans

from .logs import emit, get_logger

log = get_logger("otlp")
TRACES_PATH = "/v1/traces"
#: Largest request body accepted (compressed or not): an exporter's batch is far smaller.
MAX_BODY = 64 * 1024 * 1024
MAX_HEADER_LINES = 100
#: Seconds a span waits for a parent that has not arrived before it is placed anyway (liveness).
DEFAULT_HOLD_SECONDS = 5.0
PROTOBUF, JSON = "application/x-protobuf", "application/json"
#: Request bodies (bytes) grouped into one transaction, at most (~170 spans; one bigger request goes
#: alone): enough that a commit's fixed cost is under 5% of the group's work, small enough that an
#: exporter's big batch (512 spans, ~190 KB) is answered after its own commit, not after the work
#: on every request that waited beside it (throughput measured the same either way).
GROUP_BYTES = 64 * 1024
#: google.rpc.Code values used in error bodies.
INVALID_ARGUMENT, UNAUTHENTICATED, UNAVAILABLE = 3, 16, 14


class HttpError(Exception):
    def __init__(self, status: int, message: str, code: int = INVALID_ARGUMENT):
        super().__init__(message)
        self.status, self.message, self.code = status, message, code


@dataclass(slots=True)
class _Request:
    content_type: str
    encoding: str
    body: bytes
    answer: "asyncio.Future[tuple[int, list[str]]]"


@dataclass
class ReceiverStats:
    requests: int = 0
    spans: int = 0
    rejected_spans: int = 0
    sink: SinkStats = field(default_factory=SinkStats)


def decode_request(content_type: str, encoding: str, body: bytes) -> Iterator[Span | SpanError]:
    """The spans of one request body, read one by one as they are mapped (a span that cannot be read
    comes as its SpanError, naming where it is); HttpError, before any span, if the body cannot be
    read as a whole."""
    encoding = encoding.strip().lower()
    if encoding == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError, zlib.error) as exc:
            raise HttpError(400, f"Content-Encoding gzip, but the body is not gzip data ({exc})") from None
    elif encoding == "deflate":
        try:
            body = zlib.decompress(body)
        except zlib.error as exc:
            raise HttpError(400, f"Content-Encoding deflate, but the body is not deflate data ({exc})") from None
    elif encoding not in ("", "identity"):
        raise HttpError(415, f"Content-Encoding {encoding!r} is not supported (use gzip or none)")
    if len(body) > MAX_BODY:
        raise HttpError(413, f"the decompressed body is over {MAX_BODY:,} bytes")
    mime = content_type.split(";")[0].strip().lower()
    if mime == PROTOBUF:
        try:
            return protobuf_request_spans(body)
        except SpanError as exc:
            raise HttpError(400, str(exc)) from None
    if mime == JSON:
        try:
            request = orjson.loads(body)
        except orjson.JSONDecodeError as exc:
            raise HttpError(400, f"the body is not JSON ({exc})") from None
        items = json_request_spans(request)
        first = next(items, None)
        if first is None:
            return iter(())
        if isinstance(first, SpanError) and not first.where:  # not a trace request at all
            raise HttpError(400, str(first))
        return itertools.chain((first,), items)
    raise HttpError(415, f"Content-Type {content_type or '(none)'!r} is not supported: "
                         f"send {PROTOBUF} or {JSON}")


def response_body(mime: str, rejected: int, reasons: list[str]) -> bytes:
    message = "; ".join(reasons[:5]) + (f"; and {len(reasons) - 5} more" if len(reasons) > 5 else "")
    if mime == PROTOBUF:
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

        resp = ExportTraceServiceResponse()
        if rejected:
            resp.partial_success.rejected_spans = rejected
            resp.partial_success.error_message = message
        return resp.SerializeToString()
    if not rejected:
        return b"{}"
    return orjson.dumps({"partialSuccess": {"rejectedSpans": str(rejected), "errorMessage": message}})


def error_body(mime: str, code: int, message: str) -> bytes:
    if mime == PROTOBUF:
        try:
            from google.rpc.status_pb2 import Status
        except ImportError:  # googleapis-common-protos missing: a JSON Status still tells the reason
            return orjson.dumps({"code": code, "message": message})
        return Status(code=code, message=message).SerializeToString()
    return orjson.dumps({"code": code, "message": message})


class OtlpReceiver:
    """Receives OTLP/HTTP traces into `store`. Spans of all requests go through one assembler, so a
    child exported in an earlier batch than its parent still lands under it."""

    def __init__(self, store: Any, host: str = "127.0.0.1", port: int = 4318, *, token: str | None = None,
                 hold_seconds: float = DEFAULT_HOLD_SECONDS):
        self.store = store
        self.host, self.port = host, port
        self.token = token
        self.hold_seconds = hold_seconds
        self.stats = ReceiverStats()
        self._assembler = TraceAssembler()
        self._retry: list[Any] = []  # events the store refused, written first next time
        self._lock = threading.Lock()  # requests are mapped and written in worker threads, one at a time
        self._waiting: list[_Request] = []  # bodies read, for the next group commit
        self._committer: asyncio.Task | None = None  # the group commit under way, if any
        self._server: asyncio.base_events.Server | None = None
        self._releaser: asyncio.Task | None = None
        self._clients: set[asyncio.Task] = set()
        self._busy: set[asyncio.Task] = set()  # clients with a request in hand: let them answer

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._client, self.host, self.port, limit=1 << 16)
        self.port = self._server.sockets[0].getsockname()[1]
        self._releaser = asyncio.create_task(self._release_loop(), name="agenttui-otlp-release")
        emit(log, logging.INFO, "OTLP/HTTP receiver listening", url=f"http://{self._display_host()}:{self.port}"
             f"{TRACES_PATH}", token_required=bool(self.token))

    def _display_host(self) -> str:
        return f"[{self.host}]" if ":" in self.host else self.host

    async def close(self) -> None:
        if self._releaser is not None:
            self._releaser.cancel()
        if self._server is not None:
            self._server.close()
            for task in list(self._clients - self._busy):  # idle keep-alive connections
                task.cancel()
            if self._clients:
                await asyncio.wait(self._clients, timeout=30)
            await self._server.wait_closed()
        try:
            await asyncio.to_thread(self._write, [], release_all=True)
        except Exception as exc:
            emit(log, logging.ERROR, "events could not be written and are lost", events=len(self._retry),
                 error=str(exc))

    async def _release_loop(self) -> None:
        while True:
            await asyncio.sleep(min(1.0, self.hold_seconds / 2 or 0.1))
            try:
                await asyncio.to_thread(self._write, [], release_all=False)
            except Exception as exc:  # the store is down: the next tick or request tries again
                emit(log, logging.WARNING, "could not place spans still waiting for a parent", error=str(exc))

    def _write(self, requests: list[_Request], *, release_all: bool) -> list[tuple[int, list[str]] | HttpError]:
        """Decode and map the requests' spans and commit their events in one transaction: per
        request, (spans taken, reasons for the spans refused), or the HttpError to answer. If the
        store refuses the write, the events are kept and written first by the next write: an
        exporter's retry maps its own spans again, but children placed under them from earlier
        requests would not come again."""
        answers: list[tuple[int, list[str]] | HttpError] = []
        with self._lock:
            asm = self._assembler
            events, self._retry = self._retry, []
            try:
                for request in requests:
                    answers.append(self._map(request, events))
                asm.release(None if release_all else self.hold_seconds, events)
                append_events(self.store, events, self.stats.sink)
            except Exception as exc:
                self._retry = events
                if not requests:
                    raise
                emit(log, logging.ERROR, "could not store spans; the exporter will retry", error=str(exc))
                refused = HttpError(503, f"the store refused the write: {exc}", UNAVAILABLE)
                answers += [refused] * (len(requests) - len(answers))
                return [a if isinstance(a, HttpError) else refused for a in answers]
            except BaseException:
                self._retry = events
                raise
        return answers

    def _map(self, request: _Request, events: list[Any]) -> tuple[int, list[str]] | HttpError:
        """One request's spans onto `events`; a body that cannot be decoded is that request's answer alone."""
        try:
            items = decode_request(request.content_type, request.encoding, request.body)
        except HttpError as exc:
            return exc
        taken = 0
        reasons: list[str] = []
        ended = self._assembler.ended
        try:
            for item in items:
                if isinstance(item, SpanError):
                    reasons.append(str(item))
                    continue
                ended(item, events)
                taken += 1
        except Exception as exc:  # the spans placed before it are committed; the exporter's retry is stored once
            emit(log, logging.ERROR, "could not map spans; the exporter will retry",
                 error=f"{type(exc).__name__}: {exc}")
            return HttpError(503, f"the spans could not be mapped: {exc}", UNAVAILABLE)
        return taken, reasons

    async def _ingest(self, content_type: str, encoding: str, body: bytes) -> tuple[int, list[str]]:
        """The answer for one request body, once it is committed with the others waiting beside it."""
        answer: asyncio.Future[tuple[int, list[str]]] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Request(content_type, encoding, body, answer))
        if self._committer is None:
            self._committer = asyncio.create_task(self._commit_waiting(), name="agenttui-otlp-commit")
        return await answer

    async def _commit_waiting(self) -> None:
        """Commit the waiting requests, a group at a time, until none is left; requests that arrive
        meanwhile go into the next group."""
        group: list[_Request] = []
        try:
            while self._waiting:
                size, cut = 0, 0
                while cut < len(self._waiting) and size < GROUP_BYTES:
                    size += len(self._waiting[cut].body)
                    cut += 1
                group, self._waiting = self._waiting[:cut], self._waiting[cut:]
                answers = await asyncio.to_thread(self._write, group, release_all=False)
                for request, answer in zip(group, answers):
                    if request.answer.done():  # its client went away
                        continue
                    if isinstance(answer, HttpError):
                        request.answer.set_exception(answer)
                    else:
                        request.answer.set_result(answer)
        finally:
            self._committer = None
            for request in group + self._waiting:  # unanswered only if this task was cancelled (loop closing)
                request.answer.cancel()
            self._waiting = []

    # -- HTTP/1.1 ---------------------------------------------------------------------------------
    async def _client(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._clients.add(task)
        try:
            while await self._one_request(reader, writer, task):
                pass
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, asyncio.CancelledError):
            pass
        finally:
            self._clients.discard(task)
            writer.close()

    async def _one_request(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter,
                           task: asyncio.Task) -> bool:
        line = await reader.readline()
        if not line:
            return False
        self._busy.add(task)
        try:
            return await self._answer(line, reader, writer)
        finally:
            self._busy.discard(task)

    async def _answer(self, line: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> bool:
        try:
            method, target, version = line.decode("latin-1").split()
        except ValueError:
            await self._send(writer, 400, "text/plain", b"malformed request line\n", keep_alive=False)
            return False
        headers: dict[str, str] = {}
        for _ in range(MAX_HEADER_LINES):
            h = await reader.readline()
            if h in (b"\r\n", b"\n", b""):
                break
            name, _, value = h.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        keep_alive = version == "HTTP/1.1" and headers.get("connection", "").lower() != "close"
        mime = headers.get("content-type", "").split(";")[0].strip().lower()
        reply_mime = PROTOBUF if mime == PROTOBUF else JSON
        body: bytes | None = None
        try:
            body = await self._read_body(reader, headers)
            parts = urlsplit(target)
            if parts.path != TRACES_PATH:
                raise HttpError(404, f"no such path {parts.path!r}: OTLP traces go to POST {TRACES_PATH}")
            if method != "POST":
                raise HttpError(405, f"{method} is not allowed: send POST {TRACES_PATH}")
            self._check_token(headers, parts.query)
            taken, reasons = await self._ingest(headers.get("content-type", ""),
                                                headers.get("content-encoding", ""), body)
        except HttpError as exc:
            self.stats.requests += 1
            if exc.status < 500 and exc.status != 401:  # those two are logged where they arise
                emit(log, logging.WARNING, "rejected OTLP request", status=exc.status, reason=exc.message)
            extra = {"Retry-After": "1"} if exc.status == 503 else {}
            keep_alive = keep_alive and body is not None  # a body not read to its end leaves the stream unusable
            await self._send(writer, exc.status, reply_mime, error_body(reply_mime, exc.code, exc.message),
                             keep_alive=keep_alive, extra=extra)
            return keep_alive
        self.stats.requests += 1
        self.stats.spans += taken
        self.stats.rejected_spans += len(reasons)
        await self._send(writer, 200, reply_mime, response_body(reply_mime, len(reasons), reasons),
                         keep_alive=keep_alive)
        return keep_alive

    async def _read_body(self, reader: asyncio.StreamReader, headers: dict[str, str]) -> bytes:
        if headers.get("transfer-encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            total = 0
            while True:
                size_line = await reader.readline()
                try:
                    size = int(size_line.split(b";")[0].strip() or b"x", 16)
                except ValueError:
                    raise HttpError(400, "malformed chunked body") from None
                if size == 0:
                    await reader.readline()
                    return b"".join(chunks)
                total += size
                if total > MAX_BODY:
                    raise HttpError(413, f"the body is over {MAX_BODY:,} bytes")
                chunks.append(await reader.readexactly(size))
                await reader.readline()
        length_text = headers.get("content-length", "0")
        if not length_text.isdigit():
            raise HttpError(400, f"Content-Length {length_text!r} is not a number")
        length = int(length_text)
        if length > MAX_BODY:
            raise HttpError(413, f"the body is over {MAX_BODY:,} bytes")
        return await reader.readexactly(length) if length else b""

    def _check_token(self, headers: dict[str, str], query: str) -> None:
        if not self.token:
            return
        given = None
        auth = headers.get("authorization", "")
        if auth.lower().startswith("bearer "):
            given = auth[7:].strip()
        for key, value in parse_qsl(query):
            if key == "token":
                given = value
        if given is None or not hmac.compare_digest(given.encode(), self.token.encode()):
            emit(log, logging.WARNING, "rejected OTLP request: missing or wrong token", token_given=given is not None)
            raise HttpError(401, "missing or wrong token: send 'Authorization: Bearer TOKEN' "
                                 "(OTEL_EXPORTER_OTLP_HEADERS=Authorization=Bearer%20TOKEN)", UNAUTHENTICATED)

    async def _send(self, writer: asyncio.StreamWriter, status: int, mime: str, body: bytes, *,
                    keep_alive: bool, extra: dict[str, str] | None = None) -> None:
        reason = {200: "OK", 400: "Bad Request", 401: "Unauthorized", 404: "Not Found", 405: "Method Not Allowed",
                  413: "Payload Too Large", 415: "Unsupported Media Type", 503: "Service Unavailable"}.get(status, "")
        head = [f"HTTP/1.1 {status} {reason}", f"Content-Type: {mime}", f"Content-Length: {len(body)}",
                f"Connection: {'keep-alive' if keep_alive else 'close'}"]
        head += [f"{k}: {v}" for k, v in (extra or {}).items()]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()


class ReceiverThread:
    """A receiver on its own event loop in a background thread, for programs that are not asyncio
    (tests, benchmarks, an agent process that wants the receiver in-process)."""

    def __init__(self, store: Any, host: str = "127.0.0.1", port: int = 0, **kwargs: Any):
        self.receiver = OtlpReceiver(store, host, port, **kwargs)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="agenttui-otlp", daemon=True)

    @property
    def endpoint(self) -> str:
        return f"http://{self.receiver._display_host()}:{self.receiver.port}{TRACES_PATH}"

    def __enter__(self) -> "ReceiverThread":
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.receiver.start(), self._loop).result(timeout=60)
        return self

    def __exit__(self, *exc: Any) -> None:
        asyncio.run_coroutine_threadsafe(self.receiver.close(), self._loop).result(timeout=60)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=60)
        self._loop.close()
