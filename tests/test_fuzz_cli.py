"""Fuzzing the command line and the envelope: no input gives a traceback.

The argument strategies are read from the parser itself (every subcommand, every option), so a
command added later is fuzzed too. Each generated command line runs through cli.main in-process,
in a scratch folder: it must return 0, 1 or 2, with a message on stderr for 1 and 2, and raise
nothing. Commands that never return by design (open, serve, demo, tail --follow) are fuzzed
through the parser only.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import sys
import tempfile
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from agenttui.cli import build_parser, main as cli_main
from agenttui.serve.ws import BadRequest, parse_feed_query
from agenttui.store import EnvelopeError, SQLiteStore, parse_envelope, parse_json_line
from agenttui.terminal_text import escape_controls

sys.path.insert(0, str(Path(__file__).parent / "data" / "bad_input"))
import corpus  # noqa: E402

#: Commands that wait for Ctrl-C or open a UI: parsed, never run.
PARSE_ONLY = {"open", "serve", "demo"}
NEVER_RUN_FLAGS = {"-f", "--follow"}

NUMBERS = st.sampled_from([
    "0", "1", "-1", "3", "30", "365000", "365001", "1000000000", "99999999999999999999", str(2 ** 63 - 1),
    str(2 ** 63), str(-(2 ** 63) - 1), "9" * 5000, "1e400", "nan", "inf", "-inf", "1.5", "-0", " 7 ", "1_000",
    "\u00b2", "\u0663", "0x10", "", "all", "ALL",
]) | st.integers(-(2 ** 70), 2 ** 70).map(str)
TEXT = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
SQL = st.sampled_from([
    "SELECT count(*) FROM events", "SELECT * FROM runs", "SELECT 1", "SELEC", "", "SELECT 1; SELECT 2",
    "ATTACH DATABASE 'a.db' AS a", "VACUUM INTO 'v.db'", "DELETE FROM events", "PRAGMA table_info(events)",
    "SELECT char(27) || '[2J'", "SELECT x'00ff'", "SELECT 9223372036854775807 + 1",
    "SELECT json_extract(payload, '$') FROM events",
]) | TEXT


def _option_values(action: argparse.Action, files: dict[str, str]) -> st.SearchStrategy[str]:
    if action.choices:
        return st.sampled_from(sorted(map(str, action.choices))) | TEXT
    if action.dest == "sql":
        return SQL
    paths = st.sampled_from(sorted(files.values()))
    if action.type is not None or action.dest in ("days", "lines", "rate", "seed", "events", "nodes", "batch"):
        return NUMBERS
    return paths | TEXT | NUMBERS


@st.composite
def command_lines(draw: Any, files: dict[str, str], *, runnable: bool) -> list[str]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    names = sorted(n for n in sub.choices if not (runnable and n in PARSE_ONLY))
    name = draw(st.sampled_from(names))
    sp = sub.choices[name]
    argv = [name]
    for action in sp._actions:
        if isinstance(action, argparse._HelpAction):
            continue
        if not action.option_strings:  # positionals: usually given, sometimes missing or doubled
            count = draw(st.sampled_from([1, 1, 1, 0, 2])) if action.nargs in (None, "?") else draw(st.integers(0, 3))
            argv += [draw(_option_values(action, files)) for _ in range(count)]
            continue
        if runnable and set(action.option_strings) & NEVER_RUN_FLAGS:
            continue
        if not draw(st.booleans()):
            continue
        flag = draw(st.sampled_from(action.option_strings))
        if action.nargs == 0:
            argv.append(flag)
        else:
            argv += [flag, draw(_option_values(action, files))]
    if draw(st.integers(0, 9)) == 0:
        argv.insert(draw(st.integers(0, len(argv))), draw(TEXT | st.just("--help")))
    return argv


def _scratch_files(folder: Path) -> dict[str, str]:
    db = folder / "run.db"
    with SQLiteStore(db) as store:
        store.append([{"event_id": "e1", "run_id": "r\x1b]0;x\x07", "event_type": "node_created",
                       "timestamp": "2025-01-01T00:00:00Z", "payload": {"node_id": "n1", "layer": 2 ** 64 - 1}}])
    (folder / "notdb.db").write_text("not a database")
    (folder / "events.jsonl").write_bytes(b"".join(c.line + b"\n" for c in corpus.cases(big=False)[:40]))
    (folder / "dir").mkdir()
    return {"db": str(db), "missing": str(folder / "missing.db"), "notdb": str(folder / "notdb.db"),
            "jsonl": str(folder / "events.jsonl"), "dir": str(folder / "dir"), "relative": "new.db"}


def _run(argv: list[str]) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli_main(argv)
    return code, out.getvalue(), err.getvalue()


@pytest.fixture
def no_target_from_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("AGENTTUI_DB", raising=False)
    monkeypatch.delenv("DATABASE_URL", raising=False)


_PARSE_FILES = {"db": "run.db", "missing": "missing.db", "url": "postgresql://u@h/d", "dir": "."}


@settings(max_examples=400, deadline=None)
@given(command_lines(_PARSE_FILES, runnable=False))
def test_the_parser_answers_every_command_line_with_a_namespace_or_a_usage_error(argv: list[str]) -> None:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
            build_parser().parse_args(argv)
    except SystemExit as exc:
        assert exc.code in (0, 2), (argv, exc.code)
        if exc.code == 2:
            assert err.getvalue().strip().split("\n")[-1].startswith("agenttui"), err.getvalue()
            assert escape_controls(err.getvalue(), whitespace={"\n": "\n"}) == err.getvalue(), "a raw control"


@settings(max_examples=120, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(st.data())
def test_no_command_line_gives_a_traceback(no_target_from_env: None, data: st.DataObject) -> None:
    with tempfile.TemporaryDirectory() as d, contextlib.chdir(d):
        files = _scratch_files(Path(d))
        argv = data.draw(command_lines(files, runnable=True), label="argv")
        code, out, err = _run(argv)  # any exception fails the test with the command line that raised it
        assert code in (0, 1, 2), (argv, code)
        assert "Traceback" not in err
        if code == 2:
            assert err.strip(), f"{argv}: exit 2 without a message"


# ------------------------------------------------------------------------------------ envelope

_SCALARS = (st.none() | st.booleans() | st.integers(-(2 ** 70), 2 ** 70) | st.floats(allow_nan=False)
            | TEXT | st.sampled_from(["", "\x00", "n" * 600, "2025-01-01T00:00:00Z", "2025-13-40T99:99:99Z"]))
_JSON = st.recursive(_SCALARS, lambda inner: st.lists(inner, max_size=3)
                     | st.dictionaries(st.sampled_from(["node_id", "added_node_id", "child_node_id", "a"]) | TEXT,
                                       inner, max_size=3), max_leaves=10)
_FIELDS = ["event_id", "run_id", "event_type", "timestamp", "payload", "node_id", "metadata"]
ENVELOPES = st.fixed_dictionaries({}, optional={f: _JSON for f in _FIELDS}) | _JSON
#: As JSONL lines: the stdlib writes what orjson refuses (integers over 64 bits, Infinity).
LINES = ENVELOPES.map(lambda o: json.dumps(o).encode())


@settings(max_examples=500, deadline=None)
@given(ENVELOPES, st.booleans())
def test_parse_envelope_returns_an_event_or_names_what_is_wrong(obj: Any, strict: bool) -> None:
    try:
        event = parse_envelope(obj, strict=strict)
    except EnvelopeError as exc:
        assert str(exc)
        return
    assert isinstance(event.event_type, str) and isinstance(event.payload, dict)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200) | LINES)
def test_parse_json_line_returns_an_event_or_names_what_is_wrong(line: bytes) -> None:
    try:
        parse_json_line(line)
    except EnvelopeError as exc:
        assert str(exc)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.lists(LINES | st.binary(max_size=80),
                min_size=1, max_size=6))
def test_importing_any_lines_stores_each_or_names_it(lines: list[bytes]) -> None:
    lines = [line.replace(b"\n", b" ") for line in lines]
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "fuzz.jsonl"
        src.write_bytes(b"\n".join(lines) + b"\n")
        code, out, err = _run(["import", str(Path(d) / "f.db"), str(src), "--json", "--format", "jsonl"])
        assert code in (0, 1) and "Traceback" not in err, err
        report = orjson.loads(out)
        assert report["read"] == report["stored"] + report["duplicates"] + report["failed"]
        first_without_bom = [lines[0].removeprefix(b"\xef\xbb\xbf"), *lines[1:]]
        assert report["read"] == sum(1 for line in first_without_bom if line.strip()), "every line counted once"
        with SQLiteStore(Path(d) / "f.db", readonly=True) as store:
            assert store.count_events() == report["stored"]
            assert store.check() == []


# ------------------------------------------------------------------- serve's WebSocket query

@settings(max_examples=300, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["run", "type", "after", "replay", "token", "x"]),
                          NUMBERS | TEXT), max_size=4))
def test_a_feed_query_is_served_or_refused_with_a_reason(pairs: list[tuple[str, str]]) -> None:
    from urllib.parse import urlencode

    try:
        req = parse_feed_query(urlencode(pairs), default_replay=False)
    except BadRequest as exc:
        assert str(exc)
        return
    assert req.after is None or 0 <= req.after < 2 ** 63


@pytest.mark.parametrize("value", ["99999999999999999999", str(2 ** 63), "\u00b2", "9" * 5000, "-1", " 1"])
def test_after_beyond_64_bits_is_a_bad_request(value: str) -> None:
    with pytest.raises(BadRequest, match="'after' must be a position from 0 to 9223372036854775807"):
        parse_feed_query(f"after={value}", default_replay=False)
    assert parse_feed_query(f"after={2 ** 63 - 1}", default_replay=False).after == 2 ** 63 - 1
