package io.dltrain.cli;

import io.dltrain.runtime.train.Trainer;
import org.junit.jupiter.api.Test;

import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * {@code --progress auto}: the bar is drawn on stderr, so it is decided by whether stderr is a terminal (read from
 * /proc/self/fd/2 on Linux), not stdout: {@code dl-train eval ... > result.txt} at a terminal draws the bar, and
 * {@code 2> log} writes plain lines rather than a bar's carriage returns into the log. Where stderr's target cannot be
 * read, the console decides, as before. No real terminal is needed: the decision is a function of the two.
 */
class ProgressTest {
    @Test
    void autoDrawsTheBarWhereStderrIsATerminal() {
        // stdout redirected (to a file or pipe: no console terminal), stderr the terminal
        assertEquals(Progress.Mode.BAR, Progress.auto(Path.of("/dev/pts/3"), false));
        assertEquals(Progress.Mode.BAR, Progress.auto(Path.of("/dev/tty1"), false));
        // stderr to a file, a pipe or /dev/null with stdout at the terminal: plain lines
        assertEquals(Progress.Mode.PLAIN, Progress.auto(Path.of("/tmp/err.log"), true));
        assertEquals(Progress.Mode.PLAIN, Progress.auto(Path.of("pipe:[12345]"), true));
        assertEquals(Progress.Mode.PLAIN, Progress.auto(Path.of("/dev/null"), true));
        // stderr's target unknown (no /proc: macOS, Windows): the console decides, as before
        assertEquals(Progress.Mode.BAR, Progress.auto(null, true));
        assertEquals(Progress.Mode.PLAIN, Progress.auto(null, false));
    }

    @Test
    void stderrsTargetIsReadOnLinux() {
        if (!Files.isDirectory(Path.of("/proc/self/fd"))) return; // elsewhere: null, the console decides
        assertNotNull(Progress.stderrTarget(), "/proc/self/fd/2 names stderr's file, pipe or terminal");
    }

    /**
     * Plain lines were printed only when a step ended: vgg16's first step at the default batch (128) on 2 cores takes
     * minutes, and a log showed the header and then nothing until the step ended or failed. A step running longer than
     * the plain lines' interval is now said while it runs; once the epoch's steps are done (or the bar is ended: a stop,
     * a failure) nothing more is said.
     */
    @Test
    void aLongStepIsSaidWhileItRuns() throws InterruptedException {
        System.setProperty("dltrain.plainProgressSeconds", "0.05");
        try {
            StringWriter text = new StringWriter();
            Progress p = new Progress(Progress.Mode.PLAIN, new PrintWriter(text), "img/s");
            p.epochStarted(1, 10, 2);
            Thread.sleep(300); // step 1 runs
            String first = text.toString();
            assertTrue(first.contains("epoch 1 step 1/2 running ("), "a running first step is said: " + first);
            assertTrue(first.contains(" s so far)"), first);
            p.step(1, 1, 2, 2.3, 4.5);
            Thread.sleep(300); // step 2 runs
            assertTrue(text.toString().contains("epoch 1 step 2/2 running ("), "the running step's number: " + text);
            p.step(1, 2, 2, 2.2, 4.5); // the epoch's last step: its validation pass has lines of its own
            Thread.sleep(100);
            String done = text.toString();
            Thread.sleep(200);
            assertEquals(done, text.toString(), "nothing is said after the epoch's last step");
            assertFalse(done.contains("step 3/2"), done);
            // a stop or failure mid-epoch ends the bar, and with it the lines of a step that will not end
            p.epochStarted(2, 10, 2);
            Thread.sleep(100);
            p.endBar();
            Thread.sleep(50);
            String stopped = text.toString();
            Thread.sleep(200);
            assertEquals(stopped, text.toString(), "nothing is said after endBar()");
            // the bar draws its own elapsed time, and --progress none says nothing
            StringWriter quiet = new StringWriter();
            Progress none = new Progress(Progress.Mode.NONE, new PrintWriter(quiet), "img/s");
            none.epochStarted(1, 1, 5);
            Thread.sleep(100);
            none.endBar();
            assertEquals("", quiet.toString());
        } finally {
            System.clearProperty("dltrain.plainProgressSeconds");
        }
    }

