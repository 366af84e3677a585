"""Every `thresher score | select | eval | distill` example in the README still parses and resolves.

Each example command in a ```bash block is run with `--print-config`, which checks every flag, every `-p`
parameter and the components they reach without reading any input, so a renamed flag or parameter shows up here
before a reader finds it. Optional parts in brackets are included (`[-p k1=10000]`); of alternatives
(`[a | b]`, `lissa|cg`) the first is taken.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from thresher.cli import app

README = Path(__file__).resolve().parents[1] / "README.md"
COMMANDS = ("score", "select", "eval", "distill")


def bash_blocks(text: str) -> list[str]:
    return re.findall(r"```bash\n(.*?)```", text, flags=re.S)


def example_commands(text: str) -> list[str]:
    """The `thresher score|select|eval ...` commands of the README's bash blocks, continuation lines joined."""
    commands = []
    for block in bash_blocks(text):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = line.split("  #")[0].strip()
            if re.match(rf"thresher ({'|'.join(COMMANDS)}) ", line):
                commands.append(line)
    return commands


def first_alternatives(command: str) -> str:
    """Brackets opened, the first of `a | b` alternatives kept, `x|y` values cut to `x`."""
    command = re.sub(r"\[([^\[\]]*)\]", lambda match: match.group(1).split(" | ")[0], command)
    return re.sub(r"=([\w.-]+)\|[\w|.-]+", r"=\1", command)


EXAMPLES = example_commands(README.read_text())


def test_the_readme_has_examples_of_every_command():
    assert {command.split()[1] for command in EXAMPLES} == set(COMMANDS)


@pytest.mark.parametrize("command", EXAMPLES)
def test_a_readme_example_resolves(command):
    arguments = shlex.split(first_alternatives(command))[1:]
    result = CliRunner().invoke(app, [*arguments, "--print-config"])
    assert result.exit_code == 0, f"{command}\n{result.output}"
    assert result.output.startswith(f"{arguments[0]}:")
