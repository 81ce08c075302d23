#!/usr/bin/env sh
# The demo's story through the individual commands: digits, a small cnn, a 10 % random forget set,
# retrain and three methods, each evaluated against retrain, and the report. Each step prints the
# manifest it wrote; the next step takes it as input (by option, or through a pipe).
set -eu
export UNLEARN_WORKSPACE="${UNLEARN_WORKSPACE:-quickstart}"
unlearn prepare-data --dataset digits --force
model=$(unlearn pretrain --dataset digits --model cnn --seed 0 --force)
forget=$(unlearn make-forget-set --model "$model" --per 10 --force)
retrain=$(unlearn unlearn --method retrain --forget "$forget" --force)
unlearn evaluate --run "$retrain" --reference "$retrain" --force
# Learning rates suited to digits' ~11 steps per epoch (the defaults are the papers', for CIFAR).
unlearn unlearn --method finetune --forget "$forget" --force | unlearn evaluate --reference "$retrain" --force
unlearn unlearn --method random_label --lr 3e-3 --forget "$forget" --force | unlearn evaluate --reference "$retrain" --force
unlearn unlearn --method natmu --lr 1e-2 --forget "$forget" --force | unlearn evaluate --reference "$retrain" --force
unlearn report --all --name quickstart --force
