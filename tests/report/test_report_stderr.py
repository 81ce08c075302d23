"""What `unlearn report` prints on stderr: tables fitted to a terminal's width, or, where
stderr is a file, a pipe or a CI log (no width to fit), the markdown tables."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from tests.report.fixtures import TWELVE_METHODS, Chain
from unlearn_cli.report import read_record, summarize


def twelve_methods(chain: Chain) -> None:
    model = chain.model()
    forget = chain.forget(model)
    retrain = chain.unlearned(model, forget, method="retrain")
    chain.evaluation(retrain, forget, {"FA": 90.0, "RA": 99.0, "TA": 95.0})
    for i, (method, params, preset, training) in enumerate(TWELVE_METHODS):
        run = chain.unlearned(model, forget, method=method, params=params, preset=preset, training=training)
        chain.evaluation(run, forget, {"FA": 80.0 + i, "RA": 98.0, "TA": 93.0 - i / 4, "avg_gap": 1.0 + i},
                         reference=retrain)


@pytest.mark.slow
def test_stderr_that_is_not_a_terminal_gets_one_markdown_table_per_setting(cli, chain):
    twelve_methods(chain)
    result = cli("report", "--all", "--name", "r", env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.stderr
    lines = result.stderr.splitlines()
    assert sum(line.startswith("| method | n | FA |") for line in lines) == 1
    for label in ("retrain", "finetune", "scrub[natmu-cifar10]", "ssd(alpha=100)"):
        assert sum(line.startswith(f"| {label} | 1 |") for line in lines) == 1, label
    assert "(1/" not in result.stderr  # not split into one table per few methods
    assert "![" not in result.stderr  # the plots' links belong in summary.md only


def sections(chain: Chain):
    return summarize([read_record(chain.ws, chain.ws.read("evaluation", n)) for n in chain.ws.names("evaluation")])


def test_a_terminal_still_gets_tables_fitted_to_its_width(chain):
    from unlearn_cli.cli.report import print_summary

    twelve_methods(chain)
    out = io.StringIO()
    print_summary(Console(file=out, force_terminal=True, width=100, color_system=None), sections(chain), "r")
    text = out.getvalue()
    assert "(1/" in text and "| method |" not in text
    assert max(len(line) for line in text.splitlines()) <= 100
