#!/usr/bin/env bash
# Runs ON the GPU machine, from the repository root, with the bundle of benchmarks/gpu/bundle.sh: prints the device
# and the date, finds the CUDA 13 / cuDNN 9 libraries, then runs these steps (each logged; a failing or timed-out step
# does not stop the next ones):
#   info    nvidia-smi and dl-train info --device cuda (exit 0 only if the GPU is usable) -> nvidia-smi.txt, info.txt
#   golden  golden exports (PyTorch, if present: export_golden.py, export_layer_golden.py)
#                                               -> runtime/src/test/resources/golden/ and a copy in golden/,
#                                                  golden-compare.txt (the re-export against the committed files)
#   tests   the gpu-tagged test classes, each in a JVM of its own (a native crash or a poisoned CUDA context ends
#           that class only), GoldenReplayTest whole (CPU and GPU replay), the Linear + ReLU NaN test with
#           cuBLASLt's RELU_BIAS epilogue on, and the convolution test with cuDNN's measured algorithm search,
#           JUnit console launcher
#                                               -> tests-gpu.txt, tests-golden.txt, tests-relu-epilogue.txt,
#                                                  tests-measured-search.txt, junit/
#   train   dl-train --model lenet5 --data fashion-mnist --device cuda --epochs 10
#                                               -> train-lenet5.txt and the run directory lenet5-cuda/
#   resnet  dl-train --model resnet18 --data imagenet-subset --device cuda on a JPEG tree made by `datasets prepare`
#                                               -> prepare-jpeg-tree.txt, train-resnet18.txt and resnet18-cuda/
# all under $RESULTS, with SUMMARY.txt (one line per step: exit status, seconds). Every log starts with a header:
# device line, command, date, bundle commit.
#
# Usage: benchmarks/gpu/run-on-gpu.sh [--only STEP[,STEP...]] [--skip STEP[,STEP...]] [--data-dir DIR]
# Environment:
#   RESULTS       where the logs and run directories go (default out/gpu)
#   OUT           when set (the device tool sets it), $OUT/SUMMARY.txt and $OUT/gpu-results.tar.gz (everything under
#                 RESULTS except checkpoints) are rewritten after every step and every PACK_EVERY seconds while one
#                 runs, so what finished, and the log so far of a step cut off, come back from a killed command. The
#                 device tool returns at most 8 files from $OUT, none over 16 MiB: never write the results into $OUT.
#   PACK_EVERY    seconds between repacks of $OUT while a step runs (default 30; whole seconds, at least 1)
#   CALL_LIMIT    the device call's timeout_s (420 for call 1, 300 for call 2; see benchmarks/gpu/README.md). Each step
#                 then gets at most what is left of it once the reserves of the steps after it (the table below), their
#                 kill grace and a 10 s margin are kept back: a hanging step cannot take the later steps' time, and a
#                 step is stopped by its own limit (its log says so, training writes its checkpoint) rather than by
#                 the call's. When the call is shorter than the reserves, they are scaled down (limits.sh) so that
#                 every step still gets a share. Unset: each step gets its most, and nothing is kept back
#   STEP_TIMEOUT  seconds allowed to each step (at least 5), overriding its most (the table below)
#   BUNDLE        default: this script's directory when it holds jre/; else dist/gpu-bundle (bundle.sh), or, when
#                 the tests step is not run and it is there, dist/gpu-train (bundle.sh --with-data: no test jars, with
#                 the data); each unpacked from its carried .tar.xz
#   DATA_DIR      like --data-dir; default: the bundle's data/fashion-mnist, dist/gpu-train/data/fashion-mnist,
#                 /usr/share/datasets/fashion-mnist, else dl-train's bundled 10,000-image sample, which it announces
#   PYTHON        default python3
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
invocation="$0 $*"
out=${RESULTS:-out/gpu}
pack=${OUT:-}
data_dir=${DATA_DIR:-}
skip="" only=""
steps="info golden tests train resnet"
while [ $# -gt 0 ]; do
  case "$1" in
    --data-dir) data_dir=$2; shift ;;
    --skip) skip=$2; shift ;;
    --only) only=$2; shift ;;
    -h|--help) sed -n '2,42p' "$0"; exit 0 ;;
    *) echo "run-on-gpu: error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done
