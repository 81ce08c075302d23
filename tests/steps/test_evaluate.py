"""`evaluate`: outputs, the properties docs/metrics.md promises, and every user error."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from tests.conftest import assert_one_line_error
from tests.steps.pipeline import pretrained
from unlearn_cli.artifacts import load_table, save_tensors
from unlearn_cli.data.loader import BatchLoader, DeviceSplit
from unlearn_cli.data.prepared import DatasetInfo, load_split
from unlearn_cli.metrics import METRICS, EvalContext, Outputs, compute_metrics
from unlearn_cli.models import build_model
from unlearn_cli.steps.common import load_weights
from unlearn_cli.train.inference import predict_logits


@pytest.fixture
def ecli(cli, trained_ws):
    cli.workspace = trained_ws
    assert cli("make-forget-set", "--model", "digits-cnn-s0", "--per", "10", "--name", "f10").exit_code == 0
    return cli


def run_ok(cli, *args):
    result = cli(*args)
    assert result.exit_code == 0, result.stderr
    return result


@pytest.mark.slow
def test_evaluate_writes_tables_and_manifest(ecli):
    ws = ecli.workspace
    result = run_ok(ecli, "evaluate", "--run", "digits-cnn-s0", "--forget", "f10")
    path = ws.manifest_path("evaluation", "digits-cnn-s0--f10")
    assert result.stdout == f"{path}\n"
    assert "FA" in result.stderr and "mia_loss" in result.stderr  # the rich table goes to stderr
    manifest = ws.read("evaluation", "digits-cnn-s0--f10")
    assert set(manifest.parents) == {"run", "forget"}
    metrics = load_table(ws.abs(manifest.files["metrics"].path))
    assert metrics.column_names == ["run", "method", "seed", "forget_set", "metric", "value"]
    values = dict(zip(metrics.column("metric").to_pylist(), metrics.column("value").to_pylist()))
    assert values == manifest.summary
    assert {"FA", "RA", "TA", "UA", "mia_entropy", "mia_confidence", "mia_loss"} <= set(values)
    assert values["UA"] == pytest.approx(100 - values["FA"])
    assert set(metrics.column("method").to_pylist()) == {"original"}
    samples = load_table(ws.abs(manifest.files["samples"].path))
    n_train = ws.read("dataset", "digits").summary["train_size"]
    n_test = ws.read("dataset", "digits").summary["test_size"]
    assert samples.num_rows == n_train + n_test
    splits = samples.column("split").to_numpy(zero_copy_only=False)
    assert (splits == "forget").sum() == ws.read("forget-set", "f10").summary["forget"]


@pytest.mark.slow
def test_metrics_match_an_independent_computation(ecli):
    """TA and FA recomputed here from the weights, by plain torch, without the loader."""
    ws = ecli.workspace
    result = run_ok(ecli, "evaluate", "--run", "digits-cnn-s0", "--forget", "f10", "--json")
    metrics = json.loads(result.stdout)["metrics"]
    dataset = ws.read("dataset", "digits")
    info = DatasetInfo.from_manifest(dataset)
    model = load_weights(ws, ws.read("model", "digits-cnn-s0"), torch.device("cpu")).eval()
    test = load_split(ws, dataset, "test")
    x = (torch.from_numpy(test.images).permute(0, 3, 1, 2).float() / 255 - info.mean[0]) / info.std[0]
    with torch.no_grad():
        ta = (model(x).argmax(1).numpy() == test.labels).mean() * 100
    assert metrics["TA"] == pytest.approx(ta)


def test_self_reference_has_zero_gap_and_unit_tow(ecli):
    result = run_ok(ecli, "evaluate", "--run", "digits-cnn-s0", "--forget", "f10", "--reference", "digits-cnn-s0",
                    "--json")
    metrics = json.loads(result.stdout)["metrics"]
    assert metrics["avg_gap"] == 0 and metrics["tow"] == 1
    assert metrics["kl_forget"] == pytest.approx(0, abs=1e-9) and metrics["kl_test"] == pytest.approx(0, abs=1e-9)
    assert metrics["rte"] == pytest.approx(1)


def test_metric_selection(ecli):
    result = run_ok(ecli, "evaluate", "--run", "digits-cnn-s0", "--forget", "f10", "--metrics", "accuracy,mia_loss",
                    "--json")
    assert list(json.loads(result.stdout)["metrics"]) == ["FA", "RA", "TA", "UA", "mia_loss"]


def _test_predictions(ws, evaluation: str) -> tuple[np.ndarray, np.ndarray]:
    """(prediction, label) of every test row, from the evaluation's per-sample table."""
    samples = load_table(ws.abs(ws.read("evaluation", evaluation).files["samples"].path))
    columns = {c: samples.column(c).to_numpy(zero_copy_only=False) for c in ("split", "index", "prediction", "label")}
    test = columns["split"] == "test"
    assert columns["index"][test].tolist() == list(range(int(test.sum())))
    return columns["prediction"][test], columns["label"][test]


