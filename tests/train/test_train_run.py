"""Training runs: metrics, checkpoints, exact resume, evaluation at other rates, sweeps, demo."""

import json

import pytest
import torch

from bandlimit.compress import BandLimitConfig
from bandlimit.experiments import DEMO, run_demo, run_sweep
from bandlimit.train import (
    ConfigError,
    TrainConfig,
    apply_settings,
    evaluate_checkpoint,
    load_metrics,
    train,
)
from bandlimit.train.checkpoint import load_checkpoint

VOLATILE = {"epoch_time_s", "peak_memory_bytes"}  # wall-clock and process-wide figures


def _stable(metrics):
    return [{k: v for k, v in m.to_dict().items() if k not in VOLATILE} for m in metrics]


def quiet(_line: str) -> None:
    pass


def test_training_learns_and_writes_its_folder(small_config, tmp_path):
    result = train(small_config.with_(epochs=4), tmp_path, log=quiet)
    metrics = load_metrics(tmp_path)
    assert [m.epoch for m in metrics] == [1, 2, 3, 4]
    assert metrics[-1].loss < metrics[0].loss
    assert result.final_test_acc > 0.5  # 4 classes: chance is 0.25
    assert 0.5 <= result.achieved_rate < 0.6
    assert all(m.saved_bytes > 0 and m.peak_memory_bytes > 0 for m in metrics)
    assert {p.name for p in tmp_path.iterdir()} == {"checkpoint.pt", "metrics.jsonl", "result.json", "config.json"}
    assert json.loads((tmp_path / "config.json").read_text()) == small_config.with_(epochs=4).to_dict()


IMAGE_RUN = TrainConfig(
    model="lenet",
    data="synthetic2d",
    compression=(BandLimitConfig(rate=0.3),),
    epochs=3,
    batch_size=32,
    limit=96,
    optimizer="sgd",
    lr=0.05,
    schedule="cosine",
    augment=True,
)


