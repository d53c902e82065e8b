"""The README's examples run exactly as written, and its quick start matches CI."""

import pathlib
import re
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
README = (ROOT / "README.md").read_text()


@pytest.mark.slow  # a subprocess
def test_subclassing_example_runs_as_a_script(tmp_path):
    block = re.search(r"<!-- subclass-example:start -->\s*```python\n(.*?)```", README, re.S).group(1)
    script = tmp_path / "my_operator.py"
    script.write_text(block)
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "measurement shape: (8, 28, 28, 1)" in out.stdout
    error = float(re.search(r"dot-test relative error: (\S+)", out.stdout).group(1))
    assert error < 1e-6


def test_ci_runs_the_readme_test_command_verbatim():
    command = re.search(r'pip install -e "\.\[test\]" && python -m pytest', README).group(0)
    assert command in (ROOT / ".ci" / "run").read_text()
