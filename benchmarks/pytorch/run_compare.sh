#!/usr/bin/env bash
# dl-train vs PyTorch on one GPU: runs `dl-train bench --json` and bench_torch.py for every row of the comparison
# and writes their JSON lines, under a header saying when, where and how, to
#   $OUT/gpu-compare-<time>.jsonl      (or benchmarks/results/ when OUT is not set)
# and the README table made from them by table.py next to it (.md).
#
# Run on the GPU machine from the repository root, with the bundle of benchmarks/gpu/bundle.sh carried:
#   ONLY=resnet18 benchmarks/pytorch/run_compare.sh
# BUNDLE (default dist/gpu-bundle, unpacked from dist/gpu-bundle.tar.xz when only that is there) holds the jlinked JRE
# (jre/bin/java, or bin/java) and dl-train.jar. The CUDA libraries are found as run-on-gpu.sh finds them
# (benchmarks/gpu/cuda-libs.sh).
# Optional: PYTHON (default python3, with torch + torchvision), WARMUP/STEPS/WINDOWS (default 20/50/5),
# ROW_TIMEOUT seconds per command (default 240), ONLY=<model> to run the rows of one model, DEVICE (default cuda;
# DEVICE=cpu is only a smoke test of the script itself: its figures are not GPU figures).
# A device-tool command runs 10 minutes at most: run one model (ONLY=...) per call. Every result line is appended to
# the .jsonl as soon as it exists, so a call killed at its limit still returns the rows it finished.
#
# A command that fails is recorded as a JSON line with an "error" key (table.py shows "failed") and the run goes on.
set -uo pipefail

[ -f benchmarks/pytorch/bench_torch.py ] || { echo "run_compare.sh: run me from the repository root" >&2; exit 2; }
BUNDLE=${BUNDLE:-dist/gpu-bundle}
if [ ! -d "$BUNDLE" ] && [ "$BUNDLE" = dist/gpu-bundle ] && [ -f dist/gpu-bundle.tar.xz ]; then
  echo "run_compare.sh: unpacking dist/gpu-bundle.tar.xz" >&2
  tar -C dist -xJf dist/gpu-bundle.tar.xz
fi
JAVA=$BUNDLE/jre/bin/java
[ -x "$JAVA" ] || JAVA=$BUNDLE/bin/java
[ -x "$JAVA" ] || { echo "run_compare.sh: no java in $BUNDLE (jre/bin/java or bin/java): build the bundle with benchmarks/gpu/bundle.sh and carry dist/gpu-bundle.tar.xz" >&2; exit 2; }
[ -f "$BUNDLE/dl-train.jar" ] || { echo "run_compare.sh: $BUNDLE/dl-train.jar not found" >&2; exit 2; }
PYTHON=${PYTHON:-python3}
. benchmarks/gpu/cuda-libs.sh

WARMUP=${WARMUP:-20}
STEPS=${STEPS:-50}
WINDOWS=${WINDOWS:-5}
ROW_TIMEOUT=${ROW_TIMEOUT:-240}
ONLY=${ONLY:-}
DEVICE=${DEVICE:-cuda}
outdir=${OUT:-benchmarks/results}
mkdir -p "$outdir"
stamp=$(date -u +%Y%m%d-%H%M%S)
res="$outdir/gpu-compare-$stamp.jsonl"
md="$outdir/gpu-compare-$stamp.md"
DLTRAIN=("$JAVA" --enable-native-access=ALL-UNNAMED -Xss4m -jar "$BUNDLE/dl-train.jar")

{
  echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# command: BUNDLE=$BUNDLE DEVICE=$DEVICE WARMUP=$WARMUP STEPS=$STEPS WINDOWS=$WINDOWS $0 $*"
  echo "# git commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  nvidia-smi -L 2>&1 | sed 's/^/# nvidia-smi -L: /'
  nvidia-smi --query-gpu=driver_version,clocks.max.sm,power.limit --format=csv,noheader 2>&1 | sed 's/^/# driver, max SM clock, power limit: /'
  "${DLTRAIN[@]}" --version 2>&1 | sed 's/^/# dl-train: /'
  echo "# CUDA libraries:$found"
  $PYTHON -c 'import torch, torchvision; print("torch", torch.__version__, "cuda", torch.version.cuda, "cudnn", torch.backends.cudnn.version(), "torchvision", torchvision.__version__)' 2>&1 | sed 's/^/# pytorch: /'
} > "$res"
echo "run_compare.sh: writing $res" >&2