@pytest.mark.parametrize("kind", ["fcn", "lenet+cosine+augment"])
def test_killed_run_resumes_exactly(small_config, tmp_path, kind):
    if kind != "fcn":
        small_config = IMAGE_RUN
    full = tmp_path / "full"
    train(small_config, full, log=quiet)

    killed = tmp_path / "killed"

    def kill_after_first_epoch(line: str) -> None:
        if line.startswith("epoch 1/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(small_config, killed, log=kill_after_first_epoch)
    assert len(load_metrics(killed)) == 1 and not (killed / "result.json").exists()
    train(small_config, killed, resume=True, log=quiet)

    a, b = load_checkpoint(full / "checkpoint.pt"), load_checkpoint(killed / "checkpoint.pt")
    for key, value in a["model_state"].items():
        assert torch.equal(value, b["model_state"][key]), key
    assert _stable(load_metrics(full)) == _stable(load_metrics(killed))


def _files(folder):
    return {p.relative_to(folder): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def test_resume_refuses_another_configuration_and_changes_nothing(small_config, tmp_path):
    train(small_config.with_(epochs=1), tmp_path, log=quiet)
    before = _files(tmp_path)
    with pytest.raises(ConfigError, match=r"other settings \(epochs 1 -> 3, bandlimit.rate 0.5 -> 0.3\)"):
        train(small_config.with_(compression=(BandLimitConfig(rate=0.3),)), tmp_path, resume=True, log=quiet)
    with pytest.raises(ConfigError, match="model 'fcn' -> 'lenet'"):
        train(small_config.with_(model="lenet", data="synthetic2d", model_kwargs={}), tmp_path, resume=True, log=quiet)
    with pytest.raises(ConfigError, match=r"other settings \(lr 0.01 -> 0.001\); --force trains it again"):
        train(small_config.with_(epochs=1, lr=0.001), tmp_path, log=quiet)
    assert _files(tmp_path) == before


def test_fewer_epochs_are_refused_and_the_same_run_is_returned_as_it_is(small_config, tmp_path):
    train(small_config.with_(epochs=2), tmp_path, log=quiet)
    before = _files(tmp_path)
    with pytest.raises(ConfigError, match="has run 2 epochs already: --epochs must be at least 2 .*got 1"):
        train(small_config.with_(epochs=1), tmp_path, resume=True, log=quiet)
    lines = []
    assert train(small_config.with_(epochs=2), tmp_path, log=lines.append).epochs == 2
    assert lines == [f"finished already ({tmp_path / 'result.json'})"] and _files(tmp_path) == before


def test_resume_with_more_epochs_equals_an_uninterrupted_longer_run(small_config, tmp_path):
    config = small_config.with_(schedule="plateau", plateau_patience=0)  # the schedule's state crosses the resume
    train(config.with_(epochs=1), tmp_path / "short", log=quiet)
    with pytest.raises(ConfigError, match="--resume continues it to 3 epochs"):
        train(config.with_(epochs=3), tmp_path / "short", log=quiet)
    extended = train(config.with_(epochs=3), tmp_path / "short", resume=True, log=quiet)
    longer = train(config.with_(epochs=3), tmp_path / "long", log=quiet)
    assert extended.epochs == longer.epochs == 3
    assert _stable(load_metrics(tmp_path / "short")) == _stable(load_metrics(tmp_path / "long"))
    a, b = (load_checkpoint(tmp_path / name / "checkpoint.pt")["model_state"] for name in ("short", "long"))
    assert all(torch.equal(a[key], b[key]) for key in b)
    assert json.loads((tmp_path / "short" / "config.json").read_text())["epochs"] == 3


def test_evaluate_at_other_rates(small_config, tmp_path):
    train(small_config.with_(compression=(BandLimitConfig(rate=0.0),)), tmp_path, log=quiet)
    rows = evaluate_checkpoint(tmp_path / "checkpoint.pt", [0.0, 0.5, 0.95])
    assert [r["rate"] for r in rows] == [0.0, 0.5, 0.95]
    assert rows[0]["achieved_rate"] == 0.0 and rows[2]["achieved_rate"] >= 0.95
    assert rows[0]["test_acc"] == load_metrics(tmp_path)[-1].test_acc


def test_baseline_and_mixed_precision_runs(small_config, tmp_path):
    base = train(small_config.with_(compression=(), epochs=1), tmp_path / "direct", log=quiet)
    assert base.achieved_rate == 0.0
    bf16 = train(apply_settings(small_config, {"precision": "bf16"}).with_(epochs=2), tmp_path / "bf16", log=quiet)
    assert bf16.final_train_loss < 1.4  # learns under bf16 autocast (ln 4 = 1.39 at chance)
    with pytest.raises(ConfigError, match="unknown compression method 'nope'"):
        small_config.with_(compression=[{"method": "nope"}])


def test_image_run_with_augmentation_and_schedules(tmp_path):
    config = IMAGE_RUN.with_(epochs=2, batch_size=64, limit=128)
    result = train(config, tmp_path / "cos", log=quiet)
    assert result.epochs == 2
    assert load_metrics(tmp_path / "cos")[-1].lr == pytest.approx(0.0, abs=1e-12)
    plateau = train(config.with_(schedule="plateau"), tmp_path / "plateau", log=quiet)
    assert plateau.epochs == 2


def test_sweep_skips_finished_runs(small_config, tmp_path):
    logs = []
    runs = run_sweep(small_config.with_(epochs=1), {"rate": [0.0, 0.5]}, tmp_path, log=logs.append)
    assert [folder.name for _, folder in runs] == ["rate=0.0", "rate=0.5"]
    stamps = [(f / "result.json").stat().st_mtime_ns for _, f in runs]
    logs.clear()
    run_sweep(small_config.with_(epochs=1), {"rate": [0.0, 0.5]}, tmp_path, log=logs.append)
    assert all("finished already" in line for line in logs)
    assert stamps == [(f / "result.json").stat().st_mtime_ns for _, f in runs]


@pytest.mark.parametrize("grid", [{"rate": [0.3], "bandlimit.rate": [0.7]}, {"lr": [0.1], "rate": []}])
def test_sweep_refuses_a_setting_twice_or_without_values(small_config, tmp_path, grid):
    # Aliases name one setting: rate is bandlimit.rate. Refused before any folder is written.
    with pytest.raises(ConfigError, match="same setting twice \\(bandlimit.rate, rate\\)|rate has no values"):
        run_sweep(small_config, grid, tmp_path / "sweep", log=quiet)
    assert not (tmp_path / "sweep").exists()


def test_demo_writes_table_plot_and_results(tmp_path):
    base = DEMO.with_(data="synthetic1d", epochs=1, limit=64, model_kwargs={"widths": [4, 8, 4]})
    rows, table = run_demo(tmp_path, base, (0.0, 0.5), log=quiet)
    assert [r["label"] for r in rows] == ["band-limited", "band-limited", "nn.Conv (direct)"]
    assert "test acc" in table and "conv saved MiB" in table
    assert (tmp_path / "tradeoff.png").stat().st_size > 1000
    assert json.loads((tmp_path / "results.json").read_text())[1]["achieved_rate"] >= 0.5
    # The band-limited conv layers at rate 0.5 keep less for backward than at rate 0.
    assert rows[1]["conv_saved_mib"] < rows[0]["conv_saved_mib"]
    # Spectral checkpoints keep less than the same band-limited model without them.
    assert rows[1]["ckpt_saved_mib"] < rows[1]["saved_mib"] and rows[2]["ckpt_saved_mib"] is None
    assert "with spectral ckpt" in table


def test_demo_checks_its_baseline_folder_before_training_anything(tmp_path):
    base = DEMO.with_(data="synthetic1d", epochs=1, limit=64, model_kwargs={"widths": [4, 8, 4]})
    train(base.with_(compression=(), lr=0.1), tmp_path / "method=none", log=quiet)
    with pytest.raises(ConfigError, match=r"method=none holds a run with other settings \(lr 0.1 -> 0.003\)"):
        run_demo(tmp_path, base, (0.5,), log=quiet)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["method=none"]  # rate=0.5 never started
    rows, _ = run_demo(tmp_path, base, (0.5,), force=True, log=quiet)
    assert [r["label"] for r in rows] == ["band-limited", "nn.Conv (direct)"]


def test_every_process_takes_the_same_number_of_steps():
    from bandlimit.train.distributed import DistContext
    from bandlimit.train.loop import shard_batches

    shares = [list(shard_batches(129, 16, DistContext(rank=r, world_size=2), None)) for r in range(2)]
    assert len(shares[0]) == len(shares[1]) == 4  # the 1-sample tail batch is skipped
    seen = torch.cat([torch.cat(s) for s in shares])
    assert len(seen) == 128 and len(set(seen.tolist())) == 128


def test_a_forced_rerun_is_not_finished_until_it_ends(small_config, tmp_path):
    train(small_config.with_(epochs=1), tmp_path, log=quiet)
    with pytest.raises(ConfigError, match="--resume continues it to 2 epochs, --force trains it again"):
        train(small_config.with_(epochs=2), tmp_path, log=quiet)

    def kill(line: str) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(small_config.with_(epochs=2, lr=0.01), tmp_path, force=True, log=kill)
    assert not (tmp_path / "result.json").exists()
    assert load_checkpoint(tmp_path / "checkpoint.pt")["config"]["lr"] == 0.01  # never the old run's state


def test_cosine_run_cannot_be_extended(small_config, tmp_path):
    config = small_config.with_(epochs=1, schedule="cosine")
    train(config, tmp_path, log=quiet)
    with pytest.raises(ConfigError, match="cosine schedule over epochs=1"):
        train(config.with_(epochs=2), tmp_path, resume=True, log=quiet)


def test_a_run_folder_from_before_compression_configs_still_resumes(small_config, tmp_path):
    """Run folders written before compression configs hold method/rate/rate_overrides fields."""
    from bandlimit.train.checkpoint import save_checkpoint

    train(small_config.with_(epochs=1), tmp_path, log=quiet)
    state = load_checkpoint(tmp_path / "checkpoint.pt")
    legacy = {k: v for k, v in state["config"].items() if k not in ("version", "compression", "plateau_factor")}
    legacy.update(method="bandlimit", rate=0.5, rate_overrides={})
    save_checkpoint(tmp_path / "checkpoint.pt", {**state, "config": legacy})
    assert TrainConfig.from_dict(legacy) == small_config.with_(epochs=1)
    assert train(small_config.with_(epochs=2), tmp_path, resume=True, log=quiet).epochs == 2
    baseline = TrainConfig.from_dict({**legacy, "method": "none", "rate": 0.0})
    assert baseline.compression == ()


def test_configs_from_the_future_are_refused_clearly(small_config):
    with pytest.raises(ConfigError, match="run config version 99 is not supported"):
        TrainConfig.from_dict({**small_config.to_dict(), "version": 99})
    assert TrainConfig.from_dict(small_config.to_dict()) == small_config


def test_energy_runs_record_their_rates_and_a_calibrated_run_resumes_with_its_rates(small_config, tmp_path):
    dynamic = small_config.with_(epochs=2, compression=(BandLimitConfig(energy=0.9),))
    train(dynamic, tmp_path / "dynamic", log=quiet)
    metrics = load_metrics(tmp_path / "dynamic")
    assert all(set(m.extra["layer_rates"]) == {"features.0", "features.3", "features.6"} for m in metrics)
    assert all(m.achieved_rate == pytest.approx(sum(m.extra["layer_rates"].values()) / 3) for m in metrics)

    calibrating = small_config.with_(compression=(BandLimitConfig(energy=0.9, calibrate=2),))
    full = train(calibrating, tmp_path / "full", log=quiet)
    # config.json keeps the request; the checkpoint and the result the calibrated per-layer rates.
    assert json.loads((tmp_path / "full" / "config.json").read_text()) == calibrating.to_dict()
    trained = full.config["compression"][0]
    assert trained["energy"] is None and trained["calibrated_energy"] == 0.9
    assert set(trained["overrides"]) == {"features.0", "features.3", "features.6"}
    assert load_checkpoint(tmp_path / "full" / "checkpoint.pt")["config"] == full.config

    def kill_after_first_epoch(line: str) -> None:
        if line.startswith("epoch 1/"):
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        train(calibrating, tmp_path / "killed", log=kill_after_first_epoch)
    resumed = train(calibrating, tmp_path / "killed", resume=True, log=quiet)
    assert resumed.config == full.config
    assert _stable(load_metrics(tmp_path / "killed")) == _stable(load_metrics(tmp_path / "full"))


def test_validation_split_is_stratified_seeded_and_disjoint():
    from bandlimit.train.experiment import split_validation

    y = torch.cat([torch.full((n,), c) for c, n in enumerate([40, 9, 3, 1, 27])])  # uneven classes, UCR-like
    x = torch.arange(len(y)).float()[:, None]
    (x_train, y_train), (x_val, y_val) = split_validation((x, y), 0.2, seed=3)
    assert len(x_val) == round(0.2 * len(y)) and len(x_train) + len(x_val) == len(y)
    assert set(x_train[:, 0].tolist()).isdisjoint(x_val[:, 0].tolist())
    for c, n in enumerate([40, 9, 3, 1, 27]):  # each class gives its share to within one sample
        assert abs(int((y_val == c).sum()) - 0.2 * n) <= 1
    again = split_validation((x, y), 0.2, seed=3)[1]
    other = split_validation((x, y), 0.2, seed=4)[1]
    assert torch.equal(again[0], x_val) and not torch.equal(other[0], x_val)
    assert split_validation((x, y), 0.0, seed=3) == ((x, y), None)


def test_a_run_with_validation_selects_its_epoch_on_it(small_config, tmp_path):
    config = small_config.with_(validation=0.25, epochs=4)
    result = train(config, tmp_path / "run")
    metrics = load_metrics(tmp_path / "run")
    assert all(m.val_acc is not None for m in metrics)
    best_val = max(m.val_acc for m in metrics)
    first_best = next(m for m in metrics if m.val_acc == best_val)
    assert result.selected_epoch == first_best.epoch and result.selected_test_acc == first_best.test_acc
    assert result.best_test_acc == max(m.test_acc for m in metrics)  # still reported, as a secondary figure
    plain = train(small_config, tmp_path / "plain")
    assert plain.selected_epoch is None and load_metrics(tmp_path / "plain")[0].val_acc is None
    with pytest.raises(ConfigError, match=r"validation must be in \[0, 1\)"):
        small_config.with_(validation=1.0)


def test_eval_every_tests_only_where_asked_and_after_the_last_epoch(small_config, tmp_path):
    config = small_config.with_(epochs=5, eval_every=2, validation=0.25)
    result = train(config, tmp_path, log=quiet)
    metrics = load_metrics(tmp_path)
    assert [m.epoch for m in metrics if m.test_acc is not None] == [2, 4, 5]
    assert [m.epoch for m in metrics if m.val_acc is not None] == [2, 4, 5]
    assert all(m.loss > 0 and 0 <= m.train_acc <= 1 for m in metrics)
    tested = [m for m in metrics if m.test_acc is not None]
    assert result.best_test_acc == max(m.test_acc for m in tested)
    assert result.selected_epoch in (2, 4, 5) and result.final_test_acc == metrics[-1].test_acc


def test_the_plateau_schedule_stops_at_its_minimum(small_config):
    from bandlimit.train import TrainingState

    config = small_config.with_(schedule="plateau", plateau_patience=0, plateau_factor=0.1, plateau_min_lr=5e-4)
    state = TrainingState.create(config, torch.nn.Linear(2, 2), torch.device("cpu"))
    for _ in range(4):  # a flat loss: patience 0 lowers the rate after every epoch but the first
        state.end_epoch({"loss": 1.0})
    assert [m["lr"] for m in state.metrics] == pytest.approx([1e-2, 1e-3, 5e-4, 5e-4])


def test_a_folder_that_cannot_be_continued_or_identified_is_refused(small_config, tmp_path):
    config = small_config.with_(epochs=1)
    train(config, tmp_path / "run", log=quiet)
    (tmp_path / "run" / "checkpoint.pt").unlink()
    assert train(config, tmp_path / "run", log=quiet).epochs == 1  # finished: nothing to continue
    before = _files(tmp_path / "run")
    with pytest.raises(ConfigError, match="has run 1 epochs but has no checkpoint.pt to continue from"):
        train(config.with_(epochs=2), tmp_path / "run", resume=True, log=quiet)
    (tmp_path / "run" / "config.json").unlink()
    with pytest.raises(ConfigError, match="holds result.json, metrics.jsonl but no config.json"):
        train(config.with_(lr=0.5), tmp_path / "run", log=quiet)
    assert _files(tmp_path / "run") == {k: v for k, v in before.items() if str(k) != "config.json"}
    assert train(config.with_(lr=0.5), tmp_path / "run", force=True, log=quiet).config["lr"] == 0.5
    (tmp_path / "run" / "config.json").write_text("[]")
    with pytest.raises(ConfigError, match="not a run's config"):
        train(config, tmp_path / "run", log=quiet)


def test_a_calibrated_folder_written_before_config_json_kept_the_request_is_the_same_run(small_config, tmp_path):
    calibrating = small_config.with_(epochs=1, compression=(BandLimitConfig(energy=0.9, calibrate=2),))
    result = train(calibrating, tmp_path, log=quiet)
    (tmp_path / "config.json").write_text(json.dumps(result.config))  # as ffeb3f1 wrote it: calibrated
    lines = []
    assert train(calibrating, tmp_path, log=lines.append).epochs == 1 and "finished already" in lines[0]
    assert train(calibrating.with_(epochs=2), tmp_path, resume=True, log=quiet).epochs == 2


def test_demo_names_the_methods_its_baseline_keeps(tmp_path):
    base = apply_settings(
        DEMO.with_(data="synthetic1d", epochs=1, limit=64, model_kwargs={"widths": [4, 8, 4]}), {"method": ["prune"]}
    )
    rows, table = run_demo(tmp_path, base, (0.5,), log=quiet)
    assert [r["label"] for r in rows] == ["prune + band-limited", "nn.Conv + prune"]
    assert "nn.Conv (direct)" not in table
