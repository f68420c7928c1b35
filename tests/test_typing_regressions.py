"""Bugs the type checker found (issue 12.7), each pinned so it cannot come back."""
from __future__ import annotations

import pytest
from textual.dom import DOMNode

from agenttui.store import SQLiteStore


@pytest.mark.parametrize("atomic", [True, False])
def test_bulk_append_of_a_mapping_marked_validated_is_parsed(tmp_path, atomic):
    """validated=True promises the parsers already ran; a mapping has not been parsed, so it is
    (it used to fail with AttributeError: 'dict' object has no attribute 'payload')."""
    envelope = {"event_type": "run_started", "run_id": "r1", "payload": {"task": "t"}}
    with SQLiteStore(tmp_path / "s.db") as store:
        with store.bulk(atomic=atomic) as session:
            result = session.append([envelope], validated=True)
        assert result.stored == 1
        [event] = store.events()
        assert (event.run_id, event.event_type, event.payload) == ("r1", "run_started", {"task": "t"})


def test_bulk_append_of_an_invalid_mapping_marked_validated_names_the_event(tmp_path):
    from agenttui.store import EnvelopeError

    with SQLiteStore(tmp_path / "s.db") as store:
        with pytest.raises(EnvelopeError, match="event 0"):
            with store.bulk() as session:
                session.append([{"run_id": "r1", "payload": {}}], validated=True)  # no event_type
        assert store.events() == []


def test_inspector_screen_keeps_textuals_dom_tree():
    """The node tree is `node_tree`: a `tree` property hid Textual's DOM tree (`self.log(screen.tree)`)."""
    from agenttui.tui.components.node_tree import NodeTree
    from agenttui.tui.screens.inspector import InspectorScreen

    assert InspectorScreen.tree is DOMNode.tree
    assert InspectorScreen.node_tree.fget.__annotations__["return"] in (NodeTree, "NodeTree")