def _percent(hit: np.ndarray) -> float:
    return 100.0 * float(np.mean(hit))


@pytest.mark.slow
def test_class_forgetting_splits_test_accuracy(ecli):
    assert ecli("make-forget-set", "--model", "digits-cnn-s0", "--class", "7", "--name", "c7").exit_code == 0
    metrics = json.loads(run_ok(ecli, "evaluate", "--run", "digits-cnn-s0", "--forget", "c7", "--json").stdout)["metrics"]
    assert metrics["FA"] > 80  # nothing was unlearned yet
    preds, labels = _test_predictions(ecli.workspace, "digits-cnn-s0--c7")
    seven = labels == 7
    assert 0 < seven.sum() < len(labels)
    # NatMU's split: TA on the other classes' test images, TA_forget on class 7's.
    assert metrics["TA_forget"] == pytest.approx(_percent(preds[seven] == 7))
    assert metrics["TA"] == pytest.approx(_percent(preds[~seven] == labels[~seven]))


@pytest.fixture
def cifar20_ws(ecli, tmp_path):
    from tests.fixtures.formats import write_cifar100

    source = write_cifar100(tmp_path / "c100", n_train=200, n_test=200)
    assert ecli("prepare-data", "--dataset", "cifar20", "--source", str(source)).exit_code == 0
    pretrained(ecli.workspace, dataset="cifar20", name="c20", epochs=1, width=0.25)
    return ecli


@pytest.mark.slow
def test_subclass_forgetting_splits_the_test_side_by_fine_class(cifar20_ws):
    from tests.fixtures.formats import cifar100_fine_label

    ws = cifar20_ws.workspace
    fine = 5  # the fixture's test rows 0 and 100 (fine = (11 i + 5) % 100), train rows 15 and 115
    name = DatasetInfo.from_manifest(ws.read("dataset", "cifar20")).extra_names["fine_labels"][fine]
    assert cifar20_ws("make-forget-set", "--model", "c20", "--subclass", name, "--name", "sub").exit_code == 0
    assert ws.read("forget-set", "sub").config["forget_subclass"] == fine
    metrics = json.loads(run_ok(cifar20_ws, "evaluate", "--run", "c20", "--forget", "sub", "--json").stdout)["metrics"]
    preds, labels = _test_predictions(ws, "c20--sub")
    in_fine = np.array([cifar100_fine_label("test", i) == fine for i in range(len(labels))])
    assert np.flatnonzero(in_fine).tolist() == [0, 100]
    assert metrics["TA_forget"] == pytest.approx(_percent(preds[in_fine] == labels[in_fine]))
    assert metrics["TA"] == pytest.approx(_percent(preds[~in_fine] == labels[~in_fine]))
    # The other fine classes of the same superclass stay in TA (a coarse-class mask would
    # move 10 rows out of TA, not 2, and change it: the model here is near-constant).
    assert ((labels == labels[0]) & ~in_fine).any()
    assert metrics["TA"] != pytest.approx(_percent(preds == labels))


def test_subclass_forget_set_without_its_fine_class_is_refused(cifar20_ws):
    ws = cifar20_ws.workspace
    assert cifar20_ws("make-forget-set", "--model", "c20", "--subclass", "5", "--name", "sub").exit_code == 0
    stale = ws.read("forget-set", "sub")
    del stale.config["forget_subclass"]  # as written before the field existed
    ws.write(stale)
    assert_one_line_error(cifar20_ws("evaluate", "--run", "c20", "--forget", "sub"),
                          "does not record its fine class", "--force")


@pytest.mark.slow
def test_poison_raises_attack_success_and_clean_model_does_not(ecli):
    ws = ecli.workspace
    assert ecli("make-forget-set", "--dataset", "digits", "--manipulation", "poison", "--size", "150", "--known", "0.5",
                "--patch-size", "3", "--target", "0", "--name", "poison").exit_code == 0
    pretrained(ws, manipulation="poison", name="poisoned", epochs=8)
    poisoned = json.loads(run_ok(ecli, "evaluate", "--run", "poisoned", "--json").stdout)["metrics"]
    clean = json.loads(run_ok(ecli, "evaluate", "--run", "digits-cnn-s0", "--forget", "poison", "--json").stdout)["metrics"]
    assert poisoned["attack_success"] > 80, poisoned
    assert clean["attack_success"] < 20, clean
    assert poisoned["acc_clean"] > 85 and clean["acc_corr"] > 80
    assert {"acc_manip_known", "acc_manip_unknown"} <= set(poisoned)


