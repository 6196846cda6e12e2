"""Unit tests of benchmarks/gpu/run-on-gpu.sh's step time limits under CALL_LIMIT (the device call's timeout_s), of
their arithmetic (benchmarks/gpu/limits.sh, with made-up steps and clock), and of the tests-gpu step's one JVM per
test class. Run: python3 -m unittest discover -s benchmarks/pytorch -p 'test_*.py'

They live here because .ci/check-scripts runs the unit tests of this directory (standard library only). The runner
runs over a stand-in bundle whose java exits at once (or, for a test class named in STANDIN_OUTCOMES, fails or
crashes as a JVM would), without OUT (nothing packed), so no JVM, GPU or PyTorch is needed; a few seconds on 2 cores.
"""
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
RUNNER = os.path.join(ROOT, "benchmarks", "gpu", "run-on-gpu.sh")
LIMITS = os.path.join(ROOT, "benchmarks", "gpu", "limits.sh")

# A stand-in for the bundle's java. For the JUnit console with --select-class C it prints the test feed of one test of
# C, and: STANDIN_OUTCOMES "C=fail" prints it FAILED and exits 1; "C=crash" prints it STARTED only, writes a crash
# report where -XX:ErrorFile says and exits 134 (as a JVM does on a SIGSEGV in native code; 50 ms after its start, as
# a JVM's report comes later still: written within the same file-time tick (1-10 ms) as the runner's class-start
# marker, find -newer did not count it, and the test failed 1 run in 3-10 on 2 loaded cores); "C=none" prints no test
# and exits 0 (as the console does when the tag filter leaves no test of C); "C=jump" passes and moves the wall clock
# (as CLOCK_SHIM's gettimeofday reports it) 300 s ahead. Anything else: exit 0.
STANDIN_JAVA = r"""#!/bin/bash
err="" cls=""
while [ $# -gt 0 ]; do
  case "$1" in -XX:ErrorFile=*) err=${1#-XX:ErrorFile=} ;; --select-class) cls=${2##*.}; shift ;; esac
  shift
done
echo "stand-in java"
[ -e "${PROBE_MARK:-/nonexistent}" ] && echo "stand-in java: the torch probe ran before me"
[ -n "$cls" ] || exit 0
case ",${STANDIN_OUTCOMES:-}," in *",$cls=none,"*) exit 0 ;; esac
echo "JUnit Jupiter > $cls > aTest() :: STARTED"
case ",${STANDIN_OUTCOMES:-}," in
  *",$cls=fail,"*) echo "JUnit Jupiter > $cls > aTest() :: FAILED"; exit 1 ;;
  *",$cls=crash,"*) sleep 0.05; echo "# A fatal error has been detected" > "${err//%p/$$}"; exit 134 ;;
  *",$cls=jump,"*) echo 300 > "$CLOCK_OFFSET_FILE" ;;   # the wall clock steps 300 s ahead (CLOCK_SHIM below)
esac
echo "JUnit Jupiter > $cls > aTest() :: SUCCESSFUL"
"""

# gettimeofday plus the seconds in $CLOCK_OFFSET_FILE (LD_PRELOAD): a step of the wall clock as bash's SECONDS sees it
CLOCK_SHIM = r"""#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/time.h>
int gettimeofday(struct timeval *restrict tv, void *restrict tz) {
  static int (*real)(struct timeval *, void *);
  if (!real) real = (int (*)(struct timeval *, void *)) dlsym(RTLD_NEXT, "gettimeofday");
  int r = real(tv, tz);
  const char *p = getenv("CLOCK_OFFSET_FILE");
  FILE *f = p ? fopen(p, "r") : NULL;
  long off = 0;
  if (f) { if (fscanf(f, "%ld", &off) != 1) off = 0; fclose(f); }
  if (tv) tv->tv_sec += off;
  return r;
}
"""


