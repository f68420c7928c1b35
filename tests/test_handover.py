"""The switch-interval handover shared by the Recorder's flusher, bulk loads and the inspector."""
from __future__ import annotations

import sys
import threading

import pytest

from agenttui.store import handover
from agenttui.store.handover import HANDOVER_INTERVAL, quick_handover


@pytest.fixture(autouse=True)
def default_interval():
    saved = sys.getswitchinterval()
    sys.setswitchinterval(0.005)
    yield
    sys.setswitchinterval(saved)


def test_nested_and_overlapping_uses_restore_the_process_value_when_the_last_ends():
    with quick_handover():
        assert sys.getswitchinterval() == pytest.approx(HANDOVER_INTERVAL, rel=0.05)
        handover.hold()  # another user (e.g. the inspector) starts inside the first
        with quick_handover():
            assert sys.getswitchinterval() == pytest.approx(HANDOVER_INTERVAL, rel=0.05)
        assert sys.getswitchinterval() == pytest.approx(HANDOVER_INTERVAL, rel=0.05)
    # the first block ended, but the hold is still on
    assert sys.getswitchinterval() == pytest.approx(HANDOVER_INTERVAL, rel=0.05)
    handover.release()
    assert sys.getswitchinterval() == pytest.approx(0.005, rel=0.05)


def test_a_shorter_interval_set_by_the_process_is_kept_and_restored():
    sys.setswitchinterval(0.0001)
    with quick_handover():
        assert sys.getswitchinterval() == pytest.approx(0.0001, rel=0.05)
    assert sys.getswitchinterval() == pytest.approx(0.0001, rel=0.05)


def test_a_release_without_a_hold_changes_nothing():
    handover.release()
    assert sys.getswitchinterval() == pytest.approx(0.005, rel=0.05)
    with quick_handover():
        pass
    assert sys.getswitchinterval() == pytest.approx(0.005, rel=0.05)


def test_uses_from_many_threads_leave_the_value_as_found():
    barrier = threading.Barrier(8)

    def use() -> None:
        barrier.wait()
        for _ in range(200):
            with quick_handover():
                assert sys.getswitchinterval() == pytest.approx(HANDOVER_INTERVAL, rel=0.05)

    threads = [threading.Thread(target=use) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sys.getswitchinterval() == pytest.approx(0.005, rel=0.05)
