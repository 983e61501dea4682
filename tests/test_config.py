"""Profiles and paths shared by notebooks and the CLI."""

from __future__ import annotations

from pathlib import Path

import pytest

from catdog_utils import config
from catdog_utils.errors import CatdogError


def test_profiles_exist_and_full_is_the_original() -> None:
    assert set(config.PROFILES) == {"quick", "class", "full"}
    full = config.get_profile("full")
    assert full.train_per_class is None and full.test_per_class is None
    assert full.epochs == 25 == config.BASELINE_EPOCHS
    assert config.get_profile("quick").epochs < config.get_profile("class").epochs < full.epochs


def test_profile_from_environment_and_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CATDOG_PROFILE", "quick")
    assert config.get_profile().name == "quick"
    # None means "the profile's choice"; other values replace the field
    assert config.get_profile(epochs=None).epochs == config.PROFILES["quick"].epochs
    assert config.get_profile(epochs=7).epochs == 7
    with pytest.raises(ValueError):
        config.get_profile(not_a_field=3)


def test_unknown_profile_says_how_to_fix() -> None:
    with pytest.raises(CatdogError, match="PROFILE=class"):
        config.get_profile("huge")


def test_paths_follow_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CATDOG_HOME", str(tmp_path))
    monkeypatch.delenv("CATDOG_DATA_DIR", raising=False)
    assert config.data_dir() == tmp_path / "data" / "cats_and_dogs"
    assert config.models_dir("quick") == tmp_path / "models" / "quick"
    monkeypatch.setenv("CATDOG_DATA_DIR", str(tmp_path / "elsewhere"))
    assert config.data_dir() == tmp_path / "elsewhere"
    monkeypatch.setenv("CATDOG_DATA_SOURCE", "/some/zip.zip")
    assert config.default_source() == "/some/zip.zip"
    monkeypatch.delenv("CATDOG_DATA_SOURCE")
    assert config.default_source().startswith("https://download.microsoft.com/")


def test_importing_the_package_does_not_import_tensorflow() -> None:
    import subprocess
    import sys

    code = (
        "import sys, catdog_utils, catdog_utils.config, catdog_utils.cli, catdog_utils.pipeline,"
        " catdog_utils.models, catdog_utils.training, catdog_utils.evaluation;"
        " print('tensorflow' in sys.modules, 'keras' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


def test_relative_paths_for_printing(tmp_path) -> None:  # noqa: ANN001 - pytest fixture
    root = config.project_root()
    assert config.relative(root / "models" / "full" / "baseline.keras") == Path(
        "models/full/baseline.keras"
    )
    assert config.relative(tmp_path / "x.jpg") == tmp_path / "x.jpg"  # outside: unchanged
