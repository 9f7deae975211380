"""Two-process data-parallel training under torchrun (gloo) matches one process."""

import os
import subprocess
import sys

import pytest
import torch

from bandlimit.io import read_jsonl
from bandlimit.train.checkpoint import load_checkpoint

ARGS = [
    "train",
    "--model",
    "lenet",
    "--data",
    "synthetic2d",
    "--rate",
    "0.5",
    "--limit",
    "128",
    "--epochs",
    "2",
    "--optimizer",
    "sgd",
    "--lr",
    "0.05",
    "--no-progress",
]


def _run(cmd, tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=tmp_path, timeout=600)
    assert done.returncode == 0, done.stderr[-2000:]


@pytest.mark.slow
def test_two_process_ddp_matches_single_process(tmp_path):
    # LeNet has no BatchNorm, so the gradient of a global batch split over two processes and
    # averaged by DDP equals the gradient of the whole batch in one process.
    _run([sys.executable, "-m", "bandlimit", *ARGS, "--batch-size", "32", "--out", "single"], tmp_path)
    _run(
        [
            sys.executable,
            "-m",
            "torch.distributed.run",
            "--standalone",
            "--nproc_per_node",
            "2",
            "-m",
            "bandlimit",
            *ARGS,
            "--batch-size",
            "16",
            "--out",
            "ddp",
        ],
        tmp_path,
    )
    single = load_checkpoint(tmp_path / "single" / "checkpoint.pt")
    ddp = load_checkpoint(tmp_path / "ddp" / "checkpoint.pt")
    for key, value in single["model_state"].items():
        torch.testing.assert_close(ddp["model_state"][key], value, rtol=1e-4, atol=1e-5)
    m_single, m_ddp = read_jsonl(tmp_path / "single" / "metrics.jsonl"), read_jsonl(tmp_path / "ddp" / "metrics.jsonl")
    for a, b in zip(m_single, m_ddp):
        assert a["loss"] == pytest.approx(b["loss"], rel=1e-4)
        assert a["test_acc"] == pytest.approx(b["test_acc"], abs=1 / 256)
