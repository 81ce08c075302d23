"""`make-forget-set` from the CLI: every kind and manipulation, and every user error."""

from __future__ import annotations

import json

import numpy as np
import pytest

from tests.conftest import assert_one_line_error
from unlearn_cli.artifacts import load_table
from unlearn_cli.forget import FORGET_KINDS, write_index_file


def table(ws, name):
    """The forget-set manifest and its table's columns as numpy arrays."""
    manifest = ws.read("forget-set", name)
    rows = load_table(ws.abs(manifest.files["index"].path))
    return manifest, {c: rows.column(c).to_numpy() for c in ("index", "label", "train_label", "poisoned", "forget", "manipulated")}


def make(cli, *args):
    result = cli("make-forget-set", *args)
    assert result.exit_code == 0, result.stderr
    path = result.stdout.strip()
    assert result.stdout == path + "\n"
    return json.loads(open(path).read())["name"]


@pytest.fixture
def fcli(cli, trained_ws):
    cli.workspace = trained_ws
    return cli


KIND_ARGS = {
    "per": ["--per", "10"],
    "fraction": ["--fraction", "0.2"],
    "class": ["--class", "3"],
    "subclass": None,  # needs superclasses: covered on a cifar20 fixture below
    "indices": "file",
    "known": None,  # needs a model pretrained on a manipulation: test_another_known_fraction_…
}


@pytest.mark.parametrize("kind", FORGET_KINDS.names())
def test_every_kind_from_the_cli(fcli, kind, tmp_path):
    args = KIND_ARGS[kind]
    if args is None:
        pytest.skip(f"{kind} needs another fixture: see its own test below")
    if args == "file":
        write_index_file(tmp_path / "rows.json", np.array([5, 1, 9]))
        args = ["--indices", str(tmp_path / "rows.json")]
    name = make(fcli, "--model", "digits-cnn-s0", *args)
    manifest, cols = table(fcli.workspace, name)
    assert manifest.config["kind"] == kind
    assert set(manifest.parents) == {"dataset", "model"}
    n = len(cols["index"])
    assert np.array_equal(cols["index"], np.arange(n))
    assert 0 < cols["forget"].sum() < n
    assert np.array_equal(cols["label"], cols["train_label"]) and not cols["poisoned"].any()
    # only class-wise kinds record what evaluate splits the test side by
    assert manifest.config.get("forget_class") == (3 if kind == "class" else None)
    assert "forget_subclass" not in manifest.config
    assert manifest.summary["forget"] == int(cols["forget"].sum())
    assert sum(manifest.summary["per_class"].values()) == manifest.summary["forget"]


def test_class_balanced_random_sets(fcli):
    name = make(fcli, "--model", "digits-cnn-s0", "--per", "10")
    _, cols = table(fcli.workspace, name)
    per_class = int(len(cols["label"]) / 100 / 10 * 10)  # NatMU's generate_idx: int(N/100/C·per)
    for c in range(10):
        n_c = int((cols["label"] == c).sum())
        assert int(cols["forget"][cols["label"] == c].sum()) == min(per_class, n_c)


def test_same_seed_same_set_other_seed_other_set(fcli):
    a = make(fcli, "--model", "digits-cnn-s0", "--per", "10", "--seed", "3", "--name", "a")
    b = make(fcli, "--model", "digits-cnn-s0", "--per", "10", "--seed", "3", "--name", "b")
    c = make(fcli, "--model", "digits-cnn-s0", "--per", "10", "--seed", "4", "--name", "c")
    ws = fcli.workspace
    assert np.array_equal(table(ws, a)[1]["forget"], table(ws, b)[1]["forget"])
    assert not np.array_equal(table(ws, a)[1]["forget"], table(ws, c)[1]["forget"])


def test_hardest_sets_follow_the_difficulty_record(fcli):
    ws = fcli.workspace
    hard10 = table(ws, make(fcli, "--model", "digits-cnn-s0", "--per", "110"))[1]["forget"]
    hard1 = table(ws, make(fcli, "--model", "digits-cnn-s0", "--per", "101"))[1]["forget"]
    model = ws.read("model", "digits-cnn-s0")
    record = load_table(ws.abs(model.files["difficulty"].path))
    frac = record.column("misclassified_fraction").to_numpy()
    loss = record.column("mean_loss").to_numpy()
    n = len(frac)
    assert hard10.sum() == int(np.floor(n * 0.1 + 0.5)) and hard1.sum() == int(np.floor(n * 0.01 + 0.5))
    assert not (hard1 & ~hard10).any()  # 1 % ⊂ 10 %
    key = np.lexsort((-loss, -frac))  # by fraction desc, then loss desc
    worst_outside = key[~hard10[key]][0]
    # no row outside the set is strictly harder than a row inside it
    inside_min = min(zip(frac[hard10], loss[hard10]))
    assert (frac[worst_outside], loss[worst_outside]) <= inside_min


