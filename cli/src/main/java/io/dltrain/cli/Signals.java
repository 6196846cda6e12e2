package io.dltrain.cli;

import sun.misc.Signal;
import sun.misc.SignalHandler;

import java.io.PrintWriter;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.function.Supplier;

/**
 * SIGINT and SIGTERM, counted, for the dl-train process (installed by {@link Main#main}; tests that call
 * {@link Main#run} in their own JVM keep the JVM's handling). The first does what the JVM does with it: the shutdown
 * hooks run (a training run stops at the next step and writes a checkpoint, {@link TrainRun}) and the process exits
 * with 128 + the signal's number (130 for SIGINT, 143 for SIGTERM). A second one ends the process at once, with
 * 128 + its number, after one line saying what is saved: left to the JVM, it would be ignored until the hooks are
 * done (up to {@link TrainRun#SIGNAL_WAIT_SECONDS}), so Ctrl-C pressed again did nothing, silently. Ending at once
 * is as safe as a SIGKILL, which checkpoints survive (a checkpoint being written is left as a .tmp directory,
 * passed over and deleted later).
 *
 * <p>sun.misc.Signal is the only way Java handles a signal; it is one of the critical internal APIs that JEP 260
 * keeps available (module jdk.unsupported, which the GPU bundle's jlinked runtime includes for JavaCPP), hence
 * javac's "internal proprietary API" warning.
 */
final class Signals {
    private Signals() {}

    private static final AtomicInteger received = new AtomicInteger();
    /** What a second signal says is saved (the run's last checkpoint and how to resume), or null: set by a training run. */
    private static volatile Supplier<String> whatIsSaved = () -> null;
    /** Guards firstSays and saidFirst: a first signal either is said here or goes to the hook, never both. */
    private static final Object handoff = new Object();
    /** What a first signal says before the JVM's handling, or null: a training run's line for the time before its hook. */
    private static String firstSays;
    /** True once a first signal has printed firstSays: the JVM is ending, and no hook is to be installed. */
    private static boolean saidFirst;

    /** Counts SIGINT and SIGTERM from now on; where the JVM does not let them be handled (-Xrs), nothing changes. */
    static void install(PrintWriter out) {
        for (String name : List.of("INT", "TERM")) {
            try {
                Signal signal = new Signal(name);
                SignalHandler[] jvms = new SignalHandler[1];
                jvms[0] = Signal.handle(signal, s -> {
                    if (received.getAndIncrement() == 0) {
                        first(out);
                        // the JVM's own handling: shutdown hooks, then exit 128 + n (this thread waits in it meanwhile)
                        SignalHandler jvm = jvms[0]; // null for a signal in the instant before it is assigned
                        if (jvm != null && jvm != SignalHandler.SIG_DFL && jvm != SignalHandler.SIG_IGN) jvm.handle(s);
                        else Runtime.getRuntime().exit(128 + s.getNumber());
                        return;
                    }
                    String saved = null;
                    try {
                        saved = whatIsSaved.get();
                    } catch (RuntimeException ignored) {
                        // the line below is said without it
                    }
                    out.println("dl-train: ended at once on a second signal (SIG" + s.getName() + "), without waiting for the first to finish"
                            + (saved == null ? "" : "; " + saved));
                    out.flush();
                    Runtime.getRuntime().halt(128 + s.getNumber());
                }); // a signal ignored when the JVM started (nohup, a background job) stays ignored: the JVM installs nothing for it
            } catch (IllegalArgumentException | UnsupportedOperationException notHandled) {
                // -Xrs, or a platform without the signal: the JVM's handling stays
            }
        }
    }

    /** A first signal, before the JVM's handling: says the line set by {@link #firstSignalSays}, if it is still set. */
    static void first(PrintWriter out) {
        synchronized (handoff) {
            if (firstSays != null) {
                out.println("dl-train: " + firstSays);
                out.flush();
                saidFirst = true;
            }
        }
    }

    /**
     * Sets the line a first signal prints before the JVM ends (null: none): a training run's, between creating its
     * directory and installing its shutdown hook ({@link #handOver}). Without it a signal then ended the run without
     * a word, or with "dl-train: error: Shutdown in progress" (the hook refused).
     */
    static void firstSignalSays(String line) {
        synchronized (handoff) {
            firstSays = line;
            saidFirst = false;
        }
    }

    /**
     * Installs {@code hook} as a shutdown hook and hands the first signal over to it (the line set by
     * {@link #firstSignalSays} is said no more), unless a signal has already come: then it returns false, the JVM is
     * ending, and the line (if any) has been said. Atomic with the signal's handler, so that a signal in between is
     * either said as "before the training" or stopped by the hook, not both.
     */
    static boolean handOver(Thread hook) {
        synchronized (handoff) {
            firstSays = null;
            if (saidFirst) return false;
            try {
                Runtime.getRuntime().addShutdownHook(hook);
            } catch (IllegalStateException shuttingDown) { // a signal the JVM took without us (SIGHUP, or none installed)
                return false;
            }
            return true;
        }
    }

    /** Sets what a second signal says is saved (null: nothing to say); a training run sets it while it trains. */
    static void whatIsSaved(Supplier<String> saved) { whatIsSaved = saved == null ? () -> null : saved; }
}