    /**
     * A checkpoint written mid-epoch (--max-steps, --checkpoint-every N steps, a stop) is not a step: vgg11 at batch 8
     * with --max-steps 1 wrote its 1 GB checkpoint for 7 s here while the log said "epoch 1 step 2/8 running (7 s so
     * far)", a step that never ran. The write has its own line (slowPhase); the running-step lines pause during it and
     * time the next step from its end.
     */
    @Test
    void aCheckpointWriteIsNotSaidAsARunningStep(@org.junit.jupiter.api.io.TempDir Path tmp) throws InterruptedException {
        System.setProperty("dltrain.plainProgressSeconds", "0.05");
        System.setProperty("dltrain.slowPhaseSeconds", "60"); // the write's own line: not in this test
        try {
            StringWriter text = new StringWriter();
            Progress p = new Progress(Progress.Mode.PLAIN, new PrintWriter(text), "img/s");
            p.epochStarted(1, 1, 8);
            p.step(1, 1, 8, 2.3, 4.5);
            p.checkpointWriting(tmp, false);
            String writing = text.toString(); // (a loaded machine may have said step 2 running before the write began)
            Thread.sleep(300);
            assertEquals(writing, text.toString(), "nothing is said of a step while the checkpoint is written");
            p.checkpointWritten(tmp.resolve("ckpt-1"));
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (!text.toString().substring(writing.length()).contains("epoch 1 step 2/8 running (") && System.nanoTime() < deadline)
                Thread.sleep(10);
            assertTrue(text.toString().substring(writing.length()).contains("epoch 1 step 2/8 running ("),
                    "after the write, the next step is said while it runs: " + text);
            p.endBar();
        } finally {
            System.clearProperty("dltrain.plainProgressSeconds");
            System.clearProperty("dltrain.slowPhaseSeconds");
        }
    }

    /**
     * A run resumed mid-epoch (vgg11 from a checkpoint of 2 steps of epoch 1 done) trains from step 3, but its long
     * step was said as "epoch 1 step 1/8 running": the timer counted steps from the epoch's start. TrainRun says where
     * the resumed epoch starts; the epochs after it start at step 1. An epoch resumed with only its validation left
     * said "step 1/8 running" through the whole validation pass.
     */
    @Test
    void aResumedEpochsRunningStepIsNumberedFromWhereItResumed() throws InterruptedException {
        System.setProperty("dltrain.plainProgressSeconds", "0.05");
        try {
            StringWriter text = new StringWriter();
            Progress p = new Progress(Progress.Mode.PLAIN, new PrintWriter(text), "img/s");
            p.resumedAt(3, 500);
            p.epochStarted(3, 10, 938);
            awaitLine(text, 0, "epoch 3 step 501/938 running (");
            p.step(3, 501, 938, 2.3, 4.5);
            int from = text.toString().length();
            awaitLine(text, from, "epoch 3 step 502/938 running (");
            p.endBar();
            assertFalse(text.toString().contains("step 1/938"), text.toString());
            from = text.toString().length();
            p.epochStarted(4, 10, 938); // the next epoch starts at its first step
            awaitLine(text, from, "epoch 4 step 1/938 running (");
            p.endBar();
            // resumed with only its validation left (a stop or an unreadable sample during it): no step runs, none is said
            StringWriter validating = new StringWriter();
            Progress v = new Progress(Progress.Mode.PLAIN, new PrintWriter(validating), "img/s");
            v.resumedAt(2, 8);
            v.epochStarted(2, 10, 8);
            Thread.sleep(300);
            assertEquals("", validating.toString());
            v.endBar();
        } finally {
            System.clearProperty("dltrain.plainProgressSeconds");
        }
    }

    /** Waits (10 s at most) for {@code line} in what {@code text} holds after its first {@code from} characters. */
    private static void awaitLine(StringWriter text, int from, String line) throws InterruptedException {
        long deadline = System.nanoTime() + 10_000_000_000L;
        while (!text.toString().substring(from).contains(line) && System.nanoTime() < deadline) Thread.sleep(10);
        assertTrue(text.toString().substring(from).contains(line), "'" + line + "' in: " + text.toString().substring(from));
    }

    /**
     * eval reading a csv test file a batch at a time does not know its number of batches (-1): plain lines said
     * "eval batch 3/-1", and the bar was closed after the first batch (3 >= -1) and drawn again at each. Now "3/?", and
     * the bar stays until endBar.
     */
    @Test
    void aPassOfUnknownLengthSaysSo() {
        System.setProperty("dltrain.plainProgressSeconds", "0");
        try {
            StringWriter text = new StringWriter();
            Trainer.BatchProgress pass = new Progress(Progress.Mode.PLAIN, new PrintWriter(text), "img/s").pass("eval");
            pass.batch(1, -1);
            pass.batch(2, 79);
            assertEquals("eval batch 1/?\neval batch 2/79\n", text.toString().replace(System.lineSeparator(), "\n"));
            StringWriter inputs = new StringWriter();
            Progress.InputsProgress predict = new Progress(Progress.Mode.PLAIN, new PrintWriter(inputs), "img/s").inputs("predict");
            predict.batch(0, 1, 1);
            predict.batch(1, 2, 51_200);
            assertEquals("predict files 0/1, 1 input\npredict files 1/2, 51,200 inputs\n", inputs.toString().replace(System.lineSeparator(), "\n"));
        } finally {
            System.clearProperty("dltrain.plainProgressSeconds");
        }
    }
}
