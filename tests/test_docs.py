"""The documentation pages' Python examples run as written (each in a fresh interpreter).

The pages are the MkDocs site's sources under docs/site/; `make docs` checks their links and
anchors (``mkdocs build --strict``), and tests/test_readme.py runs the README's examples.
"""

import re
import subprocess
import sys
from pathlib import Path

import pytest

SITE = Path(__file__).resolve().parents[1] / "docs" / "site"
PAGES = sorted(SITE.rglob("*.md"))
BLOCKS = [
    (f"{page.relative_to(SITE).as_posix()}-block{i}", code)
    for page in PAGES
    for i, code in enumerate(re.findall(r"```python\n(.*?)```", page.read_text(), flags=re.S))
]


def test_the_docs_have_pages_and_examples():
    assert (SITE / "index.md") in PAGES
    assert len(BLOCKS) >= 5


@pytest.mark.parametrize("code", [code for _, code in BLOCKS], ids=[name for name, _ in BLOCKS])
def test_docs_example_runs_without_warnings(code):
    done = subprocess.run([sys.executable, "-W", "error", "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
