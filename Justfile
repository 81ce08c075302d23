# Tasks for unlearn. `just setup` once, then the others.

venv := ".venv"

# Create the virtualenv with the pinned torch/torchvision.
setup:
    python3 -m venv {{venv}}
    {{venv}}/bin/pip install -q -c constraints.txt -e '.[dev]'

# The whole story on the embedded digits set, in one command (CPU, a minute or two).
demo:
    {{venv}}/bin/unlearn demo

# The same story piped through the individual commands.
example:
    PATH={{venv}}/bin:$PATH sh examples/digits.sh

# The test suite (what CI runs).
test *args:
    {{venv}}/bin/python -m pytest -q -n auto --dist worksteal {{args}}

# The edit-run loop: everything but the tests marked slow (models trained, pipelines run), ~1.5 minutes on 2 cores.
test-fast *args:
    {{venv}}/bin/python -m pytest -q -m "not slow" -n auto --dist worksteal {{args}}

# Static checks.
lint:
    {{venv}}/bin/ruff check unlearn_cli tests benchmarks

# Every method's wall seconds and RTE against retrain.
bench-methods *args:
    {{venv}}/bin/python -m benchmarks.methods {{args}}

# Pretrain throughput against a seed-repository-style reference pipeline.
bench *args:
    {{venv}}/bin/python benchmarks/pretrain_throughput.py {{args}}
