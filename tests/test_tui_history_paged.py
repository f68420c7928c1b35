"""Paged columns (a History's per-event columns, on disk but the pages read lately) answer exactly
what the arrays and lists they stand for would: every value, every bisect, across page boundaries,
after widening, with a page cache far smaller than the column and with no file to write to. The
History checks of test_tui_replay run again here with pages of a few values, so that every
column of the sample and of random runs is spread over many pages."""
from __future__ import annotations

import random
from array import array
from bisect import bisect_right

import pytest

from agenttui.store import fold, spill
from agenttui.tui.data.reader import InspectorReader
from agenttui.tui.history import History, columns, load_history
from agenttui.tui.history.columns import ChangeColumn, NearColumn, PagedColumn, Pages, SmallCodes

from store_fixtures import SAMPLE_RUN, loaded_store
from test_tui_replay import (  # noqa: F401  (run again here, with tiny pages: see the fixtures)
    _ev, test_density_and_the_time_axis_agree, test_every_index_of_the_sample_equals_the_fold_of_its_prefix,
    test_per_event_columns, test_random_runs_replay_exactly_whatever_the_batches,
    test_rows_the_fold_let_go_of_are_rebuilt_exactly,
)


@pytest.fixture(params=[4, 64], scope="module", autouse=True)
def tiny_pages(request, tmp_path_factory):
    """Pages of 4 or 64 bytes (one int32 a page, or 16), a cache of three such pages, files in a
    cache directory of the test's own."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(columns, "PAGE_BYTES", request.param)
        patch.setattr(spill, "PAGE_CACHE", 3 * request.param)
        patch.setenv("AGENTTUI_CACHE_DIR", str(tmp_path_factory.mktemp("cache")))
        yield request.param


@pytest.fixture(scope="module")
def sample(tiny_pages, tmp_path_factory):
    """test_tui_replay's sample, folded with tiny pages (one per page size)."""
    store = loaded_store(tmp_path_factory.mktemp("replay"))
    events = list(store.timeline(SAMPLE_RUN))
    timeline = load_history(InspectorReader(store), SAMPLE_RUN, batch=50)
    assert len(timeline._pages._spill) > 4 * len(events) // tiny_pages  # (its columns are on pages)
    yield store, events, timeline
    store.close()


@pytest.fixture(params=[True, False])
def writable(request, monkeypatch) -> bool:
    """With the pages in a file, and with none to be had (a read-only cache: they stay in memory)."""
    if not request.param:
        def refuse() -> None:
            raise OSError("read-only file system")

        monkeypatch.setattr(spill, "_temporary_file", refuse)
    return request.param


def _written(pages: Pages) -> int:
    return len(pages._spill)


def test_a_paged_column_reads_back_what_an_array_holds(writable: bool, tiny_pages: int) -> None:
    rng = random.Random(tiny_pages)
    pages = Pages()
    column, plain = PagedColumn("i", pages), []
    for k in range(3_000):
        value = rng.randrange(-(2 ** 31), 2 ** 31)
        column.append(value)
        plain.append(value)
        if rng.randrange(5) == 0:  # full pages written out now and then, not at once
            column.settle()
        if k % 11 == 0:  # reads between appends: written pages, cached ones, the ones not written yet
            i = rng.randrange(-len(plain), len(plain))
            assert column[i] == plain[i]
    assert len(column) == len(plain) and column.typecode == "i"
    column.settle()
    assert len(column._tail) < column._per
    for _ in range(3_000):
        i = rng.randrange(-len(plain), len(plain))
        assert column[i] == plain[i], i
    assert list(column) == plain and column.tolist() == plain
    assert [column.span(k) for k in range(len(plain))] == list(zip([0, *plain], plain))
    for i in (len(plain), -len(plain) - 1, 10 ** 9):
        with pytest.raises(IndexError):
            column[i]
    assert _written(pages) == (len(plain) - len(plain) % column._per) * 4
    assert pages._held <= 3 * tiny_pages
    assert pages._spill._memory is not writable


