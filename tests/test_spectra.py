"""Error analysis against a direct computation, and the spectrum pictures made from real data."""

import json

import matplotlib.image
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import bandlimit.functional as BF
from bandlimit.cli import main
from bandlimit.experiments.spectra import (
    conv_error,
    default_filter,
    kept_energy,
    load_image,
    plot_series_1d,
    plot_spectrum_2d,
)
from bandlimit.functional.band import band_for_size
from bandlimit.functional.dct import select_dct_band
from bandlimit.nn import BandLimitedConv2d


def _numpy_fine_grained(x, w, kept, grid, pad):
    """Keep each channel's ``kept`` largest rfft2 coefficients of input and filter (NumPy)."""

    def largest(a):
        spectrum = np.fft.rfft2(a, s=grid)
        flat = spectrum.reshape(spectrum.shape[0], -1)
        order = np.argsort(-np.abs(flat), axis=1, kind="stable")[:, :kept]
        out = np.zeros_like(flat)
        np.put_along_axis(out, order, np.take_along_axis(flat, order, axis=1), axis=1)
        return out.reshape(spectrum.shape)

    xp = np.pad(x, ((0, 0), (pad, pad), (pad, pad)))
    product = (largest(xp) * np.conj(largest(w))).sum(0)
    out = x.shape[1] + 2 * pad - w.shape[1] + 1
    return np.fft.irfft2(product, s=grid)[:out, :out]


def test_conv_error_matches_a_direct_computation():
    x, w = load_image(size=16), default_filter(kernel=5, seed=1)
    rates = [0.0, 0.3, 0.6, 0.9]
    rows = conv_error(x, w, rates)
    assert [(r["rate"], r["method"]) for r in rows] == [(r, m) for r in rates for m in ("band", "fine")]
    exact = F.conv2d(x[None], w[None], padding=2)[0, 0].numpy()
    for row in rows:
        band = band_for_size((20, 20), row["rate"])
        if row["method"] == "band":
            out = BF.conv2d(x[None], w[None], padding=2, rate=row["rate"])[0, 0].numpy()
        else:
            out = _numpy_fine_grained(x.numpy(), w.numpy(), band.kept, (band.n_h, band.n_w), 2)
        difference = np.linalg.norm(out - exact)
        assert row["achieved_rate"] == band.achieved_rate
        assert row["abs_error"] == pytest.approx(difference, rel=1e-6, abs=1e-9)
        assert row["rel_error"] == pytest.approx(difference / np.linalg.norm(exact), rel=1e-6, abs=1e-12)
    assert rows[0]["abs_error"] < 1e-9 and rows[1]["abs_error"] < 1e-9  # rate 0 is exact either way
    band_errors = [r["rel_error"] for r in rows if r["method"] == "band"]
    assert band_errors == sorted(band_errors) and band_errors[-1] > 0.01


def test_default_image_is_a_real_photograph():
    image = load_image()
    assert image.shape == (3, 32, 32) and image.dtype == torch.float64
    assert 0 <= float(image.min()) and float(image.max()) <= 1 and float(image.std()) > 0.05
    # A photograph's energy sits at low frequencies: the band at rate 0.5 keeps most of it.
    spectrum = torch.fft.rfft2(image - image.mean())
    assert float(spectrum[:, :4, :4].abs().square().sum()) > 0.3 * float(spectrum.abs().square().sum())


def test_spectrum_pictures_from_real_data_show_the_band(tmp_path):
    image = load_image()
    rates = [0.5, 0.85]
    bands = plot_spectrum_2d(image, rates, tmp_path / "2d.png")
    assert bands == [band_for_size((32, 32), r) for r in rates]
    pixels = matplotlib.image.imread(tmp_path / "2d.png")
    assert pixels.shape[0] > 300 and pixels.shape[1] > 600
    # The outline is cyan, a colour the magma heat map never takes: one box per panel.
    cyan = (pixels[..., 0] < 0.1) & (pixels[..., 1] > 0.9) & (pixels[..., 2] > 0.9)
    cols = np.nonzero(cyan.any(0))[0]
    split = cols[np.argmax(np.diff(cols))] + 1  # the gap between the two panels' boxes
    boxes = []
    for part in (cyan[:, :split], cyan[:, split:]):
        c, r = np.nonzero(part.any(0))[0], np.nonzero(part.any(1))[0]
        boxes.append((c.max() - c.min(), r.max() - r.min(), (r.max() + r.min()) / 2))
    (w50, h50, centre50), (w85, h85, centre85) = boxes
    # Sizes in proportion to the bands' kept columns and rows, both centred on the DC row.
    assert w85 / w50 == pytest.approx(bands[1].cols / bands[0].cols, rel=0.1)
    assert h85 / h50 == pytest.approx(bands[1].shape[0] / bands[0].shape[0], rel=0.1)
    assert centre85 == pytest.approx(centre50, abs=3)

    from bandlimit.data import load_dataset

    series = load_dataset("ucr:FiftyWords")[0].tensors[0][0]
    bands_1d = plot_series_1d(series, [0.5, 0.9], tmp_path / "1d.png")
    assert [b.cols for b in bands_1d] == [band_for_size((270,), r).cols for r in (0.5, 0.9)]
    assert matplotlib.image.imread(tmp_path / "1d.png").shape[0] > 300


