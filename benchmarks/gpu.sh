#!/usr/bin/env bash
# One prepared GPU benchmark run, for a session lent a GPU machine through the
# `device` tool: one call, at most 8 minutes, everything written under $OUT.
#
#   device run:  bash benchmarks/gpu.sh                  (CUDA, full sizes, --budget 450 s)
#   CPU smoke:   OUT=/tmp/out bash benchmarks/gpu.sh --device cpu --smoke    (tiny sizes, seconds)
#
# Stages, each with a share of the time budget, each writing its JSON as soon as it ends
# (env.json first: GPU, driver, torch, CPU count):
#   throughput.json  benchmarks/pretrain_throughput.py at full width (ResNet-18 width 1.0):
#                    ours (bf16, channels_last, torch.compile) against the seed-style
#                    reference (DataLoader workers, PIL transforms, fp32), side by side
#   evaluate.json    benchmarks/evaluate_speed.py: `evaluate` on a full-size synthetic
#                    CIFAR-10 with ResNet-18 (wall seconds)
#   natmu.json       benchmarks/recipe_run.py: the full `natmu` recipe (ResNet-18, 100
#                    epochs, batch 128) on a full-size synthetic CIFAR-10: wall seconds, images/s
#   fidelity.json    (only with --natmu-repo or NATMU_REPO: a clone of ZhengbaoHe/NatMU carried
#                    to the machine, e.g. in an ignored folder named in the device call's carry)
#                    benchmarks/fidelity.py: NatMU's scripts and ours from the same ResNet-18 on a
#                    full-size learnable synthetic CIFAR-100, one seed, FA/RA/TA/MIA/avg_gap per side;
#                    it needs most of a device call on its own: bash benchmarks/gpu.sh --stages fidelity
#   methods.json     benchmarks/methods.py: every registered method on a ResNet-18 pretrained
#                    on the full-size synthetic CIFAR-10 (natmu recipe cut to
#                    --methods-pretrain-epochs epochs, so its retrain, the RTE reference, is as
#                    long), wall seconds and RTE; without torch.compile, whose per-run warm-up
#                    would spend the budget on 13 short runs
#   audit.json       (only with --stages audit: it wants a device call of its own) benchmarks/audit.py:
#                    a `fixed` audit of finetune with resnet9 on a full-size synthetic CIFAR-10,
#                    N = 64 unlearned + 64 retrained (--audit-models); interrupted when its share
#                    is spent and then reported from its node logs with the wall time projected
#   then summary.json (headline figures, each stage's status; a stage cut short is reported
#   from its progress lines in the log) and gpu.log (everything printed). A stage that runs
#   out of its time is stopped and marked so; the others still run. No data leaves the
#   machine: the CIFAR-10 is synthetic, written on the spot.
#
# Python packages: the machine has torch, torchvision and the rest of this project's
# dependencies; a missing one is installed from wheels carried in .whl/ (see the device
# tool's README: carry ".whl" and they are installed into /tmp/site). The project itself is
# used from the working tree (PYTHONPATH), not installed.
set -u -o pipefail

usage() {
  cat <<'EOF'
usage: bash benchmarks/gpu.sh [--device cuda|cpu] [--smoke] [--budget SECONDS] [--stages "a b"]
                              [--methods-pretrain-epochs N] [--natmu-repo PATH] [--audit-models N]
  --device   where to run (default cuda; cpu for the smoke test)
  --smoke    tiny sizes: checks that every stage runs, in seconds (no meaningful figures)
  --budget   seconds for all stages together (default 450: a device call may run 8 minutes)
  --stages   which of: throughput evaluate natmu methods fidelity audit (default: the first four,
             in that order, and fidelity last when a NatMU clone is given; audit only when named)
  --methods-pretrain-epochs  epochs of the methods stage's model and retrain (default 10)
  --natmu-repo  a local clone of ZhengbaoHe/NatMU for the fidelity stage (default: $NATMU_REPO)
  --audit-models  N of the audit stage, models a side (default 64)
Writes env.json, <stage>.json, summary.json and gpu.log to $OUT.
EOF
}

