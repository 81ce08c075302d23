"""Bad grids: each a one-line error naming the file, the line and the valid names, before any work."""

from __future__ import annotations

import pytest

from tests.conftest import assert_one_line_error
from tests.sweep.helpers import SMALL_GRID, write_grid
from unlearn_cli.data.sources import DATASETS
from unlearn_cli.methods import METHODS
from unlearn_cli.sweep.tomlindex import line_index, line_of

# (replace this text of SMALL_GRID, with this, text on the line the error must name, message fragments)
CASES = [
    ('name = "small"\n', 'name = "small"\ndataset = ["digits"]\n', "dataset =",
     ["unknown key 'dataset' at the top level", "datasets, models, presets"]),
    ("[forget]\nper = [10]\n", "[forget]\nper = [10]\npercent = 5\n", "percent",
     ["unknown key 'percent' in [forget]", "per, fraction, class, subclass, indices"]),
    ('datasets = ["digits"]\n', 'datasets = [\n  "digits",\n  "cifar11",\n]\n', "cifar11",
     ["unknown dataset 'cifar11'", ", ".join(DATASETS.names())]),
    ('models = ["cnn"]\n', 'models = ["cnn", "resnet1000"]\n', "resnet1000", ["unknown model 'resnet1000'", "resnet18"]),
    ('name = "ssd"\n', 'name = "sdd"\n', "sdd", ["unknown method 'sdd'", ", ".join(METHODS.names())]),
    ('name = "ssd"\n', 'name = "ssd"\nparams = { alpah = 3, lam = "much" }\n', "alpah",
     ["method 'ssd'", "unknown parameter alpah", "lam='much' is not a valid float", "valid parameters: alpha (float)"]),
    ('name = "ssd"\n', 'name = "ssd"\nlr = 0.1\n', "lr = 0.1", ["method 'ssd' does not train; lr means nothing to it"]),
    ("[unlearn]\nseeds = [0]\n", '[unlearn]\nseeds = [0, "one"]\n', '"one"', ["unlearn.seeds = 'one' is not an integer"]),
    ("epochs = 3\n", 'epochs = 3\nrecipe = "slow"\n', "slow", ["unknown recipe 'slow'", "natmu, corrective, fast"]),
    ("[forget]\nper = [10]\n", "[forget]\nper = [10, 50]\n", "per = [10, 50]",
     ["--per 50 is not a valid value", "1, 10, 101, 110"]),
    ('name = "small"\n', 'name = "small"\npresets = ["natmu-cifar11"]\n', "natmu-cifar11",
     ["unknown preset 'natmu-cifar11'", "natmu-cifar10"]),
    ('[[methods]]\nname = "retrain"\n', '[evaluate]\nmetrics = ["FA", "FAA"]\n\n[[methods]]\nname = "retrain"\n', "FAA",
     ["unknown metric 'FAA'", "valid metrics:"]),
    ('name = "ssd"\n', 'name = "ssd"\nparams = { lam = { times = "alpha", by = [1, 2] } }\n', "times",
     ['lam = { times = "alpha" } needs a numeric parameter alpha']),
    ("[forget]\nper = [10]\n", '[forget]\nper = [10]\n[manipulation]\nkinds = ["posion"]\nsizes = [10]\n', "posion",
     ["unknown manipulation 'posion'", "poison, interclass, labelswap"]),
    ("[forget]\nper = [10]\n", '[forget]\nper = [10]\n[manipulation]\nkinds = ["poison"]\nsizes = [10]\nknown = [0, 0.5]\n',
     "known", ["known fraction 0 is outside (0, 1]"]),
    ('name = "small"\n', 'name = "../small"\n', "../small", ["the grid's name '../small' cannot name a report"]),
    ("[unlearn]\n", '[[settings]]\nmodels = ["cnn"]\npretrain.widht = 2\n\n[unlearn]\n', "widht",
     ["unknown key 'widht' in [settings[0].pretrain]", "width"]),
    # Ranges, at the value's own line, before any pretraining.
    ("epochs = 3\n", "epochs = -3\n", "epochs = -3", ["--epochs must be positive (got -3)"]),
    ("[unlearn]\nseeds = [0]\nepochs = 1\n", "[unlearn]\nseeds = [0]\nepochs = 0\n", "epochs = 0",
     ["--epochs must be positive (got 0)"]),
    ('name = "finetune"\n', 'name = "finetune"\nlr = -1.0\n', "lr = -1.0", ["--lr must be positive (got -1.0)"]),
    ('name = "finetune"\n', 'name = "finetune"\nweight_decay = [0.0, -0.1]\n', "weight_decay",
     ["--weight-decay must be zero or more (got -0.1)"]),
    ("width = 0.25\n", "width = -0.25\n", "width = -0.25", ["width must be positive (got -0.25)"]),
]


