"""What both backends share below the store API: row <-> Event/dict conversion, the read filter,
the append result, and the retention audit row. No connection and no SQL dialect lives here.

Rows are the events/runs/nodes/edges columns in the order EVENT_COLUMNS and fold's *_COLUMNS give;
JSON columns are text in SQL and dicts in Python on both backends.
"""
from __future__ import annotations

import getpass
import operator
import os
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Callable, Mapping, Sequence

import orjson

from .envelope import Event, normalize_timestamp, now_timestamp
from .fold import JSON_COLUMNS, NODE_COLUMNS, RUN_COLUMNS, RunState

EVENT_COLUMNS = "id, event_id, run_id, seq, event_type, timestamp, payload, node_id, metadata"
#: Payload and metadata characters after which a page of stored events ends early (see BaseStore._scan_batches).
PAGE_CHARS = 32 << 20
#: The tables folded from the events (cleared and rewritten by rebuild and retention).
PROJECTION_TABLES = ("runs", "nodes", "edges", "snapshots")


@dataclass
class AppendResult:
    """What an append did: `stored` new events, `duplicates` skipped by event_id."""

    stored: int = 0
    duplicates: int = 0
    first_position: int | None = None
    last_position: int | None = None
    versions: dict[str, int] = field(default_factory=dict)  # run_id -> last seq after the append


@dataclass
class EventFilter:
    """The read API's filter; every field narrows, None means 'any'."""

    run_id: str | None = None
    types: Sequence[str] | None = None
    exclude_types: Sequence[str] | None = None
    node_id: str | None = None
    since: str | None = None  # timestamp, inclusive
    until: str | None = None  # timestamp, inclusive
    search: str | None = None  # case-insensitive substring of the payload JSON

    def where(self) -> tuple[str, list[Any]]:
        """SQL conditions and their parameters, in the SQL both backends accept (no bare 0/1 as booleans)."""
        clauses: list[str] = []
        params: list[Any] = []
        if self.run_id is not None:
            clauses.append("run_id = ?")
            params.append(self.run_id)
        if self.types is not None:
            types = list(self.types)
            if not types:
                clauses.append("1 = 0")
            else:
                clauses.append(f"event_type IN ({','.join('?' * len(types))})")
                params.extend(types)
        if self.exclude_types:
            clauses.append(f"event_type NOT IN ({','.join('?' * len(self.exclude_types))})")
            params.extend(self.exclude_types)
        if self.node_id is not None:
            clauses.append("node_id = ?")
            params.append(self.node_id)
        if self.since is not None:
            clauses.append("timestamp >= ?")
            params.append(normalize_timestamp(self.since, field_name="since"))
        if self.until is not None:
            clauses.append("timestamp <= ?")
            params.append(normalize_timestamp(self.until, field_name="until"))
        if self.search:
            # payloads are stored as JSON text: look for the term as JSON writes it, so quotes,
            # backslashes and newlines in it match what the agent sent
            term = orjson.dumps(self.search).decode()[1:-1]
            if term.isascii():  # LIKE folds ASCII case itself, and can stop at the first match fast
                clauses.append("payload LIKE ? ESCAPE '\\'")
            else:  # LIKE folds only ASCII: "CAFÉ" must find "café" too
                clauses.append("agenttui_casefold(payload) LIKE ? ESCAPE '\\'")
                term = term.casefold()
            params.append("%" + like_escape(term) + "%")
        return (" AND ".join(clauses) or "1 = 1"), params


def casefold_text(text: Any) -> Any:
    return text.casefold() if isinstance(text, str) else text


def like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def dump_json(value: Any) -> str | None:
    return None if value is None else orjson.dumps(value).decode()


def load_json(value: Any) -> Any:
    if value is None:
        return None
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


_row_plans: dict[tuple[str, ...], tuple[Callable[[Mapping[str, Any]], tuple], tuple[int, ...]]] = {}


def row_values(d: Mapping[str, Any], columns: Sequence[str]) -> tuple | list:
    """The SQL parameters of a projection row; JSON columns serialised (hot: once per dirty node)."""
    plan = _row_plans.get(columns)  # type: ignore[call-overload]
    if plan is None:
        cols = tuple(columns)
        plan = _row_plans[cols] = (operator.itemgetter(*cols),
                                   tuple(i for i, c in enumerate(cols) if c in JSON_COLUMNS))
    get, json_at = plan
    values = get(d)
    if not json_at:
        return values
    values = list(values)
    for i in json_at:
        v = values[i]
        if v is not None:
            values[i] = orjson.dumps(v).decode()
    return values


def dict_from_row(columns: Sequence[str], row: Sequence[Any]) -> dict[str, Any]:
    return {c: (load_json(v) if c in JSON_COLUMNS else v) for c, v in zip(columns, row)}


_new_event = object.__new__


def row_to_event(row: Sequence[Any]) -> Event:
    """A stored row as an Event. Rows are already canonical, so Event's __post_init__ (which fills
    in ids, timestamps and node ids for new events) is skipped: replays read millions of these."""
    pos, event_id, run_id, seq, event_type, ts, payload, node_id, metadata = row
    try:
        data = orjson.loads(payload)
    except orjson.JSONDecodeError:
        data = {"_unparseable_payload": payload}
    e = _new_event(Event)
    e.event_type = event_type
    e.payload = data if isinstance(data, dict) else {"value": data}
    e.run_id = run_id
    e.event_id = event_id
    e.timestamp = ts
    e.node_id = node_id
    e.metadata = None if metadata is None else load_json(metadata)
    e.position = pos
    e.seq = seq
    return e


