"""The read API the TUI and the command line use, checked against the sample run."""
from __future__ import annotations

from collections import Counter

import pytest

from agenttui.store import UNASSIGNED_RUN_ID, EnvelopeError, EventFilter
from agenttui.store.schema import SCHEMA_VERSION

from store_fixtures import SAMPLE_RUN, ev, loaded_store, open_store, sample_dicts


@pytest.fixture
def store(tmp_path):
    s = loaded_store(tmp_path)
    yield s
    s.close()


@pytest.fixture(scope="module")
def sample():
    return sample_dicts()


def ids(events):
    return [e.event_id for e in events]


def test_filter_by_run(store, sample):
    got = store.events(run_id=SAMPLE_RUN, limit=None)
    assert ids(got) == [d["event_id"] for d in sample if d["run_id"] == SAMPLE_RUN]
    assert ids(store.events(run_id=UNASSIGNED_RUN_ID, limit=None)) == [d["event_id"] for d in sample
                                                                       if d["run_id"] is None]
    assert store.events(run_id="nope") == []


def test_filter_by_types_and_exclusions(store, sample):
    wanted = {"tool_invoked", "tool_returned"}
    got = store.events(types=sorted(wanted), limit=None)
    assert ids(got) == [d["event_id"] for d in sample if d["event_type"] in wanted]
    rest = store.events(exclude_types=["llm_call_started", "llm_call_completed"], limit=None)
    assert ids(rest) == [d["event_id"] for d in sample if not d["event_type"].startswith("llm_call")]
    assert store.events(types=[], limit=None) == []
    both = store.events(types=["llm_call_started", "tool_invoked"], exclude_types=["tool_invoked"], limit=None)
    assert {e.event_type for e in both} == {"llm_call_started"}


def test_filter_by_node(store, sample):
    node_id = next(d["payload"]["node_id"] for d in sample if d["event_type"] == "node_created"
                   and d["payload"]["node_nid"] == "2.1")
    got = store.events(node_id=node_id, limit=None)
    assert got and all(e.node_id == node_id for e in got)
    expected = [d["event_id"] for d in sample
                if (d["payload"].get("node_id") or d["payload"].get("added_node_id")
                    or d["payload"].get("child_node_id")) == node_id]
    assert ids(got) == expected


def test_filter_by_time_range_is_inclusive_and_accepts_any_timestamp_form(store, sample):
    stamps = sorted(d["timestamp"] for d in sample)
    since, until = stamps[20], stamps[60]
    got = store.events(since=since, until=until, limit=None)
    assert sorted(e.timestamp for e in got) == [t for t in stamps if since <= t <= until]
    # the same bounds written with an offset select the same events
    offset_since = since.replace("T09:", "T11:").replace("Z", "+02:00")
    assert ids(store.events(since=offset_since, until=until, limit=None)) == ids(got)
    with pytest.raises(EnvelopeError) as info:
        store.events(since="last tuesday")
    assert info.value.field == "since"


def test_search_is_a_case_insensitive_substring(store, sample):
    got = store.events(search="WEB.SEARCH", limit=None)
    assert ids(got) == [d["event_id"] for d in sample if "web.search" in str(d["payload"]).lower()]
    assert got


def test_search_takes_percent_underscore_and_quotes_literally(tmp_path):
    s = open_store(tmp_path)
    s.append([
        ev("x", text="100% done"), ev("x", text="1000 done"), ev("x", text="snake_case"),
        ev("x", text="snakeXcase"), ev("x", text='he said "yes"'), ev("x", text="C:\\path"),
        ev("x", text="line one\nline two"),
    ])
    texts = lambda term: [e.payload["text"] for e in s.events(search=term, limit=None)]  # noqa: E731
    assert texts("0% d") == ["100% done"]
    assert texts("e_c") == ["snake_case"]
    assert texts('"yes"') == ['he said "yes"']
    assert texts("c:\\PATH") == ["C:\\path"]
    assert texts("one\nline") == ["line one\nline two"]
    assert texts("%") == ["100% done"]
    assert texts("_") == ["snake_case"]


def test_combined_filters(store, sample):
    f = EventFilter(run_id=SAMPLE_RUN, types=["tool_returned"], search="http_error")
    got = store.events(f, limit=None)
    assert [e.payload["state"] for e in got] == ["HTTP_ERROR"]
    assert store.count_events(f) == 1


def test_paging_forwards_and_backwards_covers_everything_once(store, sample):
    forward, after = [], 0
    while page := store.events(after=after, limit=17):
        forward.extend(page)
        after = page[-1].position
    assert [e.position for e in forward] == list(range(1, len(sample) + 1))

    backward, before = [], None
    while page := store.events(before=before, limit=23, order="desc"):
        backward.extend(page)
        before = page[-1].position
    assert [e.position for e in backward] == list(range(len(sample), 0, -1))


