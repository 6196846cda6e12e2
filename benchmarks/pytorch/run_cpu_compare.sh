#!/usr/bin/env bash
# dl-train vs PyTorch on this machine's CPU: the same training step (bench_torch.py's: forward, cross-entropy, zero_grad,
# backward, SGD with momentum, on one random batch), the same model, batch and thread count, run alternately
# (dl-train, PyTorch, dl-train, ...) ROUNDS times so that a VM's drift shows as spread rather than as a difference.
# Writes the JSON lines of every run, under a header saying when, where and how, to
#   benchmarks/results/cpu-compare-<time>.jsonl
# and prints a table of the median images/s and peak RSS of each side (cpu_compare.py). Each run goes under
# /usr/bin/time, whose maximum resident set size is added to its JSON line as peak_rss_bytes (null without
# /usr/bin/time); dl-train's line also has its allocator's peak of tensor bytes (peak_memory_bytes). RSS is worth
# reading beside other work; times are not. A memory comparison of the big models, one step each side:
#   PYTHON=/opt/venv-torch/bin/python ROUNDS=1 THREADS=2 \
#     ROWS="resnet50,16,224,1,1,1 densenet121,16,224,1,1,1 vgg16,16,224,1,1,1" benchmarks/pytorch/run_cpu_compare.sh
# DL_TRAIN_JAVA_OPTS (the launcher's JVM options, e.g. -Xmx16g; default heap: a quarter of RAM) is recorded.
#
#   PYTHON=/opt/venv-torch/bin/python benchmarks/pytorch/run_cpu_compare.sh
# PYTHON: a Python with torch (a real build: the pip wheel with MKL/oneDNN; Debian's python3-torch uses a generic BLAS
# and one thread, which is no yardstick). ROUNDS (default 3), THREADS (default: every core), ROWS (default
# "mlp,128,28,10,50,5 lenet5,128,28,10,50,5": model,batch,image size,warmup,steps,windows).
# Run on a quiet machine: timings taken beside other work are worth nothing.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PYTHON=${PYTHON:-python3}
ROUNDS=${ROUNDS:-3}
THREADS=${THREADS:-$(nproc)}
"$PYTHON" -c 'import torch' 2>/dev/null || { echo "run_cpu_compare.sh: $PYTHON has no torch; set PYTHON" >&2; exit 2; }
./dl-train --version >/dev/null || exit 1   # builds the jar once, outside the timed runs
stamp=$(date -u +%Y%m%dT%H%M%SZ)
res=benchmarks/results/cpu-compare-$stamp.jsonl
# model, batch, image size, warmup, steps, windows. The README's two CPU models by default; bench_torch.py also builds
# resnet18-cifar-narrow and torchvision's models (ROWS="resnet18-cifar-narrow,128,32,3,5,3 resnet18,16,224,2,3,2":
# about 1 s and 2-5 s a step here, so some 10-20 minutes for three rounds).
read -r -a ROWS <<< "${ROWS:-mlp,128,28,10,50,5 lenet5,128,28,10,50,5}"
for row in "${ROWS[@]}"; do   # every entry checked before anything is run or written
  IFS=, read -r model batch size warmup steps windows extra <<< "$row"
  if [ -z "$windows" ] || [ -n "$extra" ]; then
    echo "run_cpu_compare.sh: ROWS entry '$row' is not model,batch,image size,warmup,steps,windows" >&2; exit 2
  fi
done
{
  echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(uname -sr)"
  echo "# load average at start: $(cut -d" " -f1-3 /proc/loadavg)"
  echo "# git: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (uncommitted changes)')"
  echo "# DL_TRAIN_JAVA_OPTS: ${DL_TRAIN_JAVA_OPTS-unset}; peak RSS: $([ -x /usr/bin/time ] && echo '/usr/bin/time %M' || echo 'none (no /usr/bin/time)')"
  echo "# OPENBLAS_CORETYPE: ${OPENBLAS_CORETYPE-unset}, OPENBLAS_L2_SIZE: ${OPENBLAS_L2_SIZE-unset}"
  echo "# $(./dl-train info 2>/dev/null | grep -m1 '^cpu backend')"
  echo "# pytorch: $("$PYTHON" -c 'import torch; print(torch.__version__, "threads", torch.get_num_threads(), "|", torch.__config__.show().replace(chr(10), " ")[:400])')"
  echo "# command: PYTHON=$PYTHON ROUNDS=$ROUNDS THREADS=$THREADS ROWS=\"${ROWS[*]}\" $0"
} > "$res"
failed=0
# one benchmark run: its JSON line into the results; a run that gives none (it failed) is said in the results, with
# the end of its stderr, and on stderr, and makes the script exit 1, rather than leave a median of fewer runs unremarked
run_one() {
  local err line rss timer=()
  err=$(mktemp)
  rss=$(mktemp)
  [ -x /usr/bin/time ] && timer=(/usr/bin/time -f %M -o "$rss")
  echo "# run: $* (load average $(cut -d" " -f1-3 /proc/loadavg))" >> "$res"
  line=$("${timer[@]}" "$@" 2>"$err" | grep '^{' | tail -n 1)
  if [ -n "$line" ]; then
    "$PYTHON" benchmarks/pytorch/cpu_compare.py add-rss "$line" "$(tail -n 1 "$rss")" >> "$res"
  else
    failed=$((failed + 1))
    echo "# failed (no JSON line): $(tail -n 3 "$err" | tr '\n' ' ')" >> "$res"
    echo "run_cpu_compare.sh: failed: $*: $(tail -n 3 "$err" | tr '\n' ' ')" >&2
  fi
  rm -f "$err" "$rss"
}
for row in "${ROWS[@]}"; do
  IFS=, read -r model batch size warmup steps windows <<< "$row"
  for r in $(seq 1 "$ROUNDS"); do
    cmd=(./dl-train bench --model "$model" --batch-size "$batch" --image-size "$size" --device cpu --threads "$THREADS"
         --warmup "$warmup" --steps "$steps" --windows "$windows" --json)
    echo "run_cpu_compare.sh: $model round $r: dl-train" >&2
    run_one "${cmd[@]}"
    cmd=("$PYTHON" benchmarks/pytorch/bench_torch.py --model "$model" --batch-size "$batch" --image-size "$size" --device cpu
         --threads "$THREADS" --warmup "$warmup" --steps "$steps" --windows "$windows")
    echo "run_cpu_compare.sh: $model round $r: pytorch" >&2
    run_one "${cmd[@]}"
  done
done
echo "# load average at end: $(cut -d" " -f1-3 /proc/loadavg)" >> "$res"
"$PYTHON" benchmarks/pytorch/cpu_compare.py table "$res"
echo "run_cpu_compare.sh: wrote $res" >&2
if [ "$failed" -gt 0 ]; then echo "run_cpu_compare.sh: $failed run(s) failed (see '# failed' in $res): the medians are of the others" >&2; exit 1; fi
