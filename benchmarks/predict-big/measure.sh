#!/usr/bin/env bash
# measure.sh JAR LABEL XMX ARGS...: runs `java [-XmxXMX] -jar JAR ARGS...` in the current directory under /usr/bin/time -v
# and prints one line: exit status, wall time, time to the first line on stdout, peak RSS, stdout's line count and the
# end of stderr. XMX '-' leaves the JVM's default heap (a quarter of the machine's memory). stdout is kept in
# out-LABEL.txt (to compare two jars' results with cmp), stderr in err-LABEL.txt.
set -u
jar=$1 label=$2 xmx=$3; shift 3
here="$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)"
source "$here/../../.ci/java-env"
opts="--enable-native-access=ALL-UNNAMED -Xss4m"; [ "$xmx" != - ] && opts="$opts -Xmx$xmx"
start=$(date +%s.%N)
/usr/bin/time -v -o time-$label.txt "$JAVA_HOME/bin/java" $opts -jar $jar "$@" 2>err-$label.txt \
  | { IFS= read -r first; t=$(date +%s.%N); printf '%s\n' "$first" > out-$label.txt; cat >> out-$label.txt; echo "$t" > first-$label.txt; }
end=$(date +%s.%N)
ff=$(cat first-$label.txt 2>/dev/null || echo $end)
rss=$(awk -F': ' '/Maximum resident/{print $2}' time-$label.txt); st=$(awk -F': ' '/Exit status/{print $2}' time-$label.txt)
printf '%-28s xmx=%-5s exit=%s wall=%.1fs first_line=%.1fs peak_rss=%d MiB lines=%d  err: %s\n' "$label" "$xmx" "$st" \
  "$(echo "$end - $start" | bc)" "$(echo "$ff - $start" | bc)" $((rss/1024)) "$(wc -l < out-$label.txt)" "$(tail -c 200 err-$label.txt | tr '\n' ' ')"
