"""MkDocs hook: the site also serves some files that live outside its sources (docs/site/).

The reproduction reports (docs/reproduce-*/: report.md, report.html and their PNGs) and the
benchmarks' method and results are written by commands, not by hand, so they stay where those
commands write them. This hook adds them to the site under their paths in the repository, so a
page links them as the README does (``docs/reproduce-quick/report.md``,
``benchmarks/results/memory-time.png``) and ``mkdocs build --strict`` checks those links. The
files are read, never written.

The docstrings in src/ name objects with Sphinx roles (:class:`Band`); Markdown renders the
role as text before the code span, so the hook drops it from the built pages.
"""

from __future__ import annotations

import re
from pathlib import Path

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

ROOT = Path(__file__).resolve().parents[1]

# Globs relative to the repository root.
INCLUDE = (
    "docs/reproduce-*/report.md",
    "docs/reproduce-*/report.html",
    "docs/reproduce-*/report/*.png",
    "benchmarks/README.md",
    "benchmarks/results/*",
)

# A Sphinx role as Markdown renders it: the role's name, then its target as a code span.
SPHINX_ROLE = re.compile(r":(?:class|func|meth|mod|attr|data|exc|obj):(?=<code>)")


def on_files(files: Files, config: MkDocsConfig) -> Files:
    for pattern in INCLUDE:
        for path in sorted(ROOT.glob(pattern)):
            if path.is_file():
                uri = path.relative_to(ROOT).as_posix()
                files.append(File(uri, str(ROOT), config.site_dir, config.use_directory_urls))
    return files


def on_page_content(html: str, **kwargs: object) -> str:
    return SPHINX_ROLE.sub("", html)
