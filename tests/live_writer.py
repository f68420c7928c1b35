"""A writer process for the live tests, in the connection patterns users have (run as a script).

    python live_writer.py DB RUN PREFIX COUNT MODE [TYPES] [BURST] [PAUSE]

MODE: long      one connection for every event (the Recorder, `agenttui demo`)
      per-event open, append one event, close, for each event (a shell loop, a cron job)
      bursts    one connection, BURST events per append, PAUSE seconds between appends
TYPES: comma-separated event types used in turn (default tick). Event ids are PREFIX-i.
"""
from __future__ import annotations

import sys
import time

from agenttui.store import SQLiteStore


def event(run_id: str, prefix: str, i: int, types: list[str]) -> dict:
    kind = types[i % len(types)]
    return {"event_id": f"{prefix}-{i}", "run_id": run_id, "event_type": kind,
            "payload": {"i": i, "note": f"{kind} number {i} from {prefix}"}}


def main(argv: list[str]) -> int:
    db, run_id, prefix, count, mode = argv[1], argv[2], argv[3], int(argv[4]), argv[5]
    types = argv[6].split(",") if len(argv) > 6 else ["tick"]
    burst = int(argv[7]) if len(argv) > 7 else 100
    pause = float(argv[8]) if len(argv) > 8 else 0.01
    if mode == "per-event":
        for i in range(count):
            store = SQLiteStore(db)
            store.append(event(run_id, prefix, i, types))
            store.close()
        return 0
    store = SQLiteStore(db)
    try:
        step = burst if mode == "bursts" else 1
        for start in range(0, count, step):
            store.append([event(run_id, prefix, i, types) for i in range(start, min(count, start + step))])
            if mode == "bursts":
                time.sleep(pause)
    finally:
        store.close()
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
