"""`genreward tasks`: the Meta-World tasks and their descriptions."""

from __future__ import annotations

import json

import click

from genreward_cli.envs.tasks import PAPER_TASKS, TASKS
from genreward_cli.options import debug_option, json_option


@click.command()
@click.option("--paper", is_flag=True, help="Only the paper's five tasks.")
@json_option
@debug_option
def tasks(paper: bool, as_json: bool):
    """List Meta-World v3 tasks with the description used as prompt and CLIP text."""
    names = PAPER_TASKS if paper else tuple(TASKS)
    if as_json:
        click.echo(json.dumps({n: TASKS[n] for n in names}))  # one line, as every --json
        return
    from genreward_cli.progress import console as make_console
    from rich.table import Table

    table = Table("task", "description", box=None)
    for n in names:
        table.add_row(n + (" *" if n in PAPER_TASKS else ""), TASKS[n])
    make_console().print(table)
    if not paper:
        click.echo("* the paper's five tasks")