for s in ${skip//,/ } ${only//,/ }; do
  case " $steps " in *" $s "*) ;; *) echo "run-on-gpu: error: unknown step '$s' (steps: $steps)" >&2; exit 2 ;; esac
done
skipped() {
  if [ -n "$only" ]; then case ",$only," in *",$1,"*) ;; *) return 0 ;; esac; fi
  case ",$skip," in *",$1,"*) return 0 ;; *) return 1 ;; esac
}

# ------------------------------------------------------------------ time limits
# Per step: the seconds kept for it while the steps before it run (its reserve) and the most it may take. With
# CALL_LIMIT the reserves of one call, each plus the kill grace, plus the margin, fit in the call with room for the
# unpacking: call 1 (info, golden, tests) 390 + 10 of 420 s, call 2 (train, resnet) 275 + 10 of 300 s; the arithmetic
# is in benchmarks/gpu/README.md. A step that finishes early leaves its time to the next ones, up to their most.
# When the call is shorter than its reserves (less device time left than planned), they are scaled down when the
# first step starts (share_reserves in limits.sh), so that every step still gets a share.
. "$here/limits.sh"
declare -A reserve=([nvidia-smi]=10 [info]=35 [golden]=35 [golden-layers]=20 [golden-compare]=15
                    [tests-gpu]=120 [tests-golden]=40 [tests-relu-epilogue]=30 [tests-measured-search]=40
                    [train-lenet5]=130 [prepare-jpeg-tree]=40 [train-resnet18]=90)
declare -A most=([nvidia-smi]=20 [info]=60 [golden]=90 [golden-layers]=60 [golden-compare]=30
                 [tests-gpu]=300 [tests-golden]=120 [tests-relu-epilogue]=60 [tests-measured-search]=60
                 [train-lenet5]=240 [prepare-jpeg-tree]=120 [train-resnet18]=180)
# The tests-gpu step runs each gpu-tagged test class in a JVM of its own, so that a native crash or a CUDA context
# poisoned by a fault (cudaErrorIllegalAddress) ends that class only; cheapest and most telling first: every op
# against the CPU, then the small device checks and the PyTorch goldens, then the long training and zoo checks, and
# last one JVM for any gpu-tagged class not listed here (one added later). GoldenReplayTest is left to the
# tests-golden step, which runs it whole. The step's limit is shared among them as the call's among the steps.
gpu_classes=(runtime.backend.cuda.CudaVsCpuTest runtime.train.BatchUploadsGpuTest runtime.optim.OptimizerGoldenTest
             runtime.nn.LayerGoldenTest runtime.backend.cuda.CudaMemoryTest models.GpuTrainingStepTest models.ZooGoldenTest)
declare -A class_reserve=([CudaVsCpuTest]=25 [BatchUploadsGpuTest]=10 [OptimizerGoldenTest]=10 [LayerGoldenTest]=10
                          [CudaMemoryTest]=10 [GpuTrainingStepTest]=5 [ZooGoldenTest]=5 [others]=5)
declare -A class_most=([CudaVsCpuTest]=120 [BatchUploadsGpuTest]=45 [OptimizerGoldenTest]=45 [LayerGoldenTest]=45
                       [CudaMemoryTest]=60 [GpuTrainingStepTest]=120 [ZooGoldenTest]=150 [others]=60)
