"""A small research-and-betting agent that records everything it does with agenttui. No API key needed.

    python examples/example_agent.py                      # a new session file in ./agent-sessions/
    python examples/example_agent.py --delay 0.2 &        # slow enough to watch live:
    agenttui open "$(ls -t agent-sessions/*.db | head -1)"
    agenttui query agent-sessions "SELECT file, status, tool_calls, llm_calls FROM runs"

What it shows, in the order the code uses it:
  * Recorder.session(...)  one database file per session, named by time and task
  * run.node(...)          a plan tree: nested nodes, statuses, results
  * run.instrument         tool calls (sync, async), including one that fails and is retried
  * run.llm_call(...)      model calls with prompt, response and token usage (a fake, local model)
  * run.bind(...)          nodes opened in worker threads nest under the node that started them
  * asyncio tasks          nodes opened in tasks nest under the awaiting node without any help
  * run.decision / run.artifact
  * run.event(...)         the agent's own events (FundsDeposited, BetPlaced, ...), folded by the
                           custom projections of examples/pnl_projection.py
"""
from __future__ import annotations

import argparse
import asyncio
import hashlib
import random
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))  # so pnl_projection imports when run from anywhere

from agenttui import Recorder, open_store, project  # noqa: E402
import pnl_projection  # noqa: E402,F401  (registers the "balance" and "pnl" projections)

TASK = "Write a short market report on agent observability tools"
MODEL = "fake-llm-1"


