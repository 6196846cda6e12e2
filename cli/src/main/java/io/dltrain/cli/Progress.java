package io.dltrain.cli;

import io.dltrain.runtime.train.EpochMetrics;
import io.dltrain.runtime.train.TrainListener;
import io.dltrain.runtime.train.Trainer;
import me.tongfei.progressbar.ConsoleProgressBarConsumer;
import me.tongfei.progressbar.ProgressBar;
import me.tongfei.progressbar.ProgressBarBuilder;
import me.tongfei.progressbar.ProgressBarStyle;

import java.io.IOException;
import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;

/**
 * What a person sees while training. On a terminal: a live bar per epoch (step, loss, throughput, ETA) drawn by the
 * progressbar library. Otherwise (a pipe, a CI log): plain lines, one every ~10 seconds and one per epoch. The
 * throughput is in images/s ("img/s") for a dataset of images, else in samples/s ({@link #unit}).
 */
final class Progress implements TrainListener {
    enum Mode { BAR, PLAIN, NONE }

    private final Mode mode;
    private final PrintWriter out;
    private final String unit; // of the throughput: "img/s" or "samples/s"
    private volatile ProgressBar bar; // the epoch's, while it is drawn; also closed from the signal hook's thread (endBar)
    private long lastPlain;
    private double lastLoss = Double.NaN;
    private String barText = ""; // the epoch bar's text after the bar, to which validation adds its count

    Progress(Mode mode, PrintWriter out) { this(mode, out, "img/s"); }

    /** @param unit the throughput's unit, {@link #unit}'s answer for the training data */
    Progress(Mode mode, PrintWriter out, String unit) {
        this.mode = mode;
        this.out = out;
        this.unit = unit;
    }

    /**
     * "img/s" where the samples are images (a dataset whose pixels are normalised: {@code images} is whether
     * SavedModel.inputNormalisation knows them), else "samples/s" (a csv's rows, synthetic data, sequences).
     */
    static String unit(boolean images) { return images ? "img/s" : "samples/s"; }

    /**
     * A throughput for people: a whole number from 100 up ("1,363"), else three significant digits ("42.1", "0.421"),
     * so that a step slower in seconds than its batch has samples (an lstm on long sequences) does not show as 0.
     */
    static String rate(double perSec) {
        if (!(perSec > 0) || perSec >= 99.95 || Double.isInfinite(perSec)) return String.format("%,.0f", perSec);
        return new java.math.BigDecimal(perSec).round(new java.math.MathContext(3)).stripTrailingZeros().toPlainString();
    }

    static Mode parse(String s) {
        return switch (s.toLowerCase(java.util.Locale.ROOT)) { // any case, as --device, --model
            case "auto" -> auto(stderrTarget(), System.console() != null && System.console().isTerminal());
            case "bar" -> Mode.BAR;
            case "plain" -> Mode.PLAIN;
            case "none" -> Mode.NONE;
            default -> throw new IllegalArgumentException("--progress must be auto, bar, plain or none, not '" + s + "'"
                    + io.dltrain.runtime.Names.didYouMean(s, java.util.List.of("auto", "bar", "plain", "none")));
        };
    }

    /**
     * What --progress auto draws: the bar where it is drawn, stderr, is a terminal (stdout may be redirected: eval's
     * result to a file), plain lines where stderr is a file, pipe or /dev/null. {@code stderr} is what stderr is open on
     * ({@link #stderrTarget}); where that is unknown (null), {@code consoleTerminal} decides: Java's console is a
     * terminal only when stdin and stdout both are.
     */
    static Mode auto(Path stderr, boolean consoleTerminal) {
        if (stderr == null) return consoleTerminal ? Mode.BAR : Mode.PLAIN;
        String s = stderr.toString();
        return s.startsWith("/dev/pts/") || s.startsWith("/dev/tty") || s.equals("/dev/console") ? Mode.BAR : Mode.PLAIN;
    }

    /** What stderr is open on (/dev/pts/3, a file, "pipe:[123]"), read from /proc/self/fd/2 on Linux; null elsewhere. */
    static Path stderrTarget() {
        try {
            return Files.readSymbolicLink(Path.of("/proc/self/fd/2"));
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return null;
        }
    }

