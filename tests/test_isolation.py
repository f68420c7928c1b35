"""The store never pulls in the UI: agents record without importing Textual or Rich."""
from __future__ import annotations

import json
import pkgutil
import subprocess
import sys

import pytest

import agenttui.store

STORE_MODULES = sorted(
    f"agenttui.store.{m.name}" for m in pkgutil.iter_modules(agenttui.store.__path__)
)

PROBE = """
import importlib, json, sys
for name in {modules!r}:
    try:
        importlib.import_module(name)
    except ImportError as exc:  # an optional backend's driver may be missing; that is not a UI import
        if "textual" in str(exc) or "rich" in str(exc):
            raise
ui = sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich"))
print(json.dumps(ui))
"""


def _ui_modules_after_importing(modules: list[str]) -> list[str]:
    out = subprocess.run([sys.executable, "-c", PROBE.format(modules=modules)], capture_output=True, text=True,
                         timeout=120)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_store_package_imports_no_textual_or_rich():
    assert _ui_modules_after_importing(["agenttui.store"]) == []


@pytest.mark.parametrize("module", ["agenttui.store.sqlite", "agenttui.store.envelope", "agenttui.store.fold"])
def test_core_store_modules_import_no_textual_or_rich(module):
    assert _ui_modules_after_importing([module]) == []


def test_every_store_module_imports_no_textual_or_rich():
    assert "agenttui.store.sqlite" in STORE_MODULES
    assert _ui_modules_after_importing(STORE_MODULES) == []


def test_a_store_round_trip_imports_no_textual_or_rich(tmp_path):
    """Using the store, not just importing it, must not reach for the UI either."""
    code = f"""
import json, sys
from agenttui.store import SQLiteStore
s = SQLiteStore({str(tmp_path / 'iso.db')!r})
s.append({{"event_type": "node_created", "run_id": "r", "payload": {{"node_id": "n", "node_nid": "1"}}}})
list(s.timeline("r")); s.runs(); s.stats(); s.state_at("r", 1); s.node_tree("r"); s.check()
print(json.dumps(sorted(m for m in sys.modules if m.split(".")[0] in ("textual", "rich"))))
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
