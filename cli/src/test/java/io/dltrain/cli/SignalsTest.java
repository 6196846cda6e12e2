package io.dltrain.cli;

import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The first signal's hand-over from "before the training" to the training's shutdown hook (Signals.first, called by
 * the signal handler, against Signals.handOver, called by the run): a signal is said as one or stopped by the other,
 * never both. Found sending SIGTERM as the run's header line appeared: the run said "stopped on a signal before the
 * training began; nothing was trained: the same command starts it again", then installed its hook anyway, which wrote
 * ckpt-0 and said "continue with --resume" (and the same command is refused once a checkpoint is there); before that, the
 * signal ended the run without a word or with "dl-train: error: Shutdown in progress". The race itself is checked by
 * hand (benchmarks/signals/run-scenarios.sh, first batch); here, both orders.
 */
class SignalsTest {
    @Test
    void aSignalBeforeTheHandOverIsSaidAndNoHookIsInstalled() {
        StringWriter said = new StringWriter();
        Thread hook = new Thread(() -> {});
        try {
            Signals.firstSignalSays("stopped on a signal before the training began");
            Signals.first(new PrintWriter(said));
            assertEquals("dl-train: stopped on a signal before the training began" + System.lineSeparator(), said.toString());
            assertFalse(Signals.handOver(hook), "the JVM is ending: no hook");
            assertFalse(Runtime.getRuntime().removeShutdownHook(hook), "a hook was installed");
        } finally {
            Signals.firstSignalSays(null);
        }
    }

    @Test
    void aSignalAfterTheHandOverIsTheHooksAlone() {
        StringWriter said = new StringWriter();
        Thread hook = new Thread(() -> {});
        try {
            Signals.firstSignalSays("stopped on a signal before the training began");
            assertTrue(Signals.handOver(hook));
            Signals.first(new PrintWriter(said));
            assertEquals("", said.toString(), "said as before the training, while the hook stops the training");
        } finally {
            Runtime.getRuntime().removeShutdownHook(hook);
            Signals.firstSignalSays(null);
        }
    }
}