@unittest.skipUnless(shutil.which("bash") and shutil.which("timeout"), "needs bash and coreutils' timeout")
class CallLimitTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="gpu-runner-test-")
        bundle = os.path.join(self.tmp, "bundle")
        os.makedirs(os.path.join(bundle, "jre", "bin"))
        os.makedirs(os.path.join(bundle, "test"))
        java = os.path.join(bundle, "jre", "bin", "java")
        with open(java, "w") as f:
            f.write(STANDIN_JAVA)
        os.chmod(java, 0o755)
        with open(os.path.join(bundle, "BUNDLE.txt"), "w") as f:
            f.write("stand-in bundle\ncommit test\n")
        for name in ("dl-train.jar", "test/junit-platform-console-standalone-1.13.4.jar", "test/jazzer-api-0.30.0.jar",
                     "test/dl-train-runtime-tests.jar", "test/dl-train-models-tests.jar"):
            open(os.path.join(bundle, name), "w").close()
        self.bundle = bundle

    def tearDown(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def run_runner(self, call_limit, only, outcomes="", **more_env):
        env = dict(os.environ, BUNDLE=self.bundle, RESULTS=os.path.join(self.tmp, "results"),
                   CALL_LIMIT=str(call_limit), PYTHON="false", STANDIN_OUTCOMES=outcomes,
                   TMPDIR=self.tmp, PATH="/usr/bin:/bin")   # no nvidia-smi, whatever this machine has
        for name in ("STEP_TIMEOUT", "OUT"):
            env.pop(name, None)
        env.update(more_env)
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

    def test_a_call_limit_under_the_reserves_scales_them_down_and_every_step_starts(self):
        # 120 s for call 1, whose reserves with their grace come to 390 s: they were kept whole, so info, golden and
        # tests-gpu were not started (0 s left for them); scaled down, each step gets a share
        limits, summary = self.run_runner(120, "info,golden,tests")
        self.assertRegex(summary, r"(?m)^# time: \d+s of CALL_LIMIT=120s left at the first step .*under the steps' "
                                  r"reserves with their grace \(390s\): reserves scaled down to nvidia-smi \d+s, info \d+s")
        self.assertNotRegex(summary, r"(?m)^[\w/-]+: not run,")
        for name in ("info", "tests-gpu", "tests-golden", "tests-relu-epilogue", "tests-measured-search"):
            self.assertGreaterEqual(limits.get(name, 0), 5, (name, limits))
        # what a step may take still leaves the later steps their (scaled) reserves: tests-gpu, started at once, may
        # take 120 - t - 10 - 5 - (the three test steps after it, 6-7 s each + 5 s grace), about 68 s; info about 20 s
        self.assertTrue(55 <= limits["tests-gpu"] <= 75, limits)
        self.assertTrue(10 <= limits["info"] <= 25, limits)
        # and the test classes share tests-gpu's limit the same way: every one started
        for name in ("CudaVsCpuTest", "ZooGoldenTest", "others"):
            self.assertRegex(summary, r"(?m)^tests-gpu/%s: " % name)
        self.assertIn("not run (no time left): none", summary)

    def test_the_readmes_call_2_with_less_device_time_trains_both_models(self):
        # budget_left_s 200 before call 2: CALL_LIMIT 170 (the README). Reserves 130 + 40 + 90 with grace 275 s:
        # kept whole, train-lenet5 was not started; scaled down it gets about 70 s, train-resnet18 still its share
        limits, summary = self.run_runner(170, "train,resnet")
        self.assertNotRegex(summary, r"(?m)^[\w/-]+: not run,")
        self.assertTrue(60 <= limits["train-lenet5"] <= 80, limits)
        # the steps before it took no time: all that is left, 170 - t - 10 - 5
        self.assertTrue(145 <= limits["train-resnet18"] <= 155, limits)

    def test_the_torch_probe_is_spent_before_the_call_is_shared_among_the_steps(self):
        # 'import torch' ran between info and golden, outside any step, so its time came out of what info's limit had
        # kept for the later steps (CALL_LIMIT=120 with every step hanging: a 7 s import left golden not run); it now
        # runs before the first step, whose share of the call is computed from what is left after it
        python, mark = os.path.join(self.tmp, "python"), os.path.join(self.tmp, "probe-ran")
        with open(python, "w") as f:   # an import that fails (golden skipped) and leaves a mark the stand-in java sees
            f.write('#!/bin/bash\ncase "$2" in *"import torch"*) touch "$PROBE_MARK" ;; esac\nexit 1\n')
        os.chmod(python, 0o755)
        limits, summary = self.run_runner(120, "info,golden", PYTHON=python, PROBE_MARK=mark)
        with open(os.path.join(self.tmp, "results", "info.txt")) as f:
            self.assertIn("stand-in java: the torch probe ran before me", f.read())   # info, the call's first step
        # and so before the call's time was shared (scaled: 140 s of reserves and grace in 110)
        self.assertRegex(summary, r"(?m)^# time: \d+s of CALL_LIMIT=120s left at the first step ")
        self.assertIn("golden: skipped: %s cannot import torch" % python, summary)

    def test_no_old_jpeg_tree_is_removed_between_steps(self):
        # the runner removed $TMPDIR/dltrain-jpeg-tree before prepare-jpeg-tree, outside any step's limit (70,000
        # files: over 70 s on 2 loaded cores); it now writes to a fresh directory, which SUMMARY.txt names
        old = os.path.join(self.tmp, "dltrain-jpeg-tree")
        os.makedirs(os.path.join(old, "train"))
        limits, summary = self.run_runner(300, "resnet")
        self.assertTrue(os.path.isdir(os.path.join(old, "train")))
        self.assertRegex(summary, r"(?m)^prepare-jpeg-tree: exit 0, ")
        with open(os.path.join(self.tmp, "results", "prepare-jpeg-tree.txt")) as f:
            fresh = re.search(r"--out (\S+)", f.read()).group(1)
        self.assertTrue(fresh.startswith(old + "."), fresh)
        self.assertIn("# the JPEG tree: %s (not removed)" % fresh, summary)

    def test_a_tmpdir_that_is_not_a_directory_neither_stops_the_runner_nor_leaves_a_step_without_one(self):
        # With OUT set, the runner waited after each step for a repack ticker whose end marker it made under TMPDIR:
        # TMPDIR missing (the device tool may set it to anything), the marker was never made and the runner waited
        # for ever after the first step; and the JPEG tree (mktemp under TMPDIR) had no directory
        missing = os.path.join(self.tmp, "no-such-dir")
        try:
            limits, summary = self.run_runner(300, "resnet", TMPDIR=missing, OUT=os.path.join(self.tmp, "out"))
        except subprocess.TimeoutExpired:
            self.fail("the runner did not end within 60 s with TMPDIR=" + missing)
        self.assertRegex(summary, r"(?m)^train-resnet18: exit 0, ")
        tree = re.search(r"(?m)^# the JPEG tree: (\S+) \(not removed\)$", summary).group(1)
        try:
            self.assertTrue(os.path.isdir(tree), tree)
            with open(os.path.join(self.tmp, "results", "prepare-jpeg-tree.txt")) as f:
                self.assertIn("--out " + tree, f.read())
        finally:
            if os.path.isdir(tree):
                os.rmdir(tree)   # outside self.tmp (under /tmp), and empty: the stand-in java writes nothing
        with open(os.path.join(self.tmp, "out", "SUMMARY.txt")) as f:
            self.assertIn("train-resnet18: exit 0, ", f.read())

    def test_every_test_class_runs_in_a_jvm_of_its_own_past_a_failure_and_a_crash(self):
        # and a class in which no test ran, though the JVM exited 0 (the console's exit status when the gpu tag filter
        # leaves no test of the class), is not a pass
        limits, summary = self.run_runner(420, "tests", "BatchUploadsGpuTest=crash,OptimizerGoldenTest=fail,LayerGoldenTest=none")
        with open(os.path.join(self.tmp, "results", "tests-gpu.txt")) as f:
            log = f.read()
        self.assertRegex(summary, r"(?m)^tests-gpu/BatchUploadsGpuTest: crashed \(exit 134, JVM crash report: "
                                  r"hs_err_pid\d+\.log\), 0 tests ended: .*; running then: BatchUploadsGpuTest > aTest\(\)")
        self.assertRegex(summary, r"(?m)^tests-gpu/OptimizerGoldenTest: failed \(exit 1\), 1 tests ended: 0 successful, 1 failed")
        # the classes after the crash and the failure still ran, each in its own JVM
        self.assertRegex(summary, r"(?m)^tests-gpu/ZooGoldenTest: passed, 1 tests ended: 1 successful")
        self.assertEqual(8, log.count("---- tests-gpu/"), log)   # seven listed classes and the scan for others
        self.assertRegex(summary, r"(?m)^tests-gpu/LayerGoldenTest: no test found \(exit 0, no gpu-tagged test ran")
        self.assertIn("tests-gpu classes: passed: CudaVsCpuTest CudaMemoryTest GpuTrainingStepTest "
                      "ZooGoldenTest; skipped: none; failed: OptimizerGoldenTest; crashed: BatchUploadsGpuTest; "
                      "killed at their limit: none; not run (no time left): none; no test found: LayerGoldenTest\n", summary)
        self.assertIn("tests-gpu classes: passed:", log)
        self.assertRegex(summary, r"(?m)^tests-gpu: exit 1, .*JVM crash report: hs_err_pid\d+\.log")
        self.assertRegex(summary, r"(?m)^tests-golden: exit 0, ")

    @unittest.skipUnless(shutil.which("cc") and os.path.exists("/proc/uptime"),
                         "needs a C compiler (for the stand-in gettimeofday) and /proc/uptime")
    def test_a_step_of_the_wall_clock_in_the_middle_of_a_call_changes_no_limit(self):
        # The runner's clock was bash's SECONDS, which follows the wall clock: the clock stepping 300 s ahead while
        # BatchUploadsGpuTest ran left the five classes after the next 'not run', OptimizerGoldenTest '301s', and
        # tests-golden 21 s instead of its most
        shim = os.path.join(self.tmp, "clock.so")
        with open(shim[:-3] + ".c", "w") as f:
            f.write(CLOCK_SHIM)
        subprocess.run(["cc", "-shared", "-fPIC", "-o", shim, shim[:-3] + ".c", "-ldl"], check=True, timeout=60)
        limits, summary = self.run_runner(420, "tests", "BatchUploadsGpuTest=jump", LD_PRELOAD=shim,
                                          CLOCK_OFFSET_FILE=os.path.join(self.tmp, "clock-offset"))
        with open(os.path.join(self.tmp, "clock-offset")) as f:
            self.assertEqual("300", f.read().strip())   # the clock did step
        self.assertIn("not run (no time left): none", summary)
        self.assertNotRegex(summary, r"(?m)^tests-gpu/\w+: .*, [1-9]\d\ds$")
        self.assertEqual(120, limits["tests-golden"])   # its most: the steps before it took a few seconds

    def test_a_tarball_that_does_not_unpack_whole_is_named_in_summary_txt(self):
        # A truncated dist/gpu-bundle.tar.xz: tar's error went to the runner's output only; SUMMARY.txt did not say
        # why every step then failed, and when no java came out of it, $OUT got nothing at all
        noise = os.path.join(self.bundle, "noise")
        with open(noise, "wb") as f:
            f.write(os.urandom(100000))   # incompressible, so that cutting the .xz in half cuts into the archive

        def bundle_tarball(cwd, java_first):
            os.makedirs(os.path.join(cwd, "dist"))
            path = os.path.join(cwd, "dist", "gpu-bundle.tar.xz")
            with tarfile.open(path, "w:xz") as t:
                for name in ["jre/bin/java", "BUNDLE.txt", "noise"] if java_first else ["noise", "jre/bin/java"]:
                    t.add(os.path.join(self.bundle, name), arcname="gpu-bundle/" + name)
            with open(path, "r+b") as f:
                f.truncate(os.path.getsize(path) // 2)
        for java_first in (True, False):
            cwd = os.path.join(self.tmp, "clone-%s" % java_first)
            bundle_tarball(cwd, java_first)
            out = os.path.join(cwd, "out")
            env = dict(os.environ, RESULTS=os.path.join(cwd, "results"), CALL_LIMIT="120", PYTHON="false", OUT=out,
                       TMPDIR=self.tmp, PATH="/usr/bin:/bin")
            for name in ("STEP_TIMEOUT", "BUNDLE", "PACK_EVERY"):
                env.pop(name, None)
            p = subprocess.run(["bash", RUNNER, "--only", "info"], cwd=cwd, env=env, capture_output=True, text=True,
                               timeout=60)
            with open(os.path.join(out, "SUMMARY.txt")) as f:
                summary = f.read()
            if java_first:
                self.assertEqual(0, p.returncode, p.stdout + p.stderr)
                self.assertIn("# bundle: tar could not unpack dist/gpu-bundle.tar.xz whole", summary)
                self.assertRegex(summary, r"(?m)^info: exit 0, ")
            else:
                self.assertEqual(3, p.returncode, p.stdout + p.stderr)
                self.assertIn("run-on-gpu: error: no bundle at dist/gpu-bundle (tar could not unpack "
                              "dist/gpu-bundle.tar.xz whole: see the error of tar in the output)", summary)

    def test_a_step_timeout_or_call_limit_that_is_not_whole_seconds_is_refused(self):
        # '2m' ran every step with 'integer expression expected' and timeout's own limit; 'abc' ran each for no
        # time (exit 125 from timeout); '08' is not a number to bash's arithmetic (octal); PACK_EVERY 0 or '30s'
        # stopped the repack ticker at its first look ('division by 0', 'value too great for base'), so a step cut off
        # by the device call's limit left nothing of its log in OUT
        for name, value in (("STEP_TIMEOUT", "2m"), ("STEP_TIMEOUT", "abc"), ("STEP_TIMEOUT", "3"),
                            ("CALL_LIMIT", "08"), ("CALL_LIMIT", "7m"), ("PACK_EVERY", "0"), ("PACK_EVERY", "30s")):
            env = dict(os.environ, BUNDLE=self.bundle, RESULTS=os.path.join(self.tmp, "results"), PYTHON="false",
                       TMPDIR=self.tmp, PATH="/usr/bin:/bin")
            for other in ("STEP_TIMEOUT", "CALL_LIMIT", "OUT", "PACK_EVERY"):
                env.pop(other, None)
            env[name] = value
            p = subprocess.run(["bash", RUNNER, "--only", "tests"], cwd=ROOT, env=env, capture_output=True, text=True,
                               timeout=60)
            self.assertEqual(2, p.returncode, name + "=" + value + ": " + p.stdout + p.stderr)
            self.assertIn("run-on-gpu: error: %s='%s' is not a whole number of seconds" % (name, value), p.stderr)
            self.assertNotIn("====", p.stdout)


@unittest.skipUnless(shutil.which("bash"), "needs bash")
class ShareTest(unittest.TestCase):
    """limits.sh with made-up steps and a made-up clock (elapsed redefined)."""

    def bash(self, script):
        p = subprocess.run(["bash", "-c", ". " + LIMITS + "\n" + script], capture_output=True, text=True, timeout=30)
        self.assertEqual(0, p.returncode, p.stderr)
        return p.stdout.split()

    def test_reserves_that_fit_are_kept_and_others_are_scaled_down_in_proportion(self):
        tables = "declare -A r=([a]=100 [b]=50 [c]=10) e=(); "
        show = "; echo ${e[a]} ${e[b]} ${e[c]}"
        self.assertEqual(["100", "50", "10"], self.bash(tables + "share_reserves r e 175 a b c" + show))
        # 100 s: 85 after 5 s grace each; 5 s each and 70 s shared as 95 : 45 : 5, rounded down
        self.assertEqual(["50", "26", "7"], self.bash(tables + "share_reserves r e 100 a b c" + show))
        # under 10 s a step: none kept, the steps run in order
        self.assertEqual(["0", "0", "0"], self.bash(tables + "share_reserves r e 29 a b c" + show))

    def test_a_step_may_take_what_the_later_ones_do_not_need(self):
        tables = "declare -A r=([a]=100 [b]=50 [c]=10) e=() m=([a]=300 [b]=40 [c]=30); share_reserves r e 100 a b c; "
        # at 20 s of a call ending at 110 (120 less the margin): a keeps back b's 26 s and c's 7 s, grace each
        out = self.bash(tables + "elapsed() { echo 20; }; limit_of_name m e 110 a a b c; limit_of_name m e 110 b a b c; "
                        "elapsed() { echo 100; }; limit_of_name m e 110 b a b c; limit_of_name m e 110 c a b c")
        self.assertEqual(["42", "40", "0", "5"], out)   # 110-20-5-(31+12); b its most; at 100 s: b none, c 5

    @unittest.skipUnless(os.path.exists("/proc/uptime"), "needs /proc/uptime")
    def test_the_clock_is_the_kernels_uptime_not_bashs_seconds(self):
        # SECONDS reads the wall clock (gettimeofday): a step of the clock moves its reading as assigning it does
        out = self.bash("declare -A e=([a]=10) m=([a]=300); SECONDS=1000; elapsed; limit_of_name m e 110 a a")
        self.assertLessEqual(int(out[0]), 1, out)
        self.assertEqual("105", out[1])   # 110 - 0 - 5 s grace


if __name__ == "__main__":
    unittest.main()
