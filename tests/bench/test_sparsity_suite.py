"""What `bandlimit sparsity-bench` runs, as library functions, on tiny layers."""

import json

import matplotlib.image
import pytest
import torch

from bandlimit.bench.sparsity import SparseCase, format_layer_sparsity
from bandlimit.bench.sparsity_suite import (
    QUICK_CASES,
    checkpoint_sparsity,
    format_sparsity_bench,
    run_sparsity_bench,
)
from bandlimit.cli import main
from bandlimit.errors import BandlimitError

CONV = SparseCase("conv", 4, 6, kernel=3, size=8, padding=1)
FAST = {"sparsities": (0.0, 0.9), "rounds": 1, "min_run_time": 0.001}


def _refuse(line: str) -> None:
    raise AssertionError(f"measured before refusing: {line}")


def test_run_writes_the_report_and_plot_it_returns(tmp_path):
    out, plot = tmp_path / "sparsity.json", tmp_path / "sparsity.png"
    previous = torch.get_num_threads()
    report = run_sparsity_bench(cases=[CONV], batches=[2, 3], plot=plot, out=out, log=lambda _: None, **FAST)
    assert torch.get_num_threads() == previous
    assert json.loads(out.read_text()) == json.loads(json.dumps(report))
    assert report["threads"] == 1 and {"cpu", "cpu_capability", "torch"} <= set(report["machine"])
    batches = report["cases"]["conv"]["batches"]
    assert list(batches) == ["2", "3"]
    assert [row["sparsity"] for row in batches["2"]] == [0.0, 0.9]
    assert matplotlib.image.imread(plot).shape[1] > 400


def test_text_is_the_machine_line_then_the_tables():
    report = run_sparsity_bench(cases=[CONV], batches=[1], log=lambda _: None, **FAST)
    header, blank, *tables = format_sparsity_bench(report).split("\n")
    assert header.endswith(f"torch {torch.__version__}, 1 thread(s)") and "CPU capability" in header
    assert blank == "" and tables[0] == "conv, batch 1: time / fastest dense (ms of the fastest dense)"


def test_quick_is_batch_1_of_conv2_and_fc6(tmp_path):
    assert [c.name for c in QUICK_CASES] == ["AlexNet conv2", "AlexNet fc6"]
    report = run_sparsity_bench(quick=True, cases=[CONV], log=lambda _: None, **FAST)
    assert list(report["cases"]["conv"]["batches"]) == ["1"]


@pytest.mark.parametrize(
    ("options", "keywords"),
    [
        ({"out": "missing/r.json"}, ["--out", "missing"]),
        ({"plot": "."}, ["--plot", "folder"]),
        ({"quick": True, "batches": [4]}, ["--batches", "--quick"]),
        ({"batches": [0]}, ["batches"]),
        ({"threads": 0}, ["threads"]),
    ],
    ids=["out-in-missing-folder", "plot-is-a-folder", "batches-with-quick", "zero-batch", "zero-threads"],
)
def test_bad_arguments_are_refused_before_measuring(tmp_path, monkeypatch, options, keywords):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(BandlimitError) as raised:
        run_sparsity_bench(cases=[CONV], log=_refuse, **FAST, **options)
    message = str(raised.value)
    assert "\n" not in message and all(k in message for k in keywords), message
    assert not list(tmp_path.iterdir())


def test_checkpoint_table_of_a_pruned_run(tmp_path):
    run = tmp_path / "run"
    argv = ["train", "--model", "fcn", "--data", "synthetic1d", "--limit", "32", "--epochs", "1", "--no-progress"]
    argv += ["--model-arg", "widths=[4,8,4]", "--method", "prune", "--prune-amount", "0.6", "--out", str(run)]
    assert main(argv) == 0
    rows = checkpoint_sparsity(run / "checkpoint.pt")
    assert [r["layer"] for r in rows] == ["features.0", "features.3", "features.6", "fc"]
    weights = sum(r["weights"] for r in rows)
    assert sum(r["sparsity"] * r["weights"] for r in rows) == pytest.approx(round(0.6 * weights), abs=1)
    assert all(r["csr_bytes"] > 0 and r["dense_bytes"] == 4 * r["weights"] for r in rows)
    assert "| total |" in format_layer_sparsity(rows)


def test_checkpoint_that_is_not_one_is_a_one_line_error(tmp_path):
    bad = tmp_path / "checkpoint.pt"
    bad.write_text("not a checkpoint")
    with pytest.raises(BandlimitError, match="checkpoint"):
        checkpoint_sparsity(bad)
