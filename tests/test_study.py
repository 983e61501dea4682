"""Chapter 05's study (`catdog study`): its configurations, file, verdicts, one real run."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pytest
from helpers import assert_one_line_error, run_cli

from catdog_utils import study
from catdog_utils.errors import CatdogError


def record(setup: str, seed: int, accuracy: float, **more: object) -> dict[str, object]:
    return {"setup": setup, "seed": seed, "val_accuracy": accuracy, **more}


def test_pending_goes_one_seed_at_a_time_and_skips_what_is_done() -> None:
    setups = [study.setup_named(n) for n in (study.RECIPE, "- EMA", "original CNN")]
    done = [record(study.RECIPE, 1, 0.9), record("original CNN", 1, 0.8)]
    todo = [(s.name, seed) for s, seed in study.pending(setups, [1, 2], done)]
    assert todo == [("- EMA", 1), (study.RECIPE, 2), ("- EMA", 2), ("original CNN", 2)]


def test_every_setup_changes_what_its_name_says() -> None:
    recipe = study.setup_named(study.RECIPE)
    names = [s.name for s in study.SETUPS]
    assert len(set(names)) == len(names)
    for setup in study.SETUPS[2:]:  # after the recipe and the original CNN: one change each
        changed = {k for k, v in vars(setup).items() if v != vars(recipe)[k]} - {"name", "change"}
        assert 1 <= len(changed) <= 2, (setup.name, changed)  # AdamW goes with its regularisers
    with pytest.raises(CatdogError, match="choose from"):
        study.setup_named("recipe without anything")


@pytest.mark.parametrize("setup", study.SETUPS, ids=[s.name for s in study.SETUPS])
def test_build_model_compiles_what_the_setup_describes(setup: study.Setup) -> None:
    import keras

    size = setup.sizes[-1] if setup.network == "original" else 64
    model = study.build_model(setup, size, steps_per_epoch=10, epochs=5)
    optimizer, loss = model.optimizer, model.loss
    assert optimizer.use_ema == setup.ema
    names = [layer.name for layer in model.layers]
    assert any(n.endswith("_add") for n in names) == (setup.network == "residual")
    if setup.network == "original":
        assert model.count_params() == 813_217
    if setup.optimizer == "adam":
        assert type(optimizer) is keras.optimizers.Adam
        assert float(keras.ops.convert_to_numpy(optimizer.learning_rate)) == pytest.approx(1e-3)
    else:
        assert isinstance(optimizer, keras.optimizers.AdamW)
        assert (optimizer.weight_decay > 0) == setup.regularise
        assert (loss.get_config()["label_smoothing"] > 0) == setup.regularise
    gammas = [
        float(np.max(np.abs(layer.gamma.numpy())))
        for layer in model.layers
        if layer.name.endswith("conv2_bn")
    ]
    assert all((g == 0) == setup.zero_init_residual for g in gammas)


def test_stage_seconds_keep_the_largest_size_at_three_quarters() -> None:
    assert study.stage_seconds([128], 600) == [600]
    assert study.stage_seconds([64, 128], 600) == [150, 450]
    assert study.stage_seconds([64, 96, 128], 600) == [75, 75, 450]


def test_results_file_grows_one_run_at_a_time_and_a_bad_line_is_named(tmp_path: Path) -> None:
    path = tmp_path / "docs" / "study.jsonl"
    assert study.load_results(path) == []
    study.append_result(path, record(study.RECIPE, 1, 0.9))
    study.append_result(path, record(study.RECIPE, 2, 0.91))
    assert [r["seed"] for r in study.load_results(path)] == [1, 2]
    with path.open("a") as f:
        f.write('{"setup": "recipe", "seed": 3, "val_acc')  # a run cut off while written by hand
    before = path.read_text()
    with pytest.raises(CatdogError, match="line 3, is not a JSON record"):
        study.load_results(path)
    assert path.read_text() == before  # nothing lost


def test_a_results_file_takes_runs_of_one_budget_and_profile_only() -> None:
    runs = [
        dict(
            record(study.RECIPE, 1, 0.9), budget_minutes=10.0, profile="full", train_per_class=None
        )
    ]
    study.check_compatible(runs, 10.0, "full", None)
    for asked in ((5.0, "full", None), (10.0, "class", None), (10.0, "full", 100)):
        with pytest.raises(CatdogError, match="give another file with --results"):
            study.check_compatible(runs, *asked)


def test_verdicts_by_hand() -> None:
    runs = [
        record(study.RECIPE, 1, 0.90),
        record(study.RECIPE, 2, 0.92),  # mean 0.91, sd 0.01414
        record("- EMA", 1, 0.89),
        record("- EMA", 2, 0.89),  # mean 0.89, sd 0
        record("original CNN", 1, 0.80),
        record("original CNN", 2, 0.82),  # mean 0.81, sd 0.01414
    ]
    summaries = study.summarise(runs)
    assert list(summaries) == [study.RECIPE, "original CNN", "- EMA"]  # the SETUPS order
    assert summaries[study.RECIPE].mean == pytest.approx(0.91)
    assert summaries[study.RECIPE].sd == pytest.approx(math.sqrt(2) / 100)
    # pooled: (0.0002 + 0 + 0.0002) / 3 degrees of freedom
    sd = math.sqrt(0.0004 / 3)
    assert study.pooled_sd(runs) == pytest.approx(sd)
    noise = 100 * 2 * sd * math.sqrt(1 / 2 + 1 / 2)  # 2.31 points
    ema = study.compare(runs, "- EMA")
    assert ema.difference == pytest.approx(-2.0) and ema.noise == pytest.approx(noise)
    assert ema.beyond_noise is False and "within the seed-to-seed spread" in ema.sentence()
    original = study.compare(runs, "original CNN")
    assert original.difference == pytest.approx(-10.0) and original.beyond_noise is True
    assert "beyond" in original.sentence()
    one_each = [record(study.RECIPE, 1, 0.9), record("- EMA", 1, 0.8)]
    assert study.compare(one_each, "- EMA").beyond_noise is None
    assert "too few runs" in study.compare(one_each, "- EMA").sentence()


def test_close_calls_are_judged_on_the_first_seeds_only() -> None:
    runs = [
        record(study.RECIPE, 1, 0.90),
        record(study.RECIPE, 2, 0.92),
        record("- EMA", 1, 0.89),
        record("- EMA", 2, 0.89),  # -2.0 points against a noise level of 2.31: 0.87 of it
        record("original CNN", 1, 0.80),
        record("original CNN", 2, 0.82),  # -10.0: 4.3 times the noise, clear
        record("- AdamW + cosine", 1, 0.91),
        record("- AdamW + cosine", 2, 0.91),  # 0.0: clear the other way, no effect seen
    ]
    assert study.close_calls(runs) == ["- EMA"]
    # bounds by hand: the noise level stays 2.31 points when a difference moves
    noise = study.compare(runs, "- EMA").noise
    low, high = study.CLOSE_CALL
    for accuracy, close in (
        (0.91 - low * noise / 100 + 1e-4, False),
        (0.91 - high * noise / 100 - 1e-4, False),
    ):
        moved = [*runs[:2], record("- EMA", 1, accuracy), record("- EMA", 2, accuracy), *runs[4:]]
        assert study.compare(moved, "- EMA").noise == pytest.approx(noise)
        assert (study.close_calls(moved) == ["- EMA"]) is close
    # a third seed, whatever it shows, does not change the list (a resumed study asks the same)
    later = [*runs, record(study.RECIPE, 3, 0.80), record("- EMA", 3, 0.95)]
    assert study.close_calls(later) == ["- EMA"]
    assert study.close_calls(runs[:1] + runs[2:3]) == []  # one seed each: no noise level yet
    assert study.close_calls(runs[2:]) == []  # no recipe


def test_paired_gains_and_the_report() -> None:
    runs = [
        record(study.RECIPE, 1, 0.90, val_accuracy_flip=0.91, val_accuracy_recalibrated=0.895),
        record(study.RECIPE, 2, 0.92, val_accuracy_flip=0.925, val_accuracy_recalibrated=None),
        record("original CNN", 1, 0.80, val_accuracy_flip=0.79, val_accuracy_recalibrated=None),
    ]
    assert study.paired_gain(runs, "val_accuracy_flip") == pytest.approx([1.0, 0.5])
    assert study.paired_gain(runs, "val_accuracy_recalibrated") == pytest.approx([-0.5])
    text = study.report(runs)
    assert "flip TTA on the recipe's runs: +0.75 points on average" in text
    assert "original CNN: -11.0 points against the recipe" in text
    assert study.report([]) == "No runs yet."


def test_the_figure_shows_every_run_and_each_mean() -> None:
    from catdog_utils import plots

    runs = [record(study.RECIPE, 1, 0.90), record(study.RECIPE, 2, 0.92), record("- EMA", 1, 0.88)]
    by_setup = study.runs_by_setup(runs)
    assert by_setup == {study.RECIPE: [0.90, 0.92], "- EMA": [0.88]}
    fig = plots.runs_and_means(by_setup, reference=study.RECIPE, noise=0.01)
    ax = fig.axes[0]
    dots = np.concatenate([c.get_offsets()[:, 0] for c in ax.collections if len(c.get_offsets())])
    assert sorted(dots) == pytest.approx([0.88, 0.90, 0.92])
    assert {t.get_text() for t in ax.get_yticklabels()} == {study.RECIPE, "- EMA"}
    assert "0.910" in [t.get_text() for t in ax.texts]  # the recipe's mean
    with pytest.raises(ValueError):
        plots.runs_and_means({})


def test_recalibrated_batch_norm_holds_the_statistics_of_the_photos() -> None:
    import keras

    inputs = keras.Input((4, 4, 3))
    model = keras.Model(inputs, keras.layers.BatchNormalization(momentum=0.9)(inputs))
    bn = model.layers[-1]
    rng = np.random.default_rng(0)
    images = (rng.normal(size=(96, 4, 4, 3)) * [1, 2, 3] + [5, -1, 0]).astype("float32")
    assert study.recalibrate_batch_norm(model, images, batch_size=32) == 1
    batches = images.reshape(3, 32 * 16, 3)  # three batches of 32 photos, 16 pixels each
    assert bn.moving_mean.numpy() == pytest.approx(batches.mean(axis=1).mean(axis=0), abs=1e-5)
    assert bn.moving_variance.numpy() == pytest.approx(batches.var(axis=1).mean(axis=0), rel=1e-4)
    assert bn.momentum == 0.9  # restored
    no_bn = keras.Sequential([keras.Input((4, 4, 3)), keras.layers.Flatten()])
    assert study.recalibrate_batch_norm(no_bn, images) == 0


def test_log_loss_by_hand() -> None:
    assert study.log_loss(np.array([1, 0]), np.array([0.8, 0.4])) == pytest.approx(
        -(math.log(0.8) + math.log(0.6)) / 2
    )


@pytest.mark.slow
def test_study_command_runs_records_and_resumes(
    tiny_dataset: Path,
    isolated_home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Two short runs on real photos, the file they leave, and a second call with nothing to do."""
    monkeypatch.setattr(study, "MIN_BUDGET_SHARE", 0.0)  # a 6-second budget fits whole epochs badly
    results = isolated_home / "study.jsonl"
    argv = [
        "study", "--profile", "quick", "--budget-minutes", "0.1", "--seeds", "1",
        "--only", study.RECIPE, "--only", "original CNN",
        "--data-dir", tiny_dataset, "--results", results,
    ]  # fmt: skip
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    runs = study.load_results(results)
    assert [(r["setup"], r["seed"]) for r in runs] == [(study.RECIPE, 1), ("original CNN", 1)]
    recipe, original = runs
    for r in runs:
        assert 0 <= r["val_accuracy"] <= 1 and r["val_loss"] > 0
        assert r["validation_photos"] == 4 and r["train_photos"] == 20  # 12 + 12, a fifth held out
        assert r["epochs"] == sum(r["epochs_per_size"].values()) >= 1
        assert r["profile"] == "quick" and r["budget_minutes"] == 0.1
        for key in ("cpu", "cores", "date", "commit", "tensorflow", "bfloat16", "configuration"):
            assert key in r
        assert (
            len(r["planned_epochs"])
            == len(r["estimated_epoch_seconds"])
            == len(r["epochs_per_size"])
        )
        assert len(r["epoch_seconds"]) == r["epochs"]
    assert set(recipe["epochs_per_size"]) == {"64", "128"}
    assert recipe["val_accuracy_recalibrated"] is not None  # batch norm
    assert original["val_accuracy_recalibrated"] is None  # none in the original CNN
    assert original["parameters"] == 813_217
    assert "original CNN (seed 1): validation" in out

    code, out, err = run_cli(capsys, *argv)
    assert code == 0 and out.startswith("Nothing to do"), (out, err)
    assert len(study.load_results(results)) == 2

    code, out, err = run_cli(capsys, *[a if a != "0.1" else "0.2" for a in argv])
    assert code == 2
    assert_one_line_error(err, "give another file with --results")
    code, out, err = run_cli(
        capsys, "study", "--summary", "--results", results, "--profile", "quick"
    )
    assert code == 0 and "original CNN" in out and "too few runs" in out
    code, out, err = run_cli(capsys, "study", "--only", "no such thing", "--results", results)
    assert code == 2
    assert_one_line_error(err, "No study configuration 'no such thing'")
    assert json.loads(results.read_text().splitlines()[0])["setup"] == study.RECIPE