def _outputs(model, split, info, rows=None):
    loader = BatchLoader(split, batch_size=512, mean=info.mean, std=info.std, shuffle=False, indices=rows)
    return predict_logits(model, loader).numpy()


@pytest.mark.slow
def test_mia_near_chance_on_unseen_samples_and_not_on_an_overfit_model(trained_workspace):
    ws = trained_workspace
    dataset = ws.read("dataset", "digits")
    info = DatasetInfo.from_manifest(dataset)
    train, test = load_split(ws, dataset, "train"), load_split(ws, dataset, "test")
    cpu = torch.device("cpu")
    train_split = DeviceSplit.from_numpy(train.images, train.labels, cpu)
    test_split = DeviceSplit.from_numpy(test.images, test.labels, cpu)

    # 1. A well-generalising model; D_f = test images passed off as train rows (never seen).
    model = load_weights(ws, ws.read("model", "digits-cnn-s0"), cpu)
    train_logits, test_logits = _outputs(model, train_split, info), _outputs(model, test_split, info)
    half = len(test.labels) // 2
    ctx = EvalContext(
        train=Outputs(np.concatenate([train_logits, test_logits[:half]]), np.concatenate([train.labels, test.labels[:half]])),
        true_train_labels=np.concatenate([train.labels, test.labels[:half]]),
        forget=np.r_[np.zeros(len(train.labels), bool), np.ones(half, bool)],
        manipulated=np.zeros(len(train.labels) + half, bool),
        test=Outputs(test_logits[half:], test.labels[half:]), test_triggered=None, num_classes=10)
    unseen = compute_metrics(ctx, ["mia_loss", "mia_entropy"])
    assert 35 <= unseen["mia_loss"] <= 65, unseen

    # 2. A tiny model overfit on 60 rows (D_f) for many steps: its D_f is told apart.
    torch.manual_seed(0)
    small = build_model("cnn", channels=1, image_size=8, num_classes=10, width=0.5)
    opt = torch.optim.Adam(small.parameters(), lr=3e-3)
    rows = np.arange(60)
    seen_loader = BatchLoader(train_split, batch_size=60, mean=info.mean, std=info.std, indices=rows, shuffle=False)
    batch = next(iter(seen_loader.epoch(0)))
    for _ in range(300):
        opt.zero_grad()
        torch.nn.functional.cross_entropy(small(batch.x), batch.y).backward()
        opt.step()
    forget = np.zeros(len(train.labels), bool)
    forget[rows] = True
    ctx = EvalContext(
        train=Outputs(_outputs(small, train_split, info), train.labels), true_train_labels=train.labels,
        forget=forget, manipulated=np.zeros(len(train.labels), bool),
        test=Outputs(_outputs(small, test_split, info), test.labels), test_triggered=None, num_classes=10)
    overfit = compute_metrics(ctx, ["mia_loss"])
    # The kit's attack is a logistic regression on the raw loss, so even a clean gap in mean loss
    # (≈0.004 on D_f against ≈0.65 on test here) gives ≈70 %, far from the unseen case's ≈50 %.
    assert overfit["mia_loss"] > 62 and overfit["mia_loss"] - unseen["mia_loss"] > 10, (overfit, unseen)


@pytest.mark.slow
def test_every_metric_is_reachable_from_the_cli(ecli):
    """Every registered metric appears for some evaluation the CLI can produce."""
    ws = ecli.workspace
    ecli("make-forget-set", "--dataset", "digits", "--manipulation", "poison", "--size", "30", "--name", "p")
    pretrained(ws, manipulation="p", name="pm", epochs=1, val_fraction=0.1)  # VA needs a validation split
    ecli("make-forget-set", "--model", "pm", "--class", "2", "--name", "pc")
    ecli("make-forget-set", "--dataset", "digits", "--manipulation", "interclass", "--size", "20", "--classes", "1,7",
         "--name", "ic")
    pretrained(ws, manipulation="ic", name="im", epochs=1)
    seen = set()
    for args in (["--run", "pm", "--reference", "pm"], ["--run", "pm", "--forget", "pc", "--name", "x"],
                 ["--run", "im"]):
        seen |= set(json.loads(run_ok(ecli, "evaluate", *args, "--json").stdout)["metrics"])
    from unlearn_cli.metrics import value_names

    assert set(value_names()) <= seen, set(value_names()) - seen
    assert len(METRICS) >= 10


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--run", "ghost"], ["no unlearned or model 'ghost'"]),
        (["--run", "digits-cnn-s0"], ["has no forget set of its own", "--forget"]),
        (["--run", "digits-cnn-s0", "--forget", "nope"], ["no forget-set 'nope'"]),
        (["--run", "digits-cnn-s0", "--forget", "f10", "--metrics", "bogus"], ["unknown metric 'bogus'"]),
        (["--run", "digits-cnn-s0", "--forget", "f10", "--metrics", "tow"], ["tow", "--reference"]),
    ],
)
@pytest.mark.slow
def test_user_errors(ecli, args, fragments):
    assert_one_line_error(ecli("evaluate", *args), *fragments)


