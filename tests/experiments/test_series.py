"""The time-series protocols: statistics on worked examples, the standard plan pinned, verdicts,
and every experiment end to end at a tiny scale."""

import json

import pytest
import scipy.stats

from bandlimit.experiments import reproduce as rp
from bandlimit.experiments.energy_table import energy_verdicts
from bandlimit.experiments.scales import SCALES
from bandlimit.experiments.series import (
    SETTINGS,
    UCR_2015,
    SeriesScale,
    choose_sets,
    inference_tests,
    paired_statistics,
    series_runs,
)
from bandlimit.experiments.train_vs_inference import inference_verdict
from bandlimit.experiments.ucr_scatter import UcrScatter, scatter_verdict
from bandlimit.models import create_model
from bandlimit.train import TrainConfig


def _matrix(sets: int, order: list[str]) -> dict:
    """Every model, on every set, tests best at ``order[0]``, then ``order[1]``, ... (strict)."""
    accuracy = {tested: 0.9 - 0.1 * order.index(tested) for tested in SETTINGS}
    return {f"set{i}": {trained: dict(accuracy) for trained in SETTINGS} for i in range(sets)}


def test_friedman_over_inference_settings_on_a_worked_example():
    # 6 sets, 4 inference settings in the same strict order on every set: ranks 1, 2, 3, 4, so
    # chi-square = 12 N / (k (k + 1)) * (sum R_j^2 - k (k + 1)^2 / 4) = 3.6 * (30 - 25) = 18.
    order = ["energy 0.9", "energy 1", "rate 0.5", "rate 0.85"]
    tests = inference_tests(_matrix(6, order))
    first = tests["energy 0.9"]
    assert first["statistic"] == pytest.approx(18.0)
    assert first["p_value"] == pytest.approx(scipy.stats.chi2.sf(18.0, 3))
    assert dict(zip(first["methods"], first["mean_ranks"])) == {s: order.index(s) + 1.0 for s in SETTINGS}
    # CD = q_0.05(4, inf) / sqrt(2) * sqrt(k (k + 1) / (6 N)) = 2.569 * sqrt(20 / 36) (Demsar 2006, Table 5).
    assert first["critical_difference"] == pytest.approx(2.569 * (20 / 36) ** 0.5, abs=2e-3)
    assert first["first"] == "energy 0.9" and first["trained_first"]
    assert not first["trained_significantly_first"]  # rank 1 vs 2 differs by 1 < CD 1.91
    assert not tests["energy 1"]["trained_first"] and tests["energy 1"]["first"] == "energy 0.9"
    # With 30 sets the CD shrinks to 0.86: a one-rank lead is then significant.
    assert inference_tests(_matrix(30, order))["energy 0.9"]["trained_significantly_first"]


def test_wilcoxon_on_a_hand_computed_example():
    # Differences 0.01, 0.02, -0.03, 0.04, 0.05: W- = 3 (rank 3), W+ = 12; exact two-sided
    # p = 2 P(W <= 3) = 2 * 5 / 32 (subsets of {1..5} with sum <= 3: {}, {1}, {2}, {3}, {1,2}).
    stats = paired_statistics([0.51, 0.52, 0.47, 0.54, 0.55], [0.5] * 5)
    assert stats["statistic"] == 3.0 and stats["p_value"] == pytest.approx(10 / 32)
    assert stats["median_difference"] == pytest.approx(0.02) and stats["within_5"] == 5
    assert paired_statistics([0.5, 0.6], [0.5, 0.6])["p_value"] == 1.0  # all ties: no evidence


def test_the_random_choice_of_sets_is_reproducible():
    assert choose_sets(UCR_2015, 25, 7) == choose_sets(list(reversed(UCR_2015)), 25, 7)
    assert choose_sets(UCR_2015, 25, 7) != choose_sets(UCR_2015, 25, 8)
    assert len(set(choose_sets(UCR_2015, 25, 7))) == 25


def test_the_standard_plan_is_pinned():
    scale = SCALES["standard"]
    series = scale.series
    assert series.sets == choose_sets(UCR_2015, 25, 2019)
    assert set(UCR_2015) - set(series.sets) == {"BeetleFly", "DiatomSizeReduction", "ECG200", "Fish", "FordA"}
    fcn = create_model("fcn", 1, 50, **series.base.model_kwargs)
    widths = [m.out_channels for m in fcn.modules() if isinstance(m, __import__("torch").nn.Conv1d)]
    kernels = [m.kernel_size[0] for m in fcn.modules() if isinstance(m, __import__("torch").nn.Conv1d)]
    assert widths == [128, 256, 128] and kernels == [8, 5, 3]
    base = series.base
    assert (base.optimizer, base.lr, base.schedule, base.plateau_factor, base.plateau_patience) == (
        "adam", 1e-3, "plateau", 0.5, 50)  # fmt: skip
    assert base.plateau_min_lr == 1e-4 and base.normalize == "zscore" and base.validation == 0
    runs = {run.folder: run.config for run in series_runs(series)}
    assert len(runs) == 25 * 4 + 4 * 3 - 2  # Table 3's energy 100 and 90 seed-0 runs are the matrix's
    fifty = runs["series/FiftyWords/energy_1-s0"]
    assert (fifty.epochs, fifty.batch_size, fifty.eval_every) == (300, 16, 6)
    assert runs["series/FordB/rate_0.5-s0"].epochs == 30  # the budget's floor for the largest set
    assert runs["series/BirdChicken/energy_1-s0"].batch_size == 2  # min(N / 10, 16) of 20 series
    assert all(config.epochs >= 30 for config in runs.values())


