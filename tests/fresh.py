"""Running a snippet in a fresh Python process: what it imports is then what the snippet
loaded, not what the test session already holds."""

from __future__ import annotations

import subprocess
import sys


def fresh_python(code: str, *, timeout: float = 120) -> str:
    """Run ``code`` with this interpreter in a new process; its standard output. A failure
    (an assertion in the snippet, say) fails the test with the snippet's standard error."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=timeout, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout
