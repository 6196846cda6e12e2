#!/usr/bin/env bash
# Signals at each phase of each subcommand, on the real Fashion-MNIST (apt-get install dataset-fashion-mnist), CPU,
# 2 threads: exit status, seconds from the signal to the exit, what was printed and left, and for training whether
# --resume then gives the uninterrupted run's metrics.jsonl, test metrics and model bytes (same-run.py).
# usage: benchmarks/signals/run-scenarios.sh WORKDIR    (builds the jar through ./dl-train first; a few minutes)
set -uo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"; repo="$(cd "$here/../.." && pwd)"
work="${1:?usage: run-scenarios.sh WORKDIR}"; mkdir -p "$work" && cd "$work" || exit 1
"$repo/dl-train" --version >/dev/null || exit 1   # builds the jar if stale, and finds JDK 25
. "$repo/.ci/java-env"
J=("$JAVA_HOME/bin/java" --enable-native-access=ALL-UNNAMED -Xss4m -jar "$repo/cli/target/dl-train.jar")
H=(python3 "$here/signal-harness.py")
L5=(--model lenet5 --data fashion-mnist --threads 2 --progress plain)
ML=(--model mlp --data fashion-mnist --threads 2 --progress plain)
rm -rf -- base-* s-* p-* e-*
say() { echo; echo "=== $*"; }
show() { grep -v 'notice: no usable GPU\|parameters) on\|seed 42 ->' "$1.tlog" | sed '/^ *$/d'; echo "left: $(ls -A "$1" 2>/dev/null | tr '\n' ' ')"; }
resume_and_compare() { # RUN BASELINE
  "${J[@]}" --resume "$1" --progress none > "$1.resume.log" 2>&1; echo "resume exit $?"; python3 "$here/same-run.py" "$2" "$1"
}
say "baselines (uninterrupted)"
"${J[@]}" "${L5[@]}" --epochs 2 --out base-lenet5 > base-lenet5.log 2>&1; echo "lenet5 2 epochs: exit $?"
"${J[@]}" "${ML[@]}" --epochs 2 --out base-mlp > base-mlp.log 2>&1; echo "mlp 2 epochs: exit $?"
"${J[@]}" "${L5[@]}" --epochs 2 --val-fraction 0.95 --out base-val > base-val.log 2>&1; echo "lenet5 val 0.95: exit $?"
"${J[@]}" "${ML[@]}" --epochs 1 --checkpoint-every 1s --keep 2 --out base-ck > base-ck.log 2>&1; echo "mlp ckpt every step: exit $?"
"${J[@]}" "${ML[@]}" --epochs 4 --patience 1 --min-delta 1 --out base-early > base-early.log 2>&1; echo "mlp early stop: exit $?"

