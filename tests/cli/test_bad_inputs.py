"""Bad inputs on the command line, black box: a run folder is a promise (issue 26).

Never lose a finished run, never reuse one trained with other settings, one line for every user error.
Written from the issue text only: messages are checked for the problem they name (a flag, a value, a field,
a file), case-insensitively, never for their exact wording.
"""

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch

from bandlimit.cli import main

# The issue's `T`, made cheap: a tiny FCN on 64 synthetic series, one epoch, one thread.
BASE = ["--data", "synthetic1d", "--limit", "64", "--epochs", "1", "--threads", "1", "--no-progress"]
T = ["--model", "fcn", *BASE, "--model-arg", "widths=[4,8,4]"]

LR = re.compile(r"\blr\b", re.IGNORECASE)  # "lr" as a word ("already" contains "lr" too)
ERROR_LINE = re.compile(r"^bandlimit( [\w-]+)?: error: ")


# ---------------------------------------------------------------------------------------------------------------
# helpers


def snapshot(folder: Path) -> dict[str, str]:
    """Relative path -> sha256 of every file under folder."""
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _check_user_error(code, err: str, keywords) -> str:
    """Exit 2, one non-empty line on stderr, no traceback, every keyword in it; returns the line."""
    assert code == 2, f"exit status {code!r}, stderr:\n{err}"
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, f"expected one line on stderr, got {len(lines)}:\n{err}"
    line = lines[0]
    assert ERROR_LINE.match(line), line
    for keyword in keywords:
        if isinstance(keyword, re.Pattern):
            assert keyword.search(line), f"{keyword.pattern!r} not in {line!r}"
        else:
            assert keyword.lower() in line.lower(), f"{keyword!r} not in {line!r}"
    return line


def _run(capsys, argv) -> tuple[object, str, str]:
    """main(argv) in process: (exit status, stdout, stderr); argparse's SystemExit counts as a status."""
    try:
        code = main([str(a) for a in argv])
    except SystemExit as exc:
        code = exc.code
    out, err = capsys.readouterr()
    return code, out, err


def run_cli(argv, cwd: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    """`python -m bandlimit argv` in a subprocess; a command that starts working instead of failing times out."""
    cmd = [sys.executable, "-m", "bandlimit", *map(str, argv)]
    try:
        return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        pytest.fail(f"{' '.join(cmd[2:])} did not fail within {timeout} s: it started working instead")


def assert_cli_user_error(argv, *keywords, cwd: Path, timeout: float = 60) -> str:
    proc = run_cli(argv, cwd, timeout)
    return _check_user_error(proc.returncode, proc.stderr, keywords)


@pytest.fixture
def assert_user_error(capsys):
    """assert_user_error(argv, *keywords) -> the error line, running main in process."""

    def check(argv, *keywords) -> str:
        code, _, err = _run(capsys, argv)
        return _check_user_error(code, err, keywords)

    return check


@pytest.fixture(autouse=True)
def _in_tmp_path(tmp_path, monkeypatch):
    """Anything a command writes by default lands in the test's own folder."""
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory) -> Path:
    """`train T --rate 0.5`: one finished run folder for the whole module (never modified; tests use copies)."""
    out = tmp_path_factory.mktemp("finished") / "good"
    assert main(["train", *T, "--rate", "0.5", "--out", str(out)]) == 0
    assert {"config.json", "metrics.jsonl", "checkpoint.pt", "result.json"} <= set(snapshot(out))
    return out


@pytest.fixture(scope="module")
def two_epoch_run(tmp_path_factory) -> Path:
    """`train T --rate 0.5 --epochs 2`, uninterrupted, same seed as finished_run."""
    out = tmp_path_factory.mktemp("two-epochs") / "B"
    assert main(["train", *T, "--rate", "0.5", "--epochs", "2", "--seed", "0", "--out", str(out)]) == 0
    return out


@pytest.fixture
def good(finished_run, tmp_path) -> Path:
    """A private copy of the finished run folder."""
    return Path(shutil.copytree(finished_run, tmp_path / "good"))


@pytest.fixture
def ckpt(finished_run) -> Path:
    return finished_run / "checkpoint.pt"


# ---------------------------------------------------------------------------------------------------------------
# 1. a failed `train` never touches a finished run, and leaves no new empty --out behind

