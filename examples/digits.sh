#!/usr/bin/env sh
# The quick start: the whole pipeline on the embedded digits set, on a CPU, in about a minute.
# Each step prints the manifest it wrote; the next step takes it as input.
set -eu
export UNLEARN_WORKSPACE="${UNLEARN_WORKSPACE:-quickstart}"
unlearn prepare-data --dataset digits --force
model=$(unlearn pretrain --dataset digits --model cnn --seed 0 --force)
forget=$(unlearn make-forget-set --model "$model" --per 10 --force)
unlearn evaluate --run "$model" --forget "$forget" --force
