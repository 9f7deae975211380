"""`bandlimit reproduce` and `bandlimit report` end to end at a tiny scale, on real UCR data."""

import dataclasses
import hashlib
import json
import re
import shutil

import matplotlib.image
import pytest

from bandlimit.cli import main
from bandlimit.errors import ConfigError
from bandlimit.experiments import reproduce as rp
from bandlimit.experiments.report import write_report
from bandlimit.train import TrainConfig

pytestmark = pytest.mark.slow  # about a minute: every experiment trains, and peaks are measured in fresh processes

TINY_RUN = TrainConfig(
    model="fcn",
    data="ucr:FiftyWords",
    epochs=2,
    batch_size=16,
    limit=48,
    validation=0.25,
    model_kwargs={"widths": [4, 8, 4]},
)
TINY = rp.Scale(
    name="tiny",
    seeds=2,
    rates=(0.5, 0.75),
    energies=(0.99,),
    calibrate=1,
    tasks={
        "FiftyWords FCN": TINY_RUN,
        "absent CIFAR": TINY_RUN.with_(model="lenet", data="cifar10", data_root="/nonexistent"),
        "synthetic LeNet": TINY_RUN.with_(model="lenet", data="synthetic2d", model_kwargs={}),
    },
    ucr=TINY_RUN.with_(epochs=1),
    ucr_sets=("Chinatown", "Coffee", "BME"),
    matrix_rates=(0.0, 0.5, 0.75),
    matrix_tasks=("synthetic LeNet", "absent CIFAR"),
    experiments=("accuracy", "rate_matrix", "image_matrix", "resources", "robustness", "methods"),
    steps=rp.resource_cases("fcn", 4, (0.0, 0.5), (("widths", (4, 8, 4)),)),
    robust_tasks=("FiftyWords FCN", "synthetic LeNet", "absent CIFAR"),
    robust_rates=(0.5,),
    compare_tasks=("FiftyWords FCN", "absent CIFAR"),
    prune_amounts=(0.8,),
    sigmas=(0.0, 1.0),
    epsilons=(0.1, 1.0),
    attack_samples=6,
    attack_steps=2,
)


@pytest.fixture(scope="module")
def reproduced(tmp_path_factory):
    out = tmp_path_factory.mktemp("reproduce")
    rp.reproduce(TINY, out, log=lambda line: None)
    return out


def test_every_planned_run_finished_or_names_its_missing_data(reproduced):
    runs = rp.plan(TINY)
    assert len(runs) == 3 * 2 * (1 + 2 + 2) + 2 * 9 + 3 * 3  # tasks x seeds x variants + methods + sets x rates
    results = json.loads((reproduced / "accuracy" / "results.json").read_text())
    missing = results["tasks"]["absent CIFAR"]["missing"]
    assert "cifar10" in missing and "not found" in missing and not results["tasks"]["absent CIFAR"]["rows"]
    rows = {r["variant"]: r for r in results["tasks"]["FiftyWords FCN"]["rows"]}
    assert set(rows) == {"plain", "rate 0.5", "rate 0.75", "energy 0.99 dynamic", "energy 0.99 calibrated"}
    assert rows["plain"]["seeds"] == 2 and rows["plain"]["achieved_rate"]["mean"] == 0
    assert rows["rate 0.5"]["achieved_rate"]["mean"] >= 0.5
    for row in rows.values():
        assert 0 <= row["selected"]["mean"] <= 1 and row["selected"]["std"] >= 0
        assert row["best_on_test"]["mean"] >= row["selected"]["mean"] - 1e-12  # best on test bounds selection
    table = results["tasks"]["FiftyWords FCN"]["energy_table"]
    assert [r["variant"] for r in table] == ["plain", "rate 0.5", "rate 0.75"]
    assert table[0]["energy_kept"] == pytest.approx(1.0) and 0.5 < table[1]["energy_kept"] < 1.0


def test_rate_matrix_and_its_statistics(reproduced):
    results = json.loads((reproduced / "rate_matrix" / "results.json").read_text())
    assert sorted(results["sets"]) == ["ucr:BME", "ucr:Chinatown", "ucr:Coffee"]
    for matrix in results["sets"].values():
        assert set(matrix) == {"0", "0.5", "0.75"} and all(set(row) == {"0", "0.5", "0.75"} for row in matrix.values())
    # Figures 22-23: one test per training rate, over the test rates (the treatments), sets as blocks.
    assert set(results["tests"]) == {"0", "0.5", "0.75"}
    for test in results["tests"].values():
        assert test["methods"] == ["0", "0.5", "0.75"] and test["datasets"] == 3
        assert sum(test["mean_ranks"]) == pytest.approx(6.0)  # ranks 1..3 per data set
        assert test["first"] in test["methods"]


