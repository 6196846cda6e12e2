#!/usr/bin/env bash
# build-ptx.sh -- compiles every kernels/src/main/cuda/*.cu to PTX in
# kernels/src/main/resources/io/dltrain/kernels/<stem>.ptx (one module per .cu; the CUDA backend loads them all).
# The committed PTX is what ships; PtxUpToDateTest recompiles with the flags below and fails when it is stale.
#
# This file is the one place the flags live (PtxUpToDateTest reads the NVCC_FLAGS line):
#   -ptx -arch=compute_75  PTX for a virtual sm_75 (Turing, the oldest GPU CUDA 13 supports, and later); the driver
#                          JIT-compiles it for the real GPU (Ampere, Hopper, ...).
#   -O3 -std=c++17
#   -fmad=false            no a*b+c -> fma contraction, so float expressions round step by step like the Java CPU
#                          backend's (the optimiser updates then match it bit for bit); division and sqrt stay IEEE
#                          (nvcc's defaults -prec-div=true -prec-sqrt=true; never add -use_fast_math).
# nvcc: $NVCC if set, else $CUDA_HOME/bin/nvcc, /usr/local/cuda/bin/nvcc, or nvcc on PATH.
set -euo pipefail
export LC_ALL=C # a fixed glob order for modules.txt

NVCC_FLAGS="-ptx -arch=compute_75 -O3 -std=c++17 -fmad=false"

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
src="$here/src/main/cuda"
out="$here/src/main/resources/io/dltrain/kernels"

nvcc="${NVCC:-}"
if [[ -z "$nvcc" ]]; then
  for c in "${CUDA_HOME:+$CUDA_HOME/bin/nvcc}" /usr/local/cuda/bin/nvcc "$(command -v nvcc || true)"; do
    if [[ -n "$c" && -x "$c" ]]; then nvcc="$c"; break; fi
  done
fi
if [[ -z "$nvcc" ]]; then
  echo "build-ptx.sh: nvcc not found; install the CUDA toolkit (13.x) or set NVCC=/path/to/nvcc" >&2
  exit 1
fi

mkdir -p "$out"
# Stale modules of deleted .cu files would still be loaded by the launcher: remove every .ptx first.
rm -f "$out"/*.ptx "$out/modules.txt"
cd "$src" # relative input names keep the build directory out of the PTX
for cu in *.cu; do
  stem="${cu%.cu}"
  # shellcheck disable=SC2086
  "$nvcc" $NVCC_FLAGS "$cu" -o "$out/$stem.ptx"
  echo "$stem" >> "$out/modules.txt" # the index io.dltrain.kernels.Ptx.modules() reads (jar resources cannot be listed)
  echo "built $stem.ptx"
done
