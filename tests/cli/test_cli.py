"""The `bandlimit` command: user errors give one line and a non-zero exit, never a traceback."""

import json
import subprocess
import sys

import pytest

from bandlimit.cli import main

SMALL = ["--model", "fcn", "--data", "synthetic1d", "--limit", "64", "--model-arg", "widths=[4,8,4]", "--no-progress"]


def _error(capsys, argv) -> str:
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("bandlimit: error: "), err
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    assert main(["train", *SMALL, "--epochs", "1", "--rate", "0.5", "--out", str(out)]) == 0
    return out


def test_unknown_model_and_data(capsys, tmp_path):
    assert "unknown model 'nope'" in _error(capsys, ["train", "--model", "nope", "--out", str(tmp_path)])
    line = _error(capsys, ["train", "--model", "fcn", "--data", "nope", "--out", str(tmp_path)])
    assert "nope" in line and "synthetic1d" in line


def test_missing_data_set_says_where_it_looked(capsys, tmp_path):
    line = _error(
        capsys,
        ["train", "--model", "lenet", "--data", "cifar10", "--data-root", str(tmp_path), "--out", str(tmp_path / "o")],
    )
    assert str(tmp_path) in line and "cifar10" in line


@pytest.mark.parametrize("rate", ["1", "-0.5", "1.5"])
def test_invalid_rates(capsys, tmp_path, rate):
    assert "rate must be in [0, 1)" in _error(capsys, ["train", *SMALL, "--rate", rate, "--out", str(tmp_path)])


def test_invalid_config_values_and_files(capsys, tmp_path):
    assert "epochs must be >= 1, got 0" in _error(capsys, ["train", *SMALL, "--epochs", "0", "--out", str(tmp_path)])
    bad = tmp_path / "bad.yaml"
    bad.write_text("epochs: 2\nlearning_rate: 0.1\n")
    assert "unknown config keys ['learning_rate']" in _error(
        capsys, ["train", "--config", str(bad), "--out", str(tmp_path)]
    )
    assert "cannot read config file" in _error(
        capsys, ["train", "--config", str(tmp_path / "no.yaml"), "--out", str(tmp_path)]
    )
    assert "model 'fcn' takes 1D inputs" in _error(
        capsys, ["train", "--model", "fcn", "--data", "synthetic2d", "--out", str(tmp_path)]
    )


