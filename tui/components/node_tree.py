"""The run's node tree: nid, goal, type and a coloured status per node, as of any event.

Usage::

    tree = NodeTree(id="tree")                 # compose it anywhere
    tree.show(timeline, None)                  # live: the newest state (call again as events arrive)
    tree.show(timeline, i)                     # replay: the tree as it was at event index i

    def on_node_tree_node_chosen(self, message: NodeTree.NodeChosen) -> None:
        ...  # message.node_id: narrow the event list to it (None: the choice was toggled off)

    tree.set_chosen(None)                      # the app cleared the filter: drop the marker, no message
    tree.select_node_id(node_id)               # reveal a node (expanding its ancestors), cursor on it
    tree.label_of(tree_node)                   # a label, built on demand (off-screen ones are lazy)

Keys: enter (or a click on a label) chooses the node under the cursor, and again clears it;
space or right expands, left collapses (or goes to the parent), j/k/arrows move, `*`/`O` expands
every node, `C` collapses them all. Each label starts with a glyph for the node's status
(colors.STATUS_GLYPHS), so it reads without colour and when the pane cuts the label; a label too
long for its line loses the end of its goal, not its status.

Why it is built this way: a run can have 10,000 nodes and the slider asks for a new state many
times a second. Only expanded levels get TreeNodes (children are added when a node is first
expanded), and `show` reconciles the existing TreeNodes with the History in place: labels
change only where the state changed, nodes appear and disappear where the edges did, and what
the user expanded and where the cursor is survive every update. Labels are built from plain
strings through `literal.clean`, so goals holding Rich markup or escape sequences are shown as
written.
"""
from __future__ import annotations

from typing import Any, ClassVar, Protocol

from rich.segment import Segment
from rich.style import Style
from rich.text import Span, Text, TextType
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region, Size
from textual.message import Message
from textual.strip import Strip
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from ..colors import status_glyph, status_style
from ..literal import clean
from .quiet_size import QuietTree  # a relabel or a step repaints the tree without a screen layout

__all__ = ["NodeTree", "node_label"]

#: goals longer than this are cut with "…" (the detail pane shows them whole)
GOAL_LIMIT = 96
#: with this many top-level nodes or fewer, the first ones with children are opened on first paint
_AUTO_EXPAND_ROOTS = 5
#: Nodes `expand_all` opens at most (a 10,000-node tree would take seconds and be unreadable).
EXPAND_ALL_LIMIT = 2_000
#: Indentation per level (cells), and the least it is compressed to when the tree is deep for its width.
GUIDE_DEPTH = 3
GUIDE_DEPTH_DEEP = 2
#: The narrowest a label is cut to (its glyph and nid; deeper than that, the tree scrolls sideways).
MIN_LABEL = 8
_BLANK = Text("")
_TYPE_SHORT = {"PLAN_NODE": "PLAN", "EXECUTE_NODE": "EXECUTE"}


def node_label(node_id: str, node: dict[str, Any], *, chosen: bool = False, width: int | None = None) -> Text:
    """`glyph nid  goal  [TYPE] STATUS` for one node row; every value cleaned and appended as literal text.

    The status glyph comes first, so a cut label still says how the node is; with `width`, the
    goal is cut to make the label fit (then the type), never the status.
    """
    pending = bool(node.get("pending"))
    status = "PENDING" if pending else (node.get("status") or "?")
    state_style = status_style(status)
    head: list[tuple[str, str]] = []
    if chosen:
        head.append(("● ", "bold magenta"))
    head.append((f"{status_glyph(status)} ", f"bold {state_style}"))
    nid = node.get("node_nid")
    # the nid carries the status colour too
    head.append((clean(nid, limit=32), f"bold {state_style}") if nid else (clean(node_id, limit=12), "dim"))
    head.append(("  ", ""))
    goal = node.get("task_goal")
    goal_piece = (clean(goal, limit=GOAL_LIMIT), "") if goal else ("(no goal yet)", "dim italic")
    kind_piece = ("", "")
    node_type = node.get("node_type")
    task_type = node.get("task_type")
    if node_type or task_type:
        kind = "·".join(clean(_TYPE_SHORT.get(v, v), limit=24) for v in (node_type, task_type) if v)
        kind_piece = (f"  [{kind}]", "dim")
    tail: list[tuple[str, str]] = []
    if pending:
        tail.append((" pending", status_style("PENDING")))
    else:
        tail.append((" ", ""))
        tail.append((clean(status, limit=32), state_style))
    errors = node.get("error_count") or 0
    if errors:
        tail.append((f"  ✗{errors}", "bold red"))
    if width is not None:
        fixed = sum(len(t) for t, _ in head) + sum(len(t) for t, _ in tail)
        if fixed + len(goal_piece[0]) + len(kind_piece[0]) > width:
            kind_piece = ("", "")
        room = width - fixed
        if len(goal_piece[0]) > room:
            goal_piece = (goal_piece[0][:max(0, room - 1)] + "…" if room > 1 else "", goal_piece[1])
    parts: list[str] = []
    spans: list[Span] = []
    at = 0
    for piece, style in [*head, goal_piece, kind_piece, *tail]:
        if not piece:
            continue
        if style:
            spans.append(Span(at, at + len(piece), style))
        parts.append(piece)
        at += len(piece)
    return Text("".join(parts), spans=spans, no_wrap=True, end="")


