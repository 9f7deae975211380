"""The files of `bandlimit error` and `spectrum`: every argument is checked before anything is written."""

import json

import pytest

from bandlimit.errors import BandlimitError, ConfigError
from bandlimit.experiments.spectra import conv_error, default_filter, load_image
from bandlimit.experiments.spectra_files import write_conv_error, write_layer_spectrum, write_spectra
from bandlimit.train import TrainConfig, train


def test_conv_error_files_hold_its_rows(tmp_path):
    files = write_conv_error(tmp_path / "e", [0.0, 0.5], kernel=3, seed=1)
    assert files.rows == conv_error(load_image(), default_filter(kernel=3, seed=1), [0.0, 0.5])
    assert json.loads(files.results.read_text()) == files.rows and files.plot.stat().st_size > 10_000


@pytest.mark.parametrize(
    "call",
    [
        lambda out: write_conv_error(out, [0.5, 1.5]),
        lambda out: write_conv_error(out, [0.5], kernel=0),
        lambda out: write_spectra(out, [0.5], series="synthetic1d", index=10**6),
        lambda out: write_spectra(out, [0.5], series="nosuch"),
        lambda out: write_spectra(out, [0.5], image=out.parent / "absent.png", series="synthetic1d"),
    ],
    ids=["rate", "kernel", "index", "series", "image"],
)
def test_a_bad_argument_writes_nothing(tmp_path, call):
    with pytest.raises(BandlimitError):
        call(tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_trained_layers_spectrum_checks_the_layer_and_the_sample(tmp_path):
    run = tmp_path / "run"
    config = TrainConfig(model="fcn", data="synthetic1d", epochs=1, limit=16, model_kwargs={"widths": [4, 8, 4]})
    train(config, run, log=lambda line: None)
    with pytest.raises(ConfigError, match=r"layer must name a convolution .*features\.3.*got 'features\.1'"):
        write_layer_spectrum(run, "features.1", tmp_path / "out", [0.5])
    with pytest.raises(ConfigError, match="index must be in"):
        write_layer_spectrum(run, "features.3", tmp_path / "out", [0.5], index=10**6)
    assert not (tmp_path / "out").exists()
    path = write_layer_spectrum(run, "features.3", tmp_path / "out", [0.5, 0.85], index=2)
    assert path == tmp_path / "out" / "spectrum-layer.png" and path.stat().st_size > 10_000
