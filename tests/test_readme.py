"""The README's quickstart runs as written."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import brenier

README = Path(__file__).parents[1] / "README.md"


def test_readme_starts_with_the_two_commands():
    text = README.read_text()
    head = text[: text.index("## Quickstart")]
    assert "make demo" in head and "make test" in head


def test_readme_links_the_docs_and_shows_a_picture():
    text = README.read_text()
    pictures = re.findall(r"!\[[^\]]+\]\(([^)]+)\)", text)
    assert pictures and all((README.parent / p).is_file() for p in pictures)
    assert "make docs" in text and "(docs/_build/html/index.html)" in text


@pytest.mark.filterwarnings("ignore:.*rounding_floor:RuntimeWarning")
def test_quickstart_runs():
    code = re.search(r"## Quickstart\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert code is not None
    namespace: dict = {}
    exec(compile(code.group(1), str(README), "exec"), namespace)
    result = namespace["res"]
    # issue 17.1: the printed status matches the printed numbers
    assert result.converged == (result.marginal_error <= result.tol)
    assert result.status in (brenier.Status.CONVERGED, brenier.Status.ROUNDING_FLOOR)
    assert f"status={result.status.value}" in result.summary()
    assert float(namespace["loss"]) > 0
    assert namespace["x"].grad is not None and namespace["F"].shape == (2000,)
