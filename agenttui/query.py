"""`agenttui query TARGET "SQL"`: read-only SQL over one database or a folder of session files.

With one file per agent session (`Recorder.session`), questions such as "which tool calls failed
this week" span many files. This runs the same statement against each `*.db` in a folder, tags every
row with the file it came from, and reports (then skips) files that cannot answer, such as an older
session without the table the query needs, instead of failing the whole query.

Databases are opened with SQLite's read-only mode plus `PRAGMA query_only`, and an authorizer
refuses ATTACH (VACUUM INTO attaches its target), schema and row changes and writing pragmas
before they run, so a query can neither change a file an agent may still be writing nor create one.
"""
from __future__ import annotations

import argparse
import csv
import sqlite3
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterable, Sequence

import orjson

from agenttui.store.errors import AgentTuiError
from agenttui.terminal_text import escape_controls, escape_json

__all__ = ["QueryError", "QueryResult", "add_query_command", "cmd_query", "main", "run_query"]

#: Widest column of the plain table before values are cut (JSON and CSV are never cut).
MAX_CELL = 60
EXIT_OK, EXIT_NO, EXIT_ERROR = 0, 1, 2

# errors that come from the statement itself: every file would fail the same way
_STATEMENT_ERRORS = ("syntax error", "incomplete input", "readonly", "read-only", "query_only",
                     "unrecognized token", "one statement at a time", "not authorized")
# errors that come from one file's schema: report the file and go on
_SCHEMA_ERRORS = ("no such table", "no such column", "no such view", "no such function")


class QueryError(AgentTuiError):
    """The query cannot run at all (bad target or a statement every file would refuse)."""


@dataclass
class QueryResult:
    """Rows from every file that answered, and why the others did not."""

    columns: list[str] = field(default_factory=list)
    rows: list[list[Any]] = field(default_factory=list)
    files: list[str] = field(default_factory=list)  # files that answered
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    tagged: bool = False  # True when the first column is "file"


def _database_files(target: Path, pattern: str) -> tuple[list[Path], bool]:
    if target.is_dir():
        if not pattern or Path(pattern).is_absolute():
            raise QueryError(f"--pattern must be a glob relative to the folder (such as '*.db'), got "
                             f"{escape_controls(repr(pattern))}")
        try:
            files = sorted(p for p in target.glob(pattern) if p.is_file())
        except ValueError as exc:  # e.g. '**' not alone in a path segment on older Pythons
            raise QueryError(f"--pattern {escape_controls(repr(pattern))}: {exc}") from None
        if not files:
            raise QueryError(f"{target}: no files matching {pattern!r} in this folder")
        return files, True
    if target.exists():
        return [target], False
    raise QueryError(f"{target}: no such file or folder")


#: Actions that would create or change a file. SQLite's read-only mode and `query_only` stop
#: writes to the database itself, but not ATTACH, which creates the file it names, nor VACUUM
#: INTO, which creates its target (through an ATTACH) before it is refused.
_REFUSED_ACTIONS = {
    sqlite3.SQLITE_ATTACH: "ATTACH", sqlite3.SQLITE_DETACH: "DETACH", sqlite3.SQLITE_INSERT: "INSERT",
    sqlite3.SQLITE_DELETE: "DELETE", sqlite3.SQLITE_ALTER_TABLE: "ALTER TABLE", sqlite3.SQLITE_REINDEX: "REINDEX",
    sqlite3.SQLITE_ANALYZE: "ANALYZE", sqlite3.SQLITE_CREATE_VTABLE: "CREATE VIRTUAL TABLE",
    sqlite3.SQLITE_DROP_VTABLE: "DROP VIRTUAL TABLE",
    **{getattr(sqlite3, f"SQLITE_{verb}_{what}"): f"{verb} {what.replace('TEMP_', 'TEMP ')}"
       for verb in ("CREATE", "DROP") for what in ("INDEX", "TABLE", "TEMP_INDEX", "TEMP_TABLE", "TEMP_TRIGGER",
                                                    "TEMP_VIEW", "TRIGGER", "VIEW")},
}
_SCHEMA_TABLES = ("sqlite_master", "sqlite_schema", "sqlite_temp_master", "sqlite_temp_schema")
#: Pragmas that may take an argument and still only read (the schema introspection ones).
_READING_PRAGMAS = frozenset({"table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
                              "foreign_key_list", "foreign_key_check", "integrity_check", "quick_check"})
#: Pragmas that try to write even without an argument (a checkpoint, an optimize pass).
_WRITING_PRAGMAS = frozenset({"wal_checkpoint", "optimize", "incremental_vacuum"})


