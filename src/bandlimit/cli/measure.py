"""The measuring subcommands: bench, sparsity-bench, error and spectrum; their parsers and what they run."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from ..errors import ConfigError
from .arguments import positive_float, positive_int, refuse_unused, subcommand

__all__ = ["add_measuring_commands"]


def _bench(args: argparse.Namespace) -> None:
    from ..bench import format_bench, run_bench

    report = run_bench(
        threads=args.threads,
        rounds=args.rounds,
        min_run_time=args.min_run_time,
        quick=args.quick,
        steps=not args.no_steps,
        memory=not args.no_memory,
        plot=args.plot,
        out=args.out,
        log=_log,
    )
    print(format_bench(report))


def _error(args: argparse.Namespace) -> None:
    from ..experiments.spectra_files import write_conv_error
    from ..report import format_table

    files = write_conv_error(args.out, args.rates, args.image, kernel=args.kernel, seed=args.seed)
    table = [[r["rate"], r["method"], r["achieved_rate"], r["abs_error"], r["rel_error"]] for r in files.rows]
    print(format_table(["rate", "method", "achieved", "abs error", "rel error"], table))
    print(f"\nplot: {files.plot}   results: {files.results}")


def _spectrum(args: argparse.Namespace) -> None:
    from ..experiments.spectra_files import write_layer_spectrum, write_spectra

    if args.checkpoint or args.layer:
        if not (args.checkpoint and args.layer):
            raise ConfigError("--checkpoint and --layer go together: a trained run's checkpoint and a layer's name")
        refuse_unused(args, ["image", "series"], "with --checkpoint (the picture is of --layer's input)")
        print(write_layer_spectrum(args.checkpoint, args.layer, args.out, args.rates, args.index))
        return
    image_png, series_png = write_spectra(args.out, args.rates, args.image, args.series, args.index)
    print(f"{image_png}\n{series_png}")


def _sparsity_bench(args: argparse.Namespace) -> None:
    from ..bench import sparsity_suite
    from ..bench.sparsity import format_layer_sparsity

    if args.checkpoint:
        refuse_unused(args, ["batches", "quick", "plot", "out"], "with --checkpoint (it prints the run's table only)")
        print(format_layer_sparsity(sparsity_suite.checkpoint_sparsity(args.checkpoint)))
        return
    report = sparsity_suite.run_sparsity_bench(
        quick=args.quick, batches=args.batches, threads=args.threads, plot=args.plot, out=args.out, log=_log
    )
    print(sparsity_suite.format_sparsity_bench(report))


def _log(line: str) -> None:
    """Progress of a measurement: to stderr, so that stdout holds only the results."""
    print(line, file=sys.stderr)


def add_measuring_commands(sub: Any) -> None:
    """Add error, spectrum, sparsity-bench and bench to the subparsers ``sub``."""
    p = subcommand(sub, "error", _error, help="error of the band-limited convolution against the exact one by rate")
    p.add_argument("--image", help="an image file (default: matplotlib's sample photograph), resized to 3x32x32")
    p.add_argument("--kernel", type=positive_int, default=5, help="filter size (3 x k x k, normal weights)")
    p.add_argument("--seed", type=int, default=0, help="seed of the filter's weights")
    p.add_argument("--rates", type=float, nargs="+", default=[0, 0.1, 0.25, 0.5, 0.75, 0.85, 0.9, 0.95])
    p.add_argument("--out", default="runs/error", help="folder for error.json and error.png")

    p = subcommand(sub, "spectrum", _spectrum, help="pictures of spectra and the band kept at a few rates")
    p.add_argument("--image", help="an image file (default: matplotlib's sample photograph), resized to 3x32x32")
    p.add_argument("--series", help="data set of the 1D series (default: ucr:FiftyWords)")
    p.add_argument("--index", type=int, default=0, help="which training series (with --checkpoint: test sample)")
    p.add_argument("--rates", type=float, nargs="+", default=[0.5, 0.85, 0.95])
    p.add_argument("--out", default="runs/spectrum", help="folder for spectrum-2d.png and spectrum-1d.png")
    p.add_argument("--checkpoint", help="a trained run's checkpoint.pt: picture its --layer's input instead")
    p.add_argument("--layer", help="with --checkpoint: a convolution's qualified name, e.g. features.1.conv")

    p = subcommand(
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
