"""Colours that carry meaning, shared by every widget so a type or status looks the same everywhere."""
from __future__ import annotations

from typing import Any

#: event_type -> style; types not listed are shown dim (unknown types are still shown)
EVENT_TYPE_STYLES: dict[str, str] = {
    "run_started": "bold magenta",
    "run_finished": "bold magenta",
    "run_error": "bold red",
    "step_started": "blue",
    "step_finished": "blue",
    "node_created": "green",
    "node_added": "green",
    "edge_added": "dark_sea_green4",
    "inner_graph_built": "dark_sea_green4",
    "plan_received": "cyan",
    "node_status_changed": "yellow",
    "node_result_available": "bright_green",
    "llm_call_started": "medium_purple1",
    "llm_call_completed": "medium_purple1",
    "tool_invoked": "dark_cyan",
    "tool_returned": "dark_cyan",
    "decision": "bright_blue",
    "artifact": "bright_green",
}
UNKNOWN_TYPE_STYLE = "grey62"
ERROR_STYLE = "bold red"

STATUS_STYLES: dict[str, str] = {
    "PENDING": "grey50 italic",
    "NOT_READY": "grey62",
    "READY": "cyan",
    "NEED_UPDATE": "yellow",
    "FINAL_TO_FINISH": "bright_green",
    "NEED_POST_REFLECT": "yellow",
    "DOING": "bold yellow",
    "PLAN_DONE": "green",
    "FINISH": "bold green",
    "FAILED": "bold red",
    "running": "bold yellow",
    "completed": "bold green",
    "error": "bold red",
}


#: A node's status as a glyph at the start of its tree label, so that a label cut at the pane's
#: edge, or a terminal without colour (NO_COLOR), still says done / working / failed / waiting.
STATUS_GLYPHS: dict[str, str] = {
    "FINISH": "✓",
    "completed": "✓",
    "FAILED": "✗",
    "error": "✗",
    "DOING": "◐",
    "running": "◐",
    "NEED_UPDATE": "◐",
    "PLAN_DONE": "◑",
    "FINAL_TO_FINISH": "◑",
    "NEED_POST_REFLECT": "◑",
    "READY": "○",
    "NOT_READY": "·",
    "PENDING": "◌",
}
#: What each glyph means, for the help screen.
GLYPH_LEGEND = (("✓", "done"), ("◐", "working"), ("◑", "waiting for its sub-tasks or to finish"),
                ("○", "ready"), ("·", "not ready"), ("✗", "failed"), ("◌", "pending (referenced, not created yet)"),
                ("?", "no status yet"))


def status_glyph(status: str | None) -> str:
    return STATUS_GLYPHS.get(status or "", "?")


def is_error_event(event_type: str, payload: Any) -> bool:
    """An event a user hunting for trouble wants to see in red."""
    if event_type == "run_error":
        return True
    if not isinstance(payload, dict):
        return False
    if event_type in ("llm_call_completed", "tool_returned") and payload.get("error"):
        return True
    failed_states = ("FAILED", "FAILURE", "ERROR", "TIMEOUT")
    if event_type == "tool_returned" and str(payload.get("state", "")).upper() in failed_states:
        return True
    return event_type in ("node_status_changed", "step_finished") and (
        payload.get("new_status") == "FAILED" or payload.get("status_after") == "FAILED")


def type_style(event_type: str, payload: Any = None) -> str:
    if payload is not None and is_error_event(event_type, payload):
        return ERROR_STYLE
    return EVENT_TYPE_STYLES.get(event_type, UNKNOWN_TYPE_STYLE)


def status_style(status: str | None) -> str:
    return STATUS_STYLES.get(status or "", "white")