FAILING_TRAINS = {
    # already refused cleanly before #26: must not regress
    "unknown-model": ([*T, "--model", "nosuch"], ["nosuch"]),
    "unknown-data": ([*T, "--data", "nosuch"], ["nosuch"]),
    "rate-1.5": ([*T, "--rate", "1.5"], ["rate"]),
    "epochs-0": ([*T, "--epochs", "0"], ["epochs"]),
    # issue #26
    "missing-data-set": (["--model", "lenet", *BASE, "--data", "cifar10", "--data-root", "{empty}"], ["cifar10"]),
    "resnet18-on-1d-data": (["--model", "resnet18", *BASE], ["resnet18"]),
    "lenet-on-1d-data": (["--model", "lenet", *BASE], ["lenet"]),
    "bad-model-arg": ([*T, "--model-arg", "nosuch_arg=1"], ["nosuch_arg"]),
}


def _train_argv(args, out: Path, tmp_path: Path) -> list[str]:
    empty = tmp_path / "empty-data-root"
    empty.mkdir(exist_ok=True)
    return ["train", *[a.replace("{empty}", str(empty)) for a in args], "--out", str(out)]


@pytest.mark.parametrize("case", FAILING_TRAINS)
def test_failed_train_leaves_finished_run_unchanged(assert_user_error, good, tmp_path, case):
    args, keywords = FAILING_TRAINS[case]
    before = snapshot(good)
    assert_user_error(_train_argv(args, good, tmp_path), *keywords)
    assert snapshot(good) == before


@pytest.mark.parametrize("case", FAILING_TRAINS)
def test_failed_train_leaves_no_new_out_folder(assert_user_error, tmp_path, case):
    args, keywords = FAILING_TRAINS[case]
    out = tmp_path / "new"
    assert_user_error(_train_argv(args, out, tmp_path), *keywords)
    assert not out.exists()


def test_resume_with_other_setting_is_refused(assert_user_error, good):
    before = snapshot(good)
    assert_user_error(["train", *T, "--rate", "0.5", "--lr", "0.01", "--resume", "--out", good], LR)
    assert snapshot(good) == before


def test_resume_from_corrupt_checkpoint_leaves_folder_unchanged(assert_user_error, good):
    ckpt = good / "checkpoint.pt"
    ckpt.write_bytes(ckpt.read_bytes()[:1000])
    before = snapshot(good)
    assert_user_error(["train", *T, "--rate", "0.5", "--epochs", "2", "--resume", "--out", good], "checkpoint")
    assert snapshot(good) == before


# ---------------------------------------------------------------------------------------------------------------
# 2. sweep never silently reuses runs trained with other settings


@pytest.fixture
def sweep_folder(tmp_path) -> Path:
    out = tmp_path / "sweepdir"
    assert main(["sweep", *T, "--grid", "rate=[0,0.5]", "--out", str(out)]) == 0
    assert len(list(out.glob("*/result.json"))) == 2
    return out


def test_sweep_with_other_settings_is_refused(assert_user_error, sweep_folder):
    before = snapshot(sweep_folder)
    argv = ["sweep", *T, "--epochs", "2", "--lr", "0.01", "--grid", "rate=[0,0.5]", "--out", sweep_folder]
    assert_user_error(argv, LR, sweep_folder.name)
    assert snapshot(sweep_folder) == before


def test_sweep_with_other_settings_and_force_retrains(capsys, sweep_folder):
    argv = ["sweep", *T, "--epochs", "2", "--lr", "0.01", "--grid", "rate=[0,0.5]", "--out", sweep_folder, "--force"]
    code, _, err = _run(capsys, argv)
    assert code == 0, err
    configs = [json.loads(p.read_text()) for p in sweep_folder.glob("*/config.json")]
    assert len(configs) == 2
    assert all(c["lr"] == 0.01 and c["epochs"] == 2 for c in configs), configs


def test_same_sweep_twice_reuses_finished_runs(capsys, sweep_folder):
    before = snapshot(sweep_folder)
    code, _, err = _run(capsys, ["sweep", *T, "--grid", "rate=[0,0.5]", "--out", sweep_folder])
    assert code == 0, err
    assert snapshot(sweep_folder) == before


# ---------------------------------------------------------------------------------------------------------------
# 3. --resume: fewer epochs refused, more epochs equal an uninterrupted run


def test_resume_with_fewer_epochs_is_refused(assert_user_error, two_epoch_run, tmp_path):
    folder = Path(shutil.copytree(two_epoch_run, tmp_path / "B"))
    before = snapshot(folder)
    assert_user_error(["train", *T, "--rate", "0.5", "--epochs", "1", "--resume", "--out", folder], "epochs")
    assert snapshot(folder) == before


def _records(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "metrics.jsonl").read_text().splitlines() if line.strip()]


def _weights(folder: Path) -> dict[str, torch.Tensor]:
    return torch.load(folder / "checkpoint.pt", weights_only=True)["model_state"]


