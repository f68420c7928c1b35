"""`agenttui report`: every section, in Markdown and HTML, with hostile text kept inert."""
from __future__ import annotations

import re

import pytest

from compare_fixtures import BASE, agent_run, store_with, variant

HOSTILE = "pipe | <script>alert(1)</script> `tick` \x1b[31m"

SECTIONS = ("Task", "Outcome", "Duration", "Totals", "Plan", "Errors", "Slowest calls", "Slowest nodes",
            "Models", "Tools", "Critical path", "Events per second", "Decisions", "Artifacts")


def _store(tmp_path):
    spec = variant(**{"0.3": {"status": "FAILED", "tool_error": "TimeoutError: 30 s"},
                      "0.4": {"goal": "Write the conclusion " + HOSTILE}})
    events = agent_run("r", spec, run_error="node 0.3 failed after 3 retries")
    node = next(e["payload"]["node_id"] for e in events if e["event_type"] == "node_created")
    events.insert(-1, {"event_id": "d1", "run_id": "r", "event_type": "decision", "timestamp": "2026-03-01T09:10:00Z",
                       "payload": {"node_id": node, "decision_type": "retry", "chosen_action": "skip the census",
                                   "reasoning": "the census API timed out twice", "context": "population step"}})
    events.insert(-1, {"event_id": "a1", "run_id": "r", "event_type": "artifact", "timestamp": "2026-03-01T09:10:01Z",
                       "payload": {"artifact_type": "report", "path": "out/otters.md",
                                   "content": "# Otters\n```\ncode\n```\nThey eat fish."}})
    store_with(tmp_path / "r.db", r=events).close()
    return tmp_path / "r.db"


def _headings(md: str) -> list[str]:
    return re.findall(r"^## (.+)$", md, flags=re.M)


def test_markdown_has_every_section(cli, tmp_path):
    db = _store(tmp_path)
    code, _, err = cli("report", db, "--run", "r", "-o", tmp_path / "report.md")
    assert code == 0, err
    md = (tmp_path / "report.md").read_text()
    assert md.startswith("# Post-mortem: run r\n")
    for section in SECTIONS:
        assert section in _headings(md), section
    assert "Write a report on otters" in md  # task
    assert "Failed: node 0.3 failed after 3 retries" in md  # outcome
    assert "wall time" in md  # duration
    assert re.search(r"\| tool calls \| 3 \|", md)  # totals
    assert "  - 0.3 \\[FAILED\\] Check population numbers" in md  # the plan as an indented list with statuses
    assert re.search(r"\| 0\.3 \| tool db\.query \| TimeoutError: 30 s \|", md)  # errors with node and message
    assert "\\| 0 \\| run error AgentError" not in md and re.search(r"\| 0 \| run error AgentError \| node 0\.3 failed", md)
    assert "retry: skip the census" in md and "Reasoning: the census API timed out twice" in md  # decisions
    assert "report: out/otters.md" in md and "They eat fish." in md  # artifacts with content
    assert "````" in md  # the artifact's own ``` cannot close the quote early


def test_hostile_text_stays_inert(cli, tmp_path):
    db = _store(tmp_path)
    code, md, _ = cli("report", db, "--run", "r")
    assert code == 0
    assert "\x1b" not in md and r"\\x1b" in md  # the escape shown as text (its backslash escaped)
    assert "<script>" not in md and "\\<script\\>" in md
    assert "pipe \\| " in md  # a pipe cannot open a table column
    code, _, _ = cli("report", db, "--run", "r", "--format", "html", "-o", tmp_path / "r.html")
    page = (tmp_path / "r.html").read_text()
    assert "<script>" not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "\x1b" not in page


def test_html_is_one_file_with_the_same_sections(cli, tmp_path):
    db = _store(tmp_path)
    code, _, err = cli("report", db, "--run", "r", "-o", tmp_path / "report.html")
    assert code == 0, err
    page = (tmp_path / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and page.rstrip().endswith("</html>")
    assert not re.search(r"<(link|script|img)\b", page) and "http" not in page.split("<body>")[0]
    for section in SECTIONS:
        assert f"<h2>{section}</h2>" in page, section
    assert page.count("<ul") == page.count("</ul>") and page.count("<li>") == page.count("</li>")
    assert "retry: skip the census" in page


def test_report_defaults_and_errors(cli, tmp_path):
    db = _store(tmp_path)
    code, out, _ = cli("report", db)  # the latest run, Markdown on stdout
    assert code == 0 and out.startswith("# Post-mortem: run r")
    code, _, err = cli("report", db, "--run", "nope")
    assert code == 2 and "no run 'nope'" in err
    code, _, err = cli("report", tmp_path / "missing.db")
    assert code == 2
    empty = store_with(tmp_path / "empty.db")
    empty.close()
    code, _, err = cli("report", tmp_path / "empty.db")
    assert code == 2 and "no runs" in err


def test_run_without_errors_decisions_or_artifacts(cli, tmp_path):
    store_with(tmp_path / "ok.db", r=BASE).close()
    code, md, _ = cli("report", tmp_path / "ok.db", "--run", "r")
    assert code == 0
    assert "No errors." in md and "No decisions were recorded." in md and "No artifacts were recorded." in md
    assert "Completed." in md
