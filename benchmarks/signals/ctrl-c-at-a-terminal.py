#!/usr/bin/env python3
"""Ctrl-C typed at a terminal, N times: runs dl-train on a pseudo-terminal (its controlling terminal, so the live
progress bar is drawn) and writes the Ctrl-C character to it after the header line and 2 s of training, 0.3 s apart;
the terminal driver sends SIGINT to the foreground process group, as a keyboard's Ctrl-C does. Prints the exit status
(negative: killed by that signal, no handler ran) and what was printed after the first Ctrl-C.

usage: ctrl-c-at-a-terminal.py N DL-TRAIN-ARGS...   (JAVA and JAR default to $JAVA_HOME/bin/java and cli/target/dl-train.jar)
"""
import os, pty, select, sys, time

here = os.path.dirname(os.path.abspath(__file__))
java = os.environ.get("JAVA", os.path.join(os.environ.get("JAVA_HOME", "/usr"), "bin", "java"))
jar = os.environ.get("JAR", os.path.join(here, "..", "..", "cli", "target", "dl-train.jar"))
presses = int(sys.argv[1])
pid, fd = pty.fork()
if pid == 0:
    os.execv(java, [java, "--enable-native-access=ALL-UNNAMED", "-Xss4m", "-jar", jar] + sys.argv[2:])
buf, eof = b"", False

def pump(t=0.01):
    global buf, eof
    if eof:
        time.sleep(t); return
    if select.select([fd], [], [], t)[0]:
        try:
            d = os.read(fd, 65536)
            eof = not d
            buf += d
        except OSError:
            eof = True  # EIO: the child has closed the terminal

t0 = time.monotonic()
while b" -> " not in buf and time.monotonic() - t0 < 120: pump()
t1 = time.monotonic()
while time.monotonic() - t1 < 2: pump()
mark, first = len(buf), time.monotonic()
for _ in range(presses):
    os.write(fd, b"\x03")
    t2 = time.monotonic()
    while time.monotonic() - t2 < 0.3: pump()
status = None
while status is None and time.monotonic() - first < 180:
    pump(0.02)
    p, st = os.waitpid(pid, os.WNOHANG)
    if p: status = st
end = time.monotonic()
while not eof and select.select([fd], [], [], 0.1)[0]: pump()
print("exit", os.waitstatus_to_exitcode(status) if status is not None else "still running",
      "%.2f s after the first Ctrl-C" % (end - first))
print(buf[mark:].decode(errors="replace").replace("\r", "\n"))