def test_the_committed_study_is_trustworthy_and_does_not_contradict_the_recipe() -> None:
    """Every committed run is complete and of one kind; once every configuration has two
    runs (three for the close calls and the recipe), nothing may beat chapter 05's recipe
    beyond the spread without the recipe adopting it (a removal that helps, or a candidate
    that does)."""
    records = study.load_results(study.results_path("full"))
    if not records:
        pytest.skip("no study run committed yet")
    study.check_compatible(records, study.BUDGET_MINUTES, "full", None)
    for r in records:
        assert r["commit"] and not r["code_changed_since_commit"], r["setup"]
        assert r["budget_minutes"] >= 10 and study.used_its_budget(r), (r["setup"], r["seed"])
        assert not r["bfloat16"]
    counts = {s.name: sum(r["setup"] == s.name for r in records) for s in study.SETUPS}
    if min(counts.values()) < study.FIRST_SEEDS:
        pytest.skip(f"the study is not complete yet: runs per configuration {counts}")
    calls = study.close_calls(records)
    short = {
        n: counts[n] for n in [study.RECIPE, *calls] if calls and counts[n] < study.CLOSE_CALL_SEEDS
    }
    if short:
        pytest.skip(f"close calls {calls} still need their third seed: {short}")
    for name in counts:
        if name in (study.RECIPE, "original CNN"):
            continue
        verdict = study.compare(records, name)
        assert not (verdict.beyond_noise and verdict.difference > 0), (
            f"{verdict.sentence()}: change chapter 05's recipe (and models / training) to match"
        )