def test_resume_with_more_epochs_equals_uninterrupted_run(capsys, good, two_epoch_run):
    argv = ["train", *T, "--rate", "0.5", "--epochs", "2", "--seed", "0", "--resume", "--out", good]
    code, _, err = _run(capsys, argv)
    assert code == 0, err
    resumed, direct = _records(good), _records(two_epoch_run)
    assert len(resumed) == len(direct) == 2
    for a, b in zip(resumed, direct):
        for key in ("epoch", "loss", "train_acc", "test_acc"):
            assert a[key] == pytest.approx(b[key], abs=1e-6), (key, a, b)
    wa, wb = _weights(good), _weights(two_epoch_run)
    assert wa.keys() == wb.keys()
    for name in wa:
        assert torch.allclose(wa[name].double(), wb[name].double(), atol=1e-6), name


# ---------------------------------------------------------------------------------------------------------------
# 4. user errors: one line, exit 2, no traceback


@pytest.fixture
def binary_config(tmp_path) -> Path:
    path = tmp_path / "binary.yaml"
    path.write_bytes(b"\x80\x81\xff\x00")
    return path


@pytest.mark.parametrize("command", ["train", "count"])
def test_binary_config_file(assert_user_error, binary_config, tmp_path, command):
    out = ["--out", tmp_path / "new"] if command == "train" else []
    assert_user_error([command, "--config", binary_config, *out], "binary.yaml")
    assert not (tmp_path / "new").exists()


@pytest.mark.parametrize(
    ("args", "keyword"),
    [
        (["--input-shape", "0,100"], "shape"),
        (["--input-shape", "1,-5"], "shape"),
        (["--input-shape", "1,100", "--num-classes", "0"], "classes"),
    ],
    ids=["zero-channels", "negative-length", "zero-classes"],
)
def test_summary_invalid_shapes(assert_user_error, args, keyword):
    assert_user_error(["summary", "--model", "fcn", *args], keyword)


@pytest.fixture
def existing_file(tmp_path) -> Path:
    path = tmp_path / "taken.txt"
    path.write_text("not a folder\n")
    return path


@pytest.mark.parametrize("args", [["error"], ["spectrum", "--series", "synthetic1d"]], ids=["error", "spectrum"])
def test_out_is_an_existing_file(assert_user_error, existing_file, args):
    assert_user_error([*args, "--no-progress", "--out", existing_file], existing_file.name)
    assert existing_file.read_text() == "not a folder\n"


def test_reproduce_out_is_an_existing_file(existing_file, tmp_path):
    argv = ["reproduce", "--scale", "quick", "--only", "resources", "--no-progress", "--out", existing_file]
    assert_cli_user_error(argv, existing_file.name, cwd=tmp_path)
    assert existing_file.read_text() == "not a folder\n"


@pytest.mark.parametrize(
    ("scale", "results", "keyword"),
    [
        ("{broken", None, "scale.json"),
        ("[]", None, "scale.json"),
        ('{"name": "quick", "notes": []}', "{broken", "results.json"),
        ('{"name": "quick", "notes": []}', "[]", "results.json"),
    ],
    ids=["scale-broken", "scale-list", "results-broken", "results-list"],
)
def test_report_of_broken_folder(assert_user_error, tmp_path, scale, results, keyword):
    folder = tmp_path / "reproduced"
    folder.mkdir()
    (folder / "scale.json").write_text(scale)
    if results is not None:
        (folder / "accuracy").mkdir()
        (folder / "accuracy" / "results.json").write_text(results)
    assert_user_error(["report", folder], keyword)


def test_bench_zero_rounds(tmp_path):
    assert_cli_user_error(["bench", "--rounds", "0"], "rounds", cwd=tmp_path)


@pytest.mark.parametrize("command", ["bench", "sparsity-bench"])
def test_bench_out_in_missing_folder_fails_before_measuring(tmp_path, command):
    out = tmp_path / "missing-folder" / "x.json"
    assert_cli_user_error([command, "--quick", "--out", out], "missing-folder", cwd=tmp_path)
    assert not out.parent.exists()


# ---------------------------------------------------------------------------------------------------------------
# 5. no half-written output


def test_spectrum_unknown_series_writes_nothing(assert_user_error, tmp_path):
    out = tmp_path / "D"
    assert_user_error(["spectrum", "--series", "nosuch", "--no-progress", "--out", out], "nosuch")
    assert not out.exists() or not any(out.iterdir())


def test_sweep_with_unknown_model_fails_before_training(assert_user_error, tmp_path):
    out = tmp_path / "X"
    assert_user_error(["sweep", *T, "--grid", "model=[fcn,nosuch]", "--out", out], "nosuch")
    assert not out.exists() or not list(out.glob("model=*"))


