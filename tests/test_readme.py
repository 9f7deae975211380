"""The README's Python examples run as written (each in a fresh interpreter), and its links resolve."""

import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
BLOCKS = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
# Relative links and images: [text](target) with no scheme; the docs' own links are checked by `make docs`.
LINKS = [
    target.split("#")[0]
    for target in re.findall(r"\]\(([^)\s]+)\)", README.read_text())
    if "://" not in target and not target.startswith("#")
]


def test_the_readme_has_examples():
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize("code", BLOCKS, ids=[f"block{i}" for i in range(len(BLOCKS))])
def test_readme_example_runs_without_warnings(code):
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr


def test_the_readme_links_to_files_that_exist():
    assert LINKS, "the README links to the documentation pages"
    missing = [target for target in LINKS if not (ROOT / target).exists()]
    assert not missing, missing
