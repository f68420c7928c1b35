"""The inspector's actions in the command palette (ctrl+p), so every key is also reachable by name."""
from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

#: (title, action on the app, binding id whose key is shown as help)
COMMANDS: tuple[tuple[str, str, str], ...] = (
    ("Search payloads", "search", "search"),
    ("Next match", "next_match", "next_match"),
    ("Previous match", "previous_match", "previous_match"),
    ("Pick event types to show", "pick_types", "pick_types"),
    ("Clear filters and search", "clear", "clear"),
    ("Toggle follow", "toggle_follow", "follow"),
    ("Step back one event", "step(-1)", "step_back"),
    ("Step forward one event", "step(1)", "step_forward"),
    ("Step back 5% of the run", "jump(-0.05)", "jump_back"),
    ("Step forward 5% of the run", "jump(0.05)", "jump_forward"),
    ("Back to live", "live", "live"),
    ("Play / pause the replay", "play", "play"),
    ("Faster playback", "speed(1)", "faster"),
    ("Slower playback", "speed(-1)", "slower"),
    ("Next error", "error_mark(1)", "next_error"),
    ("Previous error", "error_mark(-1)", "previous_error"),
    ("Choose another run", "pick_run", "pick_run"),
    ("Copy the event as JSON", "copy", "copy"),
    ("Narrow the list to the selected node", "node_filter", "node_filter"),
    ("Next pane", "focus_next", "next_pane"),
    ("Help: all keys", "help", "help"),
    ("Quit", "quit", "quit"),
)


class InspectorCommands(Provider):
    """Offers every inspector action by name, with its current key as the help text."""

    def _key_of(self, binding_id: str) -> str:
        keymap = getattr(self.app, "binding_keys", None)
        keys = keymap(binding_id) if callable(keymap) else ""
        return f"key: {keys}" if keys else ""

    async def discover(self) -> Hits:
        for title, action, binding_id in COMMANDS:
            yield DiscoveryHit(title, partial(self.app.run_action, action), help=self._key_of(binding_id))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, action, binding_id in COMMANDS:
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), partial(self.app.run_action, action),
                          help=self._key_of(binding_id))
