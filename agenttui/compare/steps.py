"""A run as a sequence of steps, and where two runs' steps first do something different.

Events are read once, in pages, through the store's public paging API. Each event is kept only as a
small signature: its type, the aligned node it is about, and a hash of each payload field that says
what it *did* (the tool, its arguments, the status it set, the result it produced). Timestamps,
durations, token counts, ids and an LLM's free text are left out on purpose: they differ between any
two runs, and a divergence made of them would say nothing. The LLM's prompt is kept (it is the
call's argument), so a changed prompt template is found at its first use.

A step starts at each `step_started` (the agent's own unit of work); a run without them gets a new
step wherever the node being worked on changes. Steps are paired by the node they work on (through
the tree alignment) and by how many times that node was worked on before, so an inserted step
leaves the steps after it paired with their counterparts.
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import orjson

from agenttui.store import EventFilter

#: Events read per page.
PAGE = 5000

#: Per event type, the payload fields compared, grouped under the word a divergence names them by.
COMPARED: dict[str, tuple[tuple[str, tuple[str, ...]], ...]] = {
    "run_started": (("task", ("input_data", "task")), ("model", ("config",))),
    "run_error": (("error", ("error_type", "error_message")),),
    "step_started": (("goal", ("node_goal",)),),
    "step_finished": (("action", ("action_name",)), ("status", ("status_after",))),
    "node_created": (("node type", ("node_type", "task_type")), ("goal", ("task_goal",))),
    "node_status_changed": (("status", ("new_status",)),),
    "node_result_available": (("action", ("action_name",)), ("result", ("result_summary",))),
    "plan_received": (("plan", ("raw_plan",)),),
    "llm_call_started": (("model", ("model",)), ("arguments", ("prompt",))),
    "llm_call_completed": (("model", ("model",)), ("error", ("error",))),
    "tool_invoked": (("tool", ("tool_name", "api_name")), ("arguments", ("args_summary", "args"))),
    "tool_returned": (("tool", ("tool_name", "api_name")), ("status", ("state",)), ("error", ("error",)),
                      ("result", ("result_summary",))),
    "decision": (("decision", ("decision_type", "chosen_action")),),
    "artifact": (("artifact", ("artifact_type", "path")), ("result", ("content",))),
    # structure events carry node ids (random per run): the tree alignment compares them instead
    "node_added": (), "edge_added": (), "inner_graph_built": (), "run_finished": (),
}
#: Payload keys never compared in events of other (unknown) types.
VOLATILE = ("id", "_id", "time", "timestamp", "duration", "duration_seconds", "latency", "step", "token_usage")


def _hash(value: Any) -> int:
    if value is None or isinstance(value, (str, int, float, bool)):
        return hash(value)
    try:
        return hash(orjson.dumps(value, option=orjson.OPT_SORT_KEYS | orjson.OPT_NON_STR_KEYS))
    except TypeError:
        return hash(repr(value))


def signature(event_type: str, payload: Any) -> tuple[int, ...]:
    """One hash per compared field group of this event type."""
    p = payload if isinstance(payload, dict) else {}
    groups = COMPARED.get(event_type)
    if groups is None:
        kept = {k: v for k, v in p.items() if not str(k).endswith(VOLATILE)}
        return (_hash(kept),)
    return tuple(_hash(tuple(p.get(k) for k in keys)) for _, keys in groups)


def field_names(event_type: str) -> tuple[str, ...]:
    groups = COMPARED.get(event_type)
    return ("payload",) if groups is None else tuple(name for name, _ in groups)


@dataclass
class Step:
    """A stretch of a run's events: events[start:end] of its RunSteps."""

    index: int
    node_id: str | None
    number: int | None  # the agent's own step number, when it sends one
    start: int
    end: int


@dataclass
class RunSteps:
    """A run's events as signatures, cut into steps."""

    run_id: str
    positions: list[int] = field(default_factory=list)
    types: list[str] = field(default_factory=list)
    nodes: list[str | None] = field(default_factory=list)
    sigs: list[tuple[int, ...]] = field(default_factory=list)
    steps: list[Step] = field(default_factory=list)

    @classmethod
    def read(cls, store: Any, run_id: str, *, progress: Callable[[int], None] | None = None) -> "RunSteps":
        out = cls(run_id)
        f = EventFilter(run_id=run_id)
        after = 0
        uses_steps = False
        numbers: list[int | None] = []
        while True:
            page = store.events(f, after=after, limit=PAGE)
            if not page:
                break
            for e in page:
                out.positions.append(e.position)
                out.types.append(e.event_type)
                out.nodes.append(e.node_id)
                out.sigs.append(signature(e.event_type, e.payload))
                if e.event_type == "step_started":
                    uses_steps = True
                    n = e.payload.get("step") if isinstance(e.payload, dict) else None
                    numbers.append(n if isinstance(n, int) and not isinstance(n, bool) else None)
                else:
                    numbers.append(None)
            after = page[-1].position
            if progress is not None:
                progress(len(out.positions))
        out._cut(uses_steps, numbers)
        return out

    def _cut(self, uses_steps: bool, numbers: list[int | None]) -> None:
        starts: list[int] = []
        if uses_steps:
            starts = [i for i, t in enumerate(self.types) if t == "step_started"]
            if not starts or starts[0] != 0:
                starts.insert(0, 0)
        else:
            current: str | None = None
            for i, n in enumerate(self.nodes):
                if i == 0 or (n is not None and n != current):
                    starts.append(i)
                if n is not None:
                    current = n
        bounds = starts + [len(self.types)]
        for k, (s, e) in enumerate(zip(bounds, bounds[1:])):
            if uses_steps and self.types[s] != "step_started":
                node = None  # what happened before the first step: the run's setup
            else:
                node = self.nodes[s] if self.nodes[s] is not None else next(
                    (n for n in self.nodes[s:e] if n is not None), None)
            self.steps.append(Step(k, node, numbers[s] if uses_steps else None, s, e))

    def last_position(self, step: Step) -> int:
        return self.positions[step.end - 1]


