"""The command list of docs/commands.md names every option of every command, in that
command's entry."""

from __future__ import annotations

import re
from pathlib import Path

from clipdex.cli import build_cli

COMMANDS = Path(__file__).resolve().parents[2] / "docs" / "commands.md"
SHARED = {"--help", "--json"}  # said once for all commands


def _entries() -> dict[str, str]:
    """Each command's entry in the "Commands" code block: its line and the lines indented
    under it."""
    block = COMMANDS.read_text().split("# Commands", 1)[1].split("```")[1]
    entries: dict[str, str] = {}
    current = None
    for line in block.splitlines():
        match = re.match(r"^  ([a-z]+)\b", line)
        if match:
            current = match.group(1)
            entries[current] = ""
        if current:
            entries[current] += line + "\n"
    return entries


def test_every_option_is_in_its_commands_entry() -> None:
    entries = _entries()
    missing = []
    for name, command in build_cli().commands.items():
        assert name in entries, f"{name} is not in the command list of docs/commands.md"
        for param in command.params:
            for flag in param.opts:
                if flag.startswith("--") and flag not in SHARED and flag not in entries[name]:
                    missing.append(f"{name} {flag}")
    assert not missing, missing