    @Override
    public void epochStarted(int epoch, int epochs, int steps) {
        lastPlain = System.nanoTime();
        barText = "";
        if (mode == Mode.PLAIN) watchSteps(epoch, steps);
        if (mode == Mode.BAR) {
            // Our own consumer, of a fixed width: without one, progressbar asks JLine for the terminal's size and
            // cursor movement, and JLine's system terminal sets SIGINT (and SIGQUIT, SIGTSTP...) back to the default
            // action, which ends the JVM at once: Ctrl-C at a terminal, where the bar is shown, then killed the run
            // without its shutdown hook, so without the checkpoint a signal writes (pipes and SIGTERM were not affected).
            bar = new ProgressBarBuilder().setTaskName(String.format("epoch %d/%d", epoch, epochs)).setInitialMax(steps)
                    .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(200)
                    .setConsumer(new ConsoleProgressBarConsumer(System.err, 110))
                    .continuousUpdate().build(); // the bar shows (elapsed / ETA) itself
        }
    }

    @Override
    public void step(int epoch, int step, int steps, double loss, double imagesPerSec) {
        if (!Double.isNaN(loss)) lastLoss = loss;
        stepEnded(step, steps);
        ProgressBar b = bar;
        if (mode == Mode.BAR && b != null) {
            b.stepTo(step);
            barText = barMessage(lastLoss, imagesPerSec, unit);
            b.setExtraMessage(barText);
        } else if (mode == Mode.PLAIN && (System.nanoTime() - lastPlain) / 1e9 >= 10) {
            lastPlain = System.nanoTime();
            out.printf("epoch %d step %d/%d  loss %.4f  %s %s%n", epoch, step, steps, lastLoss, rate(imagesPerSec), unit);
            out.flush();
        }
    }

    /**
     * The text after the bar: the last loss read, and the throughput in {@code unit}. The trainer reads the loss a few
     * times a second, not every step, so the first steps have none yet: no "loss NaN", which would read as a diverged run.
     */
    static String barMessage(double lastLoss, double perSec, String unit) {
        return (Double.isNaN(lastLoss) ? "" : String.format("loss %.4f | ", lastLoss)) + rate(perSec) + " " + unit;
    }

    /**
     * An epoch's validation pass, after its last step: a pass over a large validation split takes as long as a good part
     * of the epoch, and the bar stood at 100% (or the plain lines stopped) until the epoch's line. On a terminal the
     * epoch's bar says "validation 12/79"; in plain mode a line as the training's, at most every {@link #plainSeconds}.
     */
    @Override
    public void validationStep(int epoch, int batch, int batches) {
        ProgressBar b = bar;
        if (mode == Mode.BAR && b != null) {
            b.setExtraMessage((barText.isEmpty() ? "" : barText + " | ") + "validation " + batch + "/" + batches);
        } else if (mode == Mode.PLAIN && plainDue()) {
            out.printf("epoch %d validation batch %d/%d%n", epoch, batch, batches);
            out.flush();
        }
    }

    /**
     * The progress of a pass outside the training loop (the test pass after training): on a terminal a bar named
     * {@code name}, drawn from its first batch and closed after its last (or by {@link #endBar}); in plain mode a
     * line "{@code name} batch 30/79" at most every {@link #plainSeconds}; nothing with {@code --progress none}. A pass
     * whose number of batches is not known (-1: eval reading a csv test file a batch at a time) gets a bar without an
     * end, closed by {@link #endBar}, and lines "{@code name} batch 30/?".
     */
    Trainer.BatchProgress pass(String name) { return pass(name, "batch"); }

    /** As {@link #pass(String)}, counting {@code unit}s ("files") rather than batches in plain lines. */
    Trainer.BatchProgress pass(String name, String unit) {
        if (mode == Mode.NONE) return null;
        lastPlain = System.nanoTime();
        return (batch, batches) -> {
            if (mode == Mode.BAR) {
                ProgressBar b = bar;
                if (b == null) {
                    b = new ProgressBarBuilder().setTaskName(name).setInitialMax(Math.max(-1, batches))
                            .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(200)
                            .setConsumer(new ConsoleProgressBarConsumer(System.err, 110)) // as the epoch's: see epochStarted
                            .continuousUpdate().build();
                    bar = b;
                }
                b.stepTo(batch);
                if (batches >= 0 && batch >= batches) endBar();
            } else if (plainDue()) {
                out.printf("%s %s %d/%s%n", name, unit, batch, batches < 0 ? "?" : Integer.toString(batches));
                out.flush();
            }
        };
    }

