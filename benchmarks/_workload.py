"""Realistic, reproducible event streams for the store benchmark.

The benchmark must measure the store on what it will actually hold: runs of a recursive planning
agent (nested plan/execute nodes, ~18 events per node, LLM calls whose prompts and responses are a
few hundred bytes), in the wire format of tests/data/recursive-agent-run.jsonl. The agent is the
demo's simulation (agenttui.demo), the one simulated agent of the project. Synthetic rows of
constant size would flatter SQLite's B-trees and the fold alike.

Everything is driven by one `random.Random(seed)`, so two runs of the benchmark store identical
bytes and their figures are comparable. Event ids are uuid4-shaped (as external agents send them)
unless a caller asks for the store's time-ordered ids.
"""
from __future__ import annotations

import itertools
import random
import uuid
from datetime import datetime, timedelta, timezone
from typing import Any, Iterator

import orjson

#: A word no generated text contains except in the rare events that carry it on purpose, so the
#: "rare term" search scans the whole table and returns only a handful of rows.
RARE_TERM = "quokka"
#: How often (1 in N LLM responses) the rare term is planted (a few times in a million events).
RARE_EVERY = 20_000
#: A term present in a large share of payloads (every `task_goal`/`node_goal` of a drafting node).
COMMON_TERM = "draft"

def generate_run(
    seed: int,
    n_events: int,
    *,
    run_id: str | None = None,
    start: datetime | None = None,
    id_style: str = "uuid4",
) -> Iterator[dict[str, Any]]:
    """Yield the envelopes (dicts) of one recursive agent run of `n_events` events.

    The agent is the demo's simulation (agenttui.demo.generate_run: plan and execute nodes, LLM and
    tool calls, failures and retries), so benchmarks measure what `agenttui demo` shows; here its
    events come as wire envelopes, with RARE_TERM planted in about one LLM response in RARE_EVERY.
    """
    from agenttui.demo import generate_run as simulate

    planter = random.Random(seed)
    events = simulate(seed, n_events=max(3, n_events), run_id=run_id or f"run-{seed:04d}",
                      start=start or datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc), id_style=id_style)
    for event in events:
        env = event.to_envelope()
        if env["event_type"] == "llm_call_completed" and planter.randrange(RARE_EVERY) == 0:
            env["payload"] = dict(env["payload"], result_summary=f"found a {RARE_TERM} in the data")
        yield env


def workload(n_events: int, *, seed: int = 7, big_run_share: float = 0.4,
             id_style: str = "uuid4") -> Iterator[dict[str, Any]]:
    """About `n_events` envelopes: one big run (`big_run_share` of them), then runs of 2k-40k events.

    A few events with ``run_id: null`` come first, as the reference agent sends before it has a run id.
    Stops at exactly `n_events`, so the last run may be cut short (as a crashed agent's would be).
    """
    rng = random.Random(seed)
    count = 0
    start = datetime(2026, 3, 1, 9, 0, tzinfo=timezone.utc)
    for i in range(min(5, n_events)):
        count += 1
        yield {"event_id": str(uuid.UUID(int=rng.getrandbits(128), version=4)), "timestamp": (start + timedelta(milliseconds=i)).strftime(
            "%Y-%m-%dT%H:%M:%S.%fZ"), "event_type": "llm_call_started",
            "payload": {"agent_class": "Bootstrap", "model": "m-small",
                        "prompt": [{"role": "user", "content": f"warm up {i}"}], "prompt_preview": "warm up"},
            "run_id": None}
    sizes = [max(1, int(n_events * big_run_share))] if big_run_share > 0 else []
    k = 0
    while count < n_events:
        size = sizes[k] if k < len(sizes) else rng.randrange(2_000, 40_000)
        for env in generate_run(seed * 1000 + k, size, start=start + timedelta(hours=k), id_style=id_style):
            yield env
            count += 1
            if count >= n_events:
                return
        k += 1


def write_jsonl(paths: str | list[str], n_events: int, **kwargs: Any) -> int:
    """Write `workload(n_events)` as JSONL, split evenly over `paths` in order; returns total bytes.

    Several parts let a benchmark interleave two importers part by part, so both see the same
    machine load (on a shared box, load drifts over the minutes one import takes).
    """
    files = [paths] if isinstance(paths, str) else list(paths)
    per_part = -(-n_events // len(files))
    size = 0
    events = workload(n_events, **kwargs)
    for path in files:
        with open(path, "wb") as fh:
            written = 0
            while written < per_part:
                buf = [orjson.dumps(env) for env in itertools.islice(events, min(10_000, per_part - written))]
                if not buf:
                    break
                chunk = b"\n".join(buf) + b"\n"
                fh.write(chunk)
                size += len(chunk)
                written += len(buf)
    return size
