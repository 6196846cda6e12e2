#!/usr/bin/env bash
# The CPU allocator's cost per request, three versions side by side (CPU time of the calling thread, so a loaded machine
# slows it less than wall time would): benchmarks/cpu-allocator-cost/run.sh OLD NEW FIX, each a commit whose
# runtime/.../cpu/CpuAllocator.java is compiled as OldCpuAllocator, NewCpuAllocator and FixCpuAllocator beside
# AllocBench.java. E.g. run.sh 5cd589b^ 5cd589b HEAD (exact length, best fit over every bin, best fit over the free ones).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"; root="$here/../.."
. "$root/.ci/java-env"
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
pkg=io/dltrain/runtime/backend/cpu; mkdir -p "$work/src/$pkg"
for v in Old:$1 New:$2 Fix:$3; do
  git -C "$root" show "${v#*:}:runtime/src/main/java/$pkg/CpuAllocator.java" \
    | sed "s/final class CpuAllocator/final class ${v%%:*}CpuAllocator/" > "$work/src/$pkg/${v%%:*}CpuAllocator.java"
done
cp "$here/AllocBench.java" "$work/src/$pkg/"
javac -d "$work/classes" "$work/src/$pkg"/*.java
java -Xmx2g -cp "$work/classes" io.dltrain.runtime.backend.cpu.AllocBench old new fix