    /** Told by predict after each batch: the files read to their end of all the files, and the inputs predicted so far. */
    @FunctionalInterface
    interface InputsProgress {
        void batch(int filesDone, int files, long inputs);
    }

    /**
     * predict's progress, which a long file (an IDX file's images, a CSV file's rows) shows as it goes, not only at its
     * end: on a terminal a bar named {@code name} of the files done with the inputs beside it; in plain mode a line
     * "{@code name} files 0/1, 51,200 inputs" at most every {@link #plainSeconds}; nothing with {@code --progress none}.
     */
    InputsProgress inputs(String name) {
        if (mode == Mode.NONE) return null;
        lastPlain = System.nanoTime();
        return (filesDone, files, inputs) -> {
            String count = String.format("%,d %s", inputs, inputs == 1 ? "input" : "inputs");
            if (mode == Mode.BAR) {
                ProgressBar b = bar;
                if (b == null) {
                    b = new ProgressBarBuilder().setTaskName(name).setInitialMax(files).setUnit(" files", 1)
                            .setStyle(ProgressBarStyle.ASCII).setUpdateIntervalMillis(200)
                            .setConsumer(new ConsoleProgressBarConsumer(System.err, 110))
                            .continuousUpdate().build();
                    bar = b;
                }
                b.stepTo(filesDone);
                b.setExtraMessage(count);
                if (filesDone >= files) endBar();
            } else if (plainDue()) {
                out.printf("%s files %d/%d, %s%n", name, filesDone, files, count);
                out.flush();
            }
        };
    }

    /** Whether stdout is a terminal (/proc/self/fd/1 on Linux; elsewhere, whether Java's console is one). */
    static boolean stdoutIsTerminal() {
        try {
            String s = Files.readSymbolicLink(Path.of("/proc/self/fd/1")).toString();
            return s.startsWith("/dev/pts/") || s.startsWith("/dev/tty") || s.equals("/dev/console");
        } catch (IOException | UnsupportedOperationException | SecurityException e) {
            return System.console() != null && System.console().isTerminal();
        }
    }

    /**
     * A phase whose length is not known in steps (listing and checking an image folder of a million files, reading a
     * large CSV): a line "dl-train: still WHAT (3 s so far)" once it has taken {@link #slowPhaseSeconds} and then every
     * 10 s, until closed; silent with {@code --progress none}, and lines only (no bar) in every other mode. A phase
     * that ends sooner shows nothing. At a threshold of 0 (tests) the first line is printed at once.
     */
    static Phase slowPhase(Mode mode, PrintWriter out, String what) { return slowPhase(mode, out, what, () -> {}); }

