"""Fixtures shared across the suite: the real sample run (a copy lives in tests/data so a fresh
clone needs nothing else) and a way to run the command line in-process."""
from __future__ import annotations

from pathlib import Path
from typing import Callable

import pytest

from store_fixtures import SAMPLE as SAMPLE_PATH, SAMPLE_RUN  # noqa: F401  (the one place that names the sample)

#: What the sample holds: 184 events, 182 in one run and 2 sent with a null run_id.
SAMPLE_EVENTS = 184


@pytest.fixture(autouse=True, scope="session")
def _inspector_cache(tmp_path_factory: pytest.TempPathFactory):
    """The inspector keeps its search index in the user's cache: the suite's goes to a temporary one."""
    mp = pytest.MonkeyPatch()
    mp.setenv("AGENTTUI_CACHE_DIR", str(tmp_path_factory.mktemp("agenttui-cache")))
    yield
    mp.undo()


@pytest.fixture
def sample_path() -> Path:
    """The recursive agent's real sample run, in the exact wire format (184 events)."""
    return SAMPLE_PATH


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Callable[..., tuple[int, str, str]]:
    """cli("import", db, file) -> (exit code, stdout, stderr), running agenttui.cli.main in-process."""
    from agenttui.cli import main

    def run(*argv: object) -> tuple[int, str, str]:
        capsys.readouterr()
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run