def test_verdicts_on_constructed_results():
    order = ["energy 0.9", "energy 1", "rate 0.5", "rate 0.85"]
    tests = inference_tests(_matrix(30, order))
    assert inference_verdict(tests["energy 0.9"], "energy 0.9")[0] == "reproduced"
    assert inference_verdict(tests["energy 1"], "energy 1")[0] == "not reproduced"
    assert inference_verdict(None, "energy 1")[0] == "not testable at this scale"
    sets = {f"s{i}": {"energy 1": 0.8, "rate 0.5": 0.8 + d} for i, d in enumerate([0.01, -0.02, 0.0, 0.03, -0.01])}
    kept = UcrScatter(sets=sets, wilcoxon=paired_statistics([p["rate 0.5"] for p in sets.values()], [0.8] * 5))
    assert scatter_verdict(kept)[0] == "reproduced"
    lost = {f"s{i}": {"energy 1": 0.8, "rate 0.5": 0.6} for i in range(10)}
    assert scatter_verdict(UcrScatter(lost, wilcoxon=paired_statistics([0.6] * 10, [0.8] * 10)))[0] == "not reproduced"

    def row(energy, accs, saved):
        return {"energy": energy, "seeds": len(accs), "best_test_acc": accs, "saved_bytes_mean": saved}

    table = [row(1.0, [0.64, 0.65, 0.63], 100), row(0.9, [0.635, 0.64, 0.63], 60), row(0.5, [0.6], 50)]
    verdicts = {claim: verdict for claim, verdict, _ in energy_verdicts([*table, row(0.1, [0.4], 40)])}
    assert verdicts == {
        "accuracy kept at 90% energy": "reproduced",
        "less memory at 90% energy": "reproduced",
        "accuracy falls at 10% energy": "reproduced",
    }
    worse = [row(1.0, [0.64, 0.65, 0.63], 100), row(0.9, [0.55, 0.56, 0.54], 120)]
    assert {v for _, v, _ in energy_verdicts(worse)} == {"not reproduced"}


TINY_FCN = TrainConfig(model="fcn", limit=24, normalize="zscore", model_kwargs={"widths": [4, 8, 4]})
TINY = rp.Scale(
    name="tiny series",
    seeds=1,
    rates=(),
    energies=(),
    calibrate=0,
    tasks={},
    ucr=TINY_FCN,
    ucr_sets=(),
    series=SeriesScale(
        base=TINY_FCN,
        sets=("Coffee", "BirdChicken", "FiftyWords"),
        sets_seed=0,
        positions=1.0,
        epochs=(2, 3),
        fixed_epochs={"FiftyWords": 3},
        eval_points=2,
        table_energies=(1.0, 0.9, 0.5, 0.1),
        table_seeds=2,
    ),
    experiments=("train_vs_inference", "ucr_scatter", "energy_table"),
)


@pytest.mark.slow
def test_every_series_experiment_end_to_end(tmp_path):
    from bandlimit.experiments.report import write_report

    rp.reproduce(TINY, tmp_path, log=lambda line: None)
    matrix = json.loads((tmp_path / "train_vs_inference" / "results.json").read_text())
    assert sorted(matrix["sets"]) == ["BirdChicken", "Coffee", "FiftyWords"]
    assert set(matrix["tests"]) == set(SETTINGS) and all(len(t["mean_ranks"]) == 4 for t in matrix["tests"].values())
    # A plain model tested at the full band is tested exactly: the same accuracy as at training.
    for name in matrix["sets"]:
        result = json.loads((tmp_path / f"series/{name}/energy_1-s0/result.json").read_text())
        assert matrix["sets"][name]["energy 1"]["energy 1"] == pytest.approx(result["final_test_acc"], abs=1e-9)
    scatter = json.loads((tmp_path / "ucr_scatter" / "results.json").read_text())
    assert len(scatter["sets"]) == 3 and "p_value" in scatter["wilcoxon"]
    table = json.loads((tmp_path / "energy_table" / "results.json").read_text())
    assert [r["energy"] for r in table["rows"]] == [1.0, 0.9, 0.5, 0.1] and all(r["seeds"] == 2 for r in table["rows"])
    assert table["rows"][3]["achieved_rate"] > table["rows"][0]["achieved_rate"]
    md, _ = write_report(tmp_path)
    text = md.read_text()
    assert "Training vs inference setting" in text and "Table 3" in text and "Figure 8" in text
    assert "Not run yet" not in text and "accuracy kept at 90% energy" in text
    assert "Findings of the paper" in text and "Figure 22: a model trained at energy 0.9" in text
    assert text.count("not testable at this scale") >= 3  # accuracy sweep, robustness and resources: not run here


