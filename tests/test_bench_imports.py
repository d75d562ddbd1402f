"""bench/ runs as `python -m bench.<name>` and shares the tests' helpers through tests/support.py: importing
every benchmark loads no conftest and no pytest (a benchmark runs where pytest is not installed)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECK = """
import importlib, pkgutil, sys
import bench
names = sorted(m.name for m in pkgutil.iter_modules(bench.__path__))
for name in names:
    importlib.import_module(f"bench.{name}")
loaded = [m for m in sys.modules if m == "pytest" or m.startswith(("_pytest", "conftest", "tests.conftest"))]
print(len(names), loaded)
"""


def test_every_benchmark_imports_without_pytest_or_a_conftest() -> None:
    result = subprocess.run([sys.executable, "-c", CHECK], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    count, loaded = result.stdout.split(" ", 1)
    assert int(count) >= 9 and loaded.strip() == "[]", result.stdout
