"""A writer killed with SIGKILL at any instant loses no committed event and leaves no partial batch.

Three real writers, each killed many times at seeded random moments (the same seed gives the same
schedule of kill delays): `agenttui import` of a large JSONL file, an agent recording through the
Recorder's background flusher, and `agenttui serve` consuming a Redis stream. After every kill
crash_harness.audit checks integrity, the committed ids, batch completeness, `rebuild --check`
and gapless sequences; the next writer then continues the same runs. A last, unkilled writer
must reach exactly the full set of events, each stored once.
"""
from __future__ import annotations

import os
import signal
import sqlite3
from pathlib import Path

import orjson
import pytest
from redis_server import redis_server, redis_url, serve_redis_proc, stream_name, wait_for  # noqa: F401

import crash_harness as ch

SEED = int(os.environ.get("AGENTTUI_CRASH_SEED", "20261122"))
IMPORT_KILLS, RECORDER_KILLS, SERVE_KILLS = 20, 20, 12
IMPORT_CHUNK, IMPORT_BATCH = 600, 25
SERVE_CHUNK, SERVE_BATCH = 400, 20
TYPES = ("node_created", "node_status_changed", "llm_call_completed", "tool_returned", "custom_probe")


def _event(prefix: str, i: int, runs: int = 3) -> dict:
    """Events of a few interleaved runs exercising every projection (nodes, statuses, edges, unknown types)."""
    kind = TYPES[i % len(TYPES)]
    node = f"{prefix}-n{i // 5}"
    payload: dict = {"node_id": node, "i": i}
    if kind == "node_created":
        payload.update(node_nid=f"1.{i // 5}", node_type="EXECUTE_NODE", task_goal=f"goal {i}",
                       outer_node_id=f"{prefix}-n{max(0, i // 5 - 1)}")
    elif kind == "node_status_changed":
        payload.update(old_status="READY", new_status="DOING")
    elif kind == "llm_call_completed":
        payload.update(model="m", token_usage={"prompt_tokens": 2, "completion_tokens": 3})
    return {"event_id": f"{prefix}-{i:06d}", "run_id": None if i % 97 == 0 else f"{prefix}-run-{i % runs}",
            "event_type": kind, "timestamp": f"2025-04-17T12:{(i // 60) % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
            "payload": payload}


def _jsonl(events: list[dict]) -> bytes:
    return b"".join(orjson.dumps(e) + b"\n" for e in events)


def _stored_ids(db: Path) -> list[str]:
    if not db.exists():
        return []
    conn = sqlite3.connect(db)
    try:
        return [r[0] for r in conn.execute("SELECT event_id FROM events ORDER BY id")]
    finally:
        conn.close()


def test_killing_agenttui_import_loses_nothing_committed(tmp_path: Path) -> None:
    db, witness = tmp_path / "run.db", tmp_path / "witness.jsonl"
    chunks = [[_event("imp", k * IMPORT_CHUNK + i) for i in range(IMPORT_CHUNK)] for k in range(IMPORT_KILLS * 3)]

    def start(trial: int):
        # each writer re-imports the previous chunk (what the last kill cut off) and a new one
        src = tmp_path / f"part-{trial}.jsonl"
        src.write_bytes(_jsonl((chunks[trial - 1] if trial else []) + chunks[trial]))
        p = ch.context().Process(target=ch.run_import, args=(
            str(witness), str(tmp_path / "import.log"), ["import", str(db), str(src), "-q", "--commit-batches"],
            IMPORT_BATCH))
        p.start()
        return p

    log = ch.trials(IMPORT_KILLS, seed=SEED, max_delay=0.08, start=start, witness_path=witness, db=db,
                    what="import")
    used = [e for c in chunks[:log.kills + log.finished] for e in c]
    full = tmp_path / "all.jsonl"
    full.write_bytes(_jsonl(used))
    p = ch.context().Process(target=ch.run_import, args=(
        str(witness), str(tmp_path / "final.log"), ["import", str(db), str(full), "-q", "--commit-batches"],
        IMPORT_BATCH))
    p.start()
    p.join(60)
    assert p.exitcode == 0, (tmp_path / "final.log").read_text()
    ch.audit(db, witness, what="import, after the final re-run")
    stored = _stored_ids(db)
    assert len(stored) == len(set(stored)) == len(used), "the idempotent re-run reaches the full set, once each"
    assert set(stored) == {e["event_id"] for e in used}
    assert "Traceback" not in (tmp_path / "import.log").read_text(errors="replace")
    print(f"import: {log.kills} kills, {log.finished} writers finished first, {len(stored)} events")


def test_killing_a_recorder_agent_loses_nothing_committed(tmp_path: Path) -> None:
    db, witness = tmp_path / "run.db", tmp_path / "witness.jsonl"

    def start(trial: int):
        p = ch.context().Process(target=ch.run_recorder, args=(
            str(witness), str(tmp_path / "agent.log"), str(db), "recorded-run", SEED + trial))
        p.start()
        return p

    log = ch.trials(RECORDER_KILLS, seed=SEED + 1, max_delay=0.15, start=start, witness_path=witness, db=db,
                    what="recorder")
    assert log.finished == 0, "an endless agent only ends by the kill"
    from agenttui.store import SQLiteStore

    with SQLiteStore(db, readonly=True) as store:
        run = store.run("recorded-run")
        starts = store.count_events(run_id="recorded-run", types=["run_started"])
    assert run is not None and run["status"] == "running", "a killed run shows as unfinished"
    assert starts == RECORDER_KILLS, "every writer appended to the same run"
    print(f"recorder: {log.kills} kills, {run['event_count']} events in one run")


