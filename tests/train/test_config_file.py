"""Reading --config files: a file that does not parse is a ConfigError naming it; nothing else is converted."""

import pytest
import yaml

from bandlimit.errors import ConfigError
from bandlimit.train import load_config_file


@pytest.mark.parametrize(
    ("name", "text"),
    [
        ("bad.yaml", "epochs: [1,\n"),  # yaml.YAMLError
        ("tag.yaml", "epochs: !!int abc\n"),  # ValueError from the tag's conversion
        ("date.yaml", "seed: 2001-13-01\n"),  # ValueError from a timestamp that is no date
        ("bad.json", '{"epochs": 1,}'),  # json.JSONDecodeError
    ],
)
def test_a_file_that_does_not_parse_is_a_config_error(tmp_path, name, text):
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(ConfigError, match=f"config file .*{name} is not valid"):
        load_config_file(path)


def test_settings_and_mapping(tmp_path):
    (tmp_path / "run.yaml").write_text("epochs: 2\nrate: 0.5\n")
    assert load_config_file(tmp_path / "run.yaml") == {"epochs": 2, "rate": 0.5}
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ConfigError, match="must hold a mapping"):
        load_config_file(tmp_path / "list.json")


def test_an_error_of_the_parser_itself_is_not_hidden(tmp_path, monkeypatch):
    (tmp_path / "run.yaml").write_text("epochs: 2\n")

    def broken(text):
        raise AttributeError("a bug, not the file")

    monkeypatch.setattr(yaml, "safe_load", broken)
    with pytest.raises(AttributeError, match="a bug"):
        load_config_file(tmp_path / "run.yaml")