def test_commands_write_their_files_and_reject_bad_rates(tmp_path, capsys):
    assert main(["error", "--rates", "0", "0.5", "--out", str(tmp_path / "error")]) == 0
    rows = json.loads((tmp_path / "error" / "error.json").read_text())
    assert len(rows) == 4 and (tmp_path / "error" / "error.png").stat().st_size > 10_000
    assert main(["spectrum", "--rates", "0.5", "--out", str(tmp_path / "spectrum")]) == 0
    assert {p.name for p in (tmp_path / "spectrum").iterdir()} == {"spectrum-1d.png", "spectrum-2d.png"}
    capsys.readouterr()
    assert main(["error", "--rates", "1.5", "--out", str(tmp_path / "bad")]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "rate must be in [0, 1)" in err


def test_with_the_default_random_filter_the_fine_grained_method_loses_as_the_readme_says():
    rows = {(r["rate"], r["method"]): r["rel_error"] for r in conv_error(load_image(), default_filter(), [0.5])}
    assert rows[(0.5, "fine")] > 2 * rows[(0.5, "band")]


def test_kept_energy_against_numpy_in_both_bases():
    """On the photograph, the FFT band's energy over the zero-padded 34x34 grid (Parseval: the full
    two-sided rows and columns it keeps) and the DCT band's over SciPy's orthonormal DCT-II."""
    from scipy.fft import dctn

    image = load_image()
    layer = BandLimitedConv2d(3, 4, 3, padding=1)
    rows = kept_energy(image[None], layer, [0.0, 0.5, 0.85])
    assert layer.basis == "fft" and layer.rate == 0.0  # left as it was
    x = image.double().numpy()
    dct = dctn(x, type=2, norm="ortho", axes=(-2, -1)) ** 2
    for row in rows:
        if row["basis"] == "fft":
            band = band_for_size((34, 34), row["rate"])
            n_h, n_w = band.grid
            full = np.abs(np.fft.fft2(np.pad(x, ((0, 0), (1, 1), (1, 1))), s=(n_h, n_w))) ** 2
            # The full spectrum's kept set: each rfft coefficient kept and its conjugate mirror.
            mask = np.zeros((n_h, n_w), dtype=bool)
            for r in band.rows:
                for c in range(band.cols):
                    mask[r, c] = mask[-r % n_h, -c % n_w] = True
            expected = full[:, mask].sum() / full.sum()
            assert row["reals"] == 2 * band.kept / 32**2
        else:
            band = select_dct_band(32, 32, row["rate"])
            expected = dct[:, : band.rows, : band.cols].sum() / dct.sum()
            assert row["reals"] == band.kept / 32**2
        assert row["energy"] == pytest.approx(expected, rel=1e-9)
        assert row["achieved_rate"] == band.achieved_rate
    energy = {(r["basis"], r["rate"]): r["energy"] for r in rows}
    assert energy[("fft", 0.0)] == pytest.approx(1.0) and energy[("dct", 0.0)] == pytest.approx(1.0)
    # What the README reports: on this photograph the DCT band keeps more energy at the same rate.
    assert energy[("dct", 0.5)] > energy[("fft", 0.5)] and energy[("dct", 0.85)] > energy[("fft", 0.85)]


@pytest.mark.parametrize(
    "model, data, layer",
    [("lenet", "synthetic2d", "features.3"), ("fcn", "ucr:Coffee", "features.3")],
)
def test_a_trained_layers_input_spectrum(tmp_path, capsys, model, data, layer):
    run = tmp_path / "run"
    flags = ["--model", model, "--data", data, "--epochs", "1", "--limit", "16", "--no-progress", "--out", str(run)]
    assert main(["train", *flags, "--model-arg", "widths=[4,8,4]"] if model == "fcn" else ["train", *flags]) == 0
    out = tmp_path / "pictures"
    args = ["spectrum", "--checkpoint", str(run / "checkpoint.pt"), "--rates", "0.5", "--out", str(out)]
    assert main([*args, "--layer", layer, "--index", "3"]) == 0
    assert matplotlib.image.imread(out / "spectrum-layer.png").shape[0] > 300
    capsys.readouterr()
    assert main([*args, "--layer", "nothing"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and layer in err  # the allowed names are listed
    assert main(["spectrum", "--layer", layer, "--out", str(out)]) == 2