# run LABEL FRAMEWORK VARIANT MODEL BATCH SIZE PRECISION -- command...
# Appends the command's one JSON line, or an error record, to $res.
run() {
  local label=$1 framework=$2 variant=$3 model=$4 batch=$5 size=$6 prec=$7; shift 8
  echo "# run: $*" >> "$res"
  echo "run_compare.sh: $label" >&2
  local out err rc
  err=$(mktemp)
  out=$(timeout "$ROW_TIMEOUT" "$@" 2>"$err"); rc=$?
  local last
  last=$(printf '%s\n' "$out" | grep '^{' | tail -n 1)
  if [ $rc -eq 0 ] && [ -n "$last" ]; then
    printf '%s\n' "$last" >> "$res"
  else
    FRAMEWORK=$framework VARIANT=$variant MODEL=$model BATCH=$batch SIZE=$size PREC=$prec RC=$rc ERRFILE=$err \
      $PYTHON - >> "$res" <<'EOF'
import json, os
tail = open(os.environ["ERRFILE"], encoding="utf-8", errors="replace").read().strip().splitlines()[-5:]
print(json.dumps({"framework": os.environ["FRAMEWORK"], "variant": os.environ["VARIANT"], "model": os.environ["MODEL"],
                  "batch_size": int(os.environ["BATCH"]), "image_size": int(os.environ["SIZE"]),
                  "precision": os.environ["PREC"], "error": "exit " + os.environ["RC"] + ": " + " | ".join(tail)}))
EOF
    echo "run_compare.sh:   failed (exit $rc): $(tail -n 2 "$err")" >&2
  fi
  rm -f "$err"
}

# row MODEL BATCH SIZE PRECISION LAYOUTS: dl-train, then PyTorch eager and compile in each layout ("nchw" or "nchw cl").
row() {
  local model=$1 batch=$2 size=$3 prec=$4 layouts=$5
  [ -n "$ONLY" ] && [ "$ONLY" != "$model" ] && return
  local common=(--model "$model" --batch-size "$batch" --image-size "$size" --precision "$prec"
                --warmup "$WARMUP" --steps "$STEPS" --windows "$WINDOWS")
  # cuDNN's measured algorithm search on the GPU, as bench_torch.py sets torch.backends.cudnn.benchmark = True
  local search=heuristic
  case $DEVICE in cuda*) search=measured ;; esac
  run "dl-train $model b$batch $size $prec" dl-train default "$model" "$batch" "$size" "$prec" -- \
      "${DLTRAIN[@]}" bench "${common[@]}" --device "$DEVICE" --cudnn-search "$search" --synthetic --json
  local layout mode flags variant
  for layout in $layouts; do
    for mode in eager compile; do
      flags=(); variant=$mode
      [ "$mode" = compile ] && flags+=(--compile)
      [ "$layout" = cl ] && { flags+=(--channels-last); variant="$variant+channels_last"; }
      # Kernels are counted (one extra profiled window) for eager NCHW only: the peer of dl-train's ops per step.
      [ "$variant" = eager ] && [[ $DEVICE == cuda* ]] && flags+=(--count-kernels)
      run "pytorch $variant $model b$batch $size $prec" pytorch "$variant" "$model" "$batch" "$size" "$prec" -- \
          $PYTHON benchmarks/pytorch/bench_torch.py "${common[@]}" --device "$DEVICE" "${flags[@]}"
    done
  done
}

for model in resnet50 resnet18; do
  for prec in fp32 tf32 bf16; do
    row "$model" 256 224 "$prec" "nchw cl"
  done
done
row lenet5 128 28 fp32 "nchw"
row mlp 128 28 fp32 "nchw"

$PYTHON benchmarks/pytorch/table.py "$res" > "$md"
echo "run_compare.sh: wrote $res and $md" >&2
cat "$md"
