"""Row labels: short (method, the preset where it tells rows apart, the one or two values that
vary), the full settings behind each label in summary.md."""

from __future__ import annotations

from tests.report.fixtures import TWELVE_METHODS, Chain, recipe
from unlearn_cli.report import read_record, report_markdown, summarize


def sections_of(chain: Chain):
    evaluations = [chain.ws.read("evaluation", name) for name in chain.ws.names("evaluation")]
    return summarize([read_record(chain.ws, evaluation) for evaluation in evaluations])


def labels(chain: Chain) -> list[str]:
    [section] = sections_of(chain)
    return [row.label for row in section.rows]


def run_all(chain: Chain, configs) -> None:
    """Each (method, params, preset, training) unlearned and evaluated on one forget set."""
    model = chain.model()
    forget = chain.forget(model)
    for i, (method, params, preset, training) in enumerate(configs):
        run = chain.unlearned(model, forget, method=method, params=params, preset=preset, training=training,
                              name=f"run{i}")
        chain.evaluation(run, forget, {"FA": 80.0 + i})


def test_an_optimiser_is_labelled_as_the_optimiser_not_as_name(chain):
    run_all(chain, [("finetune", {}, None, recipe(optimizer="sgd")), ("finetune", {}, None, recipe(optimizer="adamw"))])
    assert labels(chain) == ["finetune(optimizer=adamw)", "finetune(optimizer=sgd)"]


def test_a_schedule_is_labelled_as_the_schedule(chain):
    run_all(chain, [("finetune", {}, None, recipe(schedule="constant")), ("finetune", {}, None, recipe(schedule="linear"))])
    assert labels(chain) == ["finetune(schedule=constant)", "finetune(schedule=linear)"]


def test_preset_runs_are_labelled_by_the_preset(chain):
    natmu = recipe(optimizer="adamw", lr=5e-4, schedule="natmu_cosine")
    corrective = recipe(lr=0.0025, epochs=10, schedule="linear")
    run_all(chain, [("scrub", {"msteps": 2}, "natmu-cifar10", natmu),
                    ("scrub", {"msteps": 4}, "corrective-cifar10", corrective)])
    assert labels(chain) == ["scrub[corrective-cifar10]", "scrub[natmu-cifar10]"]


def test_a_value_swept_under_a_preset_follows_the_preset(chain):
    natmu = recipe(optimizer="adamw", lr=5e-4)
    run_all(chain, [("scrub", {"alpha": 0.5}, "natmu-cifar10", natmu),
                    ("scrub", {"alpha": 1.0}, "natmu-cifar10", natmu),
                    ("scrub", {"alpha": 0.5}, "corrective-cifar10", recipe(lr=0.0025)),
                    ("scrub", {"alpha": 0.5}, None, recipe(lr=0.01))])
    assert labels(chain) == ["scrub", "scrub[corrective-cifar10]", "scrub[natmu-cifar10](alpha=0.5)",
                             "scrub[natmu-cifar10](alpha=1)"]


def test_one_preset_for_every_run_of_a_method_is_not_repeated_in_its_label(chain):
    run_all(chain, [("salun", {"threshold": t}, "natmu-cifar10", recipe(optimizer="adamw")) for t in (0.5, 0.8)])
    assert labels(chain) == ["salun(threshold=0.5)", "salun(threshold=0.8)"]


def test_twelve_methods_have_short_labels(chain):
    run_all(chain, TWELVE_METHODS)
    names = labels(chain)
    assert len(names) == 12 and len(set(names)) == 12
    assert max(map(len, names)) <= 26, names
    assert "scrub[natmu-cifar10]" in names and "ssd(alpha=100)" in names


def test_summary_md_lists_the_full_settings_of_each_label(chain):
    run_all(chain, TWELVE_METHODS)
    text = report_markdown("r", sections_of(chain), {}, [])
    table = text.split("## Methods", 1)[1]
    row = next(line for line in table.splitlines() if line.startswith("| scrub[natmu-cifar10] |"))
    assert "| scrub | natmu-cifar10 |" in row
    for setting in ("alpha=0.5", "msteps=2", "optimizer=adamw", "lr=0.0005", "schedule=natmu_cosine", "epochs=5"):
        assert setting in row, (setting, row)
    ssd = next(line for line in table.splitlines() if line.startswith("| ssd(alpha=10) |"))
    assert "alpha=10" in ssd and "lam=1" in ssd