def test_a_bisect_over_an_ascending_paged_column_is_the_bisect_over_its_list(tiny_pages: int) -> None:
    rng = random.Random(7)
    column, plain = PagedColumn("i"), []
    value = -50
    for _ in range(2_000):
        value += rng.choice((0, 0, 1, 2, 5, 40))  # runs of equal values straddle page boundaries
        column.append(value)
        plain.append(value)
        if rng.randrange(3) == 0:
            column.settle()
        probe = rng.randrange(plain[0] - 3, value + 3)
        assert column.bisect_right(probe) == bisect_right(plain, probe)
    for probe in range(plain[0] - 3, value + 3):
        assert column.bisect_right(probe) == bisect_right(plain, probe), probe
    assert PagedColumn("i").bisect_right(0) == 0


def test_a_paged_column_widens_from_its_last_page_keeping_every_value(writable: bool, tiny_pages: int) -> None:
    column = PagedColumn("B")
    values = [k % 256 for k in range(100)] + [300, 7] * 20 + [-1, 70_000] * 20 + [2 ** 40, 3] * 20
    kinds = []
    for k, v in enumerate(values):
        column.append(v)
        kinds.append(column.typecode)
        if k % 3:
            column.settle()
        assert column[k] == v and column[-1] == v
    assert kinds[99] == "B" and kinds[100] == "H" and kinds[140] == "i" and kinds[180] == "q"
    assert list(column) == values and column.tolist() == values
    with pytest.raises(OverflowError):
        column.append(2 ** 63)
    assert list(column) == values  # (a value that fits nowhere leaves the column as it was)


def test_small_codes_and_near_columns_on_pages_answer_like_arrays(writable: bool) -> None:
    rng = random.Random(3)
    pages = Pages()
    codes, near, plain_codes, plain_near = SmallCodes(pages), NearColumn(pages), [], array("q")
    value = 1_772_355_600_000_000
    for k in range(NearColumn.BLOCK * 2 + 100):
        code = rng.randrange(3) if k < 5_000 else rng.randrange(400)
        value += rng.choice((0, 1_000, -7, 3_000_000_000))  # now and then a value far off its block's first
        codes.append(code)
        near.append(value)
        plain_codes.append(code)
        plain_near.append(value)
        if k % 1000 == 999:
            codes.settle()
            near.settle()
    assert list(codes) == plain_codes and codes.typecode == "H"
    assert [near[i] for i in range(len(plain_near))] == plain_near.tolist()
    for _ in range(500):
        i = rng.randrange(len(plain_near))
        assert near[i] == plain_near[i] and codes[i] == plain_codes[i]
    assert near[-1] == plain_near[-1] and near._far


def test_a_change_column_on_pages_answers_like_its_changes_in_a_list(writable: bool, tiny_pages: int) -> None:
    rng = random.Random(11)
    column, changes = ChangeColumn(-1, True, Pages()), []
    i = 0
    for k in range(600):
        i += rng.randrange(1, 4)
        value = rng.randrange(10 ** 6) if k < 300 else rng.randrange(2 ** 40)  # widens to int64 ...
        if k == 500:
            value = True  # ... and to a list once a value is not an int (True must not come back as 1)
        column.add(i, value)
        changes.append((i, value))
        if k % 7 == 0:
            column.settle()
    column.settle()
    assert type(column.vals) is list and len(column.idx._tail) < column.idx._per
    for probe in range(-2, i + 3):
        k = bisect_right([c for c, _ in changes], probe)
        want = changes[k - 1][1] if k else -1
        got = column.at(probe)
        assert got == want and type(got) is type(want), probe


def test_a_history_writes_its_per_event_columns_to_pages_and_reads_them_back(writable: bool, tiny_pages: int) -> None:
    events = [_ev(k + 1, "llm_call_completed" if k % 3 else "custom_metric", token_usage={"prompt_tokens": k})
              for k in range(300)]
    timeline = History("r")
    timeline.extend(events)
    assert _written(timeline._pages) > 300  # types, timestamps, counters: mostly on pages (or kept in memory)
    assert timeline._pages._held <= 3 * tiny_pages and timeline._pages._spill._memory is not writable
    for i in (299, 0, 150, 1, 298, 42):
        want = fold("r", events[: i + 1])
        assert timeline.run_at(i) == want.run
        assert timeline.type_at(i) == events[i].event_type
        assert timeline.timestamp_text_at(i) == events[i].timestamp