def test_killing_agenttui_serve_loses_nothing_committed(tmp_path: Path, redis_url: str, stream_name: str) -> None:
    import redis

    db, witness = tmp_path / "run.db", tmp_path / "witness.jsonl"
    client = redis.Redis.from_url(redis_url)
    sent: list[str] = []
    argv = ["serve", "--redis", redis_url, "--stream", stream_name, "--group", "crash", "--consumer", "c1",
            "--db", str(db), "--ws", "off", "--batch-size", str(SERVE_BATCH), "--max-backoff", "0.2",
            "--claim-idle", "1", "--log-format", "json"]

    def feed(n: int) -> None:
        pipe = client.pipeline()
        for i in range(len(sent), len(sent) + n):
            e = _event("srv", i, runs=2)
            sent.append(e["event_id"])
            pipe.xadd(stream_name, {"json_payload": orjson.dumps(e)})
        pipe.execute()

    def start(trial: int):
        feed(SERVE_CHUNK)
        p = ch.context().Process(target=ch.run_cli, args=(str(witness), str(tmp_path / "serve.log"), argv))
        p.start()
        return p

    try:
        log = ch.trials(SERVE_KILLS, seed=SEED + 2, max_delay=0.25, start=start, witness_path=witness, db=db,
                        what="serve")
        p = ch.context().Process(target=ch.run_cli, args=(str(witness), str(tmp_path / "final.log"), argv))
        p.start()
        final_log = tmp_path / "final.log"

        def final_log_text() -> str:
            return final_log.read_text() if final_log.exists() else ""

        try:
            # the last kill may land after everything was stored: wait until this serve is really up
            # (its SIGTERM handler is installed before it logs "starting") before asking it to stop
            wait_for(lambda: "agenttui serve starting" in final_log_text(), what="the final serve to start",
                     timeout=60)
            wait_for(lambda: len(_stored_ids(db)) >= len(sent), what="serve to drain the stream", timeout=60)
            wait_for(lambda: client.xpending(stream_name, "crash")["pending"] == 0,
                     what="serve to acknowledge what it stored", timeout=60)
        finally:
            os.kill(p.pid, signal.SIGTERM)
            p.join(30)
        assert p.exitcode == 0, final_log_text()
        ch.audit(db, witness, what="serve, after the final drain")
        stored = _stored_ids(db)
        assert len(stored) == len(set(stored)) and set(stored) == set(sent), "every entry stored exactly once"
        pending = client.xpending(stream_name, "crash")
        assert pending["pending"] == 0, "every entry acknowledged after its commit"
        assert client.xlen(f"{stream_name}:dead") == 0, "no valid entry was dead-lettered"
    finally:
        client.close()
    print(f"serve: {log.kills} kills, {log.finished} finished first, {len(stored)} events")


def test_the_audit_catches_a_lost_event_a_partial_batch_and_a_gap(tmp_path: Path) -> None:
    """The checks above are not blind: each kind of damage they look for is reported."""
    from agenttui.store import SQLiteStore

    db, witness = tmp_path / "run.db", tmp_path / "witness.jsonl"
    mark = {ch.MARK: "b1", ch.MARK_SIZE: 2}
    with SQLiteStore(db) as store:
        store.append([{**_event("a", 0), "metadata": mark}, {**_event("a", 1), "metadata": mark}])
    witness.write_bytes(orjson.dumps({"batch": "b1", "ids": ["a-000000", "a-000001"]}) + b"\n")
    ch.audit(db, witness, what="intact")

    witness.write_bytes(witness.read_bytes() + orjson.dumps({"batch": "b0", "ids": ["never-stored"]}) + b"\n")
    with pytest.raises(AssertionError, match="1 committed events lost"):
        ch.audit(db, witness, what="lost")
    witness.write_bytes(orjson.dumps({"batch": "b1", "ids": ["a-000000"]}) + b"\n")

    with SQLiteStore(db) as store:
        store.append({**_event("a", 2), "metadata": {ch.MARK: "b2", ch.MARK_SIZE: 2}})
    with pytest.raises(AssertionError, match="partially visible batches"):
        ch.audit(db, witness, what="partial")

    with SQLiteStore(db) as store:
        store.append({**_event("a", 3), "metadata": {ch.MARK: "b2", ch.MARK_SIZE: 2}})
    ch.audit(db, witness, what="batch completed")
    conn = sqlite3.connect(db)
    with conn:  # a raw row past a hole in the positions
        conn.execute("INSERT INTO events (id, event_id, run_id, seq, event_type, timestamp, payload, metadata, "
                     "created_at) VALUES (99, 'x', 'a-run-9', 1, 't', '2025-01-01T00:00:00.000000Z', '{}', ?, "
                     "'2025-01-01T00:00:00.000000Z')", (orjson.dumps({ch.MARK: "b9", ch.MARK_SIZE: 1}).decode(),))
    conn.close()
    with pytest.raises(AssertionError, match="positions have a gap"):
        ch.audit(db, witness, what="gap")