def test_paging_with_a_filter_has_no_gaps_or_overlaps(store):
    f = EventFilter(types=["node_status_changed"])
    everything = store.events(f, limit=None)
    pages, after = [], 0
    while page := store.events(f, after=after, limit=5):
        pages.append(page)
        after = page[-1].position
    assert ids([e for p in pages for e in p]) == ids(everything)
    assert all(len(p) == 5 for p in pages[:-1])
    assert ids(store.iter_events(f, batch=4)) == ids(everything)


def test_counts(store, sample):
    assert store.count_events() == len(sample)
    assert store.count_events(run_id=SAMPLE_RUN) == sum(d["run_id"] == SAMPLE_RUN for d in sample)
    assert store.count_by_type() == dict(Counter(d["event_type"] for d in sample))
    by_type = store.count_by_type(run_id=SAMPLE_RUN)
    assert by_type["llm_call_started"] == 24 and by_type["custom_metric"] == 1
    assert list(by_type.values()) == sorted(by_type.values(), reverse=True)


def test_get_event_and_event_at(store, sample):
    d = sample[10]
    e = store.get_event(d["event_id"])
    assert (e.event_type, e.payload, e.position, e.timestamp) == (d["event_type"], d["payload"], 11, d["timestamp"])
    assert store.event_at(11).event_id == d["event_id"]
    assert store.get_event("missing") is None and store.event_at(10_000) is None
    assert store.event_by_seq(SAMPLE_RUN, 1).event_id == sample[2]["event_id"]


def test_timeline_is_in_run_order(store, sample):
    timeline = list(store.timeline(SAMPLE_RUN))
    assert [e.seq for e in timeline] == list(range(1, len(timeline) + 1))
    assert ids(timeline) == [d["event_id"] for d in sample if d["run_id"] == SAMPLE_RUN]


def test_whole_run_reads_page_by_payload_size_as_well_as_by_rows(store, sample, monkeypatch):
    """A run of big artifacts is read a few rows a page (memory), and still whole and in order."""
    from agenttui.store import base

    monkeypatch.setattr(base, "PAGE_CHARS", 2000)
    sizes = [50, 5000, 10, 10, 1500, 600, 600, 10, 3000, 10]
    store.append([ev("artifact", "big", content="x" * n) for n in sizes])
    pages = list(store._scan_batches("big", 4))  # noqa: SLF001
    assert [e.payload["content"] for page in pages for e in page] == ["x" * n for n in sizes]
    for page in pages:
        text = sum(len(e.payload["content"]) for e in page)
        assert len(page) <= 4 and (len(page) == 1 or text - len(page[-1].payload["content"]) < 2000)
    assert len(pages) > len(sizes) // 4 + 1
    assert [e.seq for e in store.timeline("big", batch=4)] == list(range(1, len(sizes) + 1))
    assert [e.event_id for e in store.timeline(SAMPLE_RUN)] == [d["event_id"] for d in sample
                                                                if d["run_id"] == SAMPLE_RUN]


def test_read_after_follows_the_log(store, sample):
    assert ids(store.read_after(180)) == [d["event_id"] for d in sample[180:]]
    assert store.read_after(store.last_position()) == []
    assert store.last_position() == len(sample)


def test_runs_summary_of_the_sample(store, sample):
    runs = {r["run_id"]: r for r in store.runs()}
    assert set(runs) == {SAMPLE_RUN, UNASSIGNED_RUN_ID}
    run = runs[SAMPLE_RUN]
    mine = [d for d in sample if d["run_id"] == SAMPLE_RUN]
    usage = [d["payload"].get("token_usage") or {} for d in mine if d["event_type"] == "llm_call_completed"]
    failed_tools = sum(1 for d in mine if d["event_type"] == "tool_returned"
                       and (d["payload"].get("error") or d["payload"]["state"] in ("FAILED", "ERROR", "TIMEOUT")))
    failed_nodes = len({d["payload"]["node_id"] for d in mine if d["event_type"] == "node_status_changed"
                        and d["payload"]["new_status"] == "FAILED"})
    failed_llm = sum(1 for d in mine if d["event_type"] == "llm_call_completed" and d["payload"].get("error"))
    assert run["status"] == "completed"
    assert run["total_nodes"] == 12
    assert run["llm_calls"] == 24 and run["tool_calls"] == 7
    assert run["event_count"] == len(mine)
    assert run["prompt_tokens"] == sum(u.get("prompt_tokens", 0) for u in usage)
    assert run["completion_tokens"] == sum(u.get("completion_tokens", 0) for u in usage)
    assert run["total_tokens"] == run["prompt_tokens"] + run["completion_tokens"] > 0
    assert run["error_count"] == failed_tools + failed_nodes + failed_llm
    assert run["duration_seconds"] == 123.4  # the agent's own figure wins
    assert (run["start_time"], run["end_time"]) == (mine[0]["timestamp"], mine[-1]["timestamp"])
    unassigned = runs[UNASSIGNED_RUN_ID]
    assert unassigned["status"] == "running" and unassigned["llm_calls"] == 2
    assert unassigned["duration_seconds"] == pytest.approx(0.070085)
    assert store.latest_run_id() == SAMPLE_RUN
    assert store.runs(limit=1)[0]["run_id"] == SAMPLE_RUN  # most recent first