def test_close_calls_get_a_third_seed_and_the_recipe_too(
    tiny_dataset: Path,
    isolated_home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The command's order of runs, with training replaced by a table of accuracies: two
    seeds of everything, then a third for the close call and the recipe, and no more."""
    accuracy = {
        study.RECIPE: [0.90, 0.92, 0.91, 0.90],
        "- EMA": [0.89, 0.89, 0.90, 0.91],
        "original CNN": [0.80, 0.82, 0.81, 0.80],
    }  # seeds 1-4; fmt: skip
    done: list[tuple[str, int]] = []

    def fake_run(setup: study.Setup, seed: int, courses: dict, budget: float) -> dict:
        assert set(courses) == {64, 128}  # the sizes of every configuration asked for
        done.append((setup.name, seed))
        return {**record(setup.name, seed, accuracy[setup.name][seed - 1]),
                "budget_minutes": budget, "train_minutes": budget,
                "val_accuracy_flip": 0.9, "val_accuracy_recalibrated": None,
                "epochs": 1, "planned_epochs": [1], "estimated_epoch_seconds": [1.0],
                "epoch_seconds": [1.0]}  # fmt: skip

    monkeypatch.setattr(study, "run_one", fake_run)
    monkeypatch.setattr(study, "machine", lambda: {"cpu": "test"})
    results = isolated_home / "study.jsonl"
    argv = [
        "study", "--profile", "quick", "--budget-minutes", "0.1", "--data-dir", tiny_dataset,
        "--results", results, "--only", study.RECIPE, "--only", "- EMA", "--only", "original CNN",
    ]  # fmt: skip
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert done == [
        (study.RECIPE, 1), ("- EMA", 1), ("original CNN", 1),
        (study.RECIPE, 2), ("- EMA", 2), ("original CNN", 2),
        (study.RECIPE, 3), ("- EMA", 3),
    ]  # fmt: skip
    assert "Close calls after 2 seeds" in out and "- EMA. Each of them and the recipe" in out
    assert [(r["setup"], r["seed"]) for r in study.load_results(results)] == done
    code, out, err = run_cli(capsys, *argv)
    assert code == 0 and out.startswith("Nothing to do"), (out, err)
    done.clear()
    code, out, err = run_cli(capsys, *argv, "--close-call-seeds", "4")
    assert code == 0 and done == [(study.RECIPE, 4), ("- EMA", 4)], (out, err)


def test_a_run_that_did_not_use_its_budget_is_set_aside_and_runs_again(
    tiny_dataset: Path,
    isolated_home: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A run short of its budget goes to the side file and runs once more; the second is kept."""
    monkeypatch.setattr(study, "MIN_BUDGET_SHARE", 2.0)  # no run can train twice its budget
    results = isolated_home / "study.jsonl"
    argv = [
        "study", "--profile", "quick", "--budget-minutes", "0.05", "--seeds", "1",
        "--only", "original CNN", "--data-dir", tiny_dataset, "--results", results,
    ]  # fmt: skip
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    aside = study.load_results(study.discarded_path(results))
    kept = study.load_results(results)
    assert [(r["setup"], r["seed"]) for r in aside] == [("original CNN", 1)]
    assert [(r["setup"], r["seed"]) for r in kept] == [("original CNN", 1)]
    assert "set aside in" in out and "runs again at the end" in out
    assert study.discarded_path(results).name == "study-discarded.jsonl"
    assert not study.used_its_budget({"train_minutes": 9.7, "budget_minutes": 13.0})
