"""`agenttui open`: the live inspector on one store file (or a folder of them).

The app is the wiring: it resolves the target, applies the keymap, shows the screens (the session
picker for a folder, then the inspector), sets the interpreter's switch interval for its workers,
and keeps the clock. Everything about the run shown (its panes, its state, its workers, the store's
follower) is the inspector screen's: tui/screens/inspector.py.

Every key is a `Binding` with an id (remap with AGENTTUI_KEYMAP="search=ctrl+f;quit=ctrl+q"), shown
in the footer and the help screen, and offered in the command palette. Textual applies the keymap
to the bindings of every node in the focus chain, the inspector screen's included.
"""
from __future__ import annotations

import asyncio
import os
import signal
import time
from datetime import datetime, timezone
from typing import Callable, Iterable

from textual import events
from textual.app import App
from textual.binding import Binding
from textual.dom import DOMNode

from agenttui.store import handover

from .commands import InspectorCommands, key_names
from .components.detail import DetailPane
from .components.event_list import EventList
from .components.help_screen import HelpScreen
from .components.node_tree import NodeTree
from .components.search_bar import SearchBar
from .components.session_picker import SessionPicker
from .components.time_slider import TimeSlider
from .data.targets import resolve
from .history.heap import keep_big_blocks_mapped
from .playback import SPEEDS
from .screens.inspector import InspectorScreen
from .view_filter import ViewFilter

__all__ = ["AgentTuiApp", "SPEEDS", "parse_keymap", "run_app"]

#: The help screen's heading for each pane's keys (the inspector screen's work in every pane).
KEY_GROUPS: dict[type[DOMNode], str] = {
    InspectorScreen: "Everywhere", EventList: "Event list", NodeTree: "Node tree (left pane)",
    DetailPane: "Detail pane", TimeSlider: "Time slider", SearchBar: "Search bar",
}


class AgentTuiApp(App[int]):
    """The inspector. `clock` (returns an aware datetime) fixes "now" for deterministic screens."""

    TITLE = "agenttui"
    CSS_PATH = "app.tcss"
    COMMANDS = App.COMMANDS | {InspectorCommands}
    ENABLE_COMMAND_PALETTE = True
    AUTO_FOCUS = "#events"

    def __init__(
        self,
        path: str | os.PathLike[str],
        run_id: str | None = None,
        types: Iterable[str] | None = None,
        *,
        clock: Callable[[], datetime] | None = None,
        poll_interval: float = 0.25,
        use_file_events: bool = True,
        keymap: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        keep_big_blocks_mapped()  # (before the first big transient: see tui/history/heap.py)
        self.target = resolve(path)  # a path made absolute, or a postgresql:// URL as given
        #: the store shown: the target itself, or (a folder) the session file the user picks
        self.path: str | None = None if os.path.isdir(self.target) else self.target
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self.user_keymap = dict(keymap or {})
        #: monotonic time of the user's last key or mouse event: the app sees every one (a screen
        #: only those its widgets do), and the inspector's fold makes way for the user by it
        self.last_input = 0.0
        self.inspector = InspectorScreen(
            clock=self.clock, fixed_clock=clock is not None, requested_run=run_id,
            view=ViewFilter(types=frozenset(types) if types else None), poll_interval=poll_interval,
            use_file_events=use_file_events, last_input=lambda: self.last_input, on_ready=self._inspector_ready)

    def get_default_screen(self) -> InspectorScreen:
        return self.inspector

    def on_mount(self) -> None:
        # Workers (the tree's first level, the index, the fold) and the UI thread share the GIL: at
        # the default 5 ms switch interval the tree of a 10,000-node run came 0.2-0.4 s after first
        # paint instead of ~0.05 s, and keys waited on the fold (store/handover.py)
        handover.hold()
        text = os.environ.get("AGENTTUI_KEYMAP", "")
        keymap = dict(parse_keymap(text))
        keymap.update(self.user_keymap)
        if keymap:
            self.set_keymap(keymap)
        problems = keymap_problems(text, known_binding_ids())
        if problems:
            self.notify("\n".join(problems), title="AGENTTUI_KEYMAP", severity="warning", timeout=15, markup=False)
        self._stop_on_sigterm(True)

    def _inspector_ready(self) -> None:
        """The inspector's panes exist (the default screen mounts after the app): open the target,
        or over a folder, ask which session file first."""
        if self.path is None:
            self.push_screen(SessionPicker(self.target), self._session_chosen)
            self.inspector.show_message(f"choose a session file in {self.target}")
            return
        self.inspector.open_path(self.path)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseEvent)):
            self.last_input = time.monotonic()
        await super().on_event(event)

    def _session_chosen(self, path: str | None) -> None:
        if path is None:
            self.exit(0)
            return
        self.path = path
        self.inspector.open_path(path)

    def action_sessions(self) -> None:
        """Back to the folder's sessions from the one open (escape there comes back to it)."""
        if not os.path.isdir(self.target):
            self.notify(f"{self.target} is one store file, not a folder of sessions", timeout=3, markup=False)
            return
        if isinstance(self.screen, SessionPicker):
            return

        def switched(path: str | None) -> None:
            if path is not None and path != self.path:
                self.path = path
                self.inspector.open_path(path)

        self.push_screen(SessionPicker(self.target, current=self.path), switched)

    def _stop_on_sigterm(self, on: bool) -> None:
        """SIGTERM quits like `q` (the terminal restored, the follower stopped); left to the default,
        it killed the process with the terminal still in the application's mode."""
        try:
            loop = asyncio.get_running_loop()
            if on:
                loop.add_signal_handler(signal.SIGTERM, self.exit)
            else:
                loop.remove_signal_handler(signal.SIGTERM)
        except (NotImplementedError, RuntimeError, ValueError):  # Windows; not the main thread
            pass

    def action_help_quit(self) -> None:
        """Ctrl-C quits, as in htop, k9s and lazygit (Textual only says how to quit; in the search
        bar Ctrl-C still copies the selected text, the input's own binding)."""
        self.exit()

    def on_unmount(self) -> None:
        self._stop_on_sigterm(False)
        handover.release()
        self.inspector.close()  # (the follower's thread must not outlive the app)

    # ------------------------------------------------------------------ keys
    def action_help(self) -> None:
        self.push_screen(HelpScreen(self.binding_groups()))

    def key_owners(self) -> list[tuple[type[DOMNode], DOMNode | None]]:
        """Whose bindings the inspector answers to, in the help screen's order, with the node a
        palette command runs its action on (None: the widget's own keys, not in the palette)."""
        return [(InspectorScreen, self.inspector), (EventList, None), (NodeTree, None), (DetailPane, None),
                (TimeSlider, None), (SearchBar, None)]

    def binding_groups(self) -> list[tuple[str, list[tuple[str, str, str]]]]:
        """(pane, [(keys, description, id)]) of every inspector binding, as currently mapped, with
        the keys a pane inherits from Textual (its HELP_EXTRA: no id, not remappable)."""
        groups: list[tuple[str, list[tuple[str, str, str]]]] = []
        seen: set[str] = set()
        for cls, _ in self.key_owners():
            rows: list[tuple[str, str, str]] = []
            for b in getattr(cls, "BINDINGS", []):
                if not isinstance(b, Binding) or not b.id or b.id in seen:
                    continue
                seen.add(b.id)
                keys = self.binding_keys(b.id) or b.key
                rows.append((key_names(self, keys), b.tooltip or b.description or b.action, b.id))
            rows.extend((keys, description, "") for keys, description in getattr(cls, "HELP_EXTRA", ()))
            if cls is InspectorScreen and self.COMMAND_PALETTE_BINDING:  # (the App's own key)
                rows.append((key_names(self, self.COMMAND_PALETTE_BINDING), "Command palette: every action by name",
                             ""))
            if rows:
                groups.append((KEY_GROUPS.get(cls, cls.__name__), rows))
        return groups

    def binding_rows(self) -> list[tuple[str, str, str]]:
        """(keys, description, id) of every inspector binding, as currently mapped."""
        return [row for _, rows in self.binding_groups() for row in rows]

    def binding_keys(self, binding_id: str) -> str:
        keys = self._keymap.get(binding_id)
        if keys:
            return keys
        for cls, _ in self.key_owners():
            for b in getattr(cls, "BINDINGS", []):
                if isinstance(b, Binding) and b.id == binding_id:
                    return b.key
        return ""


