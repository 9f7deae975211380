"""The measuring subcommands: bench, sparsity-bench, error and spectrum."""

from __future__ import annotations

import argparse
import json
import os
import sys

from ..checks import check_rate
from ..errors import ConfigError
from ..train import check_out_dir, check_out_file
from .arguments import refuse_unused


def _bench(args: argparse.Namespace) -> None:
    import torch

    from ..bench import default_cases, format_bench, run_benchmarks
    from ..io import atomic_write_text

    for flag, path in (("--out", args.out), ("--plot", args.plot)):
        if path is not None:
            check_out_file(path, flag)  # before the benchmark: a bad path must not lose its results
    cases = default_cases()
    if args.quick:
        cases = [c for c in cases if c.kernel == 3]
    report = run_benchmarks(
        threads=args.threads,
        cases=cases,
        rounds=2 if args.quick else args.rounds,
        min_run_time=args.min_run_time,
        steps=not (args.quick or args.no_steps),
        memory=not (args.quick or args.no_memory),
        log=lambda line: print(line, file=sys.stderr),
    )
    if args.plot:
        from ..bench.steps import run_steps, tradeoff_cases
        from ..report import plot_memory_time

        torch.set_num_threads(1)
        section = run_steps(tradeoff_cases(), log=lambda line: print(line, file=sys.stderr))["resnet18 batch 32"]
        report["tradeoff"] = section
        plot_memory_time(section, args.plot, title="ResNet-18 (CIFAR), batch 32: memory against time")
    if args.out:
        atomic_write_text(args.out, json.dumps(report, indent=2))
    print(format_bench(report))


def _error(args: argparse.Namespace) -> None:
    from ..errors import as_config_error
    from ..experiments.spectra import conv_error, default_filter, load_image, plot_error
    from ..io import atomic_write_text
    from ..report import format_table

    with as_config_error("--rates: "):
        rates = [check_rate(r) for r in args.rates]
    check_out_dir(args.out)
    rows = conv_error(load_image(args.image), default_filter(kernel=args.kernel, seed=args.seed), rates)
    os.makedirs(args.out, exist_ok=True)
    atomic_write_text(os.path.join(args.out, "error.json"), json.dumps(rows, indent=2))
    plot_error(rows, os.path.join(args.out, "error.png"))
    table = [[r["rate"], r["method"], r["achieved_rate"], r["abs_error"], r["rel_error"]] for r in rows]
    print(format_table(["rate", "method", "achieved", "abs error", "rel error"], table))
    print(f"\nplot: {os.path.join(args.out, 'error.png')}   results: {os.path.join(args.out, 'error.json')}")


def _layer_spectrum(args: argparse.Namespace, rates: list[float]) -> str:
    """The spectrum picture of ``--layer``'s input for test sample ``--index`` of ``--checkpoint``'s run."""
    import torch

    from ..experiments.spectra import plot_series_1d, plot_spectrum_2d
    from ..functional.shape import ConvShape
    from ..train.run import load_trained

    exp = load_trained(args.checkpoint)
    convs = {name: m for name, m in exp.model.named_modules() if isinstance(m, (torch.nn.Conv1d, torch.nn.Conv2d))}
    if args.layer not in convs:
        raise ConfigError(f"--layer must name a convolution of the model: one of {sorted(convs)}, got {args.layer!r}")
    x_test = exp.test_data[0]
    if not 0 <= args.index < len(x_test):
        raise ConfigError(f"--index must be in [0, {len(x_test)}) for the test set, got {args.index}")
    layer = convs[args.layer]
    seen: list[torch.Tensor] = []
    handle = layer.register_forward_pre_hook(lambda module, inputs: seen.append(inputs[0].detach()))
    with torch.no_grad():
        exp.model(x_test[args.index : args.index + 1])
    handle.remove()
    size = tuple(seen[0].shape[2:])
    padded = list(ConvShape.of_module(layer, size).padded)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "spectrum-layer.png")
    if len(size) == 2:
        plot_spectrum_2d(seen[0][0], rates, path, padded_size=padded)
    else:
        channel = int(seen[0][0].square().sum(-1).argmax())  # the channel with the most energy
        plot_series_1d(seen[0][0, channel], rates, path, padded_size=padded[0])
    return path


def _spectrum(args: argparse.Namespace) -> None:
    from ..data import load_dataset
    from ..errors import as_config_error
    from ..experiments.spectra import load_image, plot_series_1d, plot_spectrum_2d

    with as_config_error("--rates: "):
        rates = [check_rate(r) for r in args.rates]
    out = check_out_dir(args.out)
    if args.checkpoint or args.layer:
        if not (args.checkpoint and args.layer):
            raise ConfigError("--checkpoint and --layer go together: a trained run's checkpoint and a layer's name")
        refuse_unused(args, ["image", "series"], "with --checkpoint (the picture is of --layer's input)")
        print(_layer_spectrum(args, rates))
        return
    image = load_image(args.image)
    series = args.series or "ucr:FiftyWords"
    train_set, _, _ = load_dataset(series)
    if not 0 <= args.index < len(train_set):
        raise ConfigError(f"--index must be in [0, {len(train_set)}) for {series}, got {args.index}")
    # Every input is checked: only now is anything written.
    out.mkdir(parents=True, exist_ok=True)
    image_png, series_png = out / "spectrum-2d.png", out / "spectrum-1d.png"
    plot_spectrum_2d(image, rates, image_png)
    plot_series_1d(train_set.tensors[0][args.index], rates, series_png)
    print(f"{image_png}\n{series_png}")


def _sparsity_bench(args: argparse.Namespace) -> None:
    from ..bench import sparsity
    from ..bench.run import machine_info
    from ..io import atomic_write_text

    if args.checkpoint:
        from ..train.run import load_trained

        refuse_unused(args, ["batches", "quick", "plot", "out"], "with --checkpoint (it prints the run's table only)")
        print(sparsity.format_layer_sparsity(sparsity.layer_sparsity(load_trained(args.checkpoint).model)))
        return
    for flag, path in (("--out", args.out), ("--plot", args.plot)):
        if path is not None:
            check_out_file(path, flag)  # before the benchmark: a bad path must not lose its results
    if args.quick:
        refuse_unused(args, ["batches"], "with --quick (batch 1 only)")
    cases = sparsity.ALEXNET[:1] + sparsity.ALEXNET[2:3] if args.quick else sparsity.ALEXNET
    batches = [1] if args.quick else args.batches or [1, 32]
    machine = machine_info()
    report = {"machine": machine, "threads": args.threads or 1}
    report |= sparsity.run_sparsity(cases, batches=batches, log=lambda line: print(line, file=sys.stderr))
    print(
        f"{machine['cpu']}, CPU capability {machine['cpu_capability']}, flags {' '.join(machine['cpu_flags'])}, "
        f"torch {machine['torch']}, {report['threads']} thread(s)\n"
    )
    print(sparsity.format_sparsity(report))
    if args.plot:
        sparsity.plot_sparsity(report, args.plot)
    if args.out:
        atomic_write_text(args.out, json.dumps(report, indent=2))
