"""Recording a Python agent's run into an agenttui store: the Recorder, instrumented tools, and the
capture of arbitrary values as bounded JSON.

Kept apart from the store package (installed as agenttui.store) so that the store holds only the
store: readers, the inspector and `agenttui serve` never import the recording machinery, and the
Recorder uses nothing of the store but its public API.
"""
from __future__ import annotations

from .instrument import instrument
from .recorder import LLMCall, Node, Recorder, ToolCall, current_recorder, session_filename

__all__ = ["LLMCall", "Node", "Recorder", "ToolCall", "current_recorder", "instrument", "session_filename"]
