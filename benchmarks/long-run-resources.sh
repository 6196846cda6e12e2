#!/usr/bin/env bash
# Resource use of one dl-train run over time, for checking that nothing grows without bound on long runs: every
# INTERVAL seconds the process's RSS, threads and open files; every 10th sample a full GC (the live heap, in gc.log) and
# the JVM's native memory summary; at the end the RSS, threads and open files at each epoch's end, next to its line.
#
#   benchmarks/long-run-resources.sh OUT_DIR [INTERVAL] -- dl-train arguments...
#   benchmarks/long-run-resources.sh /tmp/res 3 -- --model lenet5 --data fashion-mnist --epochs 20 --out /tmp/res/run
#
# OUT_DIR gets out.log (the run's output, each line stamped with seconds since the start), samples.tsv, gc.log,
# nmt.txt (NMT summaries), files.txt (what the open descriptors point to, and the thread names, counted) and
# epochs.tsv. The forced GCs cost the run a few tenths of a second each; do not take its timings from here.
set -euo pipefail
out=${1:?usage: long-run-resources.sh OUT_DIR [INTERVAL] -- dl-train arguments...}; shift
interval=3; [ "${1:-}" != "--" ] && { interval=$1; shift; }
[ "${1:-}" = "--" ] && shift
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")/.." && pwd)"
. "$here/.ci/java-env"
mkdir -p "$out"
export DL_TRAIN_JAVA_OPTS="${DL_TRAIN_JAVA_OPTS:-} -XX:NativeMemoryTracking=summary -Xlog:gc:file=$out/gc.log:uptime"
t0=$EPOCHREALTIME
since() { awk -v now="$EPOCHREALTIME" -v t0="$t0" 'BEGIN { printf "%.1f", now - t0 }'; }
( "$here/dl-train" "$@" --progress plain 2>&1 | while IFS= read -r l; do echo "$EPOCHREALTIME $l"; done \
    | awk -v t0="$t0" '{ t = $1; sub(/^[^ ]+/, sprintf("%.1f", t - t0)); print }' > "$out/out.log" ) &
run=$!
pid=""; for _ in $(seq 1 600); do pid=$(pgrep -n -f "NativeMemoryTracking.*$out/gc.log" || true); [ -n "$pid" ] && break; sleep 0.1; done
[ -n "$pid" ] || { echo "long-run-resources: the java process did not start (see $out/out.log)" >&2; exit 1; }
echo -e "seconds\trss_kb\tthreads\tfds" > "$out/samples.tsv"
i=0
while kill -0 "$pid" 2>/dev/null; do
  t=$(since)
  rss=$(awk '/^VmRSS/{print $2}' /proc/$pid/status 2>/dev/null || true); th=$(awk '/^Threads/{print $2}' /proc/$pid/status 2>/dev/null || true)
  printf '%s\t%s\t%s\t%s\n' "$t" "$rss" "$th" "$(ls /proc/$pid/fd 2>/dev/null | wc -l)" >> "$out/samples.tsv"
  if (( i % 10 == 0 )); then
    jcmd "$pid" GC.run > /dev/null 2>&1 || true
    { printf '=== %s s\n' "$t"; jcmd "$pid" VM.native_memory summary 2>/dev/null | grep -E '^(Total|-)' || true; } >> "$out/nmt.txt"
    { printf '=== %s s\n' "$t"; ls -l /proc/$pid/fd 2>/dev/null | awk 'NR>1{print $NF}' | sed 's/[0-9]\+/N/g' | sort | uniq -c
      jcmd "$pid" Thread.print 2>/dev/null | grep '^"' | cut -d'"' -f2 | sed 's/[0-9]\+/N/g' | sort | uniq -c || true; } >> "$out/files.txt"
  fi
  i=$((i + 1)); sleep "$interval"
done
wait "$run" || true
# each epoch line with the sample nearest to it
awk 'NR==FNR { if (FNR > 1) { n++; ts[n]=$1; r[n]=$2; th[n]=$3; f[n]=$4 } next }
     $2 == "epoch" && $4 == "train_loss" { b=1; for (k=1; k<=n; k++) if ((ts[k]-$1)^2 < (ts[b]-$1)^2) b=k
       printf "epoch %s\t%.1f s\trss %.1f MB\tthreads %s\tfds %s\n", $3, $1, r[b]/1024, th[b], f[b] }' \
  "$out/samples.tsv" "$out/out.log" > "$out/epochs.tsv"
cat "$out/epochs.tsv"
echo "live heap after each forced GC (uptime: before->after):"; grep -o '\[[0-9.]*s\].*Pause Full.*->[0-9]*M' "$out/gc.log" | sed 's/ GC([0-9]*) Pause Full (Diagnostic Command)//' | tr '\n' ' '; echo
