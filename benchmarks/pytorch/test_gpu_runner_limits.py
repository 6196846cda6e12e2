"""Unit tests of benchmarks/gpu/run-on-gpu.sh's step time limits under CALL_LIMIT (the device call's timeout_s).
Run: python3 -m unittest discover -s benchmarks/pytorch -p 'test_*.py'

They live here because .ci/check-scripts runs the unit tests of this directory (standard library only). The runner
runs over a stand-in bundle whose java exits at once, without OUT (nothing packed), so no JVM, GPU or PyTorch is
needed; about 1 s on 2 idle cores.
"""
import os
import re
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
RUNNER = os.path.join(ROOT, "benchmarks", "gpu", "run-on-gpu.sh")


@unittest.skipUnless(shutil.which("bash") and shutil.which("timeout"), "needs bash and coreutils' timeout")
class CallLimitTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gpu-runner-test-")
        bundle = os.path.join(self.tmp, "bundle")
        os.makedirs(os.path.join(bundle, "jre", "bin"))
        os.makedirs(os.path.join(bundle, "test"))
        java = os.path.join(bundle, "jre", "bin", "java")
        with open(java, "w") as f:
            f.write("#!/bin/sh\necho stand-in java\nexit 0\n")
        os.chmod(java, 0o755)
        with open(os.path.join(bundle, "BUNDLE.txt"), "w") as f:
            f.write("stand-in bundle\ncommit test\n")
        for name in ("dl-train.jar", "test/junit-platform-console-standalone-1.13.4.jar", "test/jazzer-api-0.30.0.jar",
                     "test/dl-train-runtime-tests.jar", "test/dl-train-models-tests.jar"):
            open(os.path.join(bundle, name), "w").close()
        self.bundle = bundle

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_runner(self, call_limit, only):
        env = dict(os.environ, BUNDLE=self.bundle, RESULTS=os.path.join(self.tmp, "results"),
                   CALL_LIMIT=str(call_limit), PYTHON="false",
                   TMPDIR=self.tmp, PATH="/usr/bin:/bin")   # no nvidia-smi, whatever this machine has
        for name in ("STEP_TIMEOUT", "OUT"):
            env.pop(name, None)
        p = subprocess.run(["bash", RUNNER, "--only", only], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
        self.assertEqual(0, p.returncode, p.stdout + p.stderr)
        limits = {m.group(1): int(m.group(2)) for m in re.finditer(r"^==== ([a-z0-9-]+): .* \(limit (\d+)s\)$", p.stdout, re.M)}
        with open(os.path.join(self.tmp, "results", "SUMMARY.txt")) as f:
            summary = f.read()
        return limits, summary

    def test_each_step_keeps_the_reserves_of_the_steps_after_it(self):
        limits, summary = self.run_runner(420, "tests")
        # 420 - t - 10 (margin) - (45 + 35 + 45) (the three test steps after it, reserve + 5 s grace) - 5 (its grace)
        # = 280 - t, t the seconds before it started (about 1 here)
        self.assertTrue(270 <= limits["tests-gpu"] <= 280, limits)
        self.assertEqual(60, limits["tests-measured-search"])
        self.assertIn("# time: CALL_LIMIT=420s", summary)

    def test_a_step_with_no_time_left_is_not_started_and_the_last_one_still_runs(self):
        # 30 s: the three first test steps' shares are below zero once the later reserves are kept; the last gets
        # 30 - t - 10 - 5
        limits, summary = self.run_runner(30, "tests")
        for name in ("tests-gpu", "tests-golden", "tests-relu-epilogue"):
            self.assertNotIn(name, limits)
            self.assertRegex(summary, r"(?m)^%s: not run, 0s of CALL_LIMIT=30s left" % name)
        # the time there was is said to be kept for the later steps, not spent (their reserves + 5 s grace each)
        self.assertRegex(summary, r"(?m)^tests-gpu: not run, .*: 125s of it kept for the steps after it "
                                  r"\(tests-golden 40s, tests-relu-epilogue 30s, tests-measured-search 40s, 5s grace each\)")
        self.assertRegex(summary, r"(?m)^tests-relu-epilogue: not run, .*: 45s of it kept for the steps after it "
                                  r"\(tests-measured-search 40s, 5s grace each\)")
        self.assertTrue(10 <= limits["tests-measured-search"] <= 15, limits)
        self.assertRegex(summary, r"(?m)^tests-measured-search: exit 0, ")

    def test_a_step_timeout_or_call_limit_that_is_not_whole_seconds_is_refused(self):
        # '2m' ran every step with 'integer expression expected' and timeout's own limit; 'abc' ran each for no
        # time (exit 125 from timeout); '08' is not a number to bash's arithmetic (octal)
        for name, value in (("STEP_TIMEOUT", "2m"), ("STEP_TIMEOUT", "abc"), ("STEP_TIMEOUT", "3"),
                            ("CALL_LIMIT", "08"), ("CALL_LIMIT", "7m")):
            env = dict(os.environ, BUNDLE=self.bundle, RESULTS=os.path.join(self.tmp, "results"), PYTHON="false",
                       TMPDIR=self.tmp, PATH="/usr/bin:/bin")
            for other in ("STEP_TIMEOUT", "CALL_LIMIT", "OUT"):
                env.pop(other, None)
            env[name] = value
            p = subprocess.run(["bash", RUNNER, "--only", "tests"], cwd=ROOT, env=env, capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(2, p.returncode, name + "=" + value + ": " + p.stdout + p.stderr)
            self.assertIn("run-on-gpu: error: %s='%s' is not a whole number of seconds" % (name, value), p.stderr)
            self.assertNotIn("====", p.stdout)


if __name__ == "__main__":
    unittest.main()
