"""The README's Python API example runs as written."""

from __future__ import annotations

import re

from tests.conftest import ROOT


def test_readme_api_example_runs(capsys):
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Python API") :]
    code = re.search(r"```python\n(.*?)```", section, re.S).group(1)
    code = code.replace('"scenarios/tiny"', repr(str(ROOT / "scenarios" / "tiny")))  # as run from the clone
    exec(compile(code, "README.md", "exec"), {})
    out = capsys.readouterr().out
    assert "True" in out and "duty_coverage" in out and "decided_by" in out


def test_api_is_lazy_and_complete():
    import gridplan

    assert set(gridplan.API) <= set(dir(__import__("gridplan.api", fromlist=["x"])))
    for name in gridplan.API:
        assert callable(getattr(gridplan, name))
