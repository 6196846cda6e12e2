#!/usr/bin/env bash
# all.sh BEFORE.jar AFTER.jar [which...]: in a scratch directory prepared as README.md says, measures each command with
# both jars: at the default heap (measure.sh) and the least -Xmx on the ladder (minheap.sh, from 16m), and compares
# their stdout (cmp; for eval, the stdout but its last line, which names its --out directory, and eval.json but its
# "checkpoint" and the writer's format_version, dl_train_version and dl_train_build, which differ between two builds).
# which: csv-text csv-json idx-text idx-json dir-text dir-json eval (default: all). Prints the lines of the results file.
set -u
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
before=$1 after=$2; shift 2
which=${*:-csv-text csv-json idx-text idx-json dir-text dir-json eval}
I=${IDX:-/usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz}
args() { # the command of one case, for a jar labelled $2 (eval writes into out-$2-evaldir)
  case $1 in
    csv-text) echo predict --checkpoint runs/mlp big/test.csv ;;
    csv-json) echo predict --checkpoint runs/mlp --json --progress none big/test.csv ;;
    idx-text) echo predict --checkpoint runs/lenet5 "$I" ;;
    idx-json) echo predict --checkpoint runs/lenet5 --json --progress none "$I" ;;
    dir-text) echo predict --checkpoint runs/lenet5 folder20k ;;
    dir-json) echo predict --checkpoint runs/lenet5 --json --progress none folder20k ;;
    eval) echo eval --checkpoint runs/mlp --data csv --data-dir evaldir --out out-$2-evaldir --progress none ;;
  esac
}
numbers() { grep -v -E '^  "(checkpoint|format_version|dl_train_version|dl_train_build)" :' "$1"; } # eval.json's results
for c in $which; do
  for side in b a; do
    jar=$before; [ $side = a ] && jar=$after
    "$here/measure.sh" "$jar" $side-$c - $(args $c $side)
  done
  if [ $c = eval ]; then
    cmp <(grep -v '^dl-train: wrote ' out-b-$c.txt) <(grep -v '^dl-train: wrote ' out-a-$c.txt) && cmp <(numbers out-b-evaldir/eval.json) \
      <(numbers out-a-evaldir/eval.json) && echo "same stdout (but its last line) and eval.json: $c"
  else
    cmp out-b-$c.txt out-a-$c.txt && echo "same stdout: $c"
  fi
  for side in b a; do
    jar=$before; [ $side = a ] && jar=$after
    "$here/minheap.sh" "$jar" $side-$c 16 $(args $c $side)
  done
done
