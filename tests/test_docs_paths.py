"""The README and the docstrings name only files the repository holds."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PATH = re.compile(r"`((?:bot|actors|scripts|tests|configs)/[\w./-]*)`")
SOURCES = [ROOT / "README.md", *sorted((ROOT / "bot").rglob("*.py")),
           *sorted((ROOT / "actors").rglob("*.py"))]


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_every_repository_path_named_in_backquotes_exists(source):
    text = source.read_text(encoding="utf-8")

    missing = [name for name in PATH.findall(text)
               if "*" not in name and "<" not in name and not (ROOT / name).exists()]

    assert missing == []


def test_no_file_points_to_a_design_document_the_repository_does_not_hold():
    naming = [str(p.relative_to(ROOT)) for p in SOURCES if "DESIGN.md" in p.read_text()]

    assert not (ROOT / "DESIGN.md").exists() and naming == []