class _ReadOnlyGuard:
    """SQLite authorizer that refuses, before a statement runs, whatever could create or change a file.

    `refused` keeps what was refused, for a message better than SQLite's "not authorized".
    """

    def __init__(self) -> None:
        self.refused: str | None = None

    def __call__(self, action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None) -> int:
        what = _REFUSED_ACTIONS.get(action)
        if action == sqlite3.SQLITE_UPDATE and arg1 not in _SCHEMA_TABLES:
            what = "UPDATE"  # (SQLite's own pragma functions ask to read the schema table this way)
        elif action == sqlite3.SQLITE_PRAGMA:
            name = (arg1 or "").lower()
            if name in _WRITING_PRAGMAS or (arg2 is not None and name not in _READING_PRAGMAS):
                what = f"PRAGMA {name}" + (f" = {arg2}" if arg2 is not None and name not in _WRITING_PRAGMAS else "")
        if what is None:
            return sqlite3.SQLITE_OK
        # CREATE and DROP first ask to write the schema table, and the first refusal ends the statement
        self.refused = "a schema change" if arg1 in _SCHEMA_TABLES else what
        return sqlite3.SQLITE_DENY


def _connect_readonly(path: Path) -> tuple[sqlite3.Connection, _ReadOnlyGuard]:
    """SQLite judges the header (see store/sqlite.py: reading the file here would drop our locks)."""
    conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True, isolation_level=None,
                           check_same_thread=False)
    guard = _ReadOnlyGuard()
    try:
        conn.execute("PRAGMA query_only = 1")
        conn.execute("PRAGMA busy_timeout = 5000")
        conn.execute("PRAGMA schema_version").fetchone()
        if sys.version_info >= (3, 11):  # a second wall in front of ATTACH (Python 3.10 has only the authorizer)
            conn.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        conn.set_authorizer(guard)
    except sqlite3.DatabaseError as exc:
        conn.close()
        if "file is not a database" in str(exc):
            raise sqlite3.DatabaseError("not a SQLite database (wrong file header)") from None
        raise
    return conn, guard


def _unique(names: Iterable[str]) -> list[str]:
    """Column names made unique (`SELECT a.id, b.id` gives id, id:2) so JSON keys do not collide."""
    seen: dict[str, int] = {}
    out = []
    for n in names:
        if n in seen:
            seen[n] += 1
            out.append(f"{n}:{seen[n]}")
        else:
            seen[n] = 1
            out.append(n)
    return out


def _is_statement_error(message: str) -> bool:
    low = message.lower()
    return any(s in low for s in _STATEMENT_ERRORS) and not any(s in low for s in _SCHEMA_ERRORS)


def run_query(target: str | Path, sql: str, *, pattern: str = "*.db", params: Sequence[Any] = ()) -> QueryResult:
    """Run `sql` read-only on a database file, or on every file matching `pattern` in a folder."""
    if not sql or not sql.strip():
        raise QueryError("no SQL given")
    root = Path(target)
    files, is_folder = _database_files(root, pattern)
    result = QueryResult(tagged=is_folder)
    columns: dict[str, None] = {}
    per_file: list[tuple[str, list[str], list[tuple]]] = []
    for path in files:
        label = str(path.relative_to(root)) if is_folder else str(path)  # --pattern '**/*.db' recurses
        try:
            conn, guard = _connect_readonly(path)
        except (sqlite3.Error, OSError) as exc:
            result.skipped.append((label, f"cannot be opened: {exc}"))
            continue
        try:
            cur = conn.execute(sql, params)
            names = _unique(d[0] for d in cur.description) if cur.description else []
            rows = cur.fetchall()
        except sqlite3.Warning as exc:  # e.g. two statements in one string
            raise QueryError(f"the query was refused: {exc}") from None
        except sqlite3.Error as exc:
            if guard.refused:
                raise QueryError(f"the query was refused: agenttui query only reads, and {guard.refused} "
                                 "would create or change a file") from None
            message = str(exc)
            if _is_statement_error(message) or isinstance(exc, sqlite3.ProgrammingError):
                raise QueryError(f"the query was refused: {message}") from None
            result.skipped.append((label, message))
            continue
        finally:
            conn.close()
        columns.update(dict.fromkeys(names))
        per_file.append((label, names, rows))
        result.files.append(label)
    result.columns = (["file"] if is_folder else []) + list(columns)
    all_columns = list(columns)
    for label, names, rows in per_file:
        if names == all_columns:
            result.rows.extend(([label, *r] if is_folder else list(r)) for r in rows)
            continue
        index = {n: i for i, n in enumerate(names)}  # files whose schema differs leave blanks
        for r in rows:
            row = [r[index[c]] if c in index else None for c in all_columns]
            result.rows.append([label, *row] if is_folder else row)
    return result


# ------------------------------------------------------------------------------------ output

