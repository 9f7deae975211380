"""The sparsity benchmark's bookkeeping on tiny layers (its timings are measurements, not tests)."""

import json

import matplotlib.image
import pytest
import torch
from torch import nn

import bandlimit as bl
from bandlimit.bench import sparsity
from bandlimit.cli import main


def test_tiny_run_counts_memory_and_finds_the_break_even(tmp_path):
    cases = (sparsity.SparseCase("conv", 4, 6, kernel=3, size=8, padding=1), sparsity.SparseCase("fc", 32, 16))
    report = sparsity.run_sparsity(
        cases, (0.0, 0.9), batches=(2, 3), sparse_batches=(2,), rounds=1, min_run_time=0.001, log=lambda s: None
    )
    conv = report["cases"]["conv"]["batches"]["2"]
    assert [r["sparsity"] for r in conv] == [0.0, 0.9]
    assert set(conv[0]["median_s"]) == {"F.conv2d", "dense GEMM", "CSR", "CSR x CSR"}
    assert set(report["cases"]["fc"]["batches"]["3"][0]["median_s"]) == {"dense GEMM", "CSR"}
    assert conv[0]["dense_bytes"] == 6 * 4 * 9 * 4
    nnz = round(0.1 * 216)
    assert conv[1]["csr_bytes"] == nnz * 8 + 7 * 4  # float32 values and int32 indices, 7 row pointers
    text = sparsity.format_sparsity(report)
    assert "conv, batch 2" in text and "break-even of CSR" in text
    sparsity.plot_sparsity(report, tmp_path / "plot.png")
    assert matplotlib.image.imread(tmp_path / "plot.png").shape[1] > 400


def test_break_even_is_the_first_sparsity_where_csr_wins():
    rows = [
        {"sparsity": 0.5, "median_s": {"F.conv2d": 1.0, "dense GEMM": 2.0, "CSR": 3.0}},
        {"sparsity": 0.9, "median_s": {"F.conv2d": 1.0, "dense GEMM": 0.9, "CSR": 0.95}},
        {"sparsity": 0.99, "median_s": {"F.conv2d": 1.0, "dense GEMM": 0.9, "CSR": 0.1}},
    ]
    assert sparsity.break_even(rows) == 0.99  # at 0.9 CSR beats F.conv2d but not the dense GEMM
    assert sparsity.break_even(rows[:2]) is None


def test_layer_table_of_a_pruned_model():
    torch.manual_seed(0)
    model = bl.compress_(nn.Sequential(nn.Conv2d(2, 4, 3), nn.Flatten(), nn.Linear(4, 3)), bl.PruneConfig(amount=0.5))
    rows = sparsity.layer_sparsity(model)
    assert [r["layer"] for r in rows] == ["0", "2"]
    assert sum(r["sparsity"] * r["weights"] for r in rows) == pytest.approx(round(0.5 * 84))
    assert "| total | | 84 | 0.500 |" in sparsity.format_layer_sparsity(rows)


def test_the_command_prints_the_machine_and_a_checkpoints_table(tmp_path, capsys):
    run = tmp_path / "run"
    argv = ["train", "--model", "fcn", "--data", "synthetic1d", "--limit", "32", "--epochs", "1", "--no-progress"]
    argv += ["--model-arg", "widths=[4,8,4]", "--method", "prune", "--prune-amount", "0.6", "--out", str(run)]
    assert main(argv) == 0
    capsys.readouterr()
    assert main(["sparsity-bench", "--checkpoint", str(run / "checkpoint.pt")]) == 0
    table = capsys.readouterr().out
    assert "features.0" in table and "| total |" in table
    config = json.loads((run / "config.json").read_text())
    assert config["compression"][0]["amount"] == 0.6