@dataclass
class AlignedStep:
    a: Step | None
    b: Step | None


@dataclass
class Divergence:
    """The first aligned step where the runs did something different, and what."""

    step: int  # index into the aligned steps
    kind: str  # "step-only-a", "step-only-b", "event-only-a", "event-only-b", "event-type", "fields"
    fields: list[str]
    position_a: int | None
    position_b: int | None
    node_a: str | None
    node_b: str | None
    event_type_a: str | None = None
    event_type_b: str | None = None


def _step_keys(run: RunSteps, pair_of: dict[str, int]) -> list[tuple]:
    seen: dict[Any, int] = {}
    keys = []
    for s in run.steps:
        who: Any = pair_of.get(s.node_id, ("node", s.node_id)) if s.node_id is not None else "run"
        n = seen.get(who, 0)
        seen[who] = n + 1
        keys.append((who, n))
    return keys


def align_steps(a: RunSteps, b: RunSteps, pair_of_a: dict[str, int], pair_of_b: dict[str, int]) -> list[AlignedStep]:
    """Steps of both runs paired by (aligned node, occurrence), in run order, one-sided ones in place."""
    ka, kb = _step_keys(a, pair_of_a), _step_keys(b, pair_of_b)
    out: list[AlignedStep] = []
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ka, kb, autojunk=False).get_opcodes():
        if tag == "equal":
            out += [AlignedStep(a.steps[i], b.steps[j]) for i, j in zip(range(i1, i2), range(j1, j2))]
        else:
            out += [AlignedStep(a.steps[i], None) for i in range(i1, i2)]
            out += [AlignedStep(None, b.steps[j]) for j in range(j1, j2)]
    return out


def _event_keys(run: RunSteps, step: Step, pair_of: dict[str, int]) -> list[tuple]:
    return [(run.types[i], None if (node := run.nodes[i]) is None else pair_of.get(node, -1))
            for i in range(step.start, step.end)]


def compare_step(a: RunSteps, b: RunSteps, sa: Step, sb: Step, pair_of_a: dict[str, int],
                 pair_of_b: dict[str, int]) -> tuple[str, list[str], int | None, int | None] | None:
    """(kind, fields, index in A, index in B) of the first difference inside two paired steps."""
    ka, kb = _event_keys(a, sa, pair_of_a), _event_keys(b, sb, pair_of_b)
    if ka == kb and a.sigs[sa.start:sa.end] == b.sigs[sb.start:sb.end]:
        return None
    for tag, i1, i2, j1, j2 in difflib.SequenceMatcher(None, ka, kb, autojunk=False).get_opcodes():
        if tag == "equal":
            for i, j in zip(range(sa.start + i1, sa.start + i2), range(sb.start + j1, sb.start + j2)):
                if a.sigs[i] != b.sigs[j]:
                    names = field_names(a.types[i])
                    fields = [n for n, x, y in zip(names, a.sigs[i], b.sigs[j]) if x != y]
                    return "fields", fields, i, j
        elif tag == "replace":
            i, j = sa.start + i1, sb.start + j1
            kind = "event-type" if a.types[i] != b.types[j] else "event-node"
            return kind, ["type"] if kind == "event-type" else ["node"], i, j
        elif tag == "delete":
            return "event-only-a", [], sa.start + i1, None
        else:
            return "event-only-b", [], None, sb.start + j1
    return None


def first_divergence(a: RunSteps, b: RunSteps, steps: Sequence[AlignedStep], pair_of_a: dict[str, int],
                     pair_of_b: dict[str, int]) -> Divergence | None:
    for k, st in enumerate(steps):
        if st.a is None or st.b is None:
            one = st.a if st.a is not None else st.b
            assert one is not None, "align_steps pairs a step with nothing, never nothing with nothing"
            run = a if st.a is not None else b
            pos = run.positions[one.start]
            return Divergence(k, "step-only-a" if st.a is not None else "step-only-b", [],
                              pos if st.a is not None else None, pos if st.b is not None else None,
                              st.a.node_id if st.a else None, st.b.node_id if st.b else None)
        found = compare_step(a, b, st.a, st.b, pair_of_a, pair_of_b)
        if found is not None:
            kind, fields, i, j = found
            return Divergence(k, kind, fields, a.positions[i] if i is not None else None,
                              b.positions[j] if j is not None else None,
                              a.nodes[i] if i is not None else st.a.node_id,
                              b.nodes[j] if j is not None else st.b.node_id,
                              a.types[i] if i is not None else None, b.types[j] if j is not None else None)
    return None


def cursor_positions(steps: Sequence[AlignedStep], a: RunSteps, b: RunSteps) -> list[tuple[int, int]]:
    """For each aligned step, the position each run is replayed to: the end of its step there, or
    of its last step before this one when it has none here (0: nothing yet)."""
    out: list[tuple[int, int]] = []
    pa = pb = 0
    for st in steps:
        if st.a is not None:
            pa = a.last_position(st.a)
        if st.b is not None:
            pb = b.last_position(st.b)
        out.append((pa, pb))
    return out