def test_output_folder_that_cannot_be_written(capsys, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    assert "cannot be written" in _error(capsys, ["train", *SMALL, "--out", str(blocker / "sub")])
    assert "is a file, not a folder" in _error(capsys, ["train", *SMALL, "--out", str(blocker)])
    assert "--out must name a folder" in _error(capsys, ["train", *SMALL, "--out", ""])


def test_checkpoint_errors(capsys, tmp_path, trained):
    ckpt = trained / "checkpoint.pt"
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(ckpt.read_bytes()[:1000])
    assert "corrupted or truncated" in _error(capsys, ["eval", "--checkpoint", str(truncated)])
    assert "does not exist" in _error(capsys, ["eval", "--checkpoint", str(tmp_path / "absent.pt")])
    # Resuming a run folder with a checkpoint of another model.
    other = ["train", "--model", "lenet", "--data", "synthetic2d", "--limit", "64", "--out", str(trained), "--resume"]
    assert f"run folder {trained} holds a run with other settings (model 'fcn' -> 'lenet'" in _error(capsys, other)
    assert "rate must be in" in _error(capsys, ["eval", "--checkpoint", str(ckpt), "--rates", "1.0"])


def test_eval_at_several_rates(capsys, trained):
    assert main(["eval", "--checkpoint", str(trained / "checkpoint.pt"), "--rates", "0", "0.5", "0.9", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert [r["rate"] for r in rows] == [0.0, 0.5, 0.9]
    assert rows[2]["achieved_rate"] >= 0.9


def test_summary_and_list(capsys):
    assert main(["summary", "--model", "resnet18", "--input-shape", "3,32,32", "--rate", "0.5"]) == 0
    out = capsys.readouterr().out
    assert "BandLimitedConv2d" in out and "total (20 layers" in out
    assert main(["summary", "--list"]) == 0
    assert "fcn" in capsys.readouterr().out


def test_sweep_and_resume_through_the_cli(capsys, tmp_path):
    argv = ["sweep", *SMALL, "--epochs", "1", "--grid", "rate=[0,0.5]", "--out", str(tmp_path)]
    assert main(argv) == 0
    assert main(argv) == 0
    assert capsys.readouterr().out.count("finished already") == 2


def test_demo_help_says_how_to_scale_up():
    done = subprocess.run([sys.executable, "-m", "bandlimit", "demo", "--help"], capture_output=True, text=True)
    assert done.returncode == 0
    assert "To scale up" in done.stdout and "--epochs" in done.stdout


def test_bad_flag_is_a_usage_error():
    done = subprocess.run(
        [sys.executable, "-m", "bandlimit", "train", "--rate", "abc", "--out", "x"], capture_output=True, text=True
    )
    assert done.returncode == 2 and "Traceback" not in done.stderr and "--rate" in done.stderr


@pytest.mark.parametrize(
    "argv, match",
    [
        (["train", "--override", "a=[0,", "--out", "x"], "not valid YAML"),
        (["train", "--threads", "0", "--out", "x"], "positive int"),
    ],
)
def test_malformed_flags_are_usage_errors(argv, match):
    done = subprocess.run([sys.executable, "-m", "bandlimit", *argv], capture_output=True, text=True)
    assert done.returncode == 2 and "Traceback" not in done.stderr and match in done.stderr


def test_summary_input_shape_must_fit_the_model(capsys):
    line = _error(capsys, ["summary", "--model", "resnet18", "--input-shape", "3,32"])
    assert "input_shape must be C,H,W" in line


def test_a_bug_shows_its_traceback_and_asks_for_a_report(capsys, monkeypatch, tmp_path):
    import bandlimit.train

    def broken(*args, **kwargs):
        raise ValueError("an internal inconsistency")  # a ValueError, but not a user mistake

    monkeypatch.setattr(bandlimit.train, "train", broken)
    assert main(["train", *SMALL, "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "Traceback" in err and "an internal inconsistency" in err and "report it" in err


def test_settings_from_a_file_then_flags(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("epochs: 1\nmethod: none\n")  # the file's keys are the flags' names
    out = tmp_path / "out"
    assert main(["train", *SMALL, "--config", str(config), "--out", str(out)]) == 0
    assert json.loads((out / "config.json").read_text())["compression"] == []
    legacy = tmp_path / "legacy.yaml"
    legacy.write_text("epochs: 1\nrate: 0.5\nrate_overrides: {'features.0': 0.2}\n")  # keys of the first release
    assert main(["train", *SMALL, "--config", str(legacy), "--out", str(tmp_path / "legacy")]) == 0
    saved = json.loads((tmp_path / "legacy" / "config.json").read_text())["compression"]
    expected = {"method": "bandlimit", "version": 1, "rate": 0.5, "checkpoint": False, "where_it_pays": False}
    expected.update(basis="fft", energy=None, calibrate=0, calibrated_energy=None, overrides={"features.0": 0.2})
    assert saved == [expected]


def test_spectral_checkpoints_from_the_command_line(tmp_path):
    out = tmp_path / "run"
    assert main(["train", *SMALL, "--epochs", "1", "--rate", "0.5", "--spectral-checkpoints", "--out", str(out)]) == 0
    [band] = json.loads((out / "config.json").read_text())["compression"]
    assert band["checkpoint"] is True and band["rate"] == 0.5


def test_contradictory_run_flags(capsys, tmp_path, trained):
    line = _error(capsys, ["train", *SMALL, "--out", str(trained), "--resume", "--force"])
    assert "--resume" in line and "--force" in line
    grid = ["sweep", *SMALL, "--grid", "rate=[0.3]", "--grid", "bandlimit.rate=[0.7]", "--out", str(tmp_path)]
    assert "the same setting twice (bandlimit.rate, rate)" in _error(capsys, grid)
    energy = tmp_path / "energy.yaml"
    energy.write_text("bandlimit.energy: 0.9\n")
    line = _error(capsys, ["train", *SMALL, "--config", str(energy), "--rate", "0.3", "--out", str(tmp_path / "e")])
    assert "bandlimit.rate and bandlimit.energy exclude each other" in line
    assert not (tmp_path / "e").exists()


@pytest.mark.slow
def test_quick_bench_prints_its_table_and_writes_its_report(capsys, tmp_path):
    out = tmp_path / "bench.json"
    assert main(["bench", "--quick", "--threads", "1", "--min-run-time", "0.01", "--out", str(out)]) == 0
    printed, progress = capsys.readouterr()
    report = json.loads(out.read_text())
    assert report["method"]["rounds"] == 2 and "steps" not in report and "memory" not in report
    assert [layer["case"]["kernel"] for layer in report["threads"]["1"]["layers"].values()] == [3, 3, 3]
    assert printed.startswith("1 thread(s); measured peak ") and "3x3: time(rate 0.85) / time(rate 0)" in printed
    assert "[1 thread(s)] measured peak" in progress and "[1 thread(s)]" not in printed  # progress on stderr
