"""Unit test of benchmarks/predict-big/all.sh's eval comparison: two jars' eval of the same model must compare equal
when only the lines that name the run's --out directory or the writing build differ (eval.json begins with
format_version, dl_train_version and dl_train_build since 2026-12-08, which differ between any two builds), and unequal
when a result differs. Runs over a stand-in JAVA_HOME whose java reads its "jar" (a shell file: BUILD, LOSS) and
writes an eval.json and a stdout shaped like dl-train's, so no JVM is needed; well under a second.
Run: python3 -m unittest discover -s benchmarks/pytorch -p 'test_*.py'
"""
import os
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
ALL = os.path.join(ROOT, "benchmarks", "predict-big", "all.sh")

STANDIN_JAVA = r"""#!/bin/bash
while [ "$1" != -jar ]; do shift; done
. "$2"; shift 2
out="" prev=""
for a in "$@"; do [ "$prev" = --out ] && out=$a; prev=$a; done
mkdir -p "$out"
printf '{\n  "format_version" : 2,\n  "dl_train_version" : "0.1.0",\n  "dl_train_build" : "%s",\n  "model" : "mlp",\n  "checkpoint" : "%s",\n  "loss" : %s\n}\n' \
  "$BUILD" "$PWD/runs/mlp/model" "$LOSS" > "$out/eval.json"
echo "eval: mlp from runs/mlp/model on csv/test (500 samples)"
echo "test: loss $LOSS  top-1 90.00%"
for i in 1 2 3 4 5 6 7 8; do echo "  $i class$i   1 0 0  100.00%"; done
echo "dl-train: wrote $out/eval.json and $out/confusion.png"
"""


@unittest.skipUnless(shutil.which("bash") and os.access("/usr/bin/time", os.X_OK), "needs bash and /usr/bin/time")
class PredictBigAllEvalTest(unittest.TestCase):
    def run_all(self, after_loss):
        with tempfile.TemporaryDirectory() as d:
            jdk = os.path.join(d, "jdk")
            os.makedirs(os.path.join(jdk, "bin"))
            with open(os.path.join(jdk, "release"), "w") as f:
                f.write('JAVA_VERSION="25"\n')
            java = os.path.join(jdk, "bin", "java")
            with open(java, "w") as f:
                f.write(STANDIN_JAVA)
            os.chmod(java, 0o755)
            for name, build, loss in (("before.jar", "f3e008adc2f0", "0.25"), ("after.jar", "b2d0fc56ea6d", after_loss)):
                with open(os.path.join(d, name), "w") as f:
                    f.write(f"BUILD={build} LOSS={loss}\n")
            env = dict(os.environ, JAVA_HOME=jdk)
            p = subprocess.run(["bash", ALL, "before.jar", "after.jar", "eval"], cwd=d, env=env, capture_output=True,
                               text=True, timeout=60)
            return p.stdout + p.stderr

    def test_two_builds_of_the_same_results_compare_equal(self):
        out = self.run_all("0.25")
        self.assertIn("same stdout (but its last line) and eval.json: eval", out)

    def test_a_different_result_is_not_equal(self):
        out = self.run_all("0.5")
        self.assertNotIn("same stdout", out)
        self.assertIn("differ", out)


if __name__ == "__main__":
    unittest.main()
