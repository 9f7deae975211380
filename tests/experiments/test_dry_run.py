"""dry_run: the runs a reproduction would train and their estimated time, with nothing trained or written."""

import pytest

from bandlimit.errors import BandlimitError, ConfigError
from bandlimit.experiments.dry_run import dry_run
from bandlimit.experiments.plan import Scale, estimate_seconds, plan
from bandlimit.experiments.reproduce import select_experiments
from bandlimit.train import TrainConfig

RUN = TrainConfig(model="lenet", data="synthetic2d", epochs=2, limit=32)
SCALE = Scale(
    name="tiny",
    seeds=2,
    rates=(0.5,),
    energies=(),
    calibrate=1,
    tasks={"synthetic": RUN, "absent CIFAR": RUN.with_(data="cifar10", data_root="/nonexistent")},
    ucr=RUN,
    ucr_sets=(),
    experiments=("accuracy", "resources"),
    gflops=10.0,
)


def test_every_planned_run_once_with_its_estimate(tmp_path):
    planned = dry_run(SCALE, tmp_path / "out")
    runs = [r.run for r in planned.runs]
    assert runs == plan(SCALE) and len({r.folder for r in runs}) == len(runs) == 2 * 2 * 2
    assert [r.seconds for r in planned.runs] == [estimate_seconds(r, 10.0) for r in runs]
    assert planned.gflops == 10.0 and planned.total_seconds == sum(r.seconds or 0 for r in planned.runs)
    assert not (tmp_path / "out").exists()


def test_gflops_scales_the_estimate(tmp_path):
    slow, fast = dry_run(SCALE, tmp_path, gflops=5), dry_run(SCALE, tmp_path, gflops=20)
    assert slow.total_seconds == pytest.approx(4 * fast.total_seconds)
    with pytest.raises(BandlimitError, match="gflops"):
        dry_run(SCALE, tmp_path, gflops=0)


def test_only_selects_experiments_of_the_scale(tmp_path):
    assert dry_run(SCALE, tmp_path, ["resources"]).runs == ()
    assert select_experiments(SCALE, ["resources", "accuracy"]) == ["accuracy", "resources"]
    with pytest.raises(ConfigError, match="scale tiny has no experiments \\['nothing'\\]"):
        dry_run(SCALE, tmp_path, ["nothing"])


def test_out_is_checked(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(ConfigError, match="is a file"):
        dry_run(SCALE, tmp_path / "file")