def test_nodes_and_edges(store):
    nodes = store.nodes(SAMPLE_RUN)
    assert [n["node_nid"] for n in nodes] == ["0", "1", "1.1", "1.2", "2", "2.1", "2.1.1", "2.2", "2.3", "3",
                                               "3.1", "4"]
    assert len(store.edges(SAMPLE_RUN)) == 11
    assert store.node(SAMPLE_RUN, nodes[0]["node_id"])["node_type"] == "EXECUTE_NODE"
    assert all(n["result"] and n["result"]["action_name"] for n in nodes)


def test_node_tree(store):
    g = store.node_tree(SAMPLE_RUN)
    assert (g.number_of_nodes(), g.number_of_edges()) == (12, 11)
    assert g.graph["run_id"] == SAMPLE_RUN


def test_stats(store, sample):
    st = store.stats()
    assert st["events"] == len(sample) and st["runs"] == 2 and st["nodes"] == 12 and st["edges"] == 11
    assert st["schema_version"] == SCHEMA_VERSION and st["journal_mode"] == "wal"
    assert (st["first_position"], st["last_position"]) == (1, len(sample))
    assert st["first_timestamp"] == min(d["timestamp"] for d in sample)
    assert st["event_types"] == dict(Counter(d["event_type"] for d in sample))
    assert st["file_bytes"] + st["wal_bytes"] > 0


def test_reads_apply_upcasters_without_changing_the_stored_event(tmp_path):
    from agenttui.store import SQLiteStore, UpcasterRegistry

    reg = UpcasterRegistry()
    reg.add("tool_invoked", 1, lambda p: {**p, "tool_name": p.get("tool", "?"), "v": 2})
    s = SQLiteStore(tmp_path / "up.db", upcasters=reg)
    e = ev("tool_invoked", tool="grep")
    s.append(e)
    read = s.get_event(e["event_id"])
    assert read.payload == {"tool": "grep", "tool_name": "grep", "v": 2}
    assert read.metadata == {"schema_version": 2, "upcast_from": 1}
    raw = s.connection.execute("SELECT payload, metadata FROM events").fetchone()
    assert raw == ('{"tool":"grep"}', None)


def test_search_folds_case_beyond_ascii(tmp_path):
    s = open_store(tmp_path)
    s.append([ev("x", text="Café au lait"), ev("x", text="STRASSE"), ev("x", text="plain")])
    texts = lambda term: [e.payload["text"] for e in s.events(search=term, limit=None)]  # noqa: E731
    assert texts("CAFÉ") == ["Café au lait"]
    assert texts("café") == ["Café au lait"]
    assert texts("straße") == ["STRASSE"]  # casefold, not just lower
    assert s.count_events(search="cafÉ") == 1
    ro = open_store(tmp_path, "store.db", readonly=True)  # the TUI's read-only connection too
    assert ro.count_events(search="CAFÉ") == 1


def test_run_paging_accepts_cursors_from_other_runs_and_gaps(tmp_path):
    """Run-scoped pages are read by seq; a cursor naming another run's position must still cut right."""
    s = open_store(tmp_path, "interleaved.db")
    for i in range(60):
        s.append(ev("tick", run_id="a" if i % 3 else "b", i=i))
    a_positions = [e.position for e in s.events(run_id="a", limit=None)]
    b_positions = [e.position for e in s.events(run_id="b", limit=None)]
    assert len(a_positions) == 40 and len(b_positions) == 20
    for cursor in range(0, 62):
        assert [e.position for e in s.events(run_id="a", after=cursor, limit=5)] == \
            [p for p in a_positions if p > cursor][:5]
        assert [e.position for e in s.events(run_id="a", before=cursor, limit=5, order="desc")] == \
            [p for p in reversed(a_positions) if p < cursor][:5]
    assert [e.position for e in s.iter_events(run_id="b", batch=3)] == b_positions


def test_run_pages_keep_the_position_bound_when_the_seq_bound_is_loose(tmp_path, monkeypatch):
    """A writer may commit between computing the seq bound and reading the page (the replay/live
    seam of `agenttui serve` hit this): the page must still stop at the position asked for."""
    s = open_store(tmp_path, "race.db")
    for i in range(20):
        s.append(ev("tick", run_id="a", i=i))
    monkeypatch.setattr(type(s), "_seq_bound", lambda self, run, pos, side: 0 if side == "after" else 2 ** 62)
    assert [e.position for e in s.events(run_id="a", after=5, before=11, limit=None)] == list(range(6, 11))
