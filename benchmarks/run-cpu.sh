#!/usr/bin/env bash
# Runs the CPU acceptance measurements of the foundation issue and writes each raw output, with the machine, the
# command and the date, to benchmarks/results/. Run from anywhere; takes about 15 minutes on 2 cores.
#   benchmarks/run-cpu.sh            all
#   benchmarks/run-cpu.sh sgemm      one of: sgemm jpeg epochs accuracy (jpeg: about 2 minutes)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
. .ci/java-env
results="$root/benchmarks/results"
mkdir -p "$results"
what="${1:-all}"

header() { # file, command
  {
    echo "# date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# machine: $(nproc) cores, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | xargs), $(free -g | awk '/Mem:/{print $2}') GiB RAM, $(uname -sr)"
    echo "# java: $("$JAVA_HOME/bin/java" -version 2>&1 | head -1)"
    echo "# OPENBLAS_CORETYPE: ${OPENBLAS_CORETYPE-unset}, OPENBLAS_L2_SIZE: ${OPENBLAS_L2_SIZE-unset} (set, they override OpenBLAS's CPU detection)"
    echo "# $(./dl-train info 2>/dev/null | grep -m1 '^cpu backend' || echo 'cpu backend: unknown (dl-train info failed)')"
    echo "# load average at start: $(cut -d" " -f1-3 /proc/loadavg) (run on a quiet machine: timings of a busy one are worth nothing)"
    echo "# git: $(git rev-parse --short HEAD)$(git diff --quiet || echo ' (uncommitted changes)')"
    echo "# command: $2"
    echo
  } > "$1"
}

stamp=$(date -u +%Y%m%dT%H%M%SZ)   # seconds: two runs in one minute keep their own files
run() { # name, command... (every run keeps its own file: timings on a shared VM drift, so the spread is data)
  local f="$results/$1-$stamp.txt"; shift
  header "$f" "$*"
  echo "== $*" >&2
  ( "$@" ) >> "$f" 2>&1
  echo "   -> $f" >&2
}

./dl-train --version >/dev/null   # builds the jar once, outside the timed runs
rm -rf /tmp/dltrain-bench         # run directories of earlier runs (a run refuses a directory that holds one)

jmh_built=
jmh() { # builds the JMH jar once, outside the timed runs
  [ -n "$jmh_built" ] || mvn -B -ntp -q -Pbench -pl benchmarks/jmh -am -DskipTests package
  jmh_built=1
}

if [ "$what" = all ] || [ "$what" = sgemm ]; then
  jmh
  run cpu-sgemm-jmh "$JAVA_HOME/bin/java" -jar benchmarks/jmh/target/benchmarks.jar SgemmBench -f 1 -wi 5 -i 10 -w 2 -r 2
  gcc -O3 -mavx512f -mfma -o /tmp/dltrain-peak benchmarks/peak-fma.c
  run cpu-peak-fma bash -c "/tmp/dltrain-peak; echo both cores at once:; /tmp/dltrain-peak & /tmp/dltrain-peak; wait"
fi
if [ "$what" = all ] || [ "$what" = jpeg ]; then
  # Images/s per core (one thread) of JPEG decoding and of the imagenet-subset training / validation sample paths,
  # on generated 500x375 ImageNet-like JPEGs (see JpegDecodeBench): 4 benchmarks x (3 x 2 s warm-up + 8 x 2 s).
  jmh
  run cpu-jpeg-jmh "$JAVA_HOME/bin/java" -jar benchmarks/jmh/target/benchmarks.jar JpegDecodeBench -f 1 -wi 3 -i 8 -w 2 -r 2
fi
if [ "$what" = all ] || [ "$what" = epochs ]; then
  # Training throughput: one epoch over all 60,000 images, batch 128, no validation split (training only).
  run cpu-epoch-lenet5 ./dl-train --model lenet5 --data fashion-mnist --epochs 3 --val-fraction 0 --progress plain --out /tmp/dltrain-bench/lenet5-epochs
  run cpu-epoch-mlp ./dl-train --model mlp --data fashion-mnist --epochs 3 --val-fraction 0 --progress plain --out /tmp/dltrain-bench/mlp-epochs
fi
if [ "$what" = all ] || [ "$what" = accuracy ]; then
  # Accuracy with the CLI's default recipe (only --epochs given).
  run cpu-accuracy-lenet5-3ep ./dl-train --model lenet5 --data fashion-mnist --epochs 3 --progress plain --out /tmp/dltrain-bench/lenet5-3
  run cpu-accuracy-lenet5-10ep ./dl-train --model lenet5 --data fashion-mnist --epochs 10 --progress plain --out /tmp/dltrain-bench/lenet5-10
  run cpu-accuracy-mlp-5ep ./dl-train --model mlp --data fashion-mnist --epochs 5 --progress plain --out /tmp/dltrain-bench/mlp-5
fi
