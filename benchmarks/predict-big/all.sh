#!/usr/bin/env bash
# all.sh BEFORE.jar AFTER.jar [which...]: in a scratch directory prepared as README.md says, measures each command with
# both jars: at the default heap (measure.sh) and the least -Xmx on the ladder (minheap.sh, from 16m), and compares
# their stdout (cmp; eval's last line names its --out directory, so its first 9 lines and eval.json are compared).
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
for c in $which; do
  for side in b a; do
    jar=$before; [ $side = a ] && jar=$after
    "$here/measure.sh" "$jar" $side-$c - $(args $c $side)
  done
  if [ $c = eval ]; then
    cmp <(head -9 out-b-$c.txt) <(head -9 out-a-$c.txt) && cmp <(grep -v '"checkpoint"' out-b-evaldir/eval.json) \
      <(grep -v '"checkpoint"' out-a-evaldir/eval.json) && echo "same stdout (first 9 lines) and eval.json: $c"
  else
    cmp out-b-$c.txt out-a-$c.txt && echo "same stdout: $c"
  fi
  for side in b a; do
    jar=$before; [ $side = a ] && jar=$after
    "$here/minheap.sh" "$jar" $side-$c 16 $(args $c $side)
  done
done