def parse_keymap(text: str) -> list[tuple[str, str]]:
    """AGENTTUI_KEYMAP: "id=keys" entries separated by ';' or whitespace (keys: comma-separated)."""
    out = []
    for entry in text.replace(";", " ").split():
        binding_id, sep, keys = entry.partition("=")
        if sep and binding_id and keys:
            out.append((binding_id.strip(), keys.strip()))
    return out


def keymap_problems(text: str, known: set[str]) -> list[str]:
    """What in AGENTTUI_KEYMAP does nothing: entries that are not `id=keys`, and ids no key has
    (a typo would otherwise leave the user wondering why the key did not move)."""
    problems = []
    for entry in text.replace(";", " ").split():
        binding_id, sep, keys = entry.partition("=")
        if not (sep and binding_id.strip() and keys.strip()):
            problems.append(f"{entry!r} is not id=keys (e.g. search=ctrl+f)")
        elif binding_id.strip() not in known:
            wanted = binding_id.strip()
            near = sorted(k for k in known if k.split(".")[-1] == wanted.split(".")[-1])  # a pane's prefix left out
            near += sorted(k for k in known if wanted in k and k not in near)
            hint = f" (did you mean {', '.join(near[:5])}?)" if near else " (the help screen, ?, lists every id)"
            problems.append(f"no key has the id {binding_id.strip()!r}{hint}")
    return problems


def known_binding_ids() -> set[str]:
    """The id of every binding of the inspector's screens and widgets (all in agenttui.tui)."""
    ids: set[str] = set()
    todo: list[type] = [DOMNode]
    seen: set[type] = set()
    while todo:
        cls = todo.pop()
        if cls in seen:
            continue
        seen.add(cls)
        todo.extend(cls.__subclasses__())
        if cls.__module__.startswith(("agenttui.tui", "tui.")):
            ids.update(b.id for b in cls.__dict__.get("BINDINGS", []) if isinstance(b, Binding) and b.id)
    return ids


def run_app(path: str | os.PathLike[str], run_id: str | None = None, types: Iterable[str] | None = None) -> int:
    """Run the inspector in the terminal until the user quits; returns the exit status."""
    app = AgentTuiApp(path, run_id=run_id, types=list(types) if types else None)
    result = app.run()
    return int(result or 0)