def test_image_matrix_tests_each_trained_rate_at_every_rate(reproduced):
    result = json.loads((reproduced / "image_matrix" / "results.json").read_text())
    assert result["rates"] == ["0", "0.5", "0.75"] and result["tasks"]["absent CIFAR"] == {}
    lenet = result["tasks"]["synthetic LeNet"]
    assert list(lenet) == ["0", "0.5", "0.75"] and all(list(row) == result["rates"] for row in lenet.values())
    # a model tested at its own rate scores its run's last-epoch test accuracy
    own = json.loads((reproduced / "accuracy/synthetic_LeNet/rate_0.5-s0/result.json").read_text())["final_test_acc"]
    assert lenet["0.5"]["0.5"] == pytest.approx(own, abs=1e-9)


def test_resources_of_every_variant(reproduced):
    results = json.loads((reproduced / "resources" / "results.json").read_text())
    section = results["steps"]["fcn batch 4"]
    assert set(section) == {
        "nn.Conv",
        "nn.Conv+bf16",
        "bandlimit 0.0+spectral",
        "bandlimit 0.0",
        "bandlimit+checkpoint 0.0",
        "bandlimit 0.5",
        "bandlimit+checkpoint 0.5",
        "bandlimit 0.5+bf16",
    }
    assert section["nn.Conv"]["time_vs_plain"] == 1.0 and results["threads"] == 1
    # Spectral checkpoints keep less than the same model without them; everything has a peak.
    assert section["bandlimit+checkpoint 0.5"]["saved_bytes"] < section["bandlimit 0.5"]["saved_bytes"]
    assert all(e["peak_bytes"] > 0 for e in section.values())


def test_robustness_of_the_seed_zero_models(reproduced):
    from bandlimit.experiments.attacks import ATTACKS

    results = json.loads((reproduced / "robustness" / "results.json").read_text())
    series, images = results["tasks"]["FiftyWords FCN"], results["tasks"]["synthetic LeNet"]
    assert "no finished models" in results["tasks"]["absent CIFAR"]["missing"]
    # Only the robust rates' models (not rate 0.75); no attacks on series.
    assert set(series["models"]) == {"plain", "rate 0.5"} and series["recovery"] is None
    for model in [*series["models"].values(), *images["models"].values()]:
        assert len(model["noise"]["gaussian"]) == len(model["noise"]["uniform"]) == 2
        assert model["noise"]["gaussian"][0] == model["noise"]["uniform"][0]  # sigma 0: the clean accuracy
    for attack in images["models"]["plain"]["attacks"].values():
        assert attack["samples"] == 6 and attack["attacked"] <= 6
    assert set(images["models"]["rate 0.5"]["attacks"]) == set(ATTACKS)
    assert images["recovery"]["rates"] == [0.0, 0.5, 0.75] and len(images["recovery"]["adversarial"]) == 3


def test_methods_side_by_side(reproduced):
    results = json.loads((reproduced / "methods" / "results.json").read_text())
    assert "not found" in results["tasks"]["absent CIFAR"]["missing"]
    rows = {r["variant"]: r for r in results["tasks"]["FiftyWords FCN"]["rows"]}
    assert set(rows) == {
        "plain",
        "rate 0.5",
        "prune 0.8",
        "ssl",
        "bf16",
        "rate 0.5 + bf16",
        "rate 0.5 + prune 0.8",
        "prune 0.8 + bf16",
        "strassen 1",
        "strassen 0.5",
        "strassen 1 + distilled",
    }
    plain, pruned = rows["plain"], rows["prune 0.8"]
    assert plain["weights"]["stored"] == plain["weights"]["dense"]  # no zeros: stored densely
    assert pruned["weights"]["dense"] == plain["weights"]["dense"]  # the same model
    assert pruned["weights"]["stored"] < 0.8 * pruned["weights"]["dense"]  # a fifth of its weights, as CSR
    assert rows["bf16"]["saved_bytes"] < plain["saved_bytes"]  # bf16 activations
    assert set(pruned["inference_ms"]) == {"as trained", "CSR"} and set(plain["inference_ms"]) == {"as trained"}
    assert rows["strassen 0.5"]["multiplications"] < rows["strassen 1"]["multiplications"] < plain["multiplications"]
    assert rows["strassen 1"]["additions"] > 0 and rows["rate 0.5"]["multiplications"] is None
    ssl = rows["ssl"]["ssl"]
    assert set(ssl["zero_groups"]) == {"features.0", "features.3", "features.6"} and 0 <= ssl["test_acc"] <= 1
    assert rows["ssl"]["weights"]["stored"] <= rows["ssl"]["weights"]["dense"]


