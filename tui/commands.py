"""The inspector's actions in the command palette (ctrl+p), so every key is also reachable by name.

The list is generated from the bindings of the app and of the inspector screen (each has an id and
a tooltip), so a new key shows up here by itself and a remapped key is shown as it is now mapped.
Each action runs on the node that declares it: the palette is a screen of its own, so an action
of the inspector screen would not be found on the app.
"""
from __future__ import annotations

from functools import partial
from typing import Callable, Iterator

from textual.app import App
from textual.binding import Binding
from textual.command import DiscoveryHit, Hit, Hits, Provider

#: Key names Textual shows as symbols a newcomer may not read as keys.
_SPELLED = {"⏎": "enter", "^p": "ctrl+p"}


def key_names(app: App, keys: str) -> str:
    """Comma-separated binding keys as a person names them: `[` not `left_square_bracket`."""
    shown = [app.get_key_display(Binding(k.strip(), "")) for k in keys.split(",") if k.strip()]
    return ", ".join(_SPELLED.get(k, k) for k in shown)


def palette_entries(bindings: list[Binding]) -> Iterator[tuple[str, str, str]]:
    """(title, action, binding id) for each binding that has an id, in order."""
    for b in bindings:
        if isinstance(b, Binding) and b.id:
            yield (b.tooltip or b.description or b.action), b.action, b.id


class InspectorCommands(Provider):
    """Offers every inspector action by name, with its current key as the help text."""

    def _entries(self) -> list[tuple[str, Callable[[], object], str]]:
        owners = getattr(self.app, "key_owners", None)
        pairs = owners() if callable(owners) else [(type(self.app), self.app)]
        out: list[tuple[str, Callable[[], object], str]] = []
        for cls, node in pairs:
            if node is None:
                continue
            for title, action, binding_id in palette_entries(getattr(cls, "BINDINGS", [])):
                out.append((title, partial(self.app.run_action, action, node), binding_id))
        return out

    def _key_of(self, binding_id: str) -> str:
        keymap = getattr(self.app, "binding_keys", None)
        keys = keymap(binding_id) if callable(keymap) else ""
        return f"key: {key_names(self.app, keys)}" if keys else ""

    async def discover(self) -> Hits:
        for title, run, binding_id in self._entries():
            yield DiscoveryHit(title, run, help=self._key_of(binding_id))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for title, run, binding_id in self._entries():
            score = matcher.match(title)
            if score > 0:
                yield Hit(score, matcher.highlight(title), run, help=self._key_of(binding_id))