say "train, first batch (SIGTERM as the header line appears)"; "${H[@]}" s-first --sig TERM --wait-out 'seed 42 ->' -- "${J[@]}" "${L5[@]}" --epochs 2 --out s-first; show s-first
say "train, mid-epoch SIGTERM"; "${H[@]}" s-mid-term --sig TERM --wait-out 'seed 42 ->' --delay 2 -- "${J[@]}" "${L5[@]}" --epochs 2 --out s-mid-term; show s-mid-term; resume_and_compare s-mid-term base-lenet5
say "train, mid-epoch SIGINT"; "${H[@]}" s-mid-int --sig INT --wait-out 'seed 42 ->' --delay 2 -- "${J[@]}" "${L5[@]}" --epochs 2 --out s-mid-int; show s-mid-int; resume_and_compare s-mid-int base-lenet5
say "train, during validation (57,000 validation samples)"; "${H[@]}" s-val --sig TERM --wait-out 'seed 42 ->' --delay 1.2 -- "${J[@]}" "${L5[@]}" --epochs 2 --val-fraction 0.95 --out s-val; show s-val; resume_and_compare s-val base-val
say "train, while a checkpoint is written"; "${H[@]}" s-ck --sig TERM --wait-path 's-ck/checkpoints/ckpt-*.tmp' -- "${J[@]}" "${ML[@]}" --epochs 1 --checkpoint-every 1s --keep 2 --out s-ck; show s-ck; resume_and_compare s-ck base-ck
say "train, between epochs (SIGINT as epoch 1's line appears)"; "${H[@]}" s-between --sig INT --wait-out 'epoch 1 ' -- "${J[@]}" "${ML[@]}" --epochs 2 --out s-between; show s-between; resume_and_compare s-between base-mlp
say "train, during an early stop"; "${H[@]}" s-early --sig TERM --wait-out 'early stopping' -- "${J[@]}" "${ML[@]}" --epochs 4 --patience 1 --min-delta 1 --out s-early; show s-early; resume_and_compare s-early base-early
say "train, --checkpoint-every off"; "${H[@]}" s-off --sig TERM --wait-out 'epoch 1 ' --delay 0.3 -- "${J[@]}" "${ML[@]}" --epochs 2 --checkpoint-every off --out s-off; show s-off
"${J[@]}" --resume s-off 2>&1 | head -1
say "train, a long step (batch 16384): one SIGINT"; "${H[@]}" s-long1 --sig INT --wait-out 'seed 42 ->' --delay 3 -- "${J[@]}" "${L5[@]}" --epochs 1 --batch-size 16384 --out s-long1; show s-long1
say "train, a long step: two SIGINTs 0.3 s apart"; "${H[@]}" s-long2 --sig INT --wait-out 'seed 42 ->' --delay 3 --second-sig INT --second-after 0.3 -- "${J[@]}" "${L5[@]}" --epochs 1 --batch-size 16384 --out s-long2; show s-long2
say "train through ./dl-train (the launcher execs java: the signal reaches the JVM)"; "${H[@]}" s-launcher --sig TERM --target pgrep --wait-out 'seed 42 ->' --delay 1 -- "$repo/dl-train" "${ML[@]}" --epochs 1 --out "$work/s-launcher"; show s-launcher
say "train at a terminal (live bar), one Ctrl-C"; rm -rf s-tty1; JAVA="$JAVA_HOME/bin/java" python3 "$here/ctrl-c-at-a-terminal.py" 1 --model lenet5 --data fashion-mnist --threads 2 --epochs 1 --out "$work/s-tty1" | tr -s '\n' | grep -v '^epoch 1/1' | tail -4
say "train at a terminal, a long step, two Ctrl-Cs"; rm -rf s-tty2; JAVA="$JAVA_HOME/bin/java" python3 "$here/ctrl-c-at-a-terminal.py" 2 --model lenet5 --data fashion-mnist --threads 2 --epochs 1 --batch-size 16384 --out "$work/s-tty2" | tr -s '\n' | grep -v '^epoch 1/1' | tail -4
say "eval"; cp -r base-lenet5 e-run; "${H[@]}" e-eval --sig TERM --delay 2.5 -- "${J[@]}" eval --checkpoint e-run --data fashion-mnist; show e-eval
say "predict (10,000 IDX images)"; "${H[@]}" e-predict --sig INT --wait-out 't10k' --delay 0.3 -- "${J[@]}" predict --checkpoint e-run /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
echo "lines printed: $(wc -l < e-predict.log), the last: $(tail -1 e-predict.log | cut -c1-90)"
say "bench"; "${H[@]}" e-bench --sig TERM --delay 6 -- "${J[@]}" bench --model lenet5 --batch-size 128; show e-bench
say "datasets prepare, SIGINT while val/ is written, then again"; "${H[@]}" p-tree --sig INT --wait-path 'p-tree/.val.partial' --delay 0.5 -- "${J[@]}" datasets prepare --data fashion-mnist --out p-tree; show p-tree
"${J[@]}" datasets prepare --data fashion-mnist --out p-tree 2>&1 | tail -1; echo "left: $(ls -A p-tree | tr '\n' ' ')"
