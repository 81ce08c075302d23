"""The repository's documents agree with its code, so that they stay worth reading.

- ARCHITECTURE.md names every module of `unlearn_cli/` by its path under the package
  (`steps/options.py`, `errors.py`), and every such path it names exists.
- Code and docs cite the project's own documents (docs/, README.md, ARCHITECTURE.md), never a
  specification outside the repository; a cited document exists, and so does a section cited
  by its title (`docs/design.md "Speed switches"`).
- The README's method table lists exactly the registered methods, and every default it states
  is the registry's (parameters as `--param` parses them, the recipe as `unlearn ls methods`
  shows it).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from unlearn_cli.methods import METHODS
from unlearn_cli.params import describe_fields, resolve_params
from unlearn_cli.train.optim import OptimizerSpec
from unlearn_cli.train.recipes import Recipe
from unlearn_cli.train.schedules import ScheduleSpec

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "unlearn_cli"
ARCHITECTURE = ROOT / "ARCHITECTURE.md"
README = ROOT / "README.md"


def _files(folder: str, *patterns: str) -> list[Path]:
    return sorted(p for pattern in patterns for p in (ROOT / folder).rglob(pattern) if "__pycache__" not in p.parts)


def _project_texts() -> list[Path]:
    """Code and documents of the project (tests are left out: they may name things SPEC)."""
    return [*_files("unlearn_cli", "*.py"), *_files("benchmarks", "*.py", "*.sh"), *_files("examples", "*.sh"),
            *_files("grids", "*.toml"), *_files("docs", "*.md"),
            ROOT / "README.md", ROOT / "ARCHITECTURE.md", ROOT / "BENCHMARKS.md"]


def _rel(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


# ------------------------------------------------------------------------- ARCHITECTURE.md


def _module_paths() -> list[str]:
    return sorted(p.relative_to(PACKAGE).as_posix() for p in _files("unlearn_cli", "*.py") if p.name != "__init__.py")


def _named(path: str, text: str) -> bool:
    """`path` appears whole: `errors.py` is not named by `cli/errors.py`."""
    return re.search(rf"(?<![\w/.-]){re.escape(path)}(?![\w-])", text) is not None


def test_architecture_names_every_module_by_its_path():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    missing = [path for path in _module_paths() if not _named(path, text)]
    assert not missing, f"ARCHITECTURE.md does not describe {missing}: add each as its path under unlearn_cli/"


def test_every_module_path_in_architecture_exists():
    text = ARCHITECTURE.read_text(encoding="utf-8")
    packages = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))
    named = set(re.findall(rf"(?<![\w/.-])((?:{'|'.join(packages)})/[\w/]*?\.py)(?![\w-])", text))
    assert named, "no module paths found in ARCHITECTURE.md"
    gone = sorted(path for path in named if not (PACKAGE / path).is_file())
    assert not gone, f"ARCHITECTURE.md describes modules that do not exist: {gone}"


# ----------------------------------------------------------------------------- citations

# A specification or design document outside the repository, cited as such.
OUTSIDE = re.compile(r"\bSPEC(?:\.md|'s|\s*§)|\bDESIGN(?:\.md|'s| \"|:)|shared/(?:SPEC|DESIGN)")
# A project document, optionally followed by the title of one of its sections in quotes; the
# quote may be wrapped onto a following comment line.
CITATION = re.compile(r"(?<![\w/.-])(docs/[\w-]+\.md|README\.md|ARCHITECTURE\.md|BENCHMARKS\.md)"
                      r"(?:,?(?:[ \t]+|[ \t]*\n[ \t]*#?[ \t]*)\"([^\"\n]+(?:\n[ \t]*#?[ \t]*[^\"\n]+)?)\")?")


def test_code_and_docs_cite_no_document_outside_the_repository():
    found = [f"{_rel(path)}:{n}: {line.strip()}"
             for path in _project_texts()
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if OUTSIDE.search(line)]
    assert not found, "cite docs/*.md, README.md, ARCHITECTURE.md or the reference repository's file:\n" + \
        "\n".join(found)


def _headings(path: Path) -> list[str]:
    return [line.lstrip("#").strip() for line in path.read_text(encoding="utf-8").splitlines()
            if line.startswith("#")]


def test_cited_documents_and_sections_exist():
    problems = []
    for path in [*_project_texts(), *_files("tests", "*.py")]:
        for match in CITATION.finditer(path.read_text(encoding="utf-8")):
            document, section = ROOT / match.group(1), match.group(2)
            if not document.is_file():
                problems.append(f"{_rel(path)} cites {match.group(1)}, which does not exist")
            elif section is not None:
                title = re.sub(r"\s*\n\s*#?\s*", " ", section).strip()
                if not any(title in heading for heading in _headings(document)):
                    problems.append(f"{_rel(path)} cites section \"{title}\" of {match.group(1)}, "
                                    "which has no such heading")
    assert not problems, "\n".join(problems)


# ---------------------------------------------------------------- the README's method table


def _method_table() -> dict[str, str]:
    """method name → its defaults cell, from the README table whose header starts `| method |`."""
    lines = README.read_text(encoding="utf-8").splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("| method |"))
    rows: dict[str, str] = {}
    for line in lines[start + 2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip() for cell in re.split(r"(?<!\\)\|", line)[1:-1]]
        name = re.fullmatch(r"`(\w+)`", cells[0])
        assert name is not None, f"README method table row does not start with a `method`: {line}"
        assert name.group(1) not in rows, f"{name.group(1)} appears twice in the README method table"
        rows[name.group(1)] = cells[-1]
    return rows


def test_readme_method_table_lists_exactly_the_registered_methods():
    assert sorted(_method_table()) == sorted(METHODS.names())


def test_methods_doc_has_a_row_per_registered_method():
    text = (ROOT / "docs" / "methods.md").read_text(encoding="utf-8")
    missing = [name for name in METHODS.names() if f"| `{name}` |" not in text]
    assert not missing, f"docs/methods.md has no row for {missing}"


# A model's own recipe, for methods whose default training is a function of it.
OWN = Recipe(name="own", optimizer=OptimizerSpec("sgd", lr=0.1, weight_decay=5e-4, momentum=0.9),
             batch_size=128, schedule=ScheduleSpec("constant"), epochs=7)
OPTIMIZERS = {"SGD": "sgd", "Adam": "adam", "AdamW": "adamw"}
SCHEDULES = {"NatMU's cosine": "natmu_cosine"}
NUMBER = r"[0-9.]+(?:e[+-]?[0-9]+)?"


def _check_default(spec, item: str, defaults: dict, recipe: Recipe | None, listed: set[str]) -> None:
    """One item of a defaults cell against the registry; raises AssertionError on a mismatch
    and on an item this test cannot read (write it in one of the forms below)."""
    if m := re.fullmatch(r"`(\w+)=([^`]+)`", item):  # a method parameter, as --param parses it
        key, value = m.groups()
        assert key in defaults, f"{spec.name} has no parameter {key}"
        parsed = getattr(resolve_params(spec.params, {key: value}, f"method '{spec.name}'"), key)
        assert parsed == defaults[key], f"{spec.name}: README says {key}={value}, the default is {defaults[key]!r}"
        return
    if item == "the model's own recipe":
        assert spec.recipe is None or (callable(spec.recipe) and spec.recipe(spec.params(), OWN) == OWN), spec.name
        return
    if m := re.fullmatch(r"with `k`: (\d+) steps", item):
        assert callable(spec.recipe), spec.name
        with_k = spec.recipe(resolve_params(spec.params, {"k": "1"}, spec.name), OWN)
        assert (with_k.steps, with_k.epochs) == (int(m.group(1)), None), spec.name
        return
    assert recipe is not None, f"{spec.name} trains with the model's own recipe or not at all: {item!r}"
    if m := re.fullmatch(rf"({'|'.join(OPTIMIZERS)}) ({NUMBER})", item):
        listed.add("optimizer")
        assert recipe.optimizer.name == OPTIMIZERS[m.group(1)], f"{spec.name}: {recipe.optimizer.name}, not {item}"
        assert recipe.optimizer.lr == float(m.group(2)), f"{spec.name}: lr {recipe.optimizer.lr:g}, not {item}"
    elif m := re.fullmatch(rf"wd ({NUMBER})", item):
        listed.add("wd")
        assert recipe.optimizer.weight_decay == float(m.group(1)), f"{spec.name}: wd {recipe.optimizer.weight_decay:g}"
    elif m := re.fullmatch(r"(\d+) epochs?", item):
        listed.add("length")
        assert (recipe.epochs, recipe.steps) == (int(m.group(1)), None), f"{spec.name}: {recipe.epochs} epochs"
    elif m := re.fullmatch(r"(\d+) steps", item):
        listed.add("length")
        assert (recipe.steps, recipe.epochs) == (int(m.group(1)), None), f"{spec.name}: {recipe.steps} steps"
    elif m := re.fullmatch(r"batch (\d+)", item):
        assert recipe.batch_size == int(m.group(1)), f"{spec.name}: batch {recipe.batch_size}"
    elif item in SCHEDULES:
        listed.add("schedule")
        assert recipe.schedule.name == SCHEDULES[item], f"{spec.name}: schedule {recipe.schedule.name}"
    else:
        raise AssertionError(f"{spec.name}: cannot read {item!r} in the README's defaults column")


@pytest.mark.parametrize("name", sorted(METHODS.names()))
def test_readme_method_defaults_are_the_registry_defaults(name):
    spec = METHODS.get(name)
    cell = _method_table().get(name)
    assert cell is not None, f"{name} is not in the README's method table"
    defaults = {key: default for key, _, default in describe_fields(spec.params)}
    recipe = spec.recipe if isinstance(spec.recipe, Recipe) else None
    listed: set[str] = set()
    for item in (part.strip() for part in re.split(r"[,;]\s+", cell)):
        _check_default(spec, item, defaults, recipe, listed)
    if recipe is not None:
        # What the README leaves unsaid it says in words: SGD with momentum 0.9 and weight
        # decay 5e-4, Adam without, a constant schedule; and every training method shows its
        # optimiser and length.
        assert {"optimizer", "length"} <= listed, f"{name}: the README gives no optimiser or length"
        if "wd" not in listed:
            expected = (5e-4, 0.9) if recipe.optimizer.name == "sgd" else (0.0, recipe.optimizer.momentum)
            assert (recipe.optimizer.weight_decay, recipe.optimizer.momentum) == expected, name
        if "schedule" not in listed:
            assert recipe.schedule.name == "constant", f"{name}: the README does not name its {recipe.schedule.name}"
    if not spec.trains:
        assert not listed, f"{name} does not train, yet the README gives it a recipe"