def _shown_len(value: str, limit: int) -> int:
    """Length of `clean(value, limit=limit)`: escaped control characters widen it, so a goal holding
    them must be measured as shown, or the tree's scroll width changes once its line is drawn."""
    return min(len(value), limit) if value.isprintable() else len(clean(value, limit=limit))


def _estimate_width(node_id: str, key: tuple) -> int:
    """About the cell width node_label will give (for the tree's scroll width before it is built)."""
    nid, goal, node_type, task_type, status, pending, errors, chosen = key
    width = (2 if chosen else 0) + 2 + (_shown_len(str(nid), 32) if nid else _shown_len(node_id, 12)) + 2
    width += _shown_len(str(goal), GOAL_LIMIT) if goal else 13
    if node_type or task_type:
        width += 5 + len(_TYPE_SHORT.get(node_type, node_type or "")) + len(task_type or "")
    width += 8 if pending else 1 + len(status or "?")
    return width + (4 if errors else 0)


def _label_key(node: dict[str, Any], chosen: bool) -> tuple:
    return (node.get("node_nid"), node.get("task_goal"), node.get("node_type"), node.get("task_type"),
            node.get("status"), node.get("pending"), node.get("error_count"), chosen)


class TreeSource(Protocol):
    """What the tree reads of a run at an event index: a History, or the store's first levels
    (tui/data/store_tree.StoreNodes) shown until the fold is done."""

    run_id: str

    def __len__(self) -> int: ...

    def roots_at(self, index: int) -> list[str]: ...

    def children_at(self, node_id: str, index: int) -> list[str]: ...

    def has_children_at(self, node_id: str, index: int) -> bool: ...

    def node_at(self, node_id: str, index: int) -> dict[str, Any] | None: ...

    def display_at(self, node_id: str, index: int) -> dict[str, Any] | None: ...


def _id_of(tree_node: TreeNode[str]) -> str:
    """The store node id a line shows: every TreeNode below the root is added with one."""
    node_id = tree_node.data
    assert node_id is not None, "only the tree's root has no node id"
    return node_id


