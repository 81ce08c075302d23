#!/usr/bin/env sh
# One cell of grids/corrective-interclass.toml through the individual commands: the first 1250
# CIFAR-10 training images of cat and of dog take the other's label (interclass confusion, N =
# 2500), the unlearner knows half of them; ResNet9 pretrained on that view with the corrective
# recipe; full retrain (the reference), CF-k for k 2 and 4, SCRUB and SSD at one of their swept
# settings, with the preset corrective-cifar10; each evaluated against retrain (acc_corr: accuracy
# on cat and dog), then the report.
#
#   CIFAR10=~/datasets/cifar-10-python.tar.gz sh examples/corrective-interclass.sh
set -eu
export UNLEARN_WORKSPACE="${UNLEARN_WORKSPACE:-corrective-interclass}"
DATASET="${DATASET:-cifar10}" MODEL="${MODEL:-resnet9}" PRESET="${PRESET:-corrective-cifar10}"
SIZE="${SIZE:-2500}" KNOWN="${KNOWN:-0.5}" CLASSES="${CLASSES:-cat,dog}" KS="${KS:-2 4}"
PRETRAIN_ARGS="${PRETRAIN_ARGS:-}" UNLEARN_ARGS="${UNLEARN_ARGS:-}"

if [ "$DATASET" = digits ]; then unlearn prepare-data --dataset digits
else unlearn prepare-data --dataset "$DATASET" --source "${CIFAR10:?set CIFAR10 to cifar-10-python.tar.gz}"; fi
manipulation=$(unlearn make-forget-set --dataset "$DATASET" --manipulation interclass --size "$SIZE" \
  --known "$KNOWN" --classes "$CLASSES")
# shellcheck disable=SC2086
model=$(unlearn pretrain --manipulation "$manipulation" --model "$MODEL" --recipe corrective $PRETRAIN_ARGS)
retrain=$(unlearn unlearn --method retrain --model "$model" --preset "$PRESET" $UNLEARN_ARGS)
unlearn evaluate --run "$retrain" --reference "$retrain" > /dev/null
for k in $KS; do
  unlearn unlearn --method finetune --model "$model" --preset "$PRESET" --param k="$k" $UNLEARN_ARGS \
    | unlearn evaluate --reference "$retrain" > /dev/null
done
unlearn unlearn --method scrub --model "$model" --preset "$PRESET" --param alpha=0.1 $UNLEARN_ARGS \
  | unlearn evaluate --reference "$retrain" > /dev/null
unlearn unlearn --method ssd --model "$model" --preset "$PRESET" --param alpha=10 --param lam=1 \
  | unlearn evaluate --reference "$retrain" > /dev/null
unlearn evaluate --run "$model" --reference "$retrain" > /dev/null
unlearn report --all --name corrective-interclass-cell
