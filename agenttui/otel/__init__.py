"""OpenTelemetry GenAI spans into agenttui: a span processor, the OTLP/HTTP receiver's decoding, and
OTLP JSON import, all through one mapping (docs/otel.md). Needs the `agenttui[otel]` extra."""
from __future__ import annotations

from typing import Any

from .assemble import TraceAssembler
from .importer import import_otlp, looks_like_otlp
from .mapping import classify
from .spans import Span, SpanError

__all__ = ["SpanProcessor", "Span", "SpanError", "TraceAssembler", "classify", "import_otlp", "looks_like_otlp"]


def __getattr__(name: str) -> Any:
    if name == "SpanProcessor":  # imports the OpenTelemetry SDK: only when asked for
        from .processor import SpanProcessor

        return SpanProcessor
    raise AttributeError(name)
