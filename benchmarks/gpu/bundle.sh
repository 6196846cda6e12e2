#!/usr/bin/env bash
# Builds dist/gpu-bundle.tar.xz: everything the GPU machine needs to run dl-train and its GPU test suite without
# Maven, a JDK or network access there.
#
#   gpu-bundle/jre/            a jlinked Java 25 runtime (modules from jdeps over our jars, plus java.desktop for the
#                              charts and jdk.unsupported for JavaCPP), --strip-debug --no-header-files --no-man-pages
#   gpu-bundle/dl-train.jar    the shaded CLI jar (cli/target/dl-train.jar), its entries stored uncompressed so that xz
#                              compresses them with everything else (24 MB as a deflated jar, ~14 MB this way)
#   gpu-bundle/test/           the runtime and models test classes as jars, junit-platform-console-standalone,
#                              jazzer-api/jazzer-junit (so test discovery can load the fuzz-test classes it then skips)
#   gpu-bundle/run-on-gpu.sh   copies of benchmarks/gpu/run-on-gpu.sh and the cuda-libs.sh and limits.sh it sources
#   gpu-bundle/BUNDLE.txt      git commit, date, sizes
# and with --with-data dist/gpu-train.tar.xz: gpu-train/ with the same jre/, runner and BUNDLE.txt, dl-train.jar without
# the bundled sample and OpenBLAS's natives, and data/fashion-mnist/ (see --with-data).
#
# Usage: benchmarks/gpu/bundle.sh [--with-data [DIR]] [--max-mib N]
#   --with-data [DIR]  also build dist/gpu-train.tar.xz, the training bundle: the same JRE, the jar without its
#                      10,000-image sample, the runner, and the four Fashion-MNIST IDX files from DIR (default
#                      /usr/share/datasets/fashion-mnist), stored uncompressed for xz (26 MB packed). With the data the
#                      whole bundle and the working tree would exceed what one device call carries; without the test
#                      jars and the sample, the training bundle fits, so each device call is self-contained
#   --max-mib N        fail when a tarball and the working tree (which travels with it) come to more (default 64)
# Maven runs offline, except one fetch of junit-platform-console-standalone when ~/.m2 does not have it yet.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
root=$PWD

export JAVA_HOME=${JAVA_HOME_25:-/usr/lib/jvm/temurin-25-jdk-amd64}
export MAVEN_OPTS="${MAVEN_OPTS:-} --sun-misc-unsafe-memory-access=allow"
[ -x "$JAVA_HOME/bin/jlink" ] || { echo "bundle: error: no JDK 25 with jlink at $JAVA_HOME (set JAVA_HOME_25)" >&2; exit 1; }
CONSOLE_VERSION=1.13.4   # JUnit Platform of the project's JUnit Jupiter 5.13.4
JAZZER_VERSION=0.30.0

data_dir="" max_mib=64
while [ $# -gt 0 ]; do
  case "$1" in
    --with-data) data_dir=/usr/share/datasets/fashion-mnist
                 if [ $# -gt 1 ] && [ "${2#--}" = "$2" ]; then data_dir=$2; shift; fi ;;
    --max-mib) max_mib=$2; shift ;;
    -h|--help) sed -n '2,23p' "$0"; exit 0 ;;
    *) echo "bundle: error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
  shift
done

stage=$root/dist/gpu-bundle
rm -rf "$stage" "$root/dist/gpu-bundle.tar.xz"
mkdir -p "$stage/test"

echo "bundle: building the jars and test classes (mvn -o package -DskipTests)"
mvn -o -B -q -DskipTests package -pl cli -am < /dev/null

echo "bundle: junit-platform-console-standalone $CONSOLE_VERSION"
m2=${M2_REPO:-$HOME/.m2/repository}
console=$m2/org/junit/platform/junit-platform-console-standalone/$CONSOLE_VERSION/junit-platform-console-standalone-$CONSOLE_VERSION.jar
if [ ! -f "$console" ]; then
  mvn -B -q dependency:get -Dartifact=org.junit.platform:junit-platform-console-standalone:$CONSOLE_VERSION < /dev/null
fi
cp "$console" "$stage/test/"
for a in jazzer-api jazzer-junit; do
  cp "$m2/com/code-intelligence/$a/$JAZZER_VERSION/$a-$JAZZER_VERSION.jar" "$stage/test/"
done

echo "bundle: test jars"
for m in runtime models; do
  "$JAVA_HOME/bin/jar" --create --no-compress --file "$stage/test/dl-train-$m-tests.jar" -C "$m/target/test-classes" .
done
# The same entries, in the same order, with the same names and times, stored instead of deflated.
python3 - cli/target/dl-train.jar "$stage/dl-train.jar" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as src, zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_STORED) as dst:
    for info in src.infolist():
        data = src.read(info)
        info.compress_type = zipfile.ZIP_STORED
        dst.writestr(info, data)
PY