def test_weights_failing_their_checksum(ecli):
    ws = ecli.workspace
    weights = ws.abs(ws.read("model", "digits-cnn-s0").files["weights"].path)
    save_tensors(weights, {"w": torch.zeros(1)})
    assert_one_line_error(ecli("evaluate", "--run", "digits-cnn-s0", "--forget", "f10"), "fails its checksum")


def unlearned_on_another_set(cli, name: str) -> None:
    """A stand-in for an unlearned run (the methods come later): the pretrained weights under
    an `unlearned` manifest whose own forget set is g10, not the fixture's f10."""
    ws = cli.workspace
    cli("make-forget-set", "--model", "digits-cnn-s0", "--per", "10", "--seed", "1", "--name", "g10")
    run = ws.read("model", "digits-cnn-s0")
    run.kind, run.name = "unlearned", name
    run.parents["forget"] = ws.parent_ref(ws.read("forget-set", "g10"))
    ws.write(run)


def test_reference_on_another_forget_set(ecli):
    unlearned_on_another_set(ecli, "ref-on-g10")
    assert_one_line_error(ecli("evaluate", "--run", "digits-cnn-s0", "--forget", "f10", "--reference", "ref-on-g10"),
                          "another forget set")


def test_reference_on_another_dataset(ecli, tmp_path):
    from tests.fixtures.formats import write_cifar10

    ws = ecli.workspace
    assert ecli("prepare-data", "--dataset", "cifar10", "--source", str(write_cifar10(tmp_path / "c"))).exit_code == 0
    pretrained(ws, dataset="cifar10", name="c10", epochs=1, width=0.25)
    assert_one_line_error(ecli("evaluate", "--run", "digits-cnn-s0", "--forget", "f10", "--reference", "c10"),
                          "another dataset")


@pytest.mark.slow
def test_existing_evaluation_needs_force(ecli):
    first = run_ok(ecli, "evaluate", "--run", "digits-cnn-s0", "--forget", "f10")
    assert run_ok(ecli, "evaluate", "--run", "digits-cnn-s0", "--forget", "f10").stdout == first.stdout  # reused
    assert_one_line_error(ecli("evaluate", "--run", "digits-cnn-s0", "--forget", "f10", "--seed", "1"),
                          "exists already", "made with other settings", "--force")
    run_ok(ecli, "evaluate", "--run", "digits-cnn-s0", "--forget", "f10", "--force")


def test_forget_set_of_another_dataset(ecli, tmp_path):
    from tests.fixtures.formats import write_cifar10

    assert ecli("prepare-data", "--dataset", "cifar10", "--source", str(write_cifar10(tmp_path / "c"))).exit_code == 0
    assert ecli("make-forget-set", "--dataset", "cifar10", "--manipulation", "poison", "--size", "4",
                "--name", "c10p").exit_code == 0
    assert_one_line_error(ecli("evaluate", "--run", "digits-cnn-s0", "--forget", "c10p"), "another dataset")


@pytest.mark.slow
def test_unlearned_run_with_a_foreign_forget_set(ecli):
    unlearned_on_another_set(ecli, "unlearned-on-g10")
    assert_one_line_error(ecli("evaluate", "--run", "unlearned-on-g10", "--forget", "f10"),
                          "unlearned on another forget set", "leave out --forget")
    ok = ecli("evaluate", "--run", "unlearned-on-g10", "--json")  # its own forget set by default
    assert ok.exit_code == 0, ok.stderr


def test_forget_test_mask_by_kind():
    from unlearn_cli.artifacts import Manifest
    from unlearn_cli.data.prepared import PreparedSplit
    from unlearn_cli.errors import ArtifactError
    from unlearn_cli.steps.evaluate import forget_test_mask

    images = np.zeros((4, 2, 2, 3), np.uint8)
    test = PreparedSplit(images, np.array([0, 1, 1, 2]), {"fine_labels": np.array([3, 4, 5, 4])})

    def mask(**config):
        return forget_test_mask(Manifest(kind="forget-set", name="f", config=config), test.labels, test.extra)

    assert mask(kind="per") is None
    assert mask(kind="class", forget_class=1).tolist() == [False, True, True, False]
    assert mask(kind="subclass", forget_subclass=4).tolist() == [False, True, False, True]
    with pytest.raises(ArtifactError, match="has no fine_labels"):
        forget_test_mask(Manifest(kind="forget-set", name="f", config={"kind": "subclass", "forget_subclass": 4}),
                         test.labels, {})
