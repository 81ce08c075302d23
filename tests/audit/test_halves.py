"""The halves design: LiRA's keep masks put every row in exactly half of the shadows, the
pool is class-balanced, and an end-to-end digits audit with small K writes its artifacts,
records its masks, and tells a do-nothing method from retraining."""

from __future__ import annotations

import json

import numpy as np
import pyarrow.parquet as pq
import pytest

from tests.conftest import Cli, assert_one_line_error
from tests.steps.pipeline import prepared, pretrained
from unlearn_cli.artifacts import Workspace
from unlearn_cli.audit import halves

K = 10
HALVES = ("--design", "halves", "--model", "digits-cnn-s0", "--pool", "100", "--models", str(K), "--device", "cpu",
          "--jobs", "2", "--threads", "1", "--resamples", "100")


def test_keep_masks_put_every_row_in_exactly_half_of_the_shadows():
    masks = halves.keep_masks(16, 1000, seed=3)
    assert masks.shape == (16, 1000) and (masks.sum(axis=0) == 8).all()
    assert np.array_equal(masks, halves.keep_masks(16, 1000, seed=3))
    assert not np.array_equal(masks, halves.keep_masks(16, 1000, seed=4))
    assert 400 < masks.sum(axis=1).min() and masks.sum(axis=1).max() < 600  # each shadow ≈ half


def test_the_pool_is_class_balanced_and_seeded():
    labels = np.repeat(np.arange(10), 50)
    pool = halves.pool_rows(labels, 300, seed=0)
    assert pool.size == np.unique(pool).size == 300
    assert (np.bincount(labels[pool]) == 30).all()
    short = np.concatenate([np.zeros(5, int), np.ones(500, int)])
    assert halves.pool_rows(short, 100, seed=0).size == 100  # a small class gives what it has


@pytest.mark.parametrize("models, pool, fragment", [(11, 10, "is odd"), (8, 10, "too few for halves"),
                                                     (10, 5000, "--pool 5000")])
def test_bad_halves_settings_are_refused(models, pool, fragment):
    with pytest.raises(Exception, match=fragment.replace("-", r"\-")):
        halves.check(models, pool, 1437)


@pytest.fixture(scope="module")
def audited(tmp_path_factory) -> Workspace:
    ws = prepared(tmp_path_factory.mktemp("halves") / "ws")
    pretrained(ws, width=0.5, epochs=12)
    cli = Cli(ws)
    for name, method in (("retrain", ("--method", "retrain")),
                         ("nothing", ("--method", "finetune", "--steps", "1", "--lr", "1e-9"))):
        result = cli("audit", *method, *HALVES, "--name", name)
        assert result.exit_code == 0, result.stderr
    return ws


@pytest.mark.slow
def test_a_halves_audit_writes_its_artifacts_and_masks(audited):
    manifest = audited.read("audit", "nothing")
    assert manifest.config["design"] == "halves" and manifest.config["pool"] == 100
    assert {"summary", "phi", "per_example", "roc", "phi_densities", "pool", "masks"} <= set(manifest.files)
    masks = np.load(audited.abs(manifest.files["masks"].path))
    pool = np.load(audited.abs(manifest.files["pool"].path))
    assert masks.shape[0] == K and (masks[:, pool].sum(axis=0) == K // 2).all()
    per_example = pq.read_table(audited.root / "audits" / "nothing" / "per_example.parquet")
    assert per_example.num_rows == 100 and set(per_example.column("n_in").to_pylist()) == {K // 2}
    summary = json.loads((audited.root / "audits" / "nothing" / "summary.json").read_text())
    assert set(summary) == {"ulira", "warnings"}
    # shadow k trained on D_k only; its forget set is pool ∩ D_k, its retain D_k \ F_k
    shadow = audited.read("model", "digits-cnn-s1-h10p100s0")
    assert shadow.config["excluded_rows"] == int((~masks[1]).sum())
    run = audited.read("unlearned", "digits-cnn-s1-h10p100s0-pool-finetune-steps1-lr1e-09-s1")
    assert run.summary["forget_size"] == int(masks[1, pool].sum())
    assert run.summary["retain_size"] == int(masks[1].sum()) - int(masks[1, pool].sum())


@pytest.mark.slow
def test_retrain_is_near_chance_and_a_do_nothing_method_above(audited):
    retrain = json.loads((audited.root / "audits" / "retrain" / "summary.json").read_text())["ulira"]
    nothing = json.loads((audited.root / "audits" / "nothing" / "summary.json").read_text())["ulira"]
    low, high = retrain["balanced_accuracy_ci"]
    assert low - 0.05 <= 0.5 <= high + 0.05, retrain
    assert nothing["balanced_accuracy_ci"][0] > high, (nothing, retrain)


@pytest.mark.slow
def test_a_second_method_reuses_the_shadows(audited):
    plan = Cli(audited)("audit", "--method", "finetune", "--steps", "2", *HALVES, "--plan")
    assert plan.exit_code == 0, plan.stderr
    lines = {line.split()[0]: line.split()[1:] for line in plan.stdout.splitlines()[2:]}
    assert lines["pretrain"] == [str(K), str(K), "0"] and lines["forget"] == [str(K), str(K), "0"]


@pytest.mark.slow
@pytest.mark.parametrize("args, fragment", [(("--attacks", "epsilon"), "cannot run the epsilon attack"),
                                            (("--attacks", "klom"), "cannot run the klom attack")])
def test_epsilon_and_klom_are_refused_for_halves(audited, args, fragment):
    assert_one_line_error(Cli(audited)("audit", "--method", "finetune", *HALVES, *args, "--plan"), fragment)