def fix_node_id(event: Event) -> Event:
    """A stored row's 'no node' ('' from older writers) as None, the API's way."""
    if event.node_id == "":
        event.node_id = None
    return event


def whoami() -> str:
    try:
        user = getpass.getuser()
    except Exception:  # no login name in some containers
        user = str(os.getuid()) if hasattr(os, "getuid") else "unknown"
    return f"{user}@{os.uname().nodename if hasattr(os, 'uname') else 'localhost'} pid {os.getpid()}"


def content_stats(q: Callable[[str], list[tuple]]) -> dict[str, Any]:
    """The figures of stats() that both backends count the same way, through their query function."""
    first_last = q("SELECT min(id), max(id), min(timestamp), max(timestamp), count(*) FROM events")[0]
    return {
        "events": first_last[4],
        "first_position": first_last[0],
        "last_position": first_last[1],
        "first_timestamp": first_last[2],
        "last_timestamp": first_last[3],
        "runs": q("SELECT count(*) FROM runs")[0][0],
        "nodes": q("SELECT count(*) FROM nodes")[0][0],
        "edges": q("SELECT count(*) FROM edges")[0][0],
        "snapshots": q("SELECT count(*) FROM snapshots")[0][0],
        "retention_passes": q("SELECT count(*) FROM retention_log")[0][0],
        "event_types": dict(q("SELECT event_type, count(*) FROM events GROUP BY event_type ORDER BY 2 DESC, 1")),
    }


RETENTION_LOG_INSERT = (
    "INSERT INTO retention_log (executed_at, executed_by, max_age_days, cutoff, events_deleted, runs_deleted, "
    "first_position, last_position, details, cut_at) VALUES (?,?,?,?,?,?,?,?,?,?)")


def retention_log_row(report: dict[str, Any], per_run: Sequence[Sequence[Any]], emptied: list[str],
                      refolded: list[str], executed_by: str, days: int, cutoff: str,
                      cut_at: Mapping[str, list[list[Any]]] | None = None) -> tuple:
    """Fill `report` from a retention pass's per-run (run_id, count, min id, max id) rows and return
    the audit row for retention_log (both backends log the same thing). cut_at: per run, [seq,
    hex hash] of each deleted event whose successor stays, where its hash chain resumes."""
    report.update(
        events_deleted=sum(r[1] for r in per_run), runs_deleted=len(emptied), runs_refolded=len(refolded),
        first_position=min(r[2] for r in per_run), last_position=max(r[3] for r in per_run))
    details = {"per_run": {r[0]: r[1] for r in per_run}, "runs_deleted": emptied, "runs_refolded": refolded}
    return (now_timestamp(), executed_by, days, cutoff, report["events_deleted"], len(emptied),
            report["first_position"], report["last_position"], dump_json(details),
            dump_json(dict(cut_at or {})))


def run_summary(run: dict[str, Any]) -> dict[str, Any]:
    if run.get("duration_seconds") is None and run.get("start_time"):
        end = run.get("end_time") or run.get("updated_at")
        if end:
            try:
                a = datetime.fromisoformat(run["start_time"].rstrip("Z"))
                b = datetime.fromisoformat(end.rstrip("Z"))
                run["duration_seconds"] = round((b - a).total_seconds(), 6)
            except ValueError:
                pass
    run["total_tokens"] = (run.get("prompt_tokens") or 0) + (run.get("completion_tokens") or 0)
    return run


def state_graph(state: RunState):
    """A RunState's nodes and edges as a networkx DiGraph."""
    import networkx as nx

    g = nx.DiGraph(run_id=state.run_id, root_node_id=state.run.get("root_node_id"))
    for node_id, n in state.nodes.items():
        g.add_node(node_id, **n)
    for (p, c), e in state.edges.items():
        g.add_edge(p, c, **e)
    return g


def diff_states(run_id: str, folded: RunState, stored: RunState) -> list[str]:
    out: list[str] = []
    for col in RUN_COLUMNS:
        a, b = folded.run.get(col), stored.run.get(col)
        if a != b:
            out.append(f"run {run_id!r}: runs.{col} is {b!r} but the events give {a!r}")
    for nid in sorted(set(folded.nodes) | set(stored.nodes)):
        a, b = folded.nodes.get(nid), stored.nodes.get(nid)
        if a is None or b is None:
            out.append(f"run {run_id!r}: node {nid} {'missing from nodes' if b is None else 'not in the events'}")
            continue
        for col in NODE_COLUMNS:
            if a.get(col) != b.get(col):
                out.append(f"run {run_id!r}: nodes[{nid}].{col} is {b.get(col)!r} but the events give {a.get(col)!r}")
    for key in sorted(set(folded.edges) | set(stored.edges)):
        a, b = folded.edges.get(key), stored.edges.get(key)
        if a != b:
            out.append(f"run {run_id!r}: edge {key[0]}->{key[1]} is {b!r} but the events give {a!r}")
    return out


