"""`unlearn report --curves`: a training-curves figure per setting from the runs' history files."""

from __future__ import annotations

import pytest
from PIL import Image

from tests.conftest import assert_one_line_error
from tests.report.fixtures import Chain


def _two_methods(chain: Chain) -> None:
    model = chain.model()
    forget = chain.forget(model)
    retrain = chain.unlearned(model, forget, method="retrain", steps=100, history=True)
    chain.evaluation(retrain, forget, {"FA": 90.0, "TA": 95.0})
    for seed in (0, 1):
        run = chain.unlearned(model, forget, method="finetune", seed=seed, steps=40, history=True)
        chain.evaluation(run, forget, {"FA": 85.0, "TA": 94.0}, reference=retrain)
    ssd = chain.unlearned(model, forget, method="ssd", training={}, steps=0)
    chain.evaluation(ssd, forget, {"FA": 80.0, "TA": 93.0}, reference=retrain)


@pytest.mark.slow
def test_curves_are_plotted_only_when_asked_for(chain, cli):
    _two_methods(chain)
    plain = cli("report", "--all", "--name", "plain")
    assert plain.exit_code == 0, plain.stderr
    assert not list((chain.ws.root / "reports" / "plain").glob("curves-*.png"))

    result = cli("report", "--all", "--name", "with", "--curves")
    assert result.exit_code == 0, result.stderr
    [png] = (chain.ws.root / "reports" / "with").glob("curves-*.png")
    with Image.open(png) as image:
        assert len(set(image.convert("L").get_flattened_data())) > 10  # drawn, not blank
    manifest = chain.ws.read("report", "with")
    assert manifest.config["curves"] is True
    assert png.name in manifest.files


def test_a_changed_history_file_is_refused_by_name(chain, cli):
    _two_methods(chain)
    [path] = (chain.ws.root / "manifests" / "unlearned").glob("*finetune-u1.history.parquet")
    path.write_bytes(path.read_bytes() + b"x")
    result = cli("report", "--all", "--curves")
    assert_one_line_error(result, f"run {path.name.removesuffix('.history.parquet')}", "training curves", "changed")
    assert cli("report", "--all").exit_code == 0  # without --curves the file is not read