echo "bundle: jlink"
# jdeps over the shaded jar (multi-release aware; JavaCPP's optional integrations are missing on purpose) and the
# console launcher; java.desktop draws the charts (AWT headless), jdk.unsupported is sun.misc.Unsafe for JavaCPP.
deps=$("$JAVA_HOME/bin/jdeps" --print-module-deps --ignore-missing-deps --multi-release 25 -q \
        "$stage/dl-train.jar" "$stage/test/junit-platform-console-standalone-$CONSOLE_VERSION.jar" 2>/dev/null | tail -1)
modules=$(echo "$deps,java.desktop,jdk.unsupported,java.management,java.logging,jdk.zipfs" | tr ',' '\n' | sed '/^$/d' | sort -u | paste -sd, -)
echo "bundle: modules $modules"
"$JAVA_HOME/bin/jlink" --add-modules "$modules" --strip-debug --no-header-files --no-man-pages \
    --output "$stage/jre"

if [ -n "$data_dir" ]; then
  for f in train-images-idx3-ubyte.gz train-labels-idx1-ubyte.gz t10k-images-idx3-ubyte.gz t10k-labels-idx1-ubyte.gz; do
    [ -f "$data_dir/$f" ] || { echo "bundle: error: $data_dir/$f is missing (install dataset-fashion-mnist or pass --with-data DIR)" >&2; exit 1; }
  done
fi

cp benchmarks/gpu/run-on-gpu.sh benchmarks/gpu/cuda-libs.sh benchmarks/gpu/limits.sh "$stage/"
chmod +x "$stage/run-on-gpu.sh"
{
  echo "dl-train GPU bundle"
  echo "commit: $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet 2>/dev/null || echo ' (with uncommitted changes)')"
  echo "built: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(uname -sm)"
  echo "java: $("$stage/jre/bin/java" -version 2>&1 | head -1)"
  echo "modules: $modules"
  (cd "$stage" && du -sh jre dl-train.jar test | sed 's/^/size: /')
} > "$stage/BUNDLE.txt"

# What travels with a tarball: the tracked files and the untracked ones git does not ignore.
tree=$(git ls-files -z --cached --others --exclude-standard | xargs -0 -r stat -c %s -- 2>/dev/null | awk '{ s += $1 } END { print s + 0 }')
limit=$((max_mib * 1024 * 1024))
mib() { awk -v b="$1" 'BEGIN { printf "%.1f", b / 1048576 }'; }
pack() {  # pack NAME: dist/NAME/ -> dist/NAME.tar.xz, checked against what one device call carries
  echo "bundle: packing dist/$1.tar.xz"
  tar -C "$root/dist" -cf - "$1" | xz -T2 -9 > "$root/dist/$1.tar.xz"
  local bytes
  bytes=$(stat -c %s "$root/dist/$1.tar.xz")
  echo "bundle: dist/$1.tar.xz is $bytes bytes ($(mib "$bytes") MiB); with the working tree ($(mib "$tree") MiB):" \
       "$(mib $((bytes + tree))) MiB of the $max_mib MiB a device call carries"
  if [ $((bytes + tree)) -ge "$limit" ]; then
    echo "bundle: error: dist/$1.tar.xz and the working tree are over $max_mib MiB" >&2
    exit 1
  fi
}
pack gpu-bundle

if [ -n "$data_dir" ]; then
  train=$root/dist/gpu-train
  rm -rf "$train" "$root/dist/gpu-train.tar.xz" "$root/dist/data"
  mkdir -p "$train/data/fashion-mnist"
  cp -al "$stage/jre" "$train/jre"
  cp "$stage/run-on-gpu.sh" "$stage/cuda-libs.sh" "$stage/limits.sh" "$train/"
  # The data go in uncompressed (dl-train reads IDX files with or without .gz): xz packs them better than gzip did.
  for f in train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte; do
    gzip -dc "$data_dir/$f.gz" > "$train/data/fashion-mnist/$f"
  done
  # The jar without its 10,000-image sample (the data are here, and the working tree has the sample too) and without
  # OpenBLAS's native libraries (5.5 MB packed): this bundle trains on the GPU, and a CPU backend made there anyway
  # falls back to the plain-Java GEMM, saying so in one notice line (checked: a CPU run of that jar trains).
  python3 - "$stage/dl-train.jar" "$train/dl-train.jar" <<'PY'
import sys, zipfile
with zipfile.ZipFile(sys.argv[1]) as src, zipfile.ZipFile(sys.argv[2], "w", zipfile.ZIP_STORED) as dst:
    for info in src.infolist():
        if not info.filename.startswith(("io/dltrain/datasets/sample/", "org/bytedeco/openblas/linux-x86_64/")):
            dst.writestr(info, src.read(info))
PY
  { sed -n '1,5p' "$stage/BUNDLE.txt" | sed '1s/.*/dl-train GPU training bundle (no test jars; no bundled sample and no OpenBLAS natives in the jar)/'
    echo "data: Fashion-MNIST IDX files from $data_dir, uncompressed"
    (cd "$train" && du -sh jre dl-train.jar data | sed 's/^/size: /')
  } > "$train/BUNDLE.txt"
  pack gpu-train
fi
