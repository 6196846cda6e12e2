#!/usr/bin/env python3
"""Signal harness for dl-train: start a command, wait for a trigger, send signal(s), report timings and exit code.

usage: signal-harness.py NAME --sig TERM|INT [--wait-out REGEX | --wait-path GLOB] [--delay S]
                         [--second-sig TERM|INT --second-after S] [--timeout S] [--target child|pgrep] -- COMMAND...
The trigger: a regular expression in the child's output, or a path glob (e.g. 'run/checkpoints/ckpt-*.tmp', to signal
while a checkpoint is written), then --delay seconds. --target pgrep signals the java process among the child and its
descendants (the child itself when a launcher execs java). Writes NAME.log (stdout and stderr, merged), NAME.tlog (the
same with the seconds since the start) and prints one JSON line: exit code, when the signal was sent, how long the
process took to exit after it.
"""
import argparse, glob, json, os, re, signal, subprocess, sys, time

ap = argparse.ArgumentParser()
ap.add_argument("name")
ap.add_argument("--sig", default="TERM")
ap.add_argument("--wait-out")
ap.add_argument("--wait-path")
ap.add_argument("--delay", type=float, default=0.0)
ap.add_argument("--second-sig")
ap.add_argument("--second-after", type=float, default=0.2)
ap.add_argument("--timeout", type=float, default=180)
ap.add_argument("--target", default="child", help="child: signal the started pid; pgrep: the java process among the child and its descendants (pgrep -P)")
i = sys.argv.index("--")
a = ap.parse_args(sys.argv[1:i])
cmd = sys.argv[i + 1:]

log = open(a.name + ".log", "wb")
tlog = open(a.name + ".tlog", "wb")
t0 = time.monotonic()
p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
os.set_blocking(p.stdout.fileno(), False)
buf = b""
events = []

def pump():
    global buf
    try:
        chunk = p.stdout.read()
    except BlockingIOError:
        chunk = None
    if chunk:
        buf += chunk
        log.write(chunk); log.flush()
        tlog.write(("%.3f " % (time.monotonic() - t0)).encode() + chunk.replace(b"\n", b"\n      ") + b"\n"); tlog.flush()

def target_pid():
    """The java process this harness started: the child itself (the launcher execs java), else a java descendant of it."""
    if a.target == "pgrep":
        todo, seen = [p.pid], []
        while todo:
            q = todo.pop()
            seen.append(q)
            out = subprocess.run(["pgrep", "-P", str(q)], capture_output=True, text=True).stdout.split()
            todo += [int(x) for x in out]
        for q in seen:
            try:
                if open("/proc/%d/comm" % q).read().strip() == "java": return q
            except OSError:
                pass
    return p.pid

triggered = None
while p.poll() is None and time.monotonic() - t0 < a.timeout:
    pump()
    if a.wait_out and re.search(a.wait_out.encode(), buf):
        triggered = time.monotonic(); break
    if a.wait_path and glob.glob(a.wait_path):
        triggered = time.monotonic(); break
    if not a.wait_out and not a.wait_path:
        triggered = time.monotonic(); break
    time.sleep(0.0005 if a.wait_path else 0.01)
if triggered is None:
    pump()
    p.kill(); p.wait()
    print(json.dumps({"name": a.name, "error": "trigger never came", "rc": p.poll()}))
    sys.exit(1)
while time.monotonic() - triggered < a.delay and p.poll() is None:
    pump(); time.sleep(0.005)
pid = target_pid()
sent = time.monotonic()
alive_at_signal = p.poll() is None
if alive_at_signal:
    os.kill(pid, getattr(signal, "SIG" + a.sig))
    events.append(("sig1", round(sent - t0, 3)))
second_sent = None
while p.poll() is None and time.monotonic() - sent < a.timeout:
    pump()
    if a.second_sig and second_sent is None and time.monotonic() - sent >= a.second_after:
        os.kill(pid, getattr(signal, "SIG" + a.second_sig)); second_sent = time.monotonic()
        events.append(("sig2", round(second_sent - t0, 3)))
    time.sleep(0.005)
if p.poll() is None:
    p.kill()
    events.append(("killed-by-harness", round(time.monotonic() - t0, 3)))
p.wait()
pump()
ended = time.monotonic()
print(json.dumps({"name": a.name, "rc": p.returncode, "signalled_pid": pid, "child_pid": p.pid, "alive_at_signal": alive_at_signal,
                  "signal_at_s": round(sent - t0, 3), "exit_after_signal_s": round(ended - sent, 3), "events": events}))