grace=$GRACE_S   # SIGTERM, then SIGKILL this much later (timeout --kill-after)
margin=10  # kept at the end of the call for the last pack of $OUT
call_limit=${CALL_LIMIT:-}
seconds() {  # seconds NAME MIN: NAME's value, when set, is whole seconds (no unit, no leading 0: bash reads 08 as octal), >= MIN
  local v=${!1:-}
  [ -z "$v" ] && return 0
  case "$v" in [1-9]*) case "$v" in *[!0-9]*) ;; *) [ "${#v}" -lt 7 ] && [ "$v" -ge "$2" ] && return 0 ;; esac ;; esac
  echo "run-on-gpu: error: $1='$v' is not a whole number of seconds of at least $2 (e.g. $1=300, without a unit)" >&2
  exit 2
}
seconds CALL_LIMIT 1
seconds STEP_TIMEOUT "$MIN_START_S"   # a step given under 5 s is not started
seconds PACK_EVERY 1   # the repack ticker's arithmetic: 0 or 30s ended the ticker at its first look, and the repacks with it
if [ -n "${STEP_TIMEOUT:-}" ]; then for s in "${!most[@]}"; do most[$s]=$STEP_TIMEOUT; done; fi
planned=()   # the steps this call runs, in order (the golden ones even where torch turns out to be missing)
skipped info || planned+=(nvidia-smi info)
skipped golden || planned+=(golden golden-layers golden-compare)
skipped tests || planned+=(tests-gpu tests-golden tests-relu-epilogue tests-measured-search)
skipped train || planned+=(train-lenet5)
skipped resnet || planned+=(prepare-jpeg-tree train-resnet18)
declare -A effective=()   # the reserves in force: reserve, or scaled down to fit the call (share_reserves)
shared=""
share_call() {  # once, when the first step starts: the reserves for what is left of the call
  [ -n "$shared" ] && return 0
  shared=1
  local now; now=$(elapsed)
  local left=$((call_limit - now - margin)) total=0 s list=""
  share_reserves reserve effective "$left" "${planned[@]}"
  for s in "${planned[@]}"; do
    total=$((total + ${reserve[$s]} + grace))
    list="$list${list:+, }$s ${effective[$s]}s"
  done
  if [ "$left" -lt "$total" ]; then
    echo "# time: ${left}s of CALL_LIMIT=${call_limit}s left at the first step (${now}s in), under the steps'" \
         "reserves with their grace (${total}s): reserves scaled down to $list" >> "$summary"
  fi
}
kept_for() {  # kept_for NAME: ", Ns of it kept for the steps after it (A Rs, B Rs, 5s grace each)", or nothing
  local later after="" s list=""
  [ -n "$call_limit" ] || return 0   # without CALL_LIMIT nothing is kept back
  later=$(kept_after effective "$1" "${planned[@]}")
  [ "$later" -gt 0 ] || return 0
  for s in "${planned[@]}"; do
    [ -n "$after" ] && [ "${effective[$s]}" -gt 0 ] && list="$list${list:+, }$s ${effective[$s]}s"
    [ "$s" = "$1" ] && after=1
  done
  echo ": ${later}s of it kept for the steps after it ($list, ${grace}s grace each)"
}
limit_of() {  # limit_of NAME: the seconds this step may take now (0: none left)
  if [ -z "$call_limit" ]; then echo "${most[$1]}"; return; fi
  limit_of_name most effective $((call_limit - margin)) "$1" "${planned[@]}"
}

# ------------------------------------------------------------------ the bundle
# A carried tarball is unpacked once (again when a different one is carried: the marker holds its size and mtime).
# One that tar cannot unpack whole (truncated, say) is named in unpack_failed: in SUMMARY.txt, or in the error below
# when it left no java.
unpack_failed=""
unpack() {  # unpack NAME: dist/NAME.tar.xz -> dist/NAME/
  local t=dist/$1.tar.xz
  [ -f "$t" ] || return 0
  local id
  id=$(stat -c '%s %Y' "$t")
  if [ ! -x "dist/$1/jre/bin/java" ] || [ "$(cat "dist/$1/.unpacked-from" 2>/dev/null)" != "$id" ]; then
    echo "run-on-gpu: unpacking $t"
    rm -rf "dist/$1"
    if tar -C dist -xJf "$t"; then echo "$id" > "dist/$1/.unpacked-from"; else unpack_failed="$unpack_failed $t"; fi
  fi
}
if [ -n "${BUNDLE:-}" ]; then bundle=$BUNDLE
elif [ -x "$here/jre/bin/java" ]; then bundle=$here
else
  unpack gpu-bundle
  unpack gpu-train
  # The test step needs the full bundle (test jars); the others run from either, the training bundle (with its data)
  # first when the test step is not asked for.
  if ! skipped tests || [ ! -x dist/gpu-train/jre/bin/java ]; then bundle=dist/gpu-bundle; else bundle=dist/gpu-train; fi
fi
if [ ! -x "$bundle/jre/bin/java" ]; then
  error="run-on-gpu: error: no bundle at $bundle${unpack_failed:+ (tar could not unpack$unpack_failed whole: see the error of tar in the output)}:"
  error="$error build it with benchmarks/gpu/bundle.sh [--with-data] and carry dist/gpu-bundle.tar.xz (the test step"
  error="$error needs it) or dist/gpu-train.tar.xz (a machine given back keeps nothing: carry it again)"
  echo "$error" >&2
  if [ -n "$pack" ]; then mkdir -p "$pack" && echo "$error" > "$pack/SUMMARY.txt"; fi   # the only file that comes back
  exit 3