class NodeTree(QuietTree, Tree[str]):
    """The node tree of one run at one event of its History (see the module docstring)."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False, id="tree.down", tooltip="Next node"),
        Binding("k", "cursor_up", "Up", show=False, id="tree.up", tooltip="Previous node"),
        Binding("right", "expand", "Expand", show=False, id="tree.expand", tooltip="Expand the node"),
        Binding("left", "collapse", "Collapse", show=False, id="tree.collapse",
                tooltip="Collapse the node (on a collapsed one: go to its parent)"),
        Binding("asterisk,O", "expand_all", "Expand all", show=False, id="tree.expand_all",
                tooltip="Expand every node (at most 2,000)"),
        Binding("C", "collapse_all", "Collapse all", show=False, id="tree.collapse_all",
                tooltip="Collapse every node"),
    ]

    #: Keys the tree inherits from Textual's Tree (for the help screen; they have no ids).
    HELP_EXTRA: ClassVar[tuple[tuple[str, str], ...]] = (
        ("↑, ↓", "Previous / next node"),
        ("enter", "Narrow the event list to the node's events (again: all events)"),
        ("space", "Expand or collapse the node"),
        ("shift+↑, shift+↓", "Previous / next sibling"),
        ("shift+←", "To the parent node"),
        ("pgup, pgdn, home, end", "A page up / down, the first / last node"),
    )

    DEFAULT_CSS = """
    NodeTree { scrollbar-size-vertical: 1; }
    """

    class NodeChosen(Message):
        """The user chose a node (enter or click): narrow views to it; None clears the choice."""

        def __init__(self, tree: "NodeTree", node_id: str | None) -> None:
            self.tree = tree
            self.node_id = node_id
            super().__init__()

        @property
        def control(self) -> "NodeTree":
            return self.tree

        def __repr__(self) -> str:
            return f"NodeTree.NodeChosen(node_id={self.node_id!r})"

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None,
                 disabled: bool = False) -> None:
        super().__init__("nodes", name=name, id=id, classes=classes, disabled=disabled)
        self.source: TreeSource | None = None
        #: the event index shown, None while live
        self.index: int | None = None
        #: the node the user chose (the filter), None if none
        self.chosen: str | None = None
        self._i = -1
        self._generation = 0
        self._synced: dict[Any, int] = {}        # TreeNode id -> generation its children were reconciled at
        self._keys: dict[Any, tuple] = {}        # TreeNode id -> what its label shows
        self._stale: set[Any] = set()            # TreeNode ids whose label Text is not built yet
        #: TreeNode ids whose key was not looked at for the shown index (off screen: see `_sync`)
        self._unsure: set[Any] = set()
        self._cut: dict[Any, tuple[tuple, int, Text]] = {}  # TreeNode id -> (label key, width, label cut to it)
        #: TreeNode id -> how many times its label changed (the label's version in `_render_line`'s key)
        self._label_bumps: dict[Any, int] = {}
        #: TreeNode id -> its line's width as last measured, for every line (`get_label_width`), and
        #: the TreeNodes whose label changed since (`_refresh_labels`)
        self._line_widths: dict[Any, int] = {}
        self._remeasure: dict[Any, TreeNode[str]] = {}
        #: a line's key -> (its drawing, the line it was drawn at): see `_render_line`
        self._drawn: LRUCache[tuple, tuple[Strip, int]] = LRUCache(1024)
        self._expanded_ids: set[str] = set()     # node ids the user expanded (survive re-creation)
        self._auto_expanded = False
        self._changed = False    # the lines changed (nodes came or went, opened or closed)
        self._relabeled = False  # only labels changed: their own lines are drawn again, no others
        #: the pane's width and what `render_line` reads, held while the lines are built or drawn (`_pane_width`)
        self._held_width: int | None = None
        self._frame: tuple[int, int, int, Style] | None = None
        self.show_root = False   # (reactives last: their watchers rebuild lines with the state above)
        self.auto_expand = False
        self.guide_depth = GUIDE_DEPTH
        self._revealed: str | None = None

    # --------------------------------------------------------------------------- public API
    def show(self, source: TreeSource, index: int | None = None) -> None:
        """Show `source` as of event `index` (None: the newest event, i.e. live)."""
        cursor_id = None
        if source is not self.source:
            # the same run reloaded (e.g. the database was replaced): keep what the user opened
            same_run = self.source is not None and self.source.run_id == source.run_id
            if same_run and self.cursor_node is not None:
                cursor_id = self.cursor_node.data
            self._reset(source, keep=same_run)
        self.index = index
        n = len(source)
        if n == 0:
            return
        self._i = n - 1 if index is None else max(0, min(index, n - 1))
        self._generation += 1
        cursor = self.cursor_node
        self._changed = self._relabeled = False
        self._sync(self.root, ())
        top = self.root.children
        if top and self.cursor_line < 0:
            self.cursor_line = 0
        if not self._auto_expanded and 0 < len(top) <= _AUTO_EXPAND_ROOTS:
            # open the run's root(s) once, as soon as they have children: the first level is what
            # a user wants to see; from then on expansion is the user's
            for tree_node in top:
                if tree_node.allow_expand and not tree_node.is_expanded:
                    self._auto_expanded = True
                    node_id = _id_of(tree_node)
                    self._expanded_ids.add(node_id)
                    tree_node.expand()
                    self._sync(tree_node, (node_id,))
        if self._changed:
            self._invalidate()
        elif self._relabeled:
            self._refresh_labels()
        if cursor_id is not None and self.tree_nodes_of(cursor_id):
            self.last_line  # noqa: B018  (builds the lines so the node knows its line number)
            self.move_cursor(self.tree_nodes_of(cursor_id)[0])
        else:
            self._restore_cursor(cursor)

    def set_chosen(self, node_id: str | None) -> None:
        """Mark `node_id` as the chosen node without posting NodeChosen (e.g. the app cleared a filter)."""
        if node_id == self.chosen:
            return
        old, self.chosen = self.chosen, node_id
        if self.source is None or self._i < 0:
            return
        self._relabeled = False
        for tree_node in list(self._tree_nodes.values()):
            if tree_node.data is not None and tree_node.data in (old, node_id):
                self._relabel(tree_node, now=True)
        if self._relabeled:
            self._refresh_labels()

    def tree_nodes_of(self, node_id: str) -> list[TreeNode[str]]:
        """The TreeNodes currently showing `node_id` (a node under two parents shows twice)."""
        return [t for t in self._tree_nodes.values() if t.data == node_id]

    def select_node_id(self, node_id: str) -> bool:
        """Move the cursor to `node_id`, expanding its ancestors; False if it is not in the tree now."""
        if self.source is None or self._i < 0 or self.source.node_at(node_id, self._i) is None:
            return False
        path = self._path_to(node_id)
        if path is None:
            return False
        parent = self.root
        for node_id_on_path in path:
            found = next((c for c in parent.children if c.data == node_id_on_path), None)
            if found is None:
                return False
            if node_id_on_path != path[-1] and not found.is_expanded:
                self._expanded_ids.add(node_id_on_path)
                found.expand()
                self._sync(found, self._ancestry(found))
                self._invalidate()
            parent = found
        self.last_line  # noqa: B018  (builds the lines so the node knows its line number)
        self.move_cursor(parent)
        return True

    # -------------------------------------------------------------------------- reconciling
    def _reset(self, source: TreeSource, *, keep: bool = False) -> None:
        self.clear()
        self._tree_nodes.clear()  # Tree.clear keeps the old nodes registered
        self._tree_nodes[self.root.id] = self.root
        self.source = source
        self._synced.clear()
        self._keys.clear()
        self._stale.clear()
        self._unsure.clear()
        self._cut.clear()
        self._label_bumps.clear()  # (Tree.clear numbers the new nodes from 0 again)
        self._drawn.clear()  # (`_render_line` keys lines by their nodes' ids)
        self._line_widths.clear()
        self._remeasure.clear()
        self._i = -1
        self._revealed = None
        if not keep:
            self._expanded_ids.clear()
            self._auto_expanded = False
            self.chosen = None

    def _ancestry(self, tree_node: TreeNode[str]) -> tuple[str, ...]:
        ids: list[str] = []
        node: TreeNode[str] | None = tree_node
        while node is not None and node is not self.root:
            ids.append(_id_of(node))
            node = node.parent
        return tuple(reversed(ids))

    def _sync(self, parent: TreeNode[str], path: tuple[str, ...], near: tuple[int, int] | None = None) -> None:
        """Make `parent`'s children those of the History at the shown index, recursing into expanded ones."""
        source = self.source
        assert source is not None
        i = self._i
        self._synced[parent.id] = self._generation
        wanted = source.roots_at(i) if parent is self.root else source.children_at(_id_of(parent), i)
        children = parent._children
        if len(children) != len(wanted) or any(c.data != w for c, w in zip(children, wanted)):
            self._reconcile(parent, wanted)
        top, bottom = near = near or self._near_screen()  # (once a walk: Textual works the region out at each call)
        for child in parent._children:
            if top <= child._line < bottom or child.id not in self._keys:
                self._relabel(child)
            else:
                self._unsure.add(child.id)  # (looked at when its line is drawn: `_render_line`)
            child_id = _id_of(child)
            in_cycle = child_id in path  # edges can loop: show the node again, not its subtree
            expandable = not in_cycle and source.has_children_at(child_id, i)
            if child._allow_expand != expandable:
                child.allow_expand = expandable
                self._changed = True
            if in_cycle:
                if child._expanded:
                    child._expanded = False
                    self._changed = True
            elif child._expanded:  # even with no children now: ones shown for a later index must go
                self._sync(child, path + (child_id,), near)

    def _near_screen(self) -> tuple[int, int]:
        """The lines (as last built) within a screen of the ones shown. Every node of an expanded
        level has its label looked at for the shown index when it is there; one farther away when
        its line is drawn: after a run's fold, a tree the reveals had opened in a few hundred
        places looked at ~900 labels at each slider step (~45 us each in the History: 25-70 ms)."""
        height = max(1, self.scrollable_content_region.height)
        y = int(self.scroll_y)
        return y - height, y + 2 * height

    def _resolve(self, tree_node: TreeNode[str]) -> None:
        """The label of a node looked at off screen (see `_near_screen`), for the shown index."""
        if tree_node.id in self._unsure:
            self._unsure.discard(tree_node.id)
            if self.source is not None and self._i >= 0:
                self._relabel(tree_node)

    def _reconcile(self, parent: TreeNode[str], wanted: list[str]) -> None:
        """Replace `parent`'s children list in one pass, reusing the TreeNodes (and subtrees) still wanted.

        TreeNode.add/remove invalidate the whole tree and search the sibling list on every call,
        which is quadratic for a level of thousands; one new list and one invalidation is linear.
        (This uses Tree's internals as of Textual 8: `_children`, `_add_node`, `_tree_nodes`; the
        tests exercise every path through them.)
        """
        existing = {c.data: c for c in parent._children}
        children: list[TreeNode[str]] = []
        for node_id in wanted:
            tree_node = existing.pop(node_id, None)
            if tree_node is None:
                tree_node = self._add_node(parent, _BLANK, node_id)
                tree_node._expanded = node_id in self._expanded_ids
                tree_node._allow_expand = False
            children.append(tree_node)
        for gone in existing.values():
            self._forget(gone)
        parent._children[:] = children
        parent._updates += 1
        self._changed = True

    def _forget(self, tree_node: TreeNode[str]) -> None:
        """Drop a TreeNode and its descendants from the tree's registry (bulk removal)."""
        for child in tree_node._children:
            self._forget(child)
        self._tree_nodes.pop(tree_node.id, None)
        self._synced.pop(tree_node.id, None)
        self._keys.pop(tree_node.id, None)
        self._unsure.discard(tree_node.id)
        self._label_bumps.pop(tree_node.id, None)
        self._remeasure.pop(tree_node.id, None)
        self._stale.discard(tree_node.id)
        self._cut.pop(tree_node.id, None)

    def _relabel(self, tree_node: TreeNode[str], *, now: bool = False) -> None:
        """Note what the node's label must show; build the Text now or when its line is first drawn.

        Building a label is most of the cost of showing a node, and a level of 10,000 siblings
        shows ~40 of them: so only the (cheap) key is computed for every node, and the Text for
        the lines actually drawn (`render_label`).
        """
        source = self.source
        assert source is not None
        node_id = _id_of(tree_node)
        node = source.display_at(node_id, self._i)
        if node is None:
            return
        chosen = node_id == self.chosen
        key = _label_key(node, chosen)
        if self._keys.get(tree_node.id) != key:
            self._keys[tree_node.id] = key
            if now:
                self._stale.discard(tree_node.id)
                tree_node._label = node_label(node_id, node, chosen=chosen)
            else:
                self._stale.add(tree_node.id)
            tree_node._updates += 1  # (set in place: TreeNode.set_label schedules a callback per node)
            self._label_bumps[tree_node.id] = self._label_bumps.get(tree_node.id, 0) + 1
            self._remeasure[tree_node.id] = tree_node
            self._relabeled = True

    def _refresh_labels(self) -> None:
        """Repaint after labels changed in place, the lines staying as they are.

        Only the changed nodes' lines are drawn again (`_render_line`), where `_invalidate` would
        draw every line on screen. The scroll width follows the labels' widths: the changed ones
        are measured again (and those built since the last measure, which had an estimate), not
        every line, as a rebuild of the lines would (3-6 ms for the 700 lines of a folded run).
        """
        lines = self._tree_lines_cached
        if lines is not None:
            widths = self._line_widths
            for node_id, tree_node in self._remeasure.items():
                if node_id in widths:  # (on a line: `get_label_width` notes its line's width)
                    self.get_label_width(tree_node)
            self._remeasure.clear()
            self.virtual_size = Size(max(widths.values()) if widths else self.size.width, len(lines))
        self.refresh()

    def label_of(self, tree_node: TreeNode[str]) -> Text:
        """The node's label, built if its line has not been drawn yet (TreeNode.label may still be blank)."""
        self._resolve(tree_node)
        if tree_node.id in self._stale:
            self._build_label(tree_node)
        return tree_node._label

    def _build_label(self, tree_node: TreeNode[str]) -> None:
        self._stale.discard(tree_node.id)
        self._remeasure[tree_node.id] = tree_node  # (its width was estimated)
        assert self.source is not None
        node_id = _id_of(tree_node)
        node = self.source.display_at(node_id, self._i)
        if node is not None:
            tree_node._label = node_label(node_id, node, chosen=node_id == self.chosen)

    def _restore_cursor(self, cursor: TreeNode[str] | None) -> None:
        """Keep the cursor on its node; if that node is gone (an earlier index), on its nearest ancestor."""
        if cursor is None:
            return
        node: TreeNode[str] | None = cursor
        while node is not None and node is not self.root and self._tree_nodes.get(node.id) is not node:
            node = node.parent
        if node is cursor:
            return
        self.last_line  # noqa: B018  (builds the lines so the node knows its line number)
        if node is None or node is self.root:
            self.cursor_line = 0 if self.root.children else -1
        else:
            self.move_cursor(node)

    def _path_to(self, node_id: str) -> list[str] | None:
        """Node ids from a root down to `node_id`, following the first parent edge found."""
        source = self.source
        assert source is not None
        parent_at = getattr(source, "parent_at", None)
        if parent_at is not None:  # a History: walk up, one lookup per level
            path = [node_id]
            while (parent := parent_at(path[-1], self._i)) is not None:
                if parent in path:
                    break  # a cycle from bad edges: the path stops where it would repeat
                path.append(parent)
            return list(reversed(path)) if path[-1] in source.roots_at(self._i) else None
        parents: dict[str, str] = {}
        roots = source.roots_at(self._i)
        frontier = list(roots)
        seen = set(frontier)
        while frontier and node_id not in seen:
            nxt: list[str] = []
            for parent in frontier:
                for child in source.children_at(parent, self._i):
                    if child not in seen:
                        seen.add(child)
                        parents[child] = parent
                        nxt.append(child)
            frontier = nxt
        if node_id not in seen:
            return None
        path = [node_id]
        while path[-1] in parents:
            path.append(parents[path[-1]])
        return list(reversed(path))

    # ------------------------------------------------------------------------ Textual hooks
    def process_label(self, label: TextType) -> Text:
        # our labels are one-line Text already: skip Tree's split into lines (a copy per label)
        if isinstance(label, Text) and "\n" not in label.plain:
            return label
        return super().process_label(label)

    def _label_room(self, node: TreeNode[str]) -> int:
        """Cells left for `node`'s label on its line, after its guides and its fold icon."""
        icon = len(self.ICON_NODE) if node._allow_expand else 0
        return self._pane_width() - self._indent(node) - icon

    def _indent(self, node: TreeNode[str]) -> int:
        """The cells of guides before `node`'s line (Tree's `_TreeLine._get_guide_width`, no root shown)."""
        depth = 0
        parent = node.parent
        while parent is not None and parent is not self.root:
            depth += 1
            parent = parent.parent
        return depth * self.guide_depth

    def _pane_width(self) -> int:
        """The width the lines are cut to. Textual works the region out again at each call (its
        gutter and scrollbars: ~3 us), and a rebuild of the lines asks once per line (820 lines:
        half of the rebuild's 5.7 ms): `_build` and `render_lines` hold it while they run."""
        held = self._held_width
        return self.scrollable_content_region.width if held is None else held

    def get_label_width(self, node: TreeNode[str]) -> int:
        # Tree measures every line on each rebuild by rendering its label: use the known width, or
        # for a label not built yet an estimate from what it will show; a label is cut to its line
        # (render_label), so the tree scrolls sideways only for what cannot be cut
        # (it notes the line's width too: `_refresh_labels` measures only the labels that changed)
        icon = len(self.ICON_NODE) if node._allow_expand else 0
        if node.id in self._stale:
            width = _estimate_width(_id_of(node), self._keys[node.id])
        else:
            width = node._label.cell_len
        indent = self._indent(node)
        room = self._pane_width() - indent - icon
        label_width = icon + (min(width, max(room, MIN_LABEL)) if room > 0 else width)
        self._line_widths[node.id] = indent + label_width
        return label_width

    def render_label(self, node: TreeNode[str], base_style: Style, style: Style) -> Text:
        self._resolve(node)
        if node.id in self._stale:
            self._build_label(node)
        room = self._label_room(node)
        if 0 < room < node._label.cell_len and self.source is not None and node.data is not None:
            cut = self._cut_label(node, max(room, MIN_LABEL))
            if cut is not None:  # the goal is cut, not the status (node_label's `width`)
                full = node._label
                node._label = cut
                try:
                    return super().render_label(node, base_style, style)
                finally:
                    node._label = full
        return super().render_label(node, base_style, style)

    def _cut_label(self, node: TreeNode[str], width: int) -> Text | None:
        """The node's label cut to `width`, built once per label and width (a slider step draws
        the lines of the nodes it changed; the others come from Tree's cache or from here)."""
        key = self._keys.get(node.id)
        cached = self._cut.get(node.id)
        if cached is not None and key is not None and cached[0] == key and cached[1] == width:
            return cached[2]
        assert self.source is not None and node.data is not None
        shown = self.source.display_at(node.data, self._i)
        if shown is None:
            return None
        cut = node_label(node.data, shown, chosen=node.data == self.chosen, width=width)
        if key is not None:
            self._cut[node.id] = (key, width, cut)
        return cut

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        """Tree's line, drawn again only if something it shows changed.

        Tree keys its cache by the line's position, the tree's `_updates` (bumped at every change of
        the lines) and the `_updates` of every node on the line's path: a step whose event adds or
        removes a node (or changes a label high in the tree) drew every visible line again, though
        lines below a new one only move down. This cache is keyed by what Tree's drawing reads
        (`Tree._render_line`, Textual 8): the line's own node (its id fixes its depth and
        ancestors), its label's version (`_relabel`), fold icon and last-child corner; for each
        ancestor, its hover and selection (the guides' style) and whether it is a last child (a
        guide or a blank); whether the line is the cursor's or the mouse's; the widths, styles,
        indentation and focus. Theme changes (`notify_style_update`) and a new set of nodes
        (`_reset`: Tree.clear numbers them from 0 again) empty it.

        The one thing a drawn line holds of its position is the "line" meta of its segments (what
        a click or the mouse reports): a line drawn at another position gets it re-stamped.
        """
        lines = self._tree_lines
        if y >= len(lines):
            return super()._render_line(y, x1, x2, base_style)
        line = lines[y]
        path = line.path
        own = path[-1]
        self._resolve(own)  # (before the key below: a label that changed off screen is drawn anew)
        hover_line = self.hover_line
        width = self.size.width if self._frame is None else self._frame[0]
        # (Tree pads the line to the widest one's width, then crops it to x1..x2)
        padded = min(max(self.virtual_size.width, width), x2)
        key = (x1, x2, base_style, width, padded, self._pane_width(),
               self.guide_depth, self.show_root, self.show_guides, self._pseudo_class_state, self.has_focus,
               hover_line >= 0 and any(n._hover for n in path), hover_line == y, self.cursor_line == y,
               own._id, self._label_bumps.get(own._id, 0), own._allow_expand, own._expanded, line.last,
               tuple((n._hover, n._selected) for n in path[:-1]), tuple(n.is_last for n in path[1:-1]))
        drawn = self._drawn.get(key)
        if drawn is None:
            # Tree's own cache can only be stale when this one missed (its key misses the widths
            # and counts the changes above as none): it is emptied so that Tree draws the line
            self._line_cache.clear()
            strip = super()._render_line(y, x1, x2, base_style)
        elif drawn[1] != y:
            strip = Strip(Segment.apply_style(drawn[0], post_style=Style.from_meta({"line": y})),
                          drawn[0].cell_length)
        else:
            return drawn[0]
        self._drawn[key] = (strip, y)
        return strip

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._drawn.clear()  # the theme or CSS changed: the component styles are not in the key

    def render_lines(self, crop: Region) -> list[Strip]:
        # Tree's render_line works out the width, scroll offset and style (~20 us: the CSS of every
        # ancestor) at each line: once a frame is enough. The lines are built first (a rebuild
        # can move the scroll offset), and nothing that draws a line changes these.
        self._tree_lines  # noqa: B018
        previous = self._held_width, self._frame
        scroll_x, scroll_y = self.scroll_offset
        self._held_width = self.scrollable_content_region.width
        self._frame = (self.size.width, scroll_x, scroll_y, self.rich_style)
        try:
            return super().render_lines(crop)
        finally:
            self._held_width, self._frame = previous

    def render_line(self, y: int) -> Strip:
        if self._frame is None:
            return super().render_line(y)
        width, scroll_x, scroll_y, style = self._frame
        return self._render_line(y + scroll_y, scroll_x, scroll_x + width, style)

    def _build(self) -> None:
        previous, self._held_width = self._held_width, self.scrollable_content_region.width
        try:
            self._build_lines()
        finally:
            self._held_width = previous

    def _build_lines(self) -> None:
        self._line_widths.clear()  # (each line's width is noted as Tree measures it)
        self._remeasure.clear()
        super()._build()
        # a deep tree in a narrow pane: two cells a level instead of three, so goals stay in view
        # (the width as it is now: the new lines' count can have brought or taken a scrollbar)
        width = self._held_width = self.scrollable_content_region.width
        lines = self._tree_lines_cached or []
        deepest = max((len(line.path) for line in lines), default=1) - 1
        wanted = GUIDE_DEPTH if deepest * GUIDE_DEPTH <= max(width, 1) // 3 else GUIDE_DEPTH_DEEP
        if wanted != self.guide_depth:  # (set quietly: its watcher would throw these lines away)
            self.set_reactive(Tree.guide_depth, wanted)
            self._clear_line_cache()
            self._drawn.clear()  # (the indentation is in its key: this only frees the lines drawn with the old one)
            self._updates += 1
            self._line_widths.clear()
            super()._build()  # the widths with the new indentation

    def on_resize(self) -> None:
        self._drawn.clear()  # (the widths are in its key: this only frees the lines of the old size)
        self._invalidate()  # labels are cut to the width: recut them

    def _on_tree_node_expanded(self, event: Tree.NodeExpanded[str]) -> None:
        node = event.node
        if node.tree is not self or node.data is None or self.source is None or self._i < 0:
            return
        self._expanded_ids.add(node.data)
        if self._synced.get(node.id) != self._generation:
            self._sync(node, self._ancestry(node))
            self._invalidate()

    def _on_tree_node_collapsed(self, event: Tree.NodeCollapsed[str]) -> None:
        if event.node.tree is self and event.node.data is not None:
            self._expanded_ids.discard(event.node.data)

    def _on_tree_node_selected(self, event: Tree.NodeSelected[str]) -> None:
        node = event.node
        if node.tree is not self or node.data is None:
            return
        choice = None if node.data == self.chosen else node.data
        self.set_chosen(choice)
        self.post_message(self.NodeChosen(self, choice))

    def action_expand_all(self) -> None:
        """Open every node (breadth first, at most EXPAND_ALL_LIMIT); the cursor stays where it is."""
        if self.source is None or self._i < 0:
            return
        cursor = self.cursor_node
        opened = 0
        frontier = list(self.root.children)
        while frontier and opened < EXPAND_ALL_LIMIT:
            nxt: list[TreeNode[str]] = []
            for tree_node in frontier:
                if opened >= EXPAND_ALL_LIMIT:
                    break
                if not tree_node._allow_expand:
                    continue
                if not tree_node._expanded:
                    tree_node._expanded = True
                    self._expanded_ids.add(_id_of(tree_node))
                    opened += 1
                self._sync(tree_node, self._ancestry(tree_node))
                nxt.extend(tree_node._children)
            frontier = nxt
        self._invalidate()
        if frontier:
            self.notify(f"expanded the first {EXPAND_ALL_LIMIT:,} nodes", timeout=3, markup=False)
        self._keep_cursor(cursor)

    def action_collapse_all(self) -> None:
        """Close every node; the cursor goes to the top-level node it was under."""
        cursor = self.cursor_node
        for tree_node in self._tree_nodes.values():
            if tree_node is not self.root:
                tree_node._expanded = False
        self._expanded_ids.clear()
        self._invalidate()
        while cursor is not None and cursor.parent is not None and cursor.parent is not self.root:
            cursor = cursor.parent
        self._keep_cursor(cursor)

    def _keep_cursor(self, cursor: TreeNode[str] | None) -> None:
        self.last_line  # noqa: B018  (builds the lines so the node knows its line number)
        if cursor is not None and self._tree_nodes.get(cursor.id) is cursor:
            self.move_cursor(cursor)

    def reveal(self, node_id: str | None) -> None:
        """Open the path to `node_id` and put the cursor on it, unless the user is in the tree
        (the list's selection leads the tree; the same node again costs nothing)."""
        if node_id is None or node_id == self._revealed or self.has_focus:
            return
        cursor = self.cursor_node
        if cursor is not None and cursor.data == node_id:
            self._revealed = node_id
            return
        if self.select_node_id(node_id):
            self._revealed = node_id

    def action_expand(self) -> None:
        node = self.cursor_node
        if node is not None and node.allow_expand and not node.is_expanded:
            node.expand()

    def action_collapse(self) -> None:
        node = self.cursor_node
        if node is None:
            return
        if node.is_expanded:
            node.collapse()
        elif node.parent is not None and node.parent is not self.root:
            self.move_cursor(node.parent)