def _json_value(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    return value


def write_json(result: QueryResult, out: IO[str]) -> None:
    """A JSON array of row objects, one per line, streamed (no full copy of the result in memory)."""
    out.write("[")
    cols = result.columns
    for i, row in enumerate(result.rows):
        obj = {c: _json_value(v) for c, v in zip(cols, row)}
        out.write(("\n" if i == 0 else ",\n") + escape_json(orjson.dumps(obj, default=str).decode()))
    out.write("\n]\n" if result.rows else "]\n")


#: CSV may hold multi-line text (the writer quotes it); every other control is shown escaped.
_CSV_WHITESPACE = {"\n": "\n", "\t": "\t"}


def _csv_value(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, str):
        return escape_controls(value, whitespace=_CSV_WHITESPACE)
    return value


def write_csv(result: QueryResult, out: IO[str]) -> None:
    """CSV of the rows; event text is escaped like the table's, since CSV lands on terminals too."""
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow([_csv_value(c) for c in result.columns])
    for row in result.rows:
        writer.writerow([_csv_value(v) for v in row])


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return f"<{len(value)} bytes>"
    if isinstance(value, float):
        return repr(value)
    return escape_controls(value, MAX_CELL)  # payload text may hold escapes: shown, never interpreted


def write_table(result: QueryResult, out: IO[str]) -> None:
    cols = result.columns
    cells = [[_cell(v) for v in row] for row in result.rows]
    if result.tagged:  # file names are how rows are told apart: never cut them
        for r, row in zip(cells, result.rows):
            r[0] = escape_controls(row[0])
    numeric = [bool(result.rows) and all(isinstance(r[i], (int, float)) and not isinstance(r[i], bool)
                                         for r in result.rows if r[i] is not None)
               for i in range(len(cols))]
    widths = [max([len(escape_controls(c, MAX_CELL))] + [len(r[i]) for r in cells]) for i, c in enumerate(cols)]

    def line(values: Sequence[str]) -> str:
        parts = [v.rjust(w) if num else v.ljust(w) for v, w, num in zip(values, widths, numeric)]
        return "  ".join(parts).rstrip()

    out.write(line([escape_controls(c, MAX_CELL) for c in cols]) + "\n")
    out.write("  ".join("-" * w for w in widths) + "\n")
    for r in cells:
        out.write(line(r) + "\n")


# ------------------------------------------------------------------------------ command line

QUERY_DESCRIPTION = (
    "Run one read-only SQL statement against a database, or against every *.db file in a folder "
    "(e.g. the session files of Recorder.session). Rows from a folder are tagged with their file in a "
    "first column 'file'; files that cannot answer (a missing table or column, not a SQLite file) are "
    "reported on stderr and skipped. Exit 1 if no file could answer.")
QUERY_EXAMPLES = (
    "examples:\n"
    "  agenttui query run.db \"SELECT event_type, count(*) FROM events GROUP BY 1 ORDER BY 2 DESC\"\n"
    "  agenttui query sessions/ \"SELECT run_id, status, tool_calls FROM runs\" --json\n"
    "  agenttui query sessions/ \"SELECT json_extract(payload, '$.tool_name') AS tool, count(*) AS failures\n"
    "      FROM events WHERE event_type = 'tool_returned' AND json_extract(payload, '$.error') IS NOT NULL\n"
    "      GROUP BY tool\" --csv > failures.csv")


def add_query_command(subparsers: Any,
                      formatter_class: type[argparse.HelpFormatter] | None = None) -> argparse.ArgumentParser:
    """Register `query` on an argparse subparsers object (the agenttui command line calls this)."""
    p = subparsers.add_parser(
        "query", help="read-only SQL over a database or a folder of session files",
        description=QUERY_DESCRIPTION, epilog=QUERY_EXAMPLES,
        formatter_class=formatter_class or argparse.RawDescriptionHelpFormatter)
    p.add_argument("target", metavar="TARGET", help="a database file, or a folder of them")
    p.add_argument("sql", metavar="SQL", help="one SQL statement (read-only)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true", help="print a JSON array of row objects")
    fmt.add_argument("--csv", action="store_true", help="print CSV with a header row")
    p.add_argument("--pattern", default="*.db", metavar="GLOB",
                   help="which files of a folder to query (default *.db; '**/*.db' includes subfolders)")
    p.add_argument("-q", "--quiet", action="store_true", help="no row count or skipped-file notes on stderr")
    p.set_defaults(func=cmd_query)
    return p


def cmd_query(args: argparse.Namespace) -> int:
    result = run_query(args.target, args.sql, pattern=args.pattern)
    out = sys.stdout
    if not args.quiet:
        for label, reason in result.skipped:
            print(f"agenttui query: skipped {escape_controls(label)}: {escape_controls(reason)}", file=sys.stderr)
    if args.json:
        write_json(result, out)
    elif args.csv:
        write_csv(result, out)
    elif result.files and result.columns:
        write_table(result, out)
    out.flush()
    if not args.quiet:
        n = len(result.rows)
        where = f" from {len(result.files)} of {len(result.files) + len(result.skipped)} files" if result.tagged else ""
        print(f"({n} row{'s' if n != 1 else ''}{where})", file=sys.stderr)
    return EXIT_OK if result.files else EXIT_NO


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m agenttui.query TARGET SQL` (the same as `agenttui query`)."""
    parser = argparse.ArgumentParser(prog="agenttui")
    add_query_command(parser.add_subparsers(dest="command", required=True))
    try:
        args = parser.parse_args(["query", *(sys.argv[1:] if argv is None else argv)])
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    try:
        return cmd_query(args)
    except (QueryError, OSError) as exc:
        print(f"agenttui query: error: {escape_controls(str(exc), 2000)}", file=sys.stderr)
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
