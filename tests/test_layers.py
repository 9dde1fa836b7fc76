"""The layer rules of docs/contributing.md, enforced with import-linter's contract in pyproject."""

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_dependencies_point_down_only():
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            "from importlinter.cli import lint_imports_command; lint_imports_command()",
            "--config",
            str(ROOT / "pyproject.toml"),
        ],
        cwd=ROOT / "src",
        capture_output=True,
        text=True,
        check=False,
    )
    assert "0 broken" in result.stdout, result.stdout + result.stderr
    assert result.returncode == 0