def test_every_selecting_experiment_has_a_validation_split():
    # The accuracy and methods experiments report the test accuracy at the epoch chosen on a
    # validation split: a run without one would have nothing to select with. Only the runs shared
    # with the time-series protocols follow the paper (no split; the best test accuracy).
    for scale in SCALES.values():
        for run in rp.plan(scale):
            if run.experiment in ("accuracy", "methods"):
                paper_protocol = scale.name == "standard" and run.task == "FiftyWords FCN"
                assert (run.config.validation == 0) == paper_protocol, (scale.name, run.folder)


def test_a_significant_loss_with_a_zero_median_is_not_preserved_accuracy():
    # 13 ties and 12 losses of 2 points: the median difference is 0, but the losses are significant.
    plain = [0.8] * 25
    treated = [0.8] * 13 + [0.78] * 12
    stats = paired_statistics(treated, plain)
    assert stats["median_difference"] == 0 and stats["p_loss"] < 0.01
    assert stats["p_loss"] == pytest.approx(scipy.stats.wilcoxon([0.0] * 13 + [-0.02] * 12, alternative="less").pvalue)
    sets = {f"s{i}": {"energy 1": p, "rate 0.5": t} for i, (p, t) in enumerate(zip(plain, treated))}
    assert scatter_verdict(UcrScatter(sets, wilcoxon=stats))[0] == "not reproduced"


@pytest.mark.slow
def test_parallel_training_tests_each_matrix_run_as_it_finishes(tmp_path):
    import dataclasses

    small = dataclasses.replace(TINY.series, sets=("Coffee",), table_energies=(1.0,), table_seeds=1)
    lines = []
    rp.reproduce(dataclasses.replace(TINY, series=small), tmp_path, workers=2, log=lines.append)
    # 4 matrix runs and Table 3's FiftyWords run (FiftyWords is not among the sets here)
    assert sum("trained (" in line for line in lines) == 5 and any("trained (5/5)" in line for line in lines)
    for setting in SETTINGS:
        cache = json.loads((tmp_path / f"series/Coffee/{setting.replace(' ', '_')}-s0/tested.json").read_text())
        assert set(cache["value"]) == set(SETTINGS)


@pytest.mark.slow
def test_the_sweep_shares_the_protocols_runs_end_to_end(tmp_path):
    import dataclasses

    from bandlimit.experiments.report import write_report
    from bandlimit.experiments.series import series_config

    fifty = series_config(TINY.series, "FiftyWords", "energy 1", 0)
    scale = dataclasses.replace(
        TINY,
        rates=(0.5,),
        energies=(0.9,),
        calibrate=1,
        tasks={"FiftyWords FCN": fifty},
        experiments=(*TINY.experiments, "accuracy"),
    )
    rp.reproduce(scale, tmp_path, log=lambda line: None)
    # plain, rate 0.5 and energy 0.9 per batch are the protocols' runs; only the calibrated one is new
    assert sorted(p.name for p in (tmp_path / "accuracy" / "FiftyWords_FCN").iterdir()) == ["energy_0.9_calibrated-s0"]
    rows = json.loads((tmp_path / "accuracy" / "results.json").read_text())["tasks"]["FiftyWords FCN"]["rows"]
    assert [r["variant"] for r in rows] == ["plain", "rate 0.5", "energy 0.9 dynamic", "energy 0.9 calibrated"]
    assert all(r["selected"] is None and 0 <= r["best_on_test"]["mean"] <= 1 for r in rows)  # no validation split
    text = write_report(tmp_path)[0].read_text()
    assert "FiftyWords FCN: accuracy degrades gracefully with the fixed rate (Table 1)" in text
    assert "fixed rates beat energy 0.9 calibrated" in text


@pytest.mark.slow
def test_an_unfinished_run_whose_checkpoint_is_gone_trains_again(tmp_path):
    import dataclasses

    small = dataclasses.replace(TINY.series, sets=("Coffee",), table_energies=(1.0,), table_seeds=1)
    scale = dataclasses.replace(TINY, series=small, experiments=("ucr_scatter",))
    rp.reproduce(scale, tmp_path, log=lambda line: None)
    folder = tmp_path / "series/Coffee/rate_0.5-s0"
    (folder / "result.json").unlink()  # as a session that ended mid-run leaves it: checkpoints are not committed
    (folder / "checkpoint.pt").unlink()
    lines = []
    rp.reproduce(scale, tmp_path, log=lines.append)
    assert any("checkpoint is gone: trained again" in line for line in lines)
    assert (folder / "result.json").exists()