DEVICE=cuda
SMOKE=0
BUDGET=450
STAGES=""
METHODS_EPOCHS=10
NATMU="${NATMU_REPO:-}"
AUDIT_MODELS=64
while [ $# -gt 0 ]; do
  case "$1" in
    --natmu-repo) NATMU="${2:?--natmu-repo needs a value}"; shift 2 ;;
    --device) DEVICE="${2:?--device needs a value}"; shift 2 ;;
    --smoke) SMOKE=1; shift ;;
    --audit-models) AUDIT_MODELS="${2:?--audit-models needs a value}"; shift 2 ;;
    --budget) BUDGET="${2:?--budget needs a value}"; shift 2 ;;
    --stages) STAGES="${2:?--stages needs a value}"; shift 2 ;;
    --methods-pretrain-epochs) METHODS_EPOCHS="${2:?--methods-pretrain-epochs needs a value}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "gpu.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
done

fail() { echo "gpu.sh: error: $*" >&2; exit 1; }

[ -n "${OUT:-}" ] || fail "OUT is not set: the device tool sets it; elsewhere run OUT=/some/folder bash benchmarks/gpu.sh"
mkdir -p "$OUT" || fail "cannot create OUT=$OUT"
[ -w "$OUT" ] || fail "OUT=$OUT is not writable"
case "$BUDGET" in ''|*[!0-9]*) fail "--budget must be a whole number of seconds (got '$BUDGET')" ;; esac
case "$AUDIT_MODELS" in ''|*[!0-9]*) fail "--audit-models must be a whole number (got '$AUDIT_MODELS')" ;; esac
case "$METHODS_EPOCHS" in ''|*[!0-9]*|0) fail "--methods-pretrain-epochs must be a positive whole number (got '$METHODS_EPOCHS')" ;; esac
if [ -z "$STAGES" ]; then
  STAGES="throughput evaluate natmu methods"
  [ -z "$NATMU" ] || STAGES="$STAGES fidelity"
fi
for stage in $STAGES; do
  case "$stage" in throughput|evaluate|natmu|methods|fidelity|audit) ;; *) fail "unknown stage '$stage' (valid: throughput evaluate natmu methods fidelity audit)" ;; esac
  if [ "$stage" = fidelity ]; then
    [ -f "$NATMU/sample-wise/natmu.py" ] || fail "the fidelity stage needs a NatMU clone: --natmu-repo PATH (got '$NATMU')"
  fi
done
case "$DEVICE" in cuda|cuda:*|cpu) ;; *) fail "--device must be cuda, cuda:N or cpu (got '$DEVICE')" ;; esac

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$REPO" || fail "cannot enter the repository at $REPO"
LOG="$OUT/gpu.log"
: > "$LOG"
exec > >(tee -a "$LOG") 2>&1
TEE_PID=$!
# Let tee write the last lines before the device tool collects $OUT.
trap 'exec 1>&- 2>&-; wait "$TEE_PID" 2>/dev/null' EXIT
STARTED=$(date +%s)
PYTHON="${PYTHON:-python3}"
export PYTHONPATH="$REPO${PYTHONPATH:+:$PYTHONPATH}" PYTHONUNBUFFERED=1
command -v "$PYTHON" >/dev/null 2>&1 || fail "no Python: '$PYTHON' is not on the PATH (set PYTHON=...)"
command -v timeout >/dev/null 2>&1 || fail "coreutils' timeout is missing"

echo "gpu.sh: device $DEVICE, smoke $SMOKE, budget ${BUDGET}s, repository $REPO, $(date -u +%FT%TZ)"

