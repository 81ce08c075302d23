# Tasks for unlearn. `just setup` once, then the others.

venv := ".venv"

# Create the virtualenv with the pinned torch/torchvision.
setup:
    python3 -m venv {{venv}}
    {{venv}}/bin/pip install -q -c constraints.txt -e '.[dev]'

# The whole pipeline on the embedded digits set (CPU, about a minute).
demo:
    PATH={{venv}}/bin:$PATH sh examples/digits.sh

# The test suite (what CI runs).
test *args:
    {{venv}}/bin/python -m pytest -q {{args}}

# Static checks.
lint:
    {{venv}}/bin/ruff check unlearn_cli tests benchmarks

# Pretrain throughput against a seed-repository-style reference pipeline.
bench *args:
    {{venv}}/bin/python benchmarks/pretrain_throughput.py {{args}}
