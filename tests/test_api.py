"""The Python API example in README, run as a doctest: its outputs are the assertions."""

from __future__ import annotations

import doctest
import re
from pathlib import Path

README = Path(__file__).parent.parent / "README.md"


def readme_example() -> str:
    """The ```python block of README's 'Python API' section."""
    section = README.read_text(encoding="utf-8").split("\n## Python API\n", 1)[1]
    found = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert found, "README's Python API section has no ```python block"
    return found.group(1)


def test_readme_api_example_runs_as_written(monkeypatch):
    monkeypatch.chdir(README.parent)  # the example names specs/ from the project's root
    example = readme_example()
    assert example.count(">>>") >= 8  # the block was found whole
    test = doctest.DocTestParser().get_doctest(example, {}, "README Python API", str(README), 0)
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS)
    runner.run(test)
    results = runner.summarize(verbose=False)
    assert results.attempted == example.count(">>>")
    assert results.failed == 0  # the failures are printed above