# ---------------------------------------------------------------------------------------------------------------
# 6. silent nonsense is refused


@pytest.mark.parametrize("gflops", ["-5", "0"])
def test_reproduce_dry_run_nonpositive_gflops(assert_user_error, tmp_path, gflops):
    assert_user_error(["reproduce", "--dry-run", "--gflops", gflops, "--out", tmp_path / "rep"], "gflops")


@pytest.mark.parametrize(
    "grid", [["--grid", "rate=[]"], ["--grid", "rate=[0]", "--grid", "rate=[0.5]"]], ids=["empty", "repeated-key"]
)
def test_sweep_nonsense_grids(assert_user_error, tmp_path, grid):
    assert_user_error(["sweep", *T, *grid, "--out", tmp_path / "X"], "rate")


def test_train_energy_and_rate_together(assert_user_error, tmp_path):
    out = tmp_path / "X"
    assert_user_error(["train", *T, "--bandlimit-energy", "0.9", "--rate", "0.5", "--out", out], "energy", "rate")
    assert not out.exists()


def test_train_empty_out(assert_user_error, tmp_path):
    assert_user_error(["train", *T, "--out", ""], "out")
    assert list(tmp_path.iterdir()) == []


def test_summary_num_classes_without_input_shape(assert_user_error):
    assert_user_error(["summary", "--model", "fcn", "--num-classes", "5"], "classes")


def test_spectrum_series_ignored_with_checkpoint(assert_user_error, ckpt, tmp_path):
    argv = ["spectrum", "--checkpoint", ckpt, "--layer", "features.0", "--series", "ucr:FiftyWords"]
    assert_user_error([*argv, "--no-progress", "--out", tmp_path / "sp"], "series")


@pytest.mark.parametrize(
    ("args", "keyword"), [(["--quick"], "quick"), (["--out", "x.json"], "out")], ids=["quick", "out"]
)
def test_sparsity_bench_flags_ignored_with_checkpoint(ckpt, tmp_path, args, keyword):
    assert_cli_user_error(["sparsity-bench", "--checkpoint", ckpt, *args], keyword, cwd=tmp_path)
    assert not (tmp_path / "x.json").exists()


def test_sparsity_bench_batches_ignored_with_quick(assert_user_error, tmp_path):
    out = tmp_path / "x.json"
    assert_user_error(["sparsity-bench", "--quick", "--batches", "4", "--out", out], "batches", "quick")
    assert not out.exists()


def test_energy_run_reports_the_achieved_rate_of_its_last_epoch(capsys, tmp_path):
    out = tmp_path / "E"
    code, _, err = _run(capsys, ["train", *T, "--bandlimit-energy", "0.9", "--out", out])
    assert code == 0, err
    result = json.loads((out / "result.json").read_text())
    assert result["achieved_rate"] == pytest.approx(_records(out)[-1]["achieved_rate"], rel=1e-12)


# ---------------------------------------------------------------------------------------------------------------
# 7. clear messages


def test_method_none_combined_with_others(assert_user_error, tmp_path):
    line = assert_user_error(["train", *T, "--method", "none", "bandlimit", "--out", tmp_path / "X"], "none")
    assert "unknown method" not in line.lower()


def test_eval_text_file_as_checkpoint(assert_user_error, tmp_path):
    text = tmp_path / "notes.txt"
    text.write_text("this is not a checkpoint\n" * 20)
    assert_user_error(["eval", "--no-progress", "--checkpoint", text], "notes.txt")


def test_eval_run_folder_as_checkpoint(capsys, finished_run):
    code, _, err = _run(capsys, ["eval", "--no-progress", "--checkpoint", finished_run])
    if code != 0:
        line = _check_user_error(code, err, [])
        assert "does not exist" not in line.lower()
        assert "folder" in line.lower() or "director" in line.lower(), line


def test_summary_bad_input_shape_names_no_lambda(capsys):
    code, _, err = _run(capsys, ["summary", "--model", "fcn", "--input-shape", "abc"])
    assert code == 2, err
    assert "Traceback" not in err and "<lambda>" not in err, err
    assert "abc" in err, err


@pytest.mark.parametrize("command", ["train", "sweep"])
def test_bad_flag_value_gives_a_short_message(capsys, tmp_path, command):
    grid = ["--grid", "rate=[0]"] if command == "sweep" else []
    code, _, err = _run(capsys, [command, *grid, "--epochs", "abc", "--out", tmp_path / "x"])
    assert code == 2, err
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert 1 <= len(lines) <= 3, f"{len(lines)} lines on stderr:\n{err}"
    assert "epochs" in err.lower() and "abc" in err, err