# ---- 0. what the project needs --------------------------------------------------------
MODULES="torch torchvision typer rich safetensors numpy pyarrow sklearn matplotlib PIL"
missing() {
  "$PYTHON" - $MODULES <<'EOF'
import importlib.util, sys
print(" ".join(m for m in sys.argv[1:] if importlib.util.find_spec(m) is None))
EOF
}
MISSING="$(missing)" || fail "$PYTHON cannot run"
if [ -n "$MISSING" ]; then
  if ls .whl/*.whl >/dev/null 2>&1; then
    echo "gpu.sh: installing carried wheels for: $MISSING"
    "$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl \
      || fail "installing the wheels in .whl/ failed"
    export PYTHONPATH="/tmp/site:$PYTHONPATH"
    MISSING="$(missing)"
  fi
  [ -z "$MISSING" ] || fail "missing Python packages: $MISSING. Download their wheels into .whl/ on the development machine (the device README's pip download command) and carry .whl"
fi
if [ "${DEVICE%%:*}" = cuda ]; then
  "$PYTHON" -c "import torch, sys; sys.exit(0 if torch.cuda.is_available() else 1)" \
    || fail "torch sees no CUDA GPU here; for a CPU check use --device cpu --smoke"
fi

# ---- stage runner ---------------------------------------------------------------------
STATUS_FILE="$OUT/.status"
: > "$STATUS_FILE"
remaining() { echo $(( BUDGET - ($(date +%s) - STARTED) )); }

# run_stage NAME SHARE_PERCENT OUTPUT_JSON COMMAND...: the stage gets SHARE % of the budget
# (at most what is left), its stdout becomes OUTPUT_JSON, its status goes to .status.
run_stage() {
  local name="$1" share="$2" output="$3"; shift 3
  local left limit began rc
  left=$(remaining)
  limit=$(( BUDGET * share / 100 ))
  [ "$limit" -le "$left" ] || limit=$left
  if [ "$limit" -lt 5 ]; then
    echo "gpu.sh: stage $name skipped: the budget is spent"
    echo "$name skipped 0" >> "$STATUS_FILE"
    return 0
  fi
  echo "gpu.sh: stage $name (at most ${limit}s): $*"
  began=$(date +%s)
  timeout --signal=TERM --kill-after=10 "$limit" "$@" > "$output.part"
  rc=$?
  if [ $rc -eq 0 ]; then
    mv "$output.part" "$output"
    echo "$name ok $(( $(date +%s) - began ))" >> "$STATUS_FILE"
  elif [ $rc -eq 124 ] || [ $rc -eq 137 ]; then
    echo "gpu.sh: stage $name ran out of its ${limit}s"
    echo "$name timed_out $(( $(date +%s) - began ))" >> "$STATUS_FILE"
  else
    echo "gpu.sh: stage $name failed (exit $rc)"
    echo "$name failed $(( $(date +%s) - began ))" >> "$STATUS_FILE"
  fi
  rm -f "$output.part"
}

# ---- 1. environment -------------------------------------------------------------------
"$PYTHON" - "$DEVICE" > "$OUT/env.json" <<'EOF'
import json, os, platform, subprocess, sys
import torch
device = sys.argv[1]
env = {"device": device, "torch": torch.__version__, "cuda": torch.version.cuda, "python": platform.python_version(),
       "cpu_count": os.cpu_count(), "gpu": torch.cuda.get_device_name() if device.startswith("cuda") else None}
try:
    env["nvidia_smi"] = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total,clocks.max.sm",
                                        "--format=csv,noheader"], capture_output=True, text=True, timeout=20).stdout.strip()
except (OSError, subprocess.SubprocessError):
    env["nvidia_smi"] = None
print(json.dumps(env, indent=2))
EOF
[ $? -eq 0 ] || fail "could not read the environment (torch import?)"
cat "$OUT/env.json"

# ---- the benchmarks -------------------------------------------------------------------
if [ "$SMOKE" = 1 ]; then
  THROUGHPUT_ARGS=(--model resnet18 --width 0.0625 --batch-size 32 --train-size 256 --steps 2 --warmup 1 --num-workers 0 --threads 1)
  EVALUATE_ARGS=(--width 0.0625 --train-size 500 --test-size 100)
  NATMU_ARGS=(--width 0.0625 --epochs 1 --train-size 500 --test-size 100)
  METHODS_ARGS=(--model resnet18 --width 0.0625 --pretrain-epochs 1 --epochs 1 --train-size 500 --test-size 100)
  FIDELITY_ARGS=(--train-size 1000 --test-size 100 --epochs 1 --unlearn-epochs 1 --seeds 0 --methods random_label)
  # A temporary workspace, removed at the end: a smoke run never continues another.
  AUDIT_ARGS=(--width 0.0625 --epochs 1 --train-size 500 --test-size 100 --models 5 --resamples 100)
else
  # Full width; batch 512 (the `fast` recipe's CIFAR batch) on both sides; enough timed
  # steps to cover several of the reference's epochs of worker start-up.
  THROUGHPUT_ARGS=(--model resnet18 --width 1.0 --batch-size 512 --train-size 50000 --steps 150 --warmup 20)
  EVALUATE_ARGS=(--width 1.0 --train-size 50000 --test-size 10000 --repeat 2)
  NATMU_ARGS=(--width 1.0 --train-size 50000 --test-size 10000)
  METHODS_ARGS=(--model resnet18 --width 1.0 --pretrain-epochs "$METHODS_EPOCHS" --train-size 50000 --test-size 10000
                --no-compile)
  FIDELITY_ARGS=(--train-size 50000 --test-size 10000 --epochs "$METHODS_EPOCHS" --seeds 0)
  # Kept on the machine, so a second call on a warm machine continues the audit.
  AUDIT_ARGS=(--width 1.0 --train-size 50000 --test-size 10000 --models "$AUDIT_MODELS" --resamples 1000
              --workdir "${TMPDIR:-/tmp}/unlearn-audit")
fi

# Shares of the budget: each stage gets at most its share of the whole, and never more than
# what is left; the last stage takes the rest.
for stage in $STAGES; do
  case "$stage" in
    throughput) run_stage throughput 20 "$OUT/throughput.json" \
                  "$PYTHON" -m benchmarks.pretrain_throughput --device "$DEVICE" "${THROUGHPUT_ARGS[@]}" --json ;;
    evaluate)   run_stage evaluate 15 "$OUT/evaluate.json" \
                  "$PYTHON" -m benchmarks.evaluate_speed --device "$DEVICE" "${EVALUATE_ARGS[@]}" --json ;;
    natmu)      run_stage natmu 40 "$OUT/natmu.json" \
                  "$PYTHON" -m benchmarks.recipe_run --recipe natmu --model resnet18 --device "$DEVICE" "${NATMU_ARGS[@]}" ;;
    methods)    run_stage methods 100 "$OUT/methods.json" \
                  "$PYTHON" -m benchmarks.methods --device "$DEVICE" --dataset cifar10 --recipe natmu --no-evaluate \
                  "${METHODS_ARGS[@]}" --json ;;
    fidelity)   run_stage fidelity 100 "$OUT/fidelity.json" \
                  "$PYTHON" -m benchmarks.fidelity --device "$DEVICE" --natmu-repo "$NATMU" \
                  --workdir "${TMPDIR:-/tmp}/unlearn-fidelity" "${FIDELITY_ARGS[@]}" --json ;;
    # The audit stops itself 30 s before the stage's limit to report what it finished; two
    # models at a time share the GPU (a small resnet9 run leaves it idle between steps).
    audit)      run_stage audit 100 "$OUT/audit.json" \
                  "$PYTHON" -m benchmarks.audit --device "$DEVICE" --dataset cifar10 --model resnet9 --designs fixed \
                  --method finetune --jobs 2 --time-limit "$(( $(remaining) - 30 ))" "${AUDIT_ARGS[@]}" --json ;;
  esac
done

# ---- summary --------------------------------------------------------------------------
"$PYTHON" -m benchmarks.gpu_summary "$OUT" > "$OUT/summary.json" || fail "could not write summary.json"
rm -f "$STATUS_FILE"
cat "$OUT/summary.json"
echo "gpu.sh: done in $(( $(date +%s) - STARTED ))s"
