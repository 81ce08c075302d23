#!/usr/bin/env sh
# One cell of grids/natmu-classwise.toml through the individual commands: ResNet18 on CIFAR-100
# pretrained with NatMU's recipe, forgetting the whole class "rocket" with the full-class settings
# (preset natmu-fullclass: natmu re-initialises the head), each method evaluated against retrain
# (TA_forget: the forgotten class's test accuracy). For the sub-class setting: DATASET=cifar20,
# KIND=--subclass, PRESET=natmu-subclass.
#
#   CIFAR100=~/datasets/cifar-100-python.tar.gz sh examples/natmu-classwise.sh
set -eu
export UNLEARN_WORKSPACE="${UNLEARN_WORKSPACE:-natmu-classwise}"
DATASET="${DATASET:-cifar100}" MODEL="${MODEL:-resnet18}" PRESET="${PRESET:-natmu-fullclass}"
KIND="${KIND:---class}" CLASS="${CLASS:-rocket}" SEED="${SEED:-0}"
PRETRAIN_ARGS="${PRETRAIN_ARGS:-}" UNLEARN_ARGS="${UNLEARN_ARGS:-}"

if [ "$DATASET" = digits ]; then unlearn prepare-data --dataset digits
else unlearn prepare-data --dataset "$DATASET" --source "${CIFAR100:?set CIFAR100 to cifar-100-python.tar.gz}"; fi
# shellcheck disable=SC2086
model=$(unlearn pretrain --dataset "$DATASET" --model "$MODEL" --recipe natmu --seed 0 $PRETRAIN_ARGS)
forget=$(unlearn make-forget-set --model "$model" "$KIND" "$CLASS")
retrain=$(unlearn unlearn --method retrain --forget "$forget" --seed "$SEED" $UNLEARN_ARGS)
unlearn evaluate --run "$retrain" --reference "$retrain" > /dev/null
for method in random_label badteacher salun natmu; do
  unlearn unlearn --method "$method" --forget "$forget" --preset "$PRESET" --seed "$SEED" $UNLEARN_ARGS \
    | unlearn evaluate --reference "$retrain" > /dev/null
done
unlearn evaluate --run "$model" --forget "$forget" --reference "$retrain" > /dev/null
unlearn report --all --name natmu-classwise-cell
