#!/usr/bin/env sh
# One cell of grids/natmu-samplewise.toml through the individual commands: VGG16 on CIFAR-10
# pretrained with NatMU's recipe, its hardest 10 % (`--per 110`), retrain as the reference and the
# four methods of NatMU's scripts with their tuned settings (preset natmu-cifar10), each evaluated
# against retrain, then the report. Loop over PER (1 10 101 110) and SEED for the whole grid —
# or let `unlearn sweep grids/natmu-samplewise.toml` do it, resumably.
#
#   CIFAR10=~/datasets/cifar-10-python.tar.gz sh examples/natmu-samplewise.sh
set -eu
export UNLEARN_WORKSPACE="${UNLEARN_WORKSPACE:-natmu-samplewise}"
DATASET="${DATASET:-cifar10}" MODEL="${MODEL:-vgg16}" PRESET="${PRESET:-natmu-cifar10}"
PER="${PER:-110}" SEED="${SEED:-0}"
PRETRAIN_ARGS="${PRETRAIN_ARGS:-}" UNLEARN_ARGS="${UNLEARN_ARGS:-}"  # e.g. "--epochs 1" for a quick look

if [ "$DATASET" = digits ]; then unlearn prepare-data --dataset digits
else unlearn prepare-data --dataset "$DATASET" --source "${CIFAR10:?set CIFAR10 to cifar-10-python.tar.gz}"; fi
# shellcheck disable=SC2086  # *_ARGS are lists of options
model=$(unlearn pretrain --dataset "$DATASET" --model "$MODEL" --recipe natmu --seed 0 $PRETRAIN_ARGS)
forget=$(unlearn make-forget-set --model "$model" --per "$PER" --seed 0)
retrain=$(unlearn unlearn --method retrain --forget "$forget" --seed "$SEED" $UNLEARN_ARGS)
unlearn evaluate --run "$retrain" --reference "$retrain" > /dev/null
for method in random_label badteacher salun natmu; do
  unlearn unlearn --method "$method" --forget "$forget" --preset "$PRESET" --seed "$SEED" $UNLEARN_ARGS \
    | unlearn evaluate --reference "$retrain" > /dev/null
done
unlearn evaluate --run "$model" --forget "$forget" --reference "$retrain" > /dev/null  # the model before unlearning
unlearn report --all --name natmu-samplewise-cell