def test_confidence_ranking_without_a_record(fcli):
    ws = fcli.workspace
    name = make(fcli, "--model", "digits-cnn-s0", "--per", "101", "--difficulty", "confidence")
    assert table(ws, name)[1]["forget"].sum() == int(np.floor(len(table(ws, name)[1]["forget"]) * 0.01 + 0.5))


@pytest.mark.parametrize("kind", ["poison", "interclass", "labelswap"])
def test_manipulations_and_known_fraction(fcli, kind):
    ws = fcli.workspace
    extra = ["--classes", "3,5"] if kind == "interclass" else []
    name = make(fcli, "--dataset", "digits", "--manipulation", kind, "--size", "40", "--known", "0.25", *extra)
    manifest, cols = table(ws, name)
    manipulated = cols["manipulated"]
    assert manifest.config["manipulation"]["kind"] == kind
    assert set(manifest.parents) == {"dataset"}
    # All --size 40 rows are manipulated, even labelswap rows the permutation gave their own
    # label back (the `manipulated` column records them).
    assert manipulated.sum() == 40 and manifest.summary["manipulated"] == 40
    assert (manipulated >= ((cols["label"] != cols["train_label"]) | cols["poisoned"])).all()
    assert cols["forget"].sum() == round(0.25 * 40)
    assert not (cols["forget"] & ~manipulated).any()  # D_f is known manipulated rows only
    recorded = manifest.config["manipulation"]
    if kind == "poison":
        assert cols["poisoned"].sum() == 40 and (cols["train_label"][cols["poisoned"]] == 0).all()
        assert recorded["target"] == 0 and recorded["patch_size"] == 3
    if kind == "interclass":
        assert recorded["classes"] == [3, 5]
    if kind == "labelswap":
        assert set(recorded) == {"kind", "size", "known"}
    if kind == "interclass":
        for a, b in ((3, 5), (5, 3)):
            rows = np.flatnonzero(cols["label"] == a)[:20]
            assert (cols["train_label"][rows] == b).all()
            assert (cols["train_label"][np.flatnonzero(cols["label"] == a)[20:]] == a).all()