fi
bundle=$(cd "$bundle" && pwd)
mkdir -p "$out"
out=$(cd "$out" && pwd)
# A JVM that dies in native code (a CUDA library given a bad pointer, say) writes its crash report, with the native
# stack, to hs_err_pid<N>.log in the working directory by default, outside $out and so outside the tarball: keep it
# with the logs.
java=("$bundle/jre/bin/java" --enable-native-access=ALL-UNNAMED -Xss4m -XX:ErrorFile="$out/hs_err_pid%p.log")

# ------------------------------------------------------------------ device line and CUDA libraries
if command -v nvidia-smi >/dev/null 2>&1; then
  device=$(nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader 2>/dev/null | head -1)
else
  device="no nvidia-smi on this machine"
fi
device="${device:-unknown GPU}; host $(hostname), $(nproc) cores"

. "$here/cuda-libs.sh"
# Eager binding would make the loader resolve every import of JavaCPP's 13.1-built wrappers at load time, including
# the functions CUDA 13.0 lacks, which dl-train never calls (see CudaLibraries.reasonForUndefinedSymbol).
bind_now=${LD_BIND_NOW:-}
unset LD_BIND_NOW

fmnist() { [ -f "$1/train-images-idx3-ubyte.gz" ] || [ -f "$1/train-images-idx3-ubyte" ]; }   # IDX, gzipped or not
if [ -z "$data_dir" ]; then
  for d in "$bundle/data/fashion-mnist" "$(pwd)/dist/gpu-train/data/fashion-mnist" /usr/share/datasets/fashion-mnist; do
    if fmnist "$d"; then data_dir=$d; break; fi
  done
fi

# A fresh directory for the golden re-export or the JPEG tree: under TMPDIR, else /tmp, else dist/ in the working
# tree (a TMPDIR that is missing or read-only would have left them no directory, and those steps nothing to write to).
scratch_dir() {  # scratch_dir NAME: prints the new directory NAME.XXXXXX
  local d
  for d in "${TMPDIR:-/tmp}" /tmp; do mktemp -d "$d/$1.XXXXXX" 2>/dev/null && return 0; done
  mkdir -p dist && mktemp -d "$(pwd)/dist/$1.XXXXXX"
}

header_lines() {  # header_lines COMMAND...
  echo "# device: $device"
  echo "# command: $*"
  echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
  echo "# bundle: $(head -2 "$bundle/BUNDLE.txt" 2>/dev/null | tail -1)"
  echo "# LD_LIBRARY_PATH: $LD_LIBRARY_PATH"
}
header() { local f=$1; shift; header_lines "$@" > "$f"; }   # header FILE COMMAND...

# One summary for all the calls on this machine: a later call (e.g. the training steps after the tests) appends.
summary=$out/SUMMARY.txt
[ -s "$summary" ] && echo >> "$summary"
header_lines "$invocation" >> "$summary"
echo "# libraries:$found" >> "$summary"
[ -n "$bind_now" ] && echo "# LD_BIND_NOW was set ('$bind_now'); unset for these runs" >> "$summary"
[ -n "$unpack_failed" ] && echo "# bundle: tar could not unpack$unpack_failed whole (its error is in the runner's" \
  "output): the steps run from what it left, and fail where something is missing" >> "$summary"
echo "# data: ${data_dir:-the sample bundled in dl-train.jar (no Fashion-MNIST directory found)}" >> "$summary"
echo "# time: ${call_limit:+CALL_LIMIT=${call_limit}s, }steps ${planned[*]}; started $(elapsed)s into the script" >> "$summary"

# The results as one tarball and the summary, in $OUT (see the header): rewritten after every step and, while one
# runs, every PACK_EVERY seconds.
pack_results() {  # pack_results [LINE]: LINE (a step still running) is added to $OUT's copy of the summary only
  [ -n "$pack" ] || return 0
  mkdir -p "$pack"
  { cat "$summary"; [ -z "${1:-}" ] || echo "$1"; } > "$pack/SUMMARY.txt.part" && mv "$pack/SUMMARY.txt.part" "$pack/SUMMARY.txt"
  tar -C "$out" --exclude=checkpoints -czf "$pack/gpu-results.tar.gz.part" . && mv "$pack/gpu-results.tar.gz.part" "$pack/gpu-results.tar.gz"
  local bytes
  bytes=$(stat -c %s "$pack/gpu-results.tar.gz" 2>/dev/null || echo 0)
  if [ "$bytes" -ge $((16 * 1024 * 1024)) ]; then
    echo "run-on-gpu: warning: $pack/gpu-results.tar.gz is $bytes bytes, over the 16 MiB the device tool returns" | tee -a "$summary"
    cp "$summary" "$pack/SUMMARY.txt"
  fi
}

