"""The run picker (`r`): the file's runs, newest first, with status and counts."""
from __future__ import annotations

from typing import Any

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label, OptionList
from textual.widgets.option_list import Option

from agenttui.summary import UNASSIGNED_LABEL, has_clock

from ..colors import status_style
from ..literal import clean


def run_prompt(run: dict[str, Any], current: str | None) -> Text:
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append("● " if run["run_id"] == current else "  ", style="bold")
    text.append(clean(run["run_id"], limit=36).ljust(36), style="bold")
    if has_clock(run["run_id"]):
        status = run.get("status") or "?"
        text.append(f" {clean(status):<10}", style=status_style(status))
        text.append(f" {clean((run.get('start_time') or '')[:19]):<19}", style="dim")
    else:  # events sent with a null run_id: no status, no start of their own
        text.append(f" {UNASSIGNED_LABEL:<30}", style="dim italic")
    text.append(f" {run.get('event_count') or 0:>9,} ev {run.get('total_nodes') or 0:>6,} nodes")
    errors = run.get("error_count") or 0
    text.append(f" {errors:>4,} err", style="bold red" if errors else "dim")
    task = run.get("task")
    if task:
        text.append(f"  {clean(task, limit=60)}", style="italic")
    return text


class RunPicker(ModalScreen["str | None"]):
    DEFAULT_CSS = """
    RunPicker { align: center middle; }
    RunPicker > Vertical {
        width: 90%; max-width: 150; height: auto; max-height: 80%; border: thick $accent; background: $surface;
    }
    RunPicker OptionList { height: auto; max-height: 30; border: none; }
    RunPicker Label { padding: 0 1; color: $text-muted; }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel", id="runs.cancel")]

    def __init__(self, runs: list[dict[str, Any]], current: str | None) -> None:
        super().__init__()
        self.runs = runs
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Label(Text(f"{len(self.runs)} run(s) in this file — enter opens one, esc goes back"))
            yield OptionList(*(Option(run_prompt(r, self.current), id=r["run_id"]) for r in self.runs),
                             id="run-list")

    def on_mount(self) -> None:
        options = self.query_one(OptionList)
        options.focus()
        for i, r in enumerate(self.runs):
            if r["run_id"] == self.current:
                options.highlighted = i

    @property
    def run_ids(self) -> set[str]:
        return {r["run_id"] for r in self.runs}

    def update_runs(self, runs: list[dict[str, Any]]) -> None:
        """A run appeared (or its figures moved) while the picker is open: show the list anew,
        keeping the highlighted run highlighted."""
        options = self.query_one(OptionList)
        index = options.highlighted
        keep = options.get_option_at_index(index).id if index is not None and options.option_count else None
        self.runs = runs
        options.clear_options()
        options.add_options([Option(run_prompt(r, self.current), id=r["run_id"]) for r in runs])
        self.query_one(Label).update(Text(f"{len(runs)} run(s) in this file — enter opens one, esc goes back"))
        for i, r in enumerate(runs):
            if r["run_id"] == keep:
                options.highlighted = i

    def on_option_list_option_selected(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(event.option.id)

    def action_cancel(self) -> None:
        self.dismiss(None)