@pytest.mark.slow
def test_forget_set_of_a_manipulated_model_keeps_its_view(fcli):
    ws = fcli.workspace
    manip = make(fcli, "--dataset", "digits", "--manipulation", "poison", "--size", "30", "--known", "0.5")
    result = fcli("pretrain", "--width", "0.25", "--epochs", "1", "--manipulation", manip, "--name", "pm",
                  "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    name = make(fcli, "--model", "pm", "--per", "10")
    manifest, cols = table(ws, name)
    assert cols["poisoned"].sum() == 30
    assert manifest.config["manipulation"]["kind"] == "poison"


@pytest.mark.slow
def test_another_known_fraction_from_a_manipulated_model(fcli):
    """One model pretrained on a manipulation serves every known fraction (as the corrective
    paper pretrains once per manipulation): `--model M --known F` keeps M's manipulated view
    and takes a seeded fraction F of its manipulated rows as D_f."""
    ws = fcli.workspace
    manip = make(fcli, "--dataset", "digits", "--manipulation", "labelswap", "--size", "40", "--known", "0.5")
    assert fcli("pretrain", "--width", "0.25", "--epochs", "1", "--manipulation", manip, "--name", "pm",
                "--device", "cpu").exit_code == 0
    _, manip_cols = table(ws, ws.read("forget-set", manip).name)
    name = make(fcli, "--model", "pm", "--known", "0.25")
    manifest, cols = table(ws, name)
    assert name == "pm-known0.25-s0" and manifest.config["kind"] == "known"
    assert np.array_equal(cols["manipulated"], manip_cols["manipulated"])  # the model's view, kept
    assert np.array_equal(cols["train_label"], manip_cols["train_label"])
    assert cols["forget"].sum() == 10 and not (cols["forget"] & ~cols["manipulated"]).any()
    # The same fraction and seed as the manipulation's own D_f gives the same rows.
    same = make(fcli, "--model", "pm", "--known", "0.5", "--name", "half")
    assert np.array_equal(table(ws, same)[1]["forget"], manip_cols["forget"])
    # …and unlearning finds the model through the forget set.
    result = fcli("unlearn", "--method", "finetune", "--forget", name, "--epochs", "1", "--device", "cpu")
    assert result.exit_code == 0, result.stderr
    assert ws.read("unlearned", f"{name}-finetune-s0").config["model"] == "pm"


def test_known_fraction_needs_a_manipulated_model(fcli):
    assert_one_line_error(fcli("make-forget-set", "--model", "digits-cnn-s0", "--known", "0.5"),
                          "was not pretrained on a manipulation")
    assert_one_line_error(fcli("make-forget-set", "--model", "digits-cnn-s0", "--known", "1.5"),
                          "--known 1.5 is outside (0, 1]")


def test_subclass_on_cifar20(cli, tmp_path):
    from tests.fixtures.formats import write_cifar100

    source = write_cifar100(tmp_path / "src", n_train=40, n_test=10)
    assert cli("prepare-data", "--dataset", "cifar20", "--source", str(source)).exit_code == 0
    from unlearn_cli.data.prepared import DatasetInfo, load_split

    ws = cli.workspace
    dataset = ws.read("dataset", "cifar20")
    train = load_split(ws, dataset, "train")
    fine_names = DatasetInfo.from_manifest(dataset).extra_names["fine_labels"]
    fine = int(train.extra["fine_labels"][0])
    result = cli("make-forget-set", "--dataset", "cifar20", "--subclass", fine_names[fine])
    # a subclass set made straight from a dataset (no model) is allowed: it needs no ranking
    assert result.exit_code == 0, result.stderr
    manifest, cols = table(ws, json.loads(open(result.stdout.strip()).read())["name"])
    assert np.array_equal(np.flatnonzero(cols["forget"]), np.flatnonzero(train.extra["fine_labels"] == fine))
    assert np.array_equal(cols["train_label"], train.labels)  # labels stay coarse
    # evaluate splits the test side by this fine class (docs/metrics.md)
    assert manifest.config["forget_subclass"] == fine and "forget_class" not in manifest.config


@pytest.mark.parametrize(
    ("args", "fragments"),
    [
        (["--model", "digits-cnn-s0", "--per", "55"], ["--per 55 is not a valid value", "1, 10, 101, 110"]),
        (["--model", "digits-cnn-s0", "--fraction", "1.5"], ["1.5"]),
        (["--model", "digits-cnn-s0", "--fraction", "0"], ["0"]),
        (["--model", "digits-cnn-s0", "--class", "banana"], ["banana", "0, 1, 2"]),
        (["--model", "digits-cnn-s0", "--subclass", "rocket"], ["subclass", "cifar20"]),
        (["--model", "digits-cnn-s0", "--per", "10", "--known", "0.5"], ["--known", "--manipulation"]),
        (["--dataset", "digits", "--manipulation", "poison", "--size", "100000"], ["--size 100000", "larger"]),
        (["--dataset", "digits", "--manipulation", "poison", "--size", "10", "--known", "0"], ["--known 0"]),
        (["--dataset", "digits", "--manipulation", "teleport", "--size", "10"], ["unknown manipulation 'teleport'"]),
        (["--dataset", "digits", "--manipulation", "interclass", "--size", "10"], ["no default pair", "--classes"]),
        (["--dataset", "digits", "--manipulation", "interclass", "--size", "10", "--classes", "3"], ["not a pair"]),
        (["--dataset", "digits", "--per", "110"], ["ranks by a trained model", "--model"]),
        (["--model", "digits-cnn-s0"], ["choose what to forget"]),
        (["--model", "digits-cnn-s0", "--per", "10", "--class", "3"], ["choose one kind"]),
        (["--model", "nope", "--per", "10"], ["no model 'nope'"]),
        (["--model", "digits-cnn-s0", "--manipulation", "poison", "--size", "5"], ["before pretraining"]),
        (["--per", "10"], ["give exactly one of --model and --dataset"]),
        (["--model", "digits-cnn-s0", "--dataset", "digits", "--per", "10"], ["give exactly one of --model and --dataset"]),
        (["--dataset", "digits", "--manipulation", "poison"], ["--manipulation needs --size"]),
        (["--dataset", "digits", "--manipulation", "poison", "--size", "5", "--patch-size", "9"], ["--patch-size 9"]),
        (["--dataset", "digits", "--manipulation", "poison", "--size", "5", "--target", "zebra"], ["zebra"]),
    ],
)
def test_user_errors(fcli, args, fragments):
    assert_one_line_error(fcli("make-forget-set", *args), *fragments)
    assert fcli.workspace.names("forget-set") == []


@pytest.mark.parametrize(("rows", "fragment"), [([1, 2, 2], "duplicate"), ([0, 99999], "99999"), ([-1], "-1")])
def test_bad_index_files(fcli, tmp_path, rows, fragment):
    path = tmp_path / "rows.txt"
    path.write_text("\n".join(map(str, rows)))
    assert_one_line_error(fcli("make-forget-set", "--model", "digits-cnn-s0", "--indices", str(path)), fragment,
                          "rows.txt")


def test_whole_train_set_is_refused(fcli, tmp_path):
    n = fcli.workspace.read("dataset", "digits").summary["train_size"]
    path = tmp_path / "all.npy"
    np.save(path, np.arange(n))
    assert_one_line_error(fcli("make-forget-set", "--model", "digits-cnn-s0", "--indices", str(path)), "no retain set")
