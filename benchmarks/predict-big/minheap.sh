#!/usr/bin/env bash
# minheap.sh JAR LABEL START_MB ARGS...: measure.sh at -Xmx from START_MB up a ladder (16m ... 4g) until a run exits 0;
# that -Xmx is the least heap (on this ladder) in which the command works.
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
jar=$1 label=$2 start=$3; shift 3
for m in 16 24 32 48 64 96 128 192 256 384 512 768 1024 1536 2048 3072 4096; do
  [ $m -lt $start ] && continue
  line=$("$here/measure.sh" $jar $label-x$m ${m}m "$@")
  echo "$line" | cut -c1-200
  echo "$line" | grep -q "exit=0 " && { echo "MIN $label ${m}m"; break; }
done
