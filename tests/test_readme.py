"""The README's quickstart runs as written."""

from __future__ import annotations

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def test_readme_starts_with_the_two_commands():
    text = README.read_text()
    head = text[: text.index("## Quickstart")]
    assert "make demo" in head and "make test" in head


def test_quickstart_runs():
    code = re.search(r"## Quickstart\n\n```python\n(.*?)```", README.read_text(), re.S)
    assert code is not None
    namespace: dict = {}
    exec(compile(code.group(1), str(README), "exec"), namespace)
    result = namespace["res"]
    assert result.converged and float(namespace["loss"]) > 0
    assert namespace["x"].grad is not None and namespace["F"].shape == (2000,)
