"""Docs that can drift from the code are checked here."""

import re
from pathlib import Path

from rostra.config import Settings

ROOT = Path(__file__).resolve().parent.parent


def test_every_setting_is_documented():
    doc = (ROOT / "docs" / "settings.md").read_text(encoding="utf-8")
    missing = [name for name in Settings.model_fields if f"`ROSTRA_{name.upper()}`" not in doc]
    assert missing == [], f"docs/settings.md lacks {missing}"


def test_readme_starts_with_the_two_commands_and_ci_runs_the_second():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"```\n(.*?)```", readme, re.S)
    assert block is not None and readme.index("```") < 20
    commands = block.group(1).strip().splitlines()
    assert len(commands) == 2
    assert commands[0].endswith("rostra demo")
    assert commands[1].endswith("python3 -m pytest")
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "README.md" in ci and "python3 -m pip install -e '\\.\\[test\\]'" in ci