@pytest.mark.parametrize(("old", "new", "marker", "fragments"), CASES, ids=[case[3][0][:40] for case in CASES])
def test_a_bad_grid_names_its_file_and_line(cli, tmp_path, old, new, marker, fragments):
    assert old in SMALL_GRID
    text = SMALL_GRID.replace(old, new, 1)
    grid = write_grid(tmp_path, text)
    line = next(number for number, content in enumerate(text.splitlines(), 1) if marker in content)
    result = cli("sweep", str(grid), "--plan")
    assert_one_line_error(result, f"{grid}:{line}: ", *fragments)
    assert not (cli.workspace.root / "manifests").exists()


def test_a_bad_value_under_smoke_points_at_the_smoke_table(cli, tmp_path):
    text = SMALL_GRID + '\n[smoke]\nmodels = ["cnn"]\n[smoke.forget]\nfraction = [2.0]\n'
    grid = write_grid(tmp_path, text)
    assert cli("sweep", str(grid), "--plan").exit_code == 0  # the smoke table applies only with --smoke
    result = cli("sweep", str(grid), "--plan", "--smoke")
    assert_one_line_error(result, f"{grid}:{len(text.splitlines())}: ", "--fraction 2.0 is outside (0, 1)")


def test_invalid_toml_names_its_line(cli, tmp_path):
    grid = write_grid(tmp_path, SMALL_GRID.replace("epochs = 3", "epochs = = 3"))
    assert_one_line_error(cli("sweep", str(grid), "--plan"), f"{grid}: not valid TOML", "line 7")


def test_missing_grid_and_missing_smoke_table(cli, tmp_path):
    assert_one_line_error(cli("sweep", str(tmp_path / "nope.toml"), "--plan"), "no grid file", "nope.toml")
    grid = write_grid(tmp_path)
    assert_one_line_error(cli("sweep", str(grid), "--smoke", "--plan"), "has no [smoke] table")


def test_a_grid_without_methods_or_forget_sets(cli, tmp_path):
    no_methods = SMALL_GRID[:SMALL_GRID.index("[[methods]]")]
    assert_one_line_error(cli("sweep", str(write_grid(tmp_path, no_methods)), "--plan"),
                          "the grid runs no method", "retrain")
    no_forget = SMALL_GRID.replace("[forget]\nper = [10]\n", "")
    assert_one_line_error(cli("sweep", str(write_grid(tmp_path, no_forget)), "--plan"), "makes no forget set")


def test_a_dataset_without_a_source_is_refused_before_any_work(cli, tmp_path):
    grid = write_grid(tmp_path, SMALL_GRID.replace('["digits"]', '["cifar10"]', 1).replace('["cnn"]', '["cnn"]'))
    assert cli("sweep", str(grid), "--plan").exit_code == 0
    result = cli("sweep", str(grid))
    assert_one_line_error(result, f"{grid}:2: ", "dataset cifar10 is not prepared", "[data.cifar10]")
    assert not (cli.workspace.root / "manifests").exists()
    grid = write_grid(tmp_path, SMALL_GRID.replace('["digits"]', '["cifar10"]', 1) + '[data.cifar10]\nsource = "missing.tar.gz"\n')
    assert_one_line_error(cli("sweep", str(grid)), "the source of cifar10 does not exist", str(tmp_path / "missing.tar.gz"))


def test_line_index_of_nested_keys_and_arrays_of_tables():
    text = ('a = 1  # [not a header]\nb = [\n  "x",  # comment\n  "y",\n]\n[[m]]\nn = "p"\n[[m]]\n'
            'params = { q = [1, 2], r = { times = "q", by = [3] } }\n[m.sub]\ns = """\n[x]\n"""\nt.u = 2\n'
            '[[z.w]]\nv = 1\n')
    lines = line_index(text)
    assert lines[("a",)] == 1 and lines[("b", 1)] == 4
    assert lines[("m", 0, "n")] == 7 and lines[("m", 1, "params", "r", "by", 0)] == 9
    assert lines[("m", 1, "sub", "t", "u")] == 14 and lines[("z", "w", 0, "v")] == 16
    assert line_of(lines, ("m", 1, "params", "q", 7)) == 9  # an unknown element: its nearest ancestor
    assert line_of(lines, ("nowhere",)) is None


@pytest.mark.parametrize(("options", "fragments"), [
    (["--executor", "kubernetes"], ["unknown executor 'kubernetes'", "local, ray, slurm"]),
    (["--jobs", "0"], ["--jobs 0 is not positive"]),
    (["--threads", "0"], ["--threads 0 is not positive"]),
    (["--address", "head:6379"], ["--address belongs to --executor ray"]),
])
def test_bad_sweep_options_are_refused_before_any_work(cli, tmp_path, options, fragments):
    result = cli("sweep", str(write_grid(tmp_path)), *options)
    assert_one_line_error(result, *fragments)
    assert not (cli.workspace.root / "manifests").exists()
