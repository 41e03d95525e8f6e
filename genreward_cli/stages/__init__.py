"""Each stage's library, named like its command: ``stages.<stage>.run(...)`` does the work and
returns a :class:`Report`; ``commands/<stage>.py`` only turns flags into that call and prints
the report. Every stage is so importable from Python without click::

    from genreward_cli.envs.config import EnvConfig
    from genreward_cli.stages import collect
    report = collect.run(EnvConfig(task="reach-v3"), policy="expert", episodes=2,
                         out="expert.h5")
    print(report.line)
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Report:
    """What a stage did: ``line``, one sentence for people (the command prints it on stderr),
    and ``summary``, a JSON-safe dict for scripts (printed on stdout under ``--json``)."""

    line: str
    summary: dict = field(default_factory=dict)