class FakeLLM:
    """A deterministic stand-in for a model API: same prompt, same answer, plausible token counts."""

    def __init__(self, seed: int, delay: float) -> None:
        self.rng = random.Random(seed)
        self.delay = delay

    def complete(self, prompt: str) -> tuple[str, int, int]:
        time.sleep(self.delay)
        digest = hashlib.sha256(prompt.encode()).hexdigest()[:8]
        words = ["observability", "tracing", "replay", "audit", "latency", "SQLite", "events", "cost"]
        body = " ".join(self.rng.choice(words) for _ in range(self.rng.randint(12, 30)))
        answer = f"[{digest}] {body}."
        return answer, len(prompt.split()) * 4 // 3 + 20, len(answer.split()) * 4 // 3


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--dir", default="agent-sessions", help="folder for a new session file (default %(default)s)")
    where.add_argument("--db", help="record into this database file instead")
    parser.add_argument("--delay", type=float, default=0.0, help="seconds each model/tool call takes (default 0)")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--fail", action="store_true", help="end the run with an unhandled error (run_error)")
    args = parser.parse_args(argv)

    llm = FakeLLM(args.seed, args.delay)
    rng = random.Random(args.seed)
    run = Recorder(args.db, task=TASK, model=MODEL, agent="example-agent") if args.db else \
        Recorder.session(args.dir, task=TASK, model=MODEL, agent="example-agent")

    # -- tools: plain functions, recorded by wrapping them ------------------------------------------
    flaky_calls = {"n": 0}

    @run.instrument
    def web_search(query: str, limit: int = 3) -> list[dict]:
        time.sleep(args.delay)
        return [{"title": f"{query} #{i}", "url": f"https://example.org/{abs(hash((query, i))) % 10_000}"}
                for i in range(limit)]

    @run.instrument(name="fetch_page", api_name="web.fetch")
    async def fetch_page(url: str) -> str:
        await asyncio.sleep(args.delay or 0.001)
        return f"<html><title>{url}</title>{'lorem ' * 20}</html>"

    @run.instrument
    def flaky_price_api(product: str) -> float:
        flaky_calls["n"] += 1
        if flaky_calls["n"] == 1:
            raise TimeoutError(f"price service did not answer for {product!r}")
        return round(rng.uniform(10, 200), 2)

    def ask(prompt: str, agent_class: str) -> str:
        with run.llm_call(MODEL, [{"role": "user", "content": prompt}], agent_class=agent_class) as call:
            text, prompt_tokens, completion_tokens = llm.complete(prompt)
            call.complete(text, prompt_tokens=prompt_tokens, completion_tokens=completion_tokens)
        return text

    # -- the run ------------------------------------------------------------------------------------
    with run:
        print(f"recording run {run.run_id} into {run.path}")
        with run.node("Plan the report", task_type="REASONING", node_type="PLAN_NODE") as plan:
            outline = ask(f"Plan a report: {TASK}", "Planner")
            plan.result(outline, action_name="plan")
            run.decision("plan", context=TASK, reasoning="three angles cover the market",
                         chosen_action="research competitors, pricing, and adoption in parallel")

        with run.node("Research", task_type="RETRIEVAL", node_type="PLAN_NODE"):
            def research(topic: str) -> str:  # runs in a worker thread, nests under "Research"
                with run.node(f"Research {topic}", task_type="RETRIEVAL") as node:
                    hits = web_search(f"agent observability {topic}")
                    summary = ask(f"Summarise {len(hits)} sources on {topic}", "Researcher")
                    node.result(summary)
                    return summary

            with ThreadPoolExecutor(max_workers=3) as pool:
                findings = list(pool.map(run.bind(research), ["competitors", "pricing", "adoption"]))

            async def read_sources() -> list[str]:  # asyncio tasks nest under "Read sources" by themselves
                async def read(url: str) -> str:
                    with run.node(f"Read {url}", task_type="RETRIEVAL"):
                        return await fetch_page(url)

                with run.node("Read sources", task_type="RETRIEVAL"):
                    return await asyncio.gather(*(read(f"https://example.org/{i}") for i in range(3)))

            pages = asyncio.run(read_sources())

        with run.node("Check prices", task_type="RETRIEVAL") as prices:
            for attempt in (1, 2):
                try:
                    price = flaky_price_api("tracing-saas")
                    break
                except TimeoutError as exc:
                    run.decision("retry", context=str(exc), reasoning="transient timeout",
                                 chosen_action=f"retry (attempt {attempt + 1})")
            prices.result({"tracing-saas": price})

        with run.node("Fund a prediction market bet", task_type="REASONING"):
            run.event("FundsDeposited", amount=100.0, asset="USD")
            for i in range(6):
                stake = round(rng.uniform(2, 10), 2)
                run.event("BetPlaced", amount=stake, game="adoption-forecast", bet_id=i)
                if rng.random() < 0.5:
                    run.event("BetWon", amount=round(stake * 1.9, 2), game="adoption-forecast", bet_id=i)
                run.event("FeeCharged", fee=0.25, bet_id=i)
            run.decision("stop_betting", context="six bets placed", reasoning="budget for the demo spent",
                         chosen_action="stop")

        with run.node("Write the report", task_type="COMPOSITION") as write:
            draft = ask("Write the report from: " + " | ".join(findings), "Writer")
            report = f"# {TASK}\n\n{draft}\n\nSources read: {len(pages)}\n"
            report_path = Path(run.path or ".").with_suffix(".report.md")
            report_path.write_text(report)
            run.artifact("file", path=str(report_path), content=report)
            write.result(f"{len(report)} characters", action_name="write")

        if args.fail:
            with run.node("Publish", task_type="COMPOSITION"):
                raise RuntimeError("publishing is not configured (the run ends with run_error)")

    # -- reading it back: the store's projections and the custom ones ---------------------------------
    store = open_store(run.path, readonly=True)
    summary = store.run(run.run_id)
    print(f"status {summary['status']}: {summary['event_count']} events, {summary['total_nodes']} nodes, "
          f"{summary['tool_calls']} tool calls, {summary['llm_calls']} LLM calls, "
          f"{summary['total_tokens']} tokens")
    pnl = project(store, "pnl", run.run_id)
    balance = project(store, "balance", run.run_id)
    first_bet = store.events(run_id=run.run_id, types=["BetPlaced"], limit=1)[0].position
    before = project(store, "balance", run.run_id, position=first_bet - 1)
    print(f"balance {balance:.2f} (before the first bet: {before:.2f}); net P&L {pnl.net_pnl:+.2f} over "
          f"{pnl.bet_count} bets, win rate {pnl.win_rate:.0%}")
    print(f"inspect it:  agenttui open {run.path}")
    store.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
