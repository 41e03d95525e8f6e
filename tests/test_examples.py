"""The example scripts name only subcommands and options that exist."""

import re
from pathlib import Path

import pytest

from genreward_cli.cli import cli

EXAMPLES = sorted((Path(__file__).parent.parent / "examples").glob("*.sh"))


def commands(script: str):
    """(subcommand, [--options]) of each `$GR ...` or `genreward ...` command, continuation
    lines joined."""
    text = re.sub(r"\\\n\s*", " ", script)
    for line in text.splitlines():
        line = line.split("#", 1)[0]
        if re.match(r"\s*\w+=\(", line):  # a bash array of names, e.g. METHODS=(genreward env)
            continue
        for m in re.finditer(r"(?:\$GR|\bgenreward)\s+([a-z][a-z-]*)(.*)", line):
            yield m.group(1), re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", m.group(2))


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.name)
def test_example_commands_exist(path):
    found = list(commands(path.read_text()))
    for name, flags in found:
        assert name in cli.commands, f"{path.name}: no subcommand {name!r}"
        known = {o for p in cli.commands[name].params for o in p.opts + p.secondary_opts}
        unknown = [f for f in flags if f not in known]
        assert not unknown, f"{path.name}: genreward {name} has no {unknown}"


def test_paper_script_runs_every_method_and_both_reward_modes():
    text = (Path(__file__).parent.parent / "examples" / "paper.sh").read_text()
    assert 'MODES=${MODES:-"dense sparse"}' in text
    methods = re.search(r'METHODS=\$\{METHODS:-"([^"]+)"\}', text).group(1).split(",")
    from genreward_cli.stages.pipeline import METHODS

    assert set(methods) <= set(METHODS) and set(methods) == {"genreward", "env", "roboclip", "diffusion-reward",
                                                   "tadpole"}
