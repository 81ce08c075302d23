#!/usr/bin/env sh
# One cell of grids/corrective-poison.toml through the individual commands: 500 CIFAR-10 training
# images get a BadNet trigger and label 0, the unlearner knows half of them; ResNet9 pretrained on
# that view with the corrective recipe; full retrain (the reference), EU-k and CF-k for k 2 and 4,
# SCRUB and SSD at one of their swept settings, and Bad Teacher, with the preset
# corrective-cifar10; each evaluated against retrain (acc_corr, attack_success), then the report.
# Loop over SIZE (100 500 1000), KNOWN (0.1 … 1.0) and the SCRUB/SSD sweeps for the whole grid; one
# model serves every known fraction: forget=$(unlearn make-forget-set --model "$model" --known 0.2).
#
#   CIFAR10=~/datasets/cifar-10-python.tar.gz sh examples/corrective-poison.sh
set -eu
export UNLEARN_WORKSPACE="${UNLEARN_WORKSPACE:-corrective-poison}"
DATASET="${DATASET:-cifar10}" MODEL="${MODEL:-resnet9}" PRESET="${PRESET:-corrective-cifar10}"
SIZE="${SIZE:-500}" KNOWN="${KNOWN:-0.5}" KS="${KS:-2 4}"
PRETRAIN_ARGS="${PRETRAIN_ARGS:-}" UNLEARN_ARGS="${UNLEARN_ARGS:-}"

if [ "$DATASET" = digits ]; then unlearn prepare-data --dataset digits
else unlearn prepare-data --dataset "$DATASET" --source "${CIFAR10:?set CIFAR10 to cifar-10-python.tar.gz}"; fi
manipulation=$(unlearn make-forget-set --dataset "$DATASET" --manipulation poison --size "$SIZE" --known "$KNOWN")
# shellcheck disable=SC2086
model=$(unlearn pretrain --manipulation "$manipulation" --model "$MODEL" --recipe corrective $PRETRAIN_ARGS)
# The model names its manipulation, whose known part is D_f: the runs need no --forget.
retrain=$(unlearn unlearn --method retrain --model "$model" --preset "$PRESET" $UNLEARN_ARGS)
unlearn evaluate --run "$retrain" --reference "$retrain" > /dev/null
for k in $KS; do
  unlearn unlearn --method retrain --model "$model" --preset "$PRESET" --param k="$k" $UNLEARN_ARGS \
    | unlearn evaluate --reference "$retrain" > /dev/null
  unlearn unlearn --method finetune --model "$model" --preset "$PRESET" --param k="$k" $UNLEARN_ARGS \
    | unlearn evaluate --reference "$retrain" > /dev/null
done
unlearn unlearn --method scrub --model "$model" --preset "$PRESET" --param alpha=0.1 $UNLEARN_ARGS \
  | unlearn evaluate --reference "$retrain" > /dev/null
unlearn unlearn --method ssd --model "$model" --preset "$PRESET" --param alpha=10 --param lam=1 \
  | unlearn evaluate --reference "$retrain" > /dev/null
unlearn unlearn --method badteacher --model "$model" --preset "$PRESET" $UNLEARN_ARGS \
  | unlearn evaluate --reference "$retrain" > /dev/null
unlearn evaluate --run "$model" --reference "$retrain" > /dev/null  # the poisoned model before unlearning
unlearn report --all --name corrective-poison-cell