step() {  # step NAME LOGFILE COMMAND...  runs the command with the header and its time limit (limit_of), records the status
  local name=$1 log=$2 limit; shift 2
  [ -n "$call_limit" ] && share_call   # here, not in limit_of's subshell: once per call
  limit=$(limit_of "$name")
  header "$log" "$@"
  if [ "$limit" -lt "$MIN_START_S" ]; then   # the call's time is spent (the unpacking or the steps before overran their reserves),
    # or kept for the later steps' reserves (a CALL_LIMIT under the sum of the reserves): say which
    local why
    why="${limit}s of CALL_LIMIT=${call_limit}s left for it after $(elapsed)s$(kept_for "$name")"
    echo "not run: $why" >> "$log"
    echo "$name: not run, $why ($(date -u +%H:%M:%SZ)) -> $(basename "$log")" | tee -a "$summary"
    pack_results
    return 0
  fi
  touch "$log.started"   # crash reports newer than this belong to this step
  echo "==== $name: $* (limit ${limit}s)"
  local t0; t0=$(elapsed)
  if declare -F "$1" >/dev/null; then   # a function of this script (run_test_classes): it keeps to STEP_LIMIT itself
    STEP_LIMIT=$limit "$@" >> "$log" 2>&1 &
  else
    timeout --kill-after=$grace "$limit" "$@" >> "$log" 2>&1 &
  fi
  # The end-of-step marker lives under $out, which the logs prove writable: under a TMPDIR that is missing or
  # read-only (the device tool may set it to anything) it could not be made, and the wait for the ticker below
  # would never end.
  local pid=$! ticker="" stop=$out/.step-done
  # While it runs, repack every PACK_EVERY seconds (default 30): when the device tool kills the whole command at its
  # 10-minute limit in the middle of a step (a hanging test, say), the log so far still comes back.
  if [ -n "$pack" ]; then
    rm -f "$stop"
    # It looks for the end of the step every 0.2 s (i counts fifths of a second), so that waiting for it adds
    # little to each step.
    ( i=0
      while [ ! -e "$stop" ] && kill -0 $$ 2>/dev/null; do   # ends with the step, or with this script when it is killed
        sleep 0.2; i=$((i + 1))
        [ $((i % (5 * ${PACK_EVERY:-30}))) -eq 0 ] && [ ! -e "$stop" ] && pack_results "$name: still running after $((i / 5))s (log so far: $(basename "$log"))"
      done ) &
    ticker=$!
  fi
  wait "$pid"
  local rc=$?
  if [ -n "$ticker" ]; then touch "$stop"; wait "$ticker"; rm -f "$stop"; fi
  tail -40 "$log"
  local what="exit $rc" crashes
  [ $rc -eq 124 ] || [ $rc -eq 137 ] && what="exit $rc (killed at its ${limit}s limit)"
  crashes=$(find "$out" -maxdepth 1 -name 'hs_err_pid*.log' -newer "$log.started" -printf '%f ' 2>/dev/null)
  rm -f "$log.started"
  [ -n "$crashes" ] && what="$what, JVM crash report: ${crashes% }"
  echo "$name: $what, $(($(elapsed) - t0))s ($(date -u +%H:%M:%SZ)) -> $(basename "$log")" | tee -a "$summary"
  pack_results
  return 0
}

echo "run-on-gpu: $device"
date -u
cat "$summary"

# Does PyTorch import (for the golden steps)? Without our LD_LIBRARY_PATH: the export runs on the CPU, and the CUDA
# directories put first for dl-train could shadow the libraries PyTorch's own nvidia-* packages bring (import torch
# would then fail on a symbol). The probe has a limit of its own (20 s; torch imports in a few) and runs before the
# first step, so that its time is spent before the call's is shared among the steps: run between info and golden,
# it took time kept for the steps after info (CALL_LIMIT=120, every step hanging: a 7 s import left golden not run).
torch=""
if ! skipped golden && timeout --kill-after=5 20 env LD_LIBRARY_PATH= "$py" -c 'import torch' >/dev/null 2>&1; then
  torch=1