    /** As {@link #slowPhase(Mode, PrintWriter, String)}, running {@code before} ahead of each line (to end a bar's line). */
    static Phase slowPhase(Mode mode, PrintWriter out, String what, Runnable before) {
        if (mode == Mode.NONE) return () -> {};
        double first = slowPhaseSeconds();
        long start = System.nanoTime();
        Object lock = new Object();
        boolean[] closed = {false};
        Runnable say = () -> {
            synchronized (lock) {
                if (closed[0]) return;
                before.run();
                out.printf("dl-train: still %s (%.0f s so far)%n", what, (System.nanoTime() - start) / 1e9);
                out.flush();
            }
        };
        if (first <= 0) say.run();
        java.util.concurrent.ScheduledExecutorService timer = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
            Thread t = new Thread(r, "dl-train-slow-phase");
            t.setDaemon(true);
            return t;
        });
        timer.scheduleAtFixedRate(say, first <= 0 ? 10_000 : (long) (first * 1000), 10_000, java.util.concurrent.TimeUnit.MILLISECONDS);
        return () -> {
            synchronized (lock) { closed[0] = true; }
            timer.shutdownNow();
        };
    }

    /** A {@link #slowPhase}: closed when it ends. */
    interface Phase extends AutoCloseable {
        @Override void close();
    }

    /** Seconds a phase without steps may take before it is said: 3; {@code -Ddltrain.slowPhaseSeconds} (tests: 0). */
    static double slowPhaseSeconds() {
        return Double.parseDouble(System.getProperty("dltrain.slowPhaseSeconds", "3"));
    }

    /** Whether a plain progress line is due: {@link #plainSeconds} since the last (or since the phase began). */
    private boolean plainDue() {
        if ((System.nanoTime() - lastPlain) / 1e9 < plainSeconds()) return false;
        lastPlain = System.nanoTime();
        return true;
    }

    /** Seconds between plain lines of an evaluation pass: 10, as the training's; {@code -Ddltrain.plainProgressSeconds} (tests). */
    static double plainSeconds() {
        return Double.parseDouble(System.getProperty("dltrain.plainProgressSeconds", "10"));
    }

    @Override
    public void epochEnded(EpochMetrics m) {
        endBar();
        if (mode == Mode.NONE) return;
        // accuracy is NaN for the tasks that are not classification (reconstruction, regression): their loss is the metric
        String val = Double.isNaN(m.valLoss()) ? "" : String.format("  val_loss %.4f", m.valLoss())
                + (Double.isNaN(m.valAcc()) ? "" : String.format("  val_acc %.2f%%", 100 * m.valAcc()));
        String acc = Double.isNaN(m.trainAcc()) ? "" : String.format("  train_acc %.2f%%", 100 * m.trainAcc());
        // a resumed epoch that had only its validation left trained nothing in this process: no throughput to show
        String ips = Double.isNaN(m.imagesPerSec()) ? "" : "  " + rate(m.imagesPerSec()) + " " + unit;
        out.printf("epoch %d  train_loss %.4f%s%s  lr %.3g  %.1fs%s%s%n",
                m.epoch(), m.trainLoss(), acc, val, m.lr(), m.seconds(), ips, dataWait(m));
        out.flush();
    }

    /**
     * "  data wait X s" when the training loop waited for batches more than {@value #WAIT_SHARE} of the epoch's time
     * and at least {@value #WAIT_MIN_SECONDS} s (the loader is the bottleneck: more --workers may help); else "". The
     * floor keeps short epochs quiet: 6% of a 0.1 s epoch is noise, not a bottleneck worth a notice.
     */
    static String dataWait(EpochMetrics m) {
        return m.dataWaitSeconds() > WAIT_SHARE * m.seconds() && m.dataWaitSeconds() >= WAIT_MIN_SECONDS
                ? String.format("  data wait %.1fs", m.dataWaitSeconds()) : "";
    }

    static final double WAIT_SHARE = 0.05, WAIT_MIN_SECONDS = 1.0;

    /**
     * A one-time suggestion when an epoch waited for data (as {@link #dataWait}) and more loader threads are
     * possible: "the training loop waited 12.3 s for data in epoch 1 (41% of it): loading is the bottleneck; try
     * --workers 16 (one per core)". Null when the wait is small or {@code workers} already matches the cores.
     */
    static String workersHint(EpochMetrics m, int workers, int cores) {
        if (dataWait(m).isEmpty() || workers >= cores) return null;
        return String.format("the training loop waited %.1f s for data in epoch %d (%.0f%% of it): loading is the bottleneck; "
                + "try --workers %d (one per core; each loads whole batches)", m.dataWaitSeconds(), m.epoch(),
                100 * m.dataWaitSeconds() / m.seconds(), cores);
    }

    private Phase writing; // the checkpoint being written, said once it takes long

    /**
     * A checkpoint write (at an epoch's end, every --checkpoint-every, on a stop): a model with its optimiser state is
     * hundreds of MB, which a slow disk takes long to write, and the run showed nothing meanwhile. Said as the other
     * phases without steps ({@link #slowPhase}): nothing for a write that ends within seconds.
     */
    @Override
    public void checkpointWriting(java.nio.file.Path dir, boolean best) {
        checkpointWritten(null);
        synchronized (watchLock) { writingCheckpoint = true; } // not a step: no "step N running" lines meanwhile (watchSteps)
        writing = slowPhase(mode, out, (best ? "writing the best model's checkpoint in " : "writing a checkpoint in ") + dir,
                () -> { if (bar != null) { System.err.println(); System.err.flush(); } }); // mid-epoch: after the bar's line
    }

    @Override
    public void checkpointWritten(java.nio.file.Path checkpoint) {
        synchronized (watchLock) {
            if (writingCheckpoint) stepStart = lastRunningLine = System.nanoTime(); // the next step starts after the write
            writingCheckpoint = false;
        }
        Phase w = writing;
        writing = null;
        if (w != null) w.close();
    }

    @Override
    /**
     * A message from the trainer (early stopping, a skipped step, the workers hint): printed in every mode, as
     * {@code --progress none} turns off progress, not what a person must know about the run.
     */
    public void info(String message) {
        if (bar != null) { System.err.println(); System.err.flush(); } // the bar's line ends: the message starts a line of its own
        out.println(message);
        out.flush();
    }

    private final Object watchLock = new Object();
    private java.util.concurrent.ScheduledExecutorService watch; // the epoch's running-step lines (plain mode)
    private int stepsDone;
    private long stepStart, lastRunningLine;
    private int resumedEpoch, resumedSteps; // resumedAt's, until that epoch starts
    private boolean writingCheckpoint; // mid-epoch (--max-steps, --checkpoint-every N steps, a stop): no step runs meanwhile

    /**
     * Plain lines are printed as steps end, so a step that takes minutes (vgg16's first at batch 128 on 2 cores) showed
     * nothing until it ended or failed: a log read as a hang. Until the epoch's last step is done, a step running for
     * {@link #plainSeconds} is said every as long: "epoch 1 step 1/2 running (40 s so far)". The bar draws its own
     * elapsed time. A checkpoint written mid-epoch is not a step (it has its own line): nothing is said during it, and
     * the next step is timed from its end.
     */
    private void watchSteps(int epoch, int steps) {
        stopWatch();
        double every = Math.max(0.01, plainSeconds());
        long now = System.nanoTime();
        synchronized (watchLock) {
            stepsDone = epoch == resumedEpoch ? resumedSteps : 0; // a resumed epoch: the steps its checkpoint had done
            resumedEpoch = 0;
            stepStart = lastRunningLine = now;
            java.util.concurrent.ScheduledExecutorService w = java.util.concurrent.Executors.newSingleThreadScheduledExecutor(r -> {
                Thread t = new Thread(r, "dl-train-step-watch");
                t.setDaemon(true);
                return t;
            });
            watch = w;
            long period = (long) (every * 1000);
            w.scheduleAtFixedRate(() -> {
                synchronized (watchLock) {
                    if (watch != w || stepsDone >= steps || writingCheckpoint) return;
                    long t = System.nanoTime();
                    if ((t - stepStart) / 1e9 < every || (t - lastRunningLine) / 1e9 < every / 2) return; // (ticks every `every`: a tick a hair early still says)
                    lastRunningLine = t;
                    out.printf("epoch %d step %d/%d running (%.0f s so far)%n", epoch, stepsDone + 1, steps, (t - stepStart) / 1e9);
                    out.flush();
                }
            }, period, period, java.util.concurrent.TimeUnit.MILLISECONDS);
        }
    }

    /**
     * A run resumed mid-epoch: {@code epoch} starts after {@code stepsDone} steps (TrainRun reads them from the
     * checkpoint), so that its running step is numbered as trained ("step 3/8", not "step 1/8"); once.
     */
    void resumedAt(int epoch, int stepsDone) {
        synchronized (watchLock) {
            resumedEpoch = epoch;
            resumedSteps = stepsDone;
        }
    }

    /** A step ended: the next one's time starts now; after the epoch's last, the watch ends. */
    private void stepEnded(int step, int steps) {
        if (mode != Mode.PLAIN) return;
        synchronized (watchLock) {
            stepsDone = step;
            stepStart = lastRunningLine = System.nanoTime();
        }
        if (step >= steps) stopWatch();
    }

    /** Ends the running-step lines (a fit that failed or stopped mid-step); endBar does too. */
    void stopWatch() {
        java.util.concurrent.ScheduledExecutorService w;
        synchronized (watchLock) {
            w = watch;
            watch = null;
        }
        if (w != null) w.shutdownNow();
    }

    /**
     * Closes the epoch's bar, if one is drawn, so that what is printed next (a signal's stop) starts on a line of its
     * own rather than after the bar's text, and the bar is not drawn again below it.
     */
    void endBar() {
        stopWatch();
        ProgressBar b = bar;
        bar = null;
        if (b != null) b.close();
    }
}