def test_a_second_call_trains_nothing(reproduced):
    lines = []
    rp.reproduce(TINY, reproduced, log=lines.append)
    assert not [line for line in lines if line.endswith(": training")]
    assert sum("measured already" in line for line in lines) == 3  # resources, robustness and methods


def _files(folder):
    return {path: path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_changed_settings_are_refused_before_anything_runs_and_forced_again(reproduced, tmp_path):
    out = shutil.copytree(reproduced, tmp_path / "copy")
    before = _files(out)
    other_lr = dataclasses.replace(TINY, ucr=TINY.ucr.with_(lr=0.01))
    refused = r"rate_matrix/ucr_\w+/rate0 holds a run with other settings \(lr 0.001 -> 0.01\)"
    with pytest.raises(ConfigError, match=refused):
        rp.reproduce(other_lr, out, only=["rate_matrix"], log=lambda line: None)
    with pytest.raises(ConfigError, match=r"other settings of the scale \(sigmas\): --force measures robustness"):
        rp.reproduce(dataclasses.replace(TINY, sigmas=(0.0, 2.0)), out, only=["robustness"], log=lambda line: None)
    with pytest.raises(ConfigError, match="holds a reproduction at scale 'tiny', not 'other'"):
        rp.reproduce(dataclasses.replace(TINY, name="other"), out, only=["accuracy"], log=lambda line: None)
    assert _files(out) == before
    lines = []
    rp.reproduce(other_lr, out, only=["rate_matrix"], force=True, log=lines.append)
    assert sum(line.endswith(": training") for line in lines) == 9  # 3 sets x 3 rates, trained again
    folders = [config.parent for config in (out / "rate_matrix").rglob("config.json")]
    assert len(folders) == 9
    for folder in folders:
        assert json.loads((folder / "config.json").read_text())["lr"] == 0.01
        cache = json.loads((folder / "test_rates.json").read_text())  # tested again: keyed on the new result
        key = (folder / "result.json").read_bytes() + json.dumps([0.0, 0.5, 0.75]).encode()
        assert cache["key"] == hashlib.sha256(key).hexdigest()
    # More epochs in the scale extend its finished runs (not skip them, not retrain them).
    longer = dataclasses.replace(other_lr, ucr=other_lr.ucr.with_(epochs=2))
    lines = []
    rp.reproduce(longer, out, only=["rate_matrix"], log=lines.append)
    assert sum(line.endswith(": training") for line in lines) == 9
    assert all(json.loads((f / "result.json").read_text())["epochs"] == 2 for f in folders)
    assert all(len((f / "metrics.jsonl").read_text().splitlines()) == 2 for f in folders)


def test_report_files_reference_only_what_exists_and_render_offline(reproduced):
    md, page = write_report(reproduced)
    text = md.read_text()
    images = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    expected = {"report/accuracy-FiftyWords_FCN.png", "report/rate-matrix.png", "report/critical-difference-0.5.png"}
    assert expected <= set(images)
    assert "report/ucr-scatter.png" in images and "report/resources-fcn_batch_4.png" in images
    assert "report/noise-synthetic_LeNet.png" in images and "report/methods-FiftyWords_FCN.png" in images
    assert "6. Band-limiting beside pruning" in text and "Winners, highest selected accuracy" in text
    for image in images:
        assert matplotlib.image.imread(reproduced / image).shape[1] >= 400
    assert "64.40" in text and "data is not on this machine" in text
    html = page.read_text()
    # Nothing to fetch: every resource is embedded (a data-set URL may appear in the text, not as a link).
    sources = re.findall(r"""src=['"]([^'"]+)""", html)
    assert len(sources) == len(images) and all(src.startswith("data:image/png;base64,") for src in sources)
    assert "<script" not in html and "href=" not in html and "<link" not in html


def test_commands_dry_run_and_report(reproduced, capsys):
    assert main(["reproduce", "--scale", "quick", "--only", "rate_matrix", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "ucr:Chinatown" in out and re.search(r"100 runs, about [\d.]+ h", out)
    assert main(["report", str(reproduced)]) == 0
    assert main(["report", str(reproduced / "accuracy")]) == 2
    assert main(["reproduce", "--only", "nothing", "--dry-run"]) == 2