fi

# info: the device, and what dl-train sees
if ! skipped info; then
  if command -v nvidia-smi >/dev/null 2>&1; then
    step nvidia-smi "$out/nvidia-smi.txt" nvidia-smi
  else
    echo "nvidia-smi: not found" | tee -a "$summary"
  fi
  step info "$out/info.txt" "${java[@]}" -jar "$bundle/dl-train.jar" info --device cuda   # exit 0 only if training can use the GPU
fi

# golden: golden files from PyTorch (before the tests, so the replay test uses them)
if ! skipped golden; then
  if [ -n "$torch" ]; then   # (without our LD_LIBRARY_PATH, as the probe above)
    fresh=$(scratch_dir dltrain-golden)   # the re-export, compared with the committed files before it replaces them
    step golden "$out/golden.txt" env LD_LIBRARY_PATH= "$py" benchmarks/pytorch/export_golden.py --out "$fresh"
    step golden-layers "$out/golden-layers.txt" env LD_LIBRARY_PATH= "$py" benchmarks/pytorch/export_layer_golden.py --out "$fresh"
    # which tensors this PyTorch gives bit for bit as the committed files (Debian's 1.13), and how far the others are
    step golden-compare "$out/golden-compare.txt" env LD_LIBRARY_PATH= "$py" benchmarks/pytorch/compare_golden.py runtime/src/test/resources/golden "$fresh"
    cp "$fresh"/*.safetensors runtime/src/test/resources/golden/ 2>/dev/null
    # Not export_zoo_golden.py: it takes 2 minutes and 7 GB on 2 cores (VGG's classifier in float64); ZooGoldenTest
    # replays the committed file (torchvision 0.14).
    mkdir -p "$out/golden"
    cp runtime/src/test/resources/golden/*.safetensors "$out/golden/" 2>/dev/null
  else
    echo "golden: skipped: $py cannot import torch (or took over 20 s)" | tee -a "$summary"
  fi
fi

# run_test_classes LOG (the tests-gpu step, whose output goes to LOG): each class of gpu_classes, then any other
# gpu-tagged class, in a JVM of its own, within STEP_LIMIT seconds shared as the call's time is among the steps
# (class_reserve, class_most). After each class a line with its outcome goes to LOG and SUMMARY.txt, so that a call
# killed mid-step still says which classes ran; at the end, the classes by outcome. Exit 0 only if every class passed
# or skipped (every test aborted, as without a usable GPU).
run_test_classes() {
  local log=$1 end=$(($(elapsed) + STEP_LIMIT)) names=() c name
  declare -A class_eff=() fqcn=()
  for c in "${gpu_classes[@]}"; do name=${c##*.}; names+=("$name"); fqcn[$name]=io.dltrain.$c; done
  names+=(others)
  share_reserves class_reserve class_eff "$STEP_LIMIT" "${names[@]}"
  local listed="io.dltrain.models.GoldenReplayTest" passed="" skipped_="" failed="" crashed="" killed="" notrun="" empty=""
  for c in "${gpu_classes[@]}"; do listed="$listed|io.dltrain.$c"; done
  for name in "${names[@]}"; do
    local limit select=() t0; t0=$(elapsed)
    limit=$(limit_of_name class_most class_eff "$end" "$name" "${names[@]}")
    if [ "$limit" -lt "$MIN_START_S" ]; then
      notrun="$notrun $name"
      echo "tests-gpu/$name: not run, ${limit}s of the step's ${STEP_LIMIT}s left for it after" \
           "$((STEP_LIMIT - end + $(elapsed)))s ($(kept_after class_eff "$name" "${names[@]}")s kept for the classes after it)" \
        | tee -a "$summary"
      continue
    fi
    if [ "$name" = others ]; then   # a gpu-tagged class this list lacks (and not GoldenReplayTest: tests-golden runs it)
      select=(--scan-class-path="$cp_tests" --exclude-classname "^(${listed//./\\.})\$")
    else
      select=(--select-class "${fqcn[$name]}")
    fi
    echo "---- tests-gpu/$name: a JVM of its own, limit ${limit}s ($(date -u +%H:%M:%SZ))"
    local start marker=$out/.class-started rc feed ok bad aborted started what crash
    start=$(stat -c %s "$log")
    touch "$marker"
    timeout --kill-after="$GRACE_S" "$limit" "${java[@]}" -Xmx16g -Ddltrain.golden.dir="$golden_dir" -jar "$console" \
        execute --class-path "$cp_all" "${select[@]}" --include-tag gpu \
        --details=testfeed --disable-banner --disable-ansi-colors --reports-dir "$out/junit/gpu/$name"
    rc=$?
    feed=$(tail -c +$((start + 1)) "$log")
    ok=$(grep -c ' :: SUCCESSFUL$' <<< "$feed")
    bad=$(grep -c ' :: FAILED$' <<< "$feed")
    aborted=$(grep -c ' :: ABORTED$' <<< "$feed")
    started=$(grep -c ' :: STARTED$' <<< "$feed")
    crash=$(find "$out" -maxdepth 1 -name 'hs_err_pid*.log' -newer "$marker" -printf '%f ' 2>/dev/null)
    rm -f "$marker"
    what="$((ok + bad + aborted)) tests ended: $ok successful, $bad failed, $aborted aborted"
    if [ "$started" -gt $((ok + bad + aborted)) ]; then   # the one that was running when the JVM ended
      what="$what; running then: $(grep ' :: STARTED$' <<< "$feed" | tail -1 | sed 's/^JUnit Jupiter > //; s/ :: STARTED$//')"
    fi
    if [ "$name" = others ] && [ "$started" -gt 0 ]; then   # which classes these were
      what="$what; classes: $(grep ' :: STARTED$' <<< "$feed" | awk -F' > ' '{print $2}' | sort -u | tr '\n' ' ' | sed 's/ $//')"
    fi
    # timeout exits 124 when its SIGTERM ended the JVM, 137 when the SIGKILL GRACE_S later did; a 137 before the
    # limit is another SIGKILL (the kernel's out-of-memory killer, say), which counts as a crash
    if [ "$rc" -eq 124 ] || { [ "$rc" -eq 137 ] && [ $(($(elapsed) - t0)) -ge "$limit" ]; }; then
      killed="$killed $name"; what="killed at its ${limit}s limit (exit $rc), $what"
    elif [ -n "$crash" ] || [ "$rc" -gt 128 ]; then
      crashed="$crashed $name"; what="crashed (exit $rc${crash:+, JVM crash report: ${crash% }}), $what"
    elif [ "$rc" -eq 0 ] && [ "$name" = others ] && [ "$started" -eq 0 ]; then
      what="no other gpu-tagged class found"
    elif [ "$rc" -eq 0 ] && [ "$started" -eq 0 ] && [ $((ok + bad + aborted)) -eq 0 ]; then
      # the console exits 0 when the tag filter leaves nothing (the class lost its gpu tag or its tests) and a JVM
      # that printed nothing exits 0 too: neither is a pass
      empty="$empty $name"; what="no test found (exit 0, no gpu-tagged test ran: check gpu_classes in run-on-gpu.sh)"
    elif [ "$rc" -eq 0 ] && [ "$ok" -eq 0 ] && [ "$aborted" -gt 0 ]; then
      skipped_="$skipped_ $name"; what="skipped (every test aborted), $what"
    elif [ "$rc" -eq 0 ]; then
      passed="$passed $name"; what="passed, $what"
    else
      failed="$failed $name"; what="failed (exit $rc), $what"
    fi
    echo "tests-gpu/$name: $what, $(($(elapsed) - t0))s" | tee -a "$summary"
  done
  local line="tests-gpu classes: passed:${passed:- none}; skipped:${skipped_:- none}; failed:${failed:- none};"
  line="$line crashed:${crashed:- none}; killed at their limit:${killed:- none}; not run (no time left):${notrun:- none}"
  echo "$line${empty:+; no test found:$empty}" | tee -a "$summary"
  [ -z "$failed$crashed$killed$notrun$empty" ]
}

# tests: the GPU test suite (JUnit console launcher, from the repository root; tests-gpu one JVM per class above).
# --details=testfeed prints each test's start and outcome (with the failure) as it happens: --details=tree prints
# its tree only when the whole run has finished, so a run killed at its limit (a hanging test) left a log with
# nothing but the header and no JUnit XML for the tests that had passed or failed before it.
if ! skipped tests; then
  console=$(ls "$bundle"/test/junit-platform-console-standalone-*.jar | head -1)
  cp_tests="$bundle/test/dl-train-runtime-tests.jar:$bundle/test/dl-train-models-tests.jar"
  cp_all="$cp_tests:$bundle/dl-train.jar:$(ls "$bundle"/test/jazzer-*.jar | tr '\n' ':')"
  golden_dir=$(pwd)/runtime/src/test/resources/golden
  step tests-gpu "$out/tests-gpu.txt" run_test_classes "$out/tests-gpu.txt"
  step tests-golden "$out/tests-golden.txt" "${java[@]}" -Xmx8g -Ddltrain.golden.dir="$golden_dir" -jar "$console" execute \
      --class-path "$cp_all" --select-class io.dltrain.models.GoldenReplayTest \
      --details=testfeed --disable-banner --disable-ansi-colors --reports-dir "$out/junit/golden"
  # Does cuBLASLt's RELU_BIAS epilogue keep NaN? (NVIDIA's forum says it gives 0; dl-train does not use it unless
  # -Ddltrain.cublasLt.reluEpilogue=true.) The NaN test with the epilogue on: a failure here settles it.
  step tests-relu-epilogue "$out/tests-relu-epilogue.txt" "${java[@]}" -Ddltrain.cublasLt.reluEpilogue=true -jar "$console" \
      execute --class-path "$cp_all" --select-method io.dltrain.runtime.backend.cuda.CudaVsCpuTest#gemmBiasReluMatchesTheCpuIncludingNaN \
      --details=testfeed --disable-banner --disable-ansi-colors --reports-dir "$out/junit/relu-epilogue"
  # The convolution test with cuDNN's measured algorithm search (cudnnFind*AlgorithmEx; `bench --cudnn-search measured`,
  # the PyTorch peer's cudnn.benchmark), which no other step uses.
  step tests-measured-search "$out/tests-measured-search.txt" "${java[@]}" -Ddltrain.cudnn.search=measured -jar "$console" \
      execute --class-path "$cp_all" --select-method io.dltrain.runtime.backend.cuda.CudaVsCpuTest#convolutionForwardBackwardDataBackwardFilter \
      --details=testfeed --disable-banner --disable-ansi-colors --reports-dir "$out/junit/measured-search"
fi

# train: a real training run on the GPU
if ! skipped train; then
  step train-lenet5 "$out/train-lenet5.txt" "${java[@]}" -jar "$bundle/dl-train.jar" --model lenet5 --data fashion-mnist \
      ${data_dir:+--data-dir "$data_dir"} --device cuda --epochs 10 --progress plain --out "$out/lenet5-cuda"
fi

# resnet: ResNet-18 on an ImageNet-style JPEG tree (the CUDA issue's second acceptance run): Fashion-MNIST written as JPEGs,
#    read through imagenet-subset (RandomResizedCrop 224, flip, ImageNet normalisation); a bounded number of steps
if ! skipped resnet; then
  # A fresh directory (datasets prepare takes an empty one), left in place: removing an old tree here, between steps,
  # took time no step's limit counted (rm -rf of 43,000 of its 70,000 files took over 70 s on 2 loaded cores, and the
  # device call's own limit would have killed the steps after it), and removing this one at the end would spend
  # device time on a machine that is given back, with everything on it, after the call.
  tree=$(scratch_dir dltrain-jpeg-tree)
  echo "# the JPEG tree: $tree (not removed)" >> "$summary"
  step prepare-jpeg-tree "$out/prepare-jpeg-tree.txt" "${java[@]}" -jar "$bundle/dl-train.jar" datasets prepare \
      --data fashion-mnist ${data_dir:+--data-dir "$data_dir"} --format jpg --out "$tree"
  step train-resnet18 "$out/train-resnet18.txt" "${java[@]}" -jar "$bundle/dl-train.jar" --model resnet18 \
      --data imagenet-subset --data-dir "$tree" --device cuda --epochs 1 --max-steps 200 --batch-size 64 \
      --progress plain --out "$out/resnet18-cuda"
fi

echo "run-on-gpu: done; results in $out${pack:+ (packed: $pack/gpu-results.tar.gz, $pack/SUMMARY.txt)}"
pack_results
cat "$summary"
