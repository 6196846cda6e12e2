package io.dltrain.cli;

import io.dltrain.datasets.DatasetException;
import io.dltrain.datasets.DatasetRegistry;
import io.dltrain.models.ModelRegistry;
import io.dltrain.models.ModelSpec;
import io.dltrain.runtime.Names;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.BackendUnavailableException;
import io.dltrain.runtime.backend.Backends;
import io.dltrain.runtime.data.DataLoadException;
import io.dltrain.runtime.data.DataLoader;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.loss.CrossEntropyLoss;
import io.dltrain.runtime.nn.loss.Loss;
import io.dltrain.runtime.nn.loss.MSELoss;
import io.dltrain.datasets.ImageFolderDataset;
import io.dltrain.runtime.train.Task;
import io.dltrain.runtime.optim.LrSchedule;
import io.dltrain.runtime.optim.LrSchedules;
import io.dltrain.runtime.optim.Optimizer;
import io.dltrain.runtime.optim.Optimizers;
import io.dltrain.datasets.CsvDataset;
import io.dltrain.runtime.checkpoint.Checkpoint;
import io.dltrain.runtime.checkpoint.CheckpointException;
import io.dltrain.runtime.checkpoint.NewerFormatException;
import io.dltrain.runtime.checkpoint.TrainingState;
import io.dltrain.runtime.train.CheckpointPolicy;
import io.dltrain.runtime.train.EpochMetrics;
import io.dltrain.runtime.train.EvalResult;
import io.dltrain.runtime.train.ListenerFailedException;
import io.dltrain.runtime.train.TrainConfig;
import io.dltrain.runtime.train.TrainListener;
import io.dltrain.runtime.train.Trainer;
import picocli.CommandLine;

import io.dltrain.runtime.checkpoint.LoadReport;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Tensor;

import java.io.IOException;
import java.io.PrintWriter;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.util.ArrayList;
import java.util.HashSet;
import java.util.List;
import java.util.Set;
import java.nio.file.Path;
import java.time.LocalDateTime;
import java.time.format.DateTimeFormatter;
import java.util.LinkedHashMap;
import java.util.Map;
import java.util.OptionalInt;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicReference;

/**
 * One training run from the command line. Everything that can be wrong with the input (options, names, data files,
 * device, output directory) is checked before the run directory is created, and reported as a usage error (exit 2).
 */
final class TrainRun {
    private final CommandLine cl;
    private final TrainOptions o;
    /**
     * Everything the run says but its results: the header, notices, warnings, progress and epoch lines, a signal's stop.
     * Standard error, where predict and bench say theirs, so that stdout holds the results alone ({@link #results}).
     */
    private final PrintWriter log;
    /** The run's results, what a script keeps: its test scores and where it was written (standard output). */
    private final PrintWriter results;

    TrainRun(CommandLine cl, TrainOptions options) {
        this.cl = cl;
        this.o = options;
        this.log = cl.getErr();
        this.results = cl.getOut();
    }

    private Main.UsageError usage(String message) { return new Main.UsageError(cl, message); }

    /**
     * A usage error about one option's value: where that value is the --config file's, the message begins with the file
     * and the key ("run.yaml: key 'epochs': "), as the file's own errors do (a value of the wrong type), so that the user
     * knows which line to change when the command line does not show the value.
     */
    private Main.UsageError usage(String option, String message) { return usage(configured(option) + message); }

    /** The options whose values applySaved took from a resumed run's checkpoint, in place of the --config file's. */
    private final Set<String> resumed = new HashSet<>();

    /** "FILE: key 'KEY': " where option's value came from the --config file (not the command line, nor a resumed run); else "". */
    private String configured(String option) {
        CommandLine.ParseResult pr = cl.getParseResult();
        if (pr != null && pr.hasMatchedOption(option) || resumed.contains(option)
                || !(cl.getCommandSpec().defaultValueProvider() instanceof ConfigFile c)) return "";
        String key = option.substring(2);
        return c.values().containsKey(key) ? c.file() + ": key '" + key + "': " : "";
    }

    int run() { return memory.run(this::runLocked); }

    /**
     * What the run does, for an out-of-memory error: reading the data (a larger heap is the only help), building the model (its weights
     * alone do not fit: a smaller batch would not help), making the data loaders (their batch buffers: max(4, workers + 2)
     * per loader), training, writing model/, the test pass (after the training: the error says that it is complete, and
     * how to finish).
     */
    private final OutOfMemoryContext memory = new OutOfMemoryContext();

    /** Why reading a dataset ran out of memory (train and eval): its splits are held in memory, whatever the batch size. */
    static final String DATA_DOES_NOT_FIT = "the dataset, which is held in memory, does not fit";

    /** A data loader, whose batch buffers are allocated here (max(4, workers + 2) of them, at most one per batch of an epoch). */
    private DataLoader loader(Dataset ds, int[] indices, boolean shuffle, int workers) {
        memory.doing("making the data loaders (" + Words.count(workers, "worker") + ", --batch-size " + o.batchSize + ")",
                "their batch buffers do not fit (up to " + Math.max(LOADER_PREFETCH, workers + 2) + " for each of training, validation"
                        + " and test: one per worker and two more, and at least " + LOADER_PREFETCH + ")",
                loaderOutOfMemoryAdvice(workers));
        return new DataLoader(ds, indices, o.batchSize, shuffle, false, o.seed, workers, LOADER_PREFETCH);
    }

    /**
     * What to make smaller where the data loaders' batch buffers do not fit: each keeps max(4, workers + 2) (its prefetch,
     * or one per worker and two more), so fewer workers mean fewer buffers only from 3 workers on.
     */
    static String loaderOutOfMemoryAdvice(int workers) {
        return workers + 2 > LOADER_PREFETCH ? "Use fewer --workers or a smaller --batch-size" : "Use a smaller --batch-size";
    }

    /** The data loaders' prefetch: batch buffers each keeps at least. */
    private static final int LOADER_PREFETCH = 4;

    private int runLocked() {
        if (o.resumeOrStart && resumeOrStart()) return 0;
        // A resume locks its directory before reading a checkpoint there, which a run still training into it could be
        // pruning; a new run locks its directory when it creates it (RunOutput.create).
        // (a directory with neither checkpoints/ nor a lock file is not a run's, and holds nothing to resume: train() says
        // so, leaving no lock file in it)
        if (o.resume == null || !Files.isDirectory(o.resume.resolve(CHECKPOINTS)) && !Files.exists(o.resume.resolve(RunOutput.LOCK)))
            return train(null);
        RunOutput.Lock lock;
        try {
            lock = RunOutput.Lock.acquire(o.resume, "--resume");
        } catch (RunOutput.InUse | UncheckedIOException e) {
            throw usage(e.getMessage());
        }
        try (lock) {
            return train(lock);
        }
    }

    /**
     * --resume-or-start: --resume DIR when --out DIR holds a checkpoint, else a new run into DIR; true (nothing to do, exit
     * 0) where DIR holds a finished run without checkpoints (--checkpoint-every off), which a rerun cannot resume.
     */
    private boolean resumeOrStart() {
        if (o.resume != null)
            throw usage("--resume-or-start and --resume together: --resume-or-start resumes the run in --out DIR when it holds a"
                    + " checkpoint; give one of them");
        if (o.out == null)
            throw usage("--resume-or-start needs --out DIR: the run directory to resume when it holds a checkpoint, else to start the run in");
        boolean resumable;
        try {
            resumable = Checkpoint.latest(o.out.resolve(CHECKPOINTS)).isPresent();
        } catch (CheckpointException | UncheckedIOException e) {
            resumable = true; // the resume says what is wrong with its checkpoints
        }
        // a run still training in DIR: the lock (the resume's, or the new run's) says it is in use, and only that
        boolean inUse = RunOutput.Lock.heldElsewhere(o.out.toAbsolutePath());
        if (resumable) {
            if (!inUse) log.println("dl-train: --resume-or-start: " + o.out + " holds a checkpoint; resuming the run");
            o.resume = o.out;
            return false;
        }
        OptionalInt done;
        try {
            done = RunOutput.summaryEpochs(o.out);
        } catch (IOException e) {
            done = OptionalInt.empty(); // starting says what DIR holds
        } catch (CheckpointException newer) {
            throw usage("--resume-or-start: " + newer.getMessage());
        }
        if (done.isPresent()) {
            log.println("dl-train: --resume-or-start: " + o.out + " holds a finished run of " + Words.count(done.getAsInt(), "epoch")
                    + " (its " + RunOutput.SUMMARY + ") and no checkpoint (--checkpoint-every off): nothing to train. To train it"
                    + " further, start a new run from its weights with --init-from " + ShellWords.quote(o.out));
            log.flush();
            return true;
        }
        // a run that stopped after its first metrics line and before its first checkpoint (a kill during the first
        // checkpoint write, which follows epoch 1's line; SIGKILL with --checkpoint-every 2e, or checkpoints off): nothing
        // to resume, and refusing would fail a restarted pod the same way forever. Its files are moved aside (never
        // deleted) when the new run takes the directory's lock (startAside), unless it wrote its model/: trained weights,
        // which a new run would train again. (A run still training there: starting says the directory is in use.)
        String held = RunOutput.heldRunFile(o.out);
        if (held != null && !inUse) {
            // (a summary.json here is one that cannot be read: a readable one returned above)
            List<String> kept = new ArrayList<>();
            for (String f : List.of("metrics.jsonl", RunOutput.SUMMARY, SavedModel.DIR))
                if (Files.exists(o.out.resolve(f))) kept.add(f.equals(SavedModel.DIR) ? f + "/" : f);
            if (kept.contains(RunOutput.SUMMARY) || kept.contains(SavedModel.DIR + "/"))
                throw usage("--resume-or-start: " + o.out + " holds a run (its " + String.join(" and ", kept)
                        + ") with no checkpoint to resume, and a new run may not start there, where"
                        + " its files would mix with that run's (or replace its trained model). To start it again, move or delete " + o.out
                        + "; a run that should survive restarts needs a checkpoint before it can be killed (--checkpoint-every, e.g. 1e or 500s)");
            startAside = true;
            return false;
        }
        if (!inUse) log.println("dl-train: --resume-or-start: no checkpoint in " + o.out + "; starting the run");
        return false;
    }

    /**
     * What a checkpoint that could not be written leaves, and how to go on: the run's latest checkpoint (Checkpoint.save
     * leaves the earlier ones as they were) and the --resume that continues from it, or that none is written yet.
     */
    static String afterFailedSave(Path runDir) {
        Path ck = runDir.resolve(CHECKPOINTS);
        java.util.Optional<Path> latest;
        try {
            latest = Checkpoint.latest(ck);
        } catch (CheckpointException e) {
            latest = java.util.Optional.empty();
        }
        String fixed = "once the cause is fixed (free space, a writable " + ck + "), ";
        return latest.isPresent()
                ? "the run's latest checkpoint is " + latest.get() + " (step " + Checkpoint.step(latest.get()) + "), which this failure left"
                  + " as it was: " + fixed + "continue with --resume " + ShellWords.quote(runDir) + " (or run the same command with --resume-or-start)"
                : "the run has no checkpoint yet, so its training so far is lost: " + fixed + "run the same command again with"
                  + " --resume-or-start (which moves this run's files aside and starts), or delete " + ShellWords.quote(runDir) + " first";
    }

    /**
     * Where the run directory's file system has too little free space for the run's checkpoints, what will happen (a
     * warning at the start, rather than an exit 1 at a checkpoint hours later, once the training up to it is done); null
     * where it has enough, or its free space cannot be read. See {@link #spaceWarning(long, Path, long, boolean, int)}.
     */
    static String spaceWarning(Path runDir, Path resumedFrom, long parameters, int keep) {
        long usable, each;
        try {
            usable = Files.getFileStore(runDir).getUsableSpace();
            if (resumedFrom == null) each = parameters * Float.BYTES;
            else try (var files = Files.walk(resumedFrom)) {
                each = files.filter(Files::isRegularFile).mapToLong(f -> f.toFile().length()).sum();
            }
        } catch (IOException | UncheckedIOException | SecurityException unknown) {
            return null;
        }
        return spaceWarning(usable, runDir, each, resumedFrom != null, keep);
    }

    /**
     * The warning for {@code usable} bytes free in runDir's file system. A resumed run knows a checkpoint's size
     * ({@code exact}: its latest's), and warns when the next one does not fit (the older ones are pruned only after a new
     * one is in place); a new run knows only a lower bound (the weights, without the optimiser's state), and warns when
     * the --keep checkpoints, the best and the one being written do not fit even at that size.
     */
    static String spaceWarning(long usable, Path runDir, long each, boolean exact, int keep) {
        long need = exact ? each : (keep + 2L) * each;
        if (usable >= need) return null;
        String free = runDir + "'s file system has " + bytes(usable) + " free";
        return exact
                ? free + ", and a checkpoint of this run takes " + bytes(each) + ": the next one will not fit, and the run will stop with"
                  + " exit 1 when it is due, the checkpoints before it intact. Free space before then (or now, and run again)"
                : free + ", and the run's checkpoints need more than " + bytes(need) + " (--keep " + keep + ", the best and the one being"
                  + " written, each more than the " + bytes(each) + " of the weights): the run will stop with exit 1 at the first checkpoint"
                  + " that does not fit, the ones before it intact. Free space, or give --out a larger volume";
    }

    /** "48 KiB", "2.5 MiB", "1.2 GiB". */
    static String bytes(long n) {
        if (n < 1L << 20) return (n >> 10) + " KiB";
        return n < 1L << 30 ? String.format(java.util.Locale.ROOT, "%.1f MiB", n / (double) (1L << 20))
                : String.format(java.util.Locale.ROOT, "%.1f GiB", n / (double) (1L << 30));
    }

    /**
     * Set by --resume-or-start where --out holds a run that stopped before its first checkpoint: its files are moved
     * into an abandoned-TIME folder once the new run holds the directory's lock (RunOutput.setAside), and the run starts.
     */
    private boolean startAside;

    /** Run just before a startAside run takes its directory's lock: for a test, another run's last act at that moment. */
    static volatile Runnable beforeAsideLock = () -> {};

    private int train(RunOutput.Lock resumeLock) {
        // 1. Options and names: nothing is loaded or created yet. (--model and --data are checked here rather than
        //    marked required, so that `dl-train models` and the other subcommands need neither.)
        checkFreezeList();
        Path resumeCkpt = null;
        TrainingState resumeState = null;
        if (o.resume != null) {
            Path ckDir = o.resume.resolve(CHECKPOINTS);
            try {
                var latest = Checkpoint.latest(ckDir);
                if (latest.isEmpty() && !Files.exists(o.resume))
                    throw usage("--resume", "--resume " + o.resume + " does not exist; --resume takes the directory of a run (its --out)");
                if (latest.isEmpty()) {
                    Path run = runOf(o.resume);
                    if (run != null)
                        throw usage("--resume", "--resume " + o.resume + ": this is " + (Files.isRegularFile(o.resume.resolve(Checkpoint.STATE_FILE))
                                ? "a checkpoint" : "the checkpoints folder") + " of the run in " + run + "; --resume takes the run directory"
                                + " and continues from its latest checkpoint: --resume " + ShellWords.quote(run));
                    List<Path> broken = Checkpoint.incomplete(ckDir, 0);
                    // that command is refused while the directory holds the run's metrics.jsonl (RunOutput.problem): say so
                    String held = RunOutput.heldRunFile(o.resume);
                    throw usage("--resume", "--resume " + o.resume + ": no checkpoint in " + ckDir + (broken.isEmpty()
                            ? " (was it written by dl-train with checkpoints on? A run that stopped before its first checkpoint has"
                              + " nothing to resume: run its original command again, with --out " + ShellWords.quote(o.resume)
                              + (held == null ? "" : " once that directory is deleted (its " + held + " is of training that no checkpoint"
                                      + " kept: rm -r " + ShellWords.quote(o.resume) + "), or with another --out") + ")"
                            : ": " + IncompleteCheckpoints.describe(broken) + "; restore the missing files, or start a new run in another directory"));
                }
                resumeCkpt = latest.get();
                resumeState = Checkpoint.readState(resumeCkpt);
                RunOutput.checkMetricsFormat(o.resume, resumeState.epoch()); // the lines the resume keeps: before anything changes
                // latest() passes over a checkpoint with a file missing: say so, rather than silently go back to an older one
                IncompleteCheckpoints.noticeSkipped(log, resumeCkpt, "resuming from");
            } catch (CheckpointException e) {
                throw usage("--resume", "--resume " + o.resume + ": " + e.getMessage());
            }
            if (o.out != null && !o.out.toAbsolutePath().normalize().equals(o.resume.toAbsolutePath().normalize()))
                throw usage("--out " + o.out + " and --resume " + o.resume + " differ: a resumed run continues in its own directory; drop --out");
            o.out = o.resume;
            applySaved(resumeState);
        }
        long processFrom = resumeState == null ? 0 : resumeState.step(); // the run's step this process starts at
        if (o.initFrom != null && o.resume != null) {
            if (!o.resumeOrStart)
                throw usage("--init-from and --resume together: a resumed run's checkpoint already holds its weights; drop --init-from");
            // the command that started the run, run again: its --init-from was for the start
            log.println("dl-train: --resume-or-start: not loading --init-from " + o.initFrom + ": the run resumes from its checkpoint,"
                    + " which holds its weights");
            o.initFrom = null;
        }
        Path initFile = o.initFrom == null ? null : initFile(o.initFrom);
        if (o.model == null) throw usage("Missing required option: --model NAME (one of: " + String.join(", ", ModelRegistry.names()) + ")");
        if (o.data == null) throw usage("Missing required option: --data NAME (one of: "
                + String.join(", ", DatasetRegistry.names()) + ")");
        // not given, configured or resumed: the recipe's optimiser for the model, then that optimiser's own defaults
        if (o.optimizer == null) o.optimizer = defaultOptimizer(o.model);
        if (o.lr == null) o.lr = Optimizers.defaultLr(o.optimizer);
        if (o.momentum == null) o.momentum = Optimizers.defaultMomentum(o.optimizer);
        else if (o.momentum != 0 && !Optimizers.usesMomentum(o.optimizer) && Optimizers.names().contains(o.optimizer))
            log.println("dl-train: notice: --momentum " + o.momentum + " is ignored: " + o.optimizer + " has no momentum setting"
                    + (o.optimizer.startsWith("adam") ? " (its betas are PyTorch's 0.9, 0.999)" : "")
                    + "; momentum applies to sgd, sgd-nesterov and rmsprop");
        if (o.weightDecay == null) o.weightDecay = Optimizers.defaultWeightDecay(o.optimizer);
        checkOptimiserSettings();
        checkTrainingSettings();
        TrainConfig config;
        Integer workersAsked = checked("--workers", () -> DataWorkers.parse(o.workers)); // null: auto, resolved once the data and the device are known
        try {
            config = new TrainConfig(o.epochs, o.batchSize, o.lr, o.optimizer, o.momentum, o.weightDecay, o.schedule,
                    o.labelSmoothing, o.clipNorm, o.seed, o.valFraction, o.patience, o.minDelta, workersAsked == null ? 1 : workersAsked);
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
        long[] every = checked("--checkpoint-every",
                () -> o.checkpointEvery.equalsIgnoreCase("off") ? null : CheckpointPolicy.parseEvery(o.checkpointEvery, "--checkpoint-every"));
        if (o.keep < 1) throw usage("--keep", "--keep must be >= 1, got " + o.keep);
        if (resumeState != null && o.epochs < resumeState.epoch())
            throw usage("--epochs " + o.epochs + " is fewer than the " + Words.count(resumeState.epoch(), "epoch") + " the resumed run has done; --epochs is the total");
        // A checkpoint inside epoch N+1 has done N epochs, and --epochs N would train nothing: the summary would then call
        // weights partly trained on epoch N+1 the result of N epochs.
        if (resumeState != null && o.epochs == resumeState.epoch() && stepInEpoch(resumeState) > 0)
            throw usage("--epochs " + o.epochs + ": the run in " + o.resume + " is already " + Words.count(stepInEpoch(resumeState), "step") + " into epoch "
                    + (o.epochs + 1) + " (checkpoint " + resumeCkpt + "); give --epochs " + (o.epochs + 1) + " or more");
        if (resumeState != null) {
            String finished = finished(resumeState);
            if (finished != null) {
                // Complete only if summary.json is this checkpoint's: a run extended with a larger --epochs and stopped
                // after its last epoch's checkpoint, before its summary, still has the summary of the shorter run.
                Path summaryFile = o.resume.resolve(RunOutput.SUMMARY);
                String stale;
                try {
                    OptionalInt epochs = RunOutput.summaryEpochs(o.resume);
                    stale = epochs.isEmpty() ? null : epochs.getAsInt() == resumeState.epoch() ? ""
                            : "is of " + Words.count(epochs.getAsInt(), "epoch") + ", but the run has done " + resumeState.epoch()
                              + " (it was stopped before writing its summary)";
                } catch (IOException e) {
                    stale = "cannot be read (" + e.getMessage() + ")";
                } catch (CheckpointException newer) {
                    throw usage("--resume", "--resume " + o.resume + ": " + newer.getMessage());
                }
                if ("".equals(stale)) {
                    log.println("dl-train: " + finished);   // nothing is loaded, trained or rewritten
                    log.flush();
                    return 0;
                }
                if (stale != null) log.println("dl-train: notice: " + summaryFile + " " + stale
                        + "; evaluating the model and writing model/ and summary.json again");
            }
            // finished, but stopped before its summary was written: the fit trains nothing, the test and summary follow
            // A cosine spans the run's total: a new total re-plans it, and extending a finished run raises the rate again.
            if (resumeState.config().get("epochs") instanceof Number was && was.intValue() != o.epochs && o.schedule.contains("cosine"))
                log.println("dl-train: notice: --epochs " + o.epochs + " changes the run's total from " + was.intValue() + ", and its "
                        + o.schedule + " schedule spans the total: from here on the learning rate is that of a " + o.epochs
                        + "-epoch run (above where the " + was.intValue() + "-epoch run ended). To anneal a trained model afresh,"
                        + " start a new run with --init-from " + ShellWords.quote(o.resume));
        }
        if (o.maxSteps != null && o.maxSteps < 1) throw usage("--max-steps", "--max-steps must be >= 1, got " + o.maxSteps);
        if (o.threads < 0) throw usage("--threads", "--threads must be >= 0 (0 uses every core), got " + o.threads);
        ModelRegistry.Entry modelEntry = checked("--model", () -> ModelRegistry.get(o.model));
        DatasetRegistry.Entry dataEntry = checked("--data", () -> DatasetRegistry.get(o.data));
        LrSchedule schedule;
        try {
            schedule = LrSchedules.parse(o.schedule);
        } catch (IllegalArgumentException e) {
            throw usage("--schedule", "--schedule: " + e.getMessage());
        }
        String withoutVal = o.valFraction == 0 ? Trainer.withoutValidationOnTheCommandLine(schedule, o.patience) : null;
        if (withoutVal != null) throw usage(withoutVal);
        if (schedule.minLr() > o.lr)
            throw usage("--schedule", "--schedule " + o.schedule + ": its minimum learning rate " + plain(schedule.minLr())
                    + " is above the base learning rate " + plain(o.lr) + " (" + o.optimizer + "); the schedule lowers the rate"
                    + " from --lr towards its minimum, so give a minimum below " + plain(o.lr) + " or a larger --lr");
        Progress.Mode progressMode = checked("--progress", () -> Progress.parse(o.progress));
        if (!Optimizers.names().contains(o.optimizer))
            throw usage("--optimizer", "unknown optimizer '" + o.optimizer + "'" + Names.didYouMean(o.optimizer, Optimizers.names())
                    + ". Available: " + String.join(", ", Optimizers.names()));
        Task modelTask = modelEntry.task();
        if (modelTask != Task.CLASSIFICATION && o.labelSmoothing != 0)
            throw usage("--label-smoothing " + o.labelSmoothing + " applies to classification; " + modelEntry.name() + " is trained for "
                    + modelTask.label() + " with the MSE loss (drop --label-smoothing)");
        // without --out: runs/MODEL-DATA-TIME, or with -2, -3, ... when runs started in the same second (claimed at create)
        Path defaultOut = o.out != null ? null : defaultOut(modelEntry.name(), dataEntry.name(), LocalDateTime.now());
        Path outDir = defaultOut == null ? o.out : RunOutput.freshName(defaultOut);
        // (with startAside, the files of the run that would be refused here are moved aside when the lock is taken)
        String outProblem = RunOutput.problem(outDir, o.resume != null || startAside, resumeLock == null);
        if (outProblem != null) throw usage(o.resume != null ? "--resume" : "--out", outProblem);
        if (every != null) {
            // the first checkpoint is written after an epoch's training: a file where its directory goes is found now
            Path ck = outDir.resolve(CHECKPOINTS);
            String ckProblem = OutputDir.problem(ck, ck.toString(), "move it out of the way, choose another --out, or --checkpoint-every off");
            if (ckProblem == null && Files.isDirectory(ck)) ckProblem = OutputDir.problem(ck.resolve("best"), ck.resolve("best").toString(),
                    "move it out of the way, or --checkpoint-every off");
            if (ckProblem != null) throw usage(ckProblem);
        }

        // 2. Data (reads and validates the files) and device.
        DatasetRegistry.Splits data;
        // an image folder of a million files takes a minute to list and check: said when it takes more than seconds
        String readingData = "reading " + dataEntry.name() + (o.dataDir != null ? " in " + o.dataDir : "");
        memory.doing(readingData, DATA_DOES_NOT_FIT, null); // a smaller batch would not help
        try (Progress.Phase reading = Progress.slowPhase(progressMode, log, readingData)) {
            data = dataEntry.load(o.dataDir, "--data-dir");
        } catch (CsvDataset.NewRunRefusal e) {
            // a resumed run's own data (its size and fingerprint are checked below), which a dl-train before 2026-12-07
            // trained on ('Unnamed: 0' a feature, 'NA' a class); a new run is refused
            if (resumeState == null) throw usage(o.dataDir != null ? "--data-dir" : "--data", e.getMessage());
            data = e.splits();
        } catch (DatasetException e) {
            throw usage(o.dataDir != null ? "--data-dir" : "--data", e.getMessage());
        }
        memory.doing(null, null, null); // until the model is built: Main's general advice
        // The run's task: the model's (classification or reconstruction), unless the dataset has real-valued targets
        // (csv:target=COLUMN), which makes a classifier a regression model with one output.
        Task task = runTask(modelEntry, dataEntry, data.train());
        String tooLarge = BatchLimit.problem(o.batchSize, data.train().sampleShape().numel(),
                dataEntry.name() + "'s " + data.train().sampleShape() + " samples");
        if (tooLarge != null) throw usage(tooLarge);
        if (data.hasNotice()) log.println("dl-train: notice: " + data.notice());
        // --data-dir may move a resumed run's data, not change it: other data would split, shuffle and batch otherwise
        if (resumeState != null && resumeState.config().get("train_samples") instanceof Number was && was.intValue() != data.train().size())
            throw usage("--resume", "--resume " + o.resume + ": the run trained on " + dataEntry.name() + "'s training split of " + was.intValue()
                    + " samples (its validation part included), but "
                    + (o.dataDir != null ? "--data-dir " + o.dataDir : "its default directory") + " has " + data.train().size()
                    + "; a resumed run needs its own data (--data-dir may say where it moved). Give --data-dir DIR holding it, or"
                    + " start a new run from its weights with --init-from " + ShellWords.quote(o.resume));
        // ... nor with its classes in another order than the checkpoint's, which one written before 2026-12-07 does not record
        if (resumeState != null && !(resumeState.config().get(SavedModel.STATE_KEY) instanceof Map) && SavedModel.classOrderUnknown(data.train()))
            throw usage("--resume", "--resume " + o.resume + ": " + SavedModel.unknownClassOrder(resumeCkpt.resolve(Checkpoint.STATE_FILE),
                    dataEntry.name(), (CsvDataset) data.train()) + ". Resume it with the dl-train that wrote it, or start a new run");
        // ... nor to other samples of the same count (fashion-mnist's files where mnist's were): a few samples' hash
        String fingerprint = every == null && resumeState == null ? null : DataFingerprint.of(data.train(),
                java.time.Duration.ofSeconds(SLOW_DATA_SECONDS), msg -> log.println("dl-train: notice: " + msg));
        if (resumeState != null && resumeState.config().get(DataFingerprint.KEY) instanceof String was && fingerprint != null
                && !was.equals(fingerprint)) {
            String runData = dataEntry.name() + "'s training split in " + (resumeState.config().get("data_dir") instanceof String d ? d : "its default directory");
            String now = (o.dataDir != null ? "--data-dir " + o.dataDir : "its default directory") + " holds other samples of the same count ("
                    + data.train().size() + "; fingerprint of " + DataFingerprint.SAMPLES + " samples " + fingerprint + ", the run's " + was + ")";
            if (!o.allowDataChange)
                throw usage("--resume", "--resume " + o.resume + ": the run trained on " + runData + ", but " + now + "; a resumed run"
                        + " needs its own data (--data-dir may say where it moved). Give --data-dir DIR holding it, start a new run from"
                        + " its weights with --init-from " + ShellWords.quote(o.resume) + ", or, to go on on these samples (the same files"
                        + " read otherwise, after an upgrade), add --allow-data-change");
            log.println("dl-train: notice: --allow-data-change: resuming on other samples than the run trained on (" + runData + "): " + now);
        }
        Backend be;
        try {
            be = Backends.create(o.device, o.threads, msg -> log.println("dl-train: notice: " + msg));
        } catch (BackendUnavailableException e) {
            throw new Main.Unusable(cl, configured("--device") + e.commandLineMessage());
        } catch (IllegalArgumentException e) {
            throw usage("--device", e.getMessage());
        }
        if (resumeState != null) for (String n : resumeDrift(resumeState.config(), computedOn(be))) log.println("dl-train: notice: " + n);

        // Counted down once the backend is closed: a shutdown hook (SIGINT / SIGTERM, below) waits for it, so the JVM
        // halts after the checkpoint is written AND the device is released, not while cuDNN or CUDA is being torn down.
        CountDownLatch released = new CountDownLatch(1);
        AtomicReference<Thread> hooked = new AtomicReference<>(); // the signal hook, once the run has one
        try (be) {
            Dataset train = data.train();
            ModelSpec spec;
            try {
                spec = ModelSpec.of(train.sampleShape(), train.numClasses());
                modelEntry.parameterCount(spec); // built on the meta backend: a model that cannot take this data says why
            } catch (IllegalArgumentException e) {
                throw usage(e.getMessage());
            }
            int[][] split = o.valFraction > 0 ? DataLoader.split(train.size(), o.valFraction, o.seed) : new int[][] {null, null};
            if (split[1] != null && split[1].length == 0) { // a one-sample training set holds none out: as --val-fraction 0
                String needsVal = Trainer.withoutValidationOnTheCommandLine(schedule, o.patience);
                if (needsVal != null)
                    throw usage(needsVal + " (" + data.train().name() + " has " + Words.count(train.size(), "training sample")
                            + ", too few to hold one out)");
            }
            int workers = DataWorkers.resolve(workersAsked, train, be, o.batchSize);
            config = config.withWorkers(workers);
            String workersNotice = DataWorkers.notice(workersAsked, workers);
            if (workersNotice != null) log.println("dl-train: " + workersNotice);
            long parameters = modelEntry.parameterCount(spec);
            memory.doing(String.format(java.util.Locale.ROOT, "building %s (%,d parameters, %,d MiB)", modelEntry.name(), parameters, parameters * Float.BYTES >> 20),
                    "the model alone does not fit", null);
            try (Module model = built(progressMode, modelEntry, be, spec, o.seed, parameters);
                 Optimizer opt = Optimizers.create(o.optimizer, trainable(model), o.lr, o.momentum, o.weightDecay);
                 DataLoader trainLoader = loader(train, split[0], true, workers);
                 DataLoader valLoader = split[1] == null || split[1].length == 0 ? null : loader(train, split[1], false, workers);
                 DataLoader testLoader = loader(data.test(), null, false, workers)) {
                memory.doing("training " + modelEntry.name() + " at --batch-size " + o.batchSize, null, null);
                if (resumeState != null) {
                    try (Progress.Phase loading = Progress.slowPhase(progressMode, log, "loading " + resumeCkpt)) {
                        Checkpoint.load(resumeCkpt, model, opt);
                    } catch (CheckpointException e) {
                        // a damaged file (cut short, deleted): the way on is the checkpoint before it, if the user agrees; a file of a
                        // newer format is not damaged, and its message says the way on (the dl-train that wrote it)
                        throw usage("--resume", "--resume " + o.resume + ": its latest checkpoint " + resumeCkpt + " cannot be loaded: " + e.getMessage()
                                + (e instanceof NewerFormatException ? "" : ". " + olderCheckpoint(resumeCkpt)));
                    }
                    // What the fit would refuse (a state.json edited or damaged: its step, its history), found before
                    // anything is rewritten for the resume (metrics.jsonl, below), which would otherwise lose epochs' lines.
                    String refused = Trainer.resumeProblem(resumeState, trainLoader.batchesPerEpoch());
                    if (refused != null)
                        throw usage("--resume", "--resume " + o.resume + ": its latest checkpoint " + resumeCkpt + " " + refused.replaceFirst("^cannot resume: ", "cannot be resumed: ")
                                + "; nothing was changed. " + olderCheckpoint(resumeCkpt));
                }
                LoadReport init;
                try {
                    init = initFile == null ? null : Checkpoint.loadInto(model, initFile, false);
                } catch (CheckpointException e) {
                    throw usage("--init-from", "--init-from " + o.initFrom + ": " + e.getMessage());
                }
                if (init != null && init.loaded().isEmpty()) { // a wrong file: training from scratch is not what was asked
                    printInit(initFile, init);
                    log.flush();
                    String prefixed = prefixedNames(init, o.model, initFile);
                    if (prefixed != null) throw usage("--init-from", "--init-from " + o.initFrom + ": " + prefixed);
                    throw usage("--init-from", "--init-from " + o.initFrom + ": nothing in " + initFile + " matches " + o.model + " (a tensor loads when"
                            + " its name and shape agree; the report above lists why each was skipped). Give a model of the same"
                            + " architecture, or drop --init-from to train from scratch");
                }
                RunOutput run;
                try {
                    RunOutput.Lock held = resumeLock;
                    if (startAside) {
                        beforeAsideLock.run();
                        held = RunOutput.Lock.acquire(outDir, "--out");
                        try {
                            RunOutput.Aside aside = RunOutput.setAside(outDir, java.time.Instant.now());
                            if (aside != null)
                                log.println("dl-train: --resume-or-start: " + outDir + " holds a run that stopped before its first checkpoint ("
                                        + String.join(", ", aside.names()) + "), so there is nothing to resume: moved its files to "
                                        + aside.dir() + " and starting the run");
                        } catch (RuntimeException e) {
                            held.close();
                            throw e;
                        }
                    }
                    run = defaultOut != null ? RunOutput.createFresh(defaultOut) : RunOutput.create(outDir, o.resume != null, held);
                } catch (RunOutput.InUse e) {
                    throw usage(e.getMessage());
                }
                outDir = run.dir();
                // until the signal hook is installed (below), a signal ends the JVM at once: nothing is trained yet
                Signals.firstSignalSays("stopped on a signal before the training began; nothing was trained" + (resumeState != null
                        ? ", and --resume " + ShellWords.quote(outDir) + " continues from " + resumeCkpt : ": the same command starts it again"));
                try (run) {
                    if (run.unlocked() != null) log.println("dl-train: warning: " + run.unlocked());
                    if (every != null) {
                        String space = spaceWarning(outDir, resumeCkpt, model.parameterCount(), o.keep);
                        if (space != null) log.println("dl-train: warning: " + space);
                    }
                    if (resumeState != null) {
                        run.resumeMetrics(resumeState.epoch(), Trainer.history(resumeState));
                        log.println("dl-train: resuming from " + resumeCkpt + " (" + done(resumeState) + ")");
                    }
                    log.printf("dl-train: %s (%,d parameters) on %s (%,d train / %,d validation / %,d test samples), device %s%n",
                            modelEntry.name(), model.parameterCount(), dataEntry.name(), trainLoader.samples(),
                            valLoader == null ? 0 : valLoader.samples(), testLoader.samples(), describeDevice(be));
                    boolean usesMomentum = Optimizers.usesMomentum(o.optimizer);
                    log.printf("dl-train: %d %s, batch %d, %s lr %s (%s)%s, weight decay %s, seed %d -> %s%n",
                            o.epochs, Words.noun(o.epochs, "epoch"), o.batchSize, o.optimizer, plain(o.lr), o.schedule, usesMomentum ? ", momentum " + plain(o.momentum) : "",
                            plain(o.weightDecay), o.seed, outDir);
                    if (init != null) {
                        printInit(initFile, init);
                        noticeClassOrder(initFile, train);
                    }
                    if (!o.freeze.isEmpty()) {
                        long frozen = 0;
                        for (Map.Entry<String, Tensor> e : model.namedParameters().entrySet()) if (!e.getValue().requiresGrad()) frozen += e.getValue().numel();
                        log.printf("dl-train: frozen (%s): %,d of %,d parameters are not trained%n", String.join(", ", o.freeze), frozen, model.parameterCount());
                    }
                    log.flush();
                    Progress progress = new Progress(progressMode, log, Progress.unit(SavedModel.inputNormalisation(train, dataEntry.name(), spec) != null));
                    if (resumeState != null) progress.resumedAt(resumeState.epoch() + 1, (int) stepInEpoch(resumeState)); // its running step's number
                    // a batch not loaded after a minute is a read that hangs (a network file system): say which file,
                    // rather than leave a progress bar that has stopped
                    java.time.Duration slow = java.time.Duration.ofSeconds(SLOW_DATA_SECONDS);
                    trainLoader.noticeSlowWaits(slow, msg -> progress.info("dl-train: notice: training data: " + msg));
                    if (valLoader != null) valLoader.noticeSlowWaits(slow, msg -> progress.info("dl-train: notice: validation data: " + msg));
                    testLoader.noticeSlowWaits(slow, msg -> progress.info("dl-train: notice: test data: " + msg));
                    Curves curves = new Curves(outDir, msg -> { log.println("dl-train: warning: " + msg); log.flush(); });
                    if (resumeState != null) curves.resumedAfter(Trainer.history(resumeState));
                    TrainListener listener = new TrainListener() {
                        @Override public void epochStarted(int e, int n, int steps) { progress.epochStarted(e, n, steps); }
                        @Override public void step(int e, int s, int n, double loss, double ips) { progress.step(e, s, n, loss, ips); }
                        @Override public void validationStep(int e, int b, int n) { progress.validationStep(e, b, n); }
                        boolean hinted;
                        @Override public void epochEnded(EpochMetrics m) {
                            progress.epochEnded(m); // first: a metrics.jsonl that cannot be written leaves the epoch's line shown
                            run.appendEpoch(m);
                            curves.epochEnded(m);
                            String hint = hinted ? null : Progress.workersHint(m, workers, Runtime.getRuntime().availableProcessors());
                            if (hint != null) { progress.info("dl-train: notice: " + hint); hinted = true; }
                        }
                        @Override public void info(String msg) { progress.info(msg); }
                        @Override public void checkpointWriting(Path dir, boolean best) { progress.checkpointWriting(dir, best); }
                        @Override public void checkpointWritten(Path checkpoint) { progress.checkpointWritten(checkpoint); }
                    };
                    // the model's task chooses the loss, the target and the metric (classification: cross-entropy, accuracy)
                    Loss loss = task == Task.CLASSIFICATION ? new CrossEntropyLoss(o.labelSmoothing) : new MSELoss();
                    Trainer trainer = new Trainer(be, config).task(task).commandLineAdvice();
                    if (task == Task.RECONSTRUCTION) {
                        // reconstruct pixels in [0, 1] (what a Sigmoid output can reach): undo the dataset's normalisation
                        float[][] norm = SavedModel.inputNormalisation(train, dataEntry.name(), spec);
                        if (norm != null) trainer.reconstructionScale(norm[0], norm[1]);
                        else log.println("dl-train: notice: " + dataEntry.name() + " does not say how its inputs are normalised; "
                                + modelEntry.name() + " reconstructs the normalised input as the model sees it");
                    }
                    if (every != null) trainer.checkpoints(new CheckpointPolicy(outDir.resolve(CHECKPOINTS), (int) every[0], every[1], o.keep,
                            modelEntry.name(), dataEntry.name(), savedConfig(config, be, train.size(),
                            SavedModel.meta(modelEntry.name(), dataEntry.name(), spec, train, task), fingerprint)));
                    if (resumeState != null) trainer.resumeFrom(resumeState);
                    if (o.maxSteps != null) trainer.maxSteps(o.maxSteps);
                    trainer.skipNonfinite(o.skipNonfinite);
                    // SIGINT / SIGTERM: the JVM runs shutdown hooks and then halts. During the fit the hook asks the loop
                    // to stop at the next step boundary and waits until it has written its checkpoint, returned, and
                    // closed the model, the loaders and the backend (the latch is counted down after try (be) below).
                    // After the fit (model/, the test pass, summary.json) it lets a write in progress finish, says what
                    // is written and what to do, and the JVM halts; see Ending.
                    Ending ending = new Ending();
                    Path runDir = outDir;
                    // the run's last checkpoint: the fit's, or a finished run's that this resume trains no further (then the fit writes none)
                    Path[] lastCheckpoint = {resumeState != null && finished(resumeState) != null ? resumeCkpt : null};
                    Thread hook = new Thread(() -> {
                        try {
                            Ending.Reached at = ending.signal(TimeUnit.SECONDS.toNanos(SIGNAL_WAIT_SECONDS));
                            if (at == Ending.Reached.TRAINING) {
                                // at once: a step can take seconds (a large model on the CPU), and silence reads as a hang
                                progress.endBar();
                                log.println("dl-train: " + stopping(every != null));
                                log.flush();
                                trainer.requestStop();
                                if (!released.await(SIGNAL_WAIT_SECONDS, TimeUnit.SECONDS)) {
                                    // the loop never reached a step boundary, nor a wait for data (which the stop ends): it is stuck
                                    log.println("dl-train: " + stuckAfterSignal(runDir, every != null));
                                    log.flush();
                                }
                                return;
                            }
                            log.println("dl-train: " + afterSignal(at, runDir, lastCheckpoint[0], evalCommand(runDir)));
                            log.flush();
                            // A run that has completed, or stops before its test pass, releases the device before the JVM
                            // halts, as after a checkpoint; a test pass in progress is not waited for.
                            if (at == Ending.Reached.DONE || (at == Ending.Reached.MODEL_WRITTEN && !ending.testing()))
                                released.await(120, TimeUnit.SECONDS);
                            if (at == Ending.Reached.DONE) {
                                log.flush();
                                Runtime.getRuntime().halt(0); // the signal stopped nothing: the run's exit code, not 128 + the signal's
                            }
                        } catch (InterruptedException ignored) {
                            Thread.currentThread().interrupt();
                        }
                    }, "dl-train-on-signal");
                    // from here on the hook says what a signal does; a signal that came before it has been said (firstSignalSays,
                    // above) and is ending the JVM (128 + its number): not the error "Shutdown in progress" of a refused hook
                    if (!Signals.handOver(hook)) return 130;
                    hooked.set(hook);
                    Signals.whatIsSaved(() -> lastCheckpoint(runDir, every != null)); // what a second signal, which ends at once, leaves
                    try {
                        Trainer.Result result;
                        try {
                            result = trainer.fit(model, loss, opt, schedule, trainLoader, valLoader, listener);
                        } catch (DataLoadException e) {
                            if (e.checkpoint() == null) {
                                String hint = skipBadHint(e, data.train(), "run with ");
                                throw hint.isEmpty() ? e : new DataLoadException(e.getMessage() + hint, e.getCause());
                            }
                            throw new DataLoadException(e.getMessage() + " with --resume " + ShellWords.quote(outDir)
                                    + skipBadHint(e, data.train(), "start a new run with "), e.getCause(), e.checkpoint());
                        } catch (CheckpointException e) {
                            // a checkpoint that could not be written (a full disk, a read-only volume): its message names the
                            // file and why; what is saved and how to go on is the CLI's to say
                            throw new CheckpointException(e.getMessage() + "; " + afterFailedSave(outDir), e);
                        } catch (OutOfMemoryError e) {
                            // what is known of the step: the most bytes of tensors it had in use (the backend's peak), and needed more than
                            throw new Main.OutOfMemoryWhile("training " + modelEntry.name() + " at --batch-size " + o.batchSize,
                                    new Main.Step(modelEntry.name(), o.batchSize, be.memoryStats().peakBytes(), benchOptions()), e);
                        } catch (ListenerFailedException e) {
                            // writing metrics.jsonl failed (a full disk...): the trainer checkpointed the run first, unless
                            // checkpoints are off or the checkpoint failed too. Said in the CLI's words, not the trainer's
                            // ("training listener", "checkpoint policy")
                            Throwable why = e.getCause();
                            String what = why.getMessage() == null ? why.toString() : why.getMessage();
                            RuntimeException saveFailed = null;
                            for (Throwable s : e.getSuppressed()) if (s instanceof RuntimeException r) saveFailed = r;
                            ListenerFailedException said = new ListenerFailedException(what + (e.checkpoint() != null
                                    ? "; the training so far is checkpointed in " + e.checkpoint() + ": fix the cause and continue with --resume " + ShellWords.quote(outDir)
                                    : saveFailed != null ? "; the training so far could not be checkpointed either: " + saveFailed.getMessage()
                                    : "; nothing is checkpointed (--checkpoint-every off)"), why, e.checkpoint());
                            for (Throwable s : e.getSuppressed()) said.addSuppressed(s);
                            throw said;
                        } finally {
                            progress.stopWatch(); // a fit that failed or stopped mid-step: no more "step N running" lines
                        }
                        if (result.interrupted()) {
                            progress.endBar(); // stopped in an epoch: its bar, if drawn, is not closed by epochEnded
                            reportBadFiles(data);
                            log.println("dl-train: stopped " + (ending.signalled() ? "on a signal" : "after --max-steps " + o.maxSteps)
                                    + (result.checkpoint() != null ? "; checkpoint " + result.checkpoint() + "; continue with --resume " + ShellWords.quote(outDir)
                                                                   : "; no checkpoint (--checkpoint-every off), so the training is lost"));
                            log.flush();
                            return ending.signalled() ? 130 : 0;
                        }
                        if (result.checkpoint() != null) lastCheckpoint[0] = result.checkpoint();
                        // --- final model for `dl-train eval` / `predict`: <out>/model/{model.safetensors, model.json} ---
                        // (written before the test pass, so that a test sample that cannot be read leaves the model usable;
                        // written even after a signal: it is the trained weights, and takes seconds)
                        ending.trained();
                        memory.doing("writing the trained " + modelEntry.name() + " to " + outDir.resolve(SavedModel.DIR), "the training is complete"
                                + (lastCheckpoint[0] == null ? ", but nothing is checkpointed (--checkpoint-every off)" : " and checkpointed in "
                                   + lastCheckpoint[0] + ": with a larger heap, --resume " + ShellWords.quote(outDir) + " writes model/ and summary.json"),
                                null);
                        try (Progress.Phase writing = Progress.slowPhase(progressMode, log, "writing the trained model to " + outDir.resolve(SavedModel.DIR))) {
                            SavedModel.write(outDir, modelEntry.name(), dataEntry.name(), spec, train, model, task);
                        } catch (UncheckedIOException e) {
                            throw new UncheckedIOException(e.getMessage() + "; the training is complete" + (lastCheckpoint[0] == null
                                    ? ", but nothing is checkpointed (--checkpoint-every off)"
                                    : " and checkpointed in " + lastCheckpoint[0] + ": once the cause is fixed, --resume "
                                      + ShellWords.quote(outDir) + " writes model/ and summary.json"), e.getCause());
                        }
                        ending.modelWritten();
                        // ---
                        if (!ending.mayGoOn()) { // a signal: the test pass is not saved work; say what is written, unless the hook has
                            if (ending.signalledDuringTraining()) {
                                log.println("dl-train: " + afterSignal(Ending.Reached.MODEL_WRITTEN, outDir, lastCheckpoint[0], evalCommand(outDir)));
                                log.flush();
                            }
                            return 130;
                        }
                        EvalResult test;
                        memory.doing("evaluating the trained " + modelEntry.name() + " on the test split at --batch-size " + o.batchSize,
                                "the model, one batch and its activations do not fit; the training is complete (its model is in "
                                + outDir.resolve(SavedModel.DIR) + ")", "Evaluate it with a smaller --batch-size: " + evalCommand(outDir)
                                + " --batch-size " + Math.max(1, o.batchSize / 2));
                        try {
                            if (testLoader.samples() == 0) {
                                test = new EvalResult(Double.NaN, Double.NaN, Double.NaN, 0);
                                results.printf("test: no test split in %s; nothing evaluated  total %.1fs%n", dataEntry.name(), result.seconds());
                            } else if (task != Task.CLASSIFICATION) {
                                test = trainer.evaluate(model, testLoader, loss, progress.pass("test")); // the mean MSE is the metric
                                results.printf("test: %s %.5f  (%,d %s)  total %.1fs%n", task.metric(), test.loss(), test.samples(),
                                        Words.noun(test.samples(), "sample"), result.seconds());
                            } else {
                                test = trainer.evaluate(model, testLoader, new CrossEntropyLoss(0f), progress.pass("test"));
                                String top5 = Double.isNaN(test.top5()) ? "n/a (fewer than 5 classes)" : String.format("%.2f%%", 100 * test.top5());
                                results.printf("test: loss %.4f  top-1 %.2f%%  top-5 %s  (%,d %s)  total %.1fs%n",
                                        test.loss(), 100 * test.top1(), top5, test.samples(), Words.noun(test.samples(), "sample"), result.seconds());
                            }
                        } catch (DataLoadException e) {
                            Path ck = result.checkpoint();
                            throw new DataLoadException(e.getMessage() + "; the training is complete (its model is in " + outDir.resolve(SavedModel.DIR)
                                    + (ck == null ? ")" : ", and checkpointed in " + ck + "): once the sample reads, --resume "
                                            + ShellWords.quote(outDir) + " evaluates it and writes the summary"), e, ck);
                        } finally {
                            progress.endBar(); // a test pass that failed: its bar, if drawn, is not left to be drawn below the error
                        }
                        long skippedSteps = result.epochs().stream().mapToLong(EpochMetrics::skippedSteps).sum();
                        if (o.skipNonfinite) log.printf("dl-train: skipped %d %s with a non-finite loss (--skip-nonfinite)%n", skippedSteps,
                                Words.noun(skippedSteps, "step"));
                        reportBadFiles(data);
                        if (!ending.beginSummary()) return 130; // the hook has said what is written
                        try {
                            run.writeSummary(summary(modelEntry, task, dataEntry, be, model, config, result, test, trainLoader, valLoader, processFrom));
                        } catch (UncheckedIOException e) {
                            throw new UncheckedIOException(e.getMessage() + "; the training is complete (its model is in "
                                    + outDir.resolve(SavedModel.DIR) + (lastCheckpoint[0] == null ? "; nothing is checkpointed (--checkpoint-every off))"
                                    : ", and checkpointed in " + lastCheckpoint[0] + "): once the cause is fixed, --resume "
                                      + ShellWords.quote(outDir) + " evaluates it and writes summary.json"), e.getCause());
                        }
                        ending.done();
                        results.println("dl-train: wrote " + outDir.resolve("metrics.jsonl") + ", " + outDir.resolve("summary.json") + ", "
                                + outDir.resolve(Curves.FILE) + " and " + outDir.resolve(SavedModel.DIR) + "/");
                        results.flush();
                        return 0;
                    } finally {
                        ending.left(); // returned or thrown: nothing more is being written, for a hook waiting on a write
                    }
                }
            }
        } finally {
            Signals.firstSignalSays(null);
            Signals.whatIsSaved(null);
            released.countDown();   // the model, the loaders and the backend are closed: the JVM may halt now
            // Only now: a signal after the run's last write, while the device is being released, is still answered (Ending.DONE).
            Thread hook = hooked.get();
            if (hook != null) try { Runtime.getRuntime().removeShutdownHook(hook); } catch (IllegalStateException shuttingDown) { /* the hook is running */ }
        }
    }

    static final String CHECKPOINTS = RunOutput.CHECKPOINTS;

    /** What to do about a damaged latest checkpoint: go on from the one before it, if the user agrees. */
    private static String olderCheckpoint(Path ckpt) {
        return "To continue from the checkpoint before it, move " + ckpt.getFileName() + " out of " + ckpt.getParent()
                + " (or rename it, e.g. to " + ckpt.getFileName() + ".damaged) and resume again";
    }

    /**
     * How far a run has got after its fit, for a signal (SIGINT, SIGTERM) that comes then: the JVM halts once the
     * shutdown hook returns, so the hook says what is written. The test pass is not saved work and is not waited for;
     * a write in progress (model/, summary.json: seconds at most) is. Changes happen under one lock, so that what the
     * hook says stays true: once a signal is recorded the run begins neither its test pass nor its summary.
     */
    static final class Ending {
        /** What the run has done. */
        enum Reached {
            /** The fit is running: the hook stops it at the next step, with a checkpoint. */
            TRAINING,
            /** The fit has returned; model/ is not (yet) written. */
            TRAINED,
            /** model/ is written, summary.json is not. */
            MODEL_WRITTEN,
            /** summary.json is written too: the run is complete. */
            DONE
        }

        private Reached reached = Reached.TRAINING;
        private Reached signalledAt; // null until a signal
        private boolean writing, testing;

        /** The fit has returned, and model/ is being written (signal or not: it is the trained weights). */
        synchronized void trained() { reached = Reached.TRAINED; writing = true; notifyAll(); }

        synchronized void modelWritten() { reached = Reached.MODEL_WRITTEN; writing = false; notifyAll(); }

        /** Before the test pass: false once a signal has come (the run stops there); otherwise the test pass begins. */
        synchronized boolean mayGoOn() {
            testing = signalledAt == null;
            return testing;
        }

        /** True once the test pass has begun. */
        synchronized boolean testing() { return testing; }

        /** Before writing summary.json: false once a signal has come; otherwise a signal meanwhile waits for the write. */
        synchronized boolean beginSummary() {
            if (signalledAt != null) return false;
            writing = true;
            return true;
        }

        synchronized void done() { reached = Reached.DONE; writing = false; notifyAll(); }

        /** The run has returned or thrown: nothing more is being written. */
        synchronized void left() { writing = false; notifyAll(); }

        synchronized boolean signalled() { return signalledAt != null; }

        /** True if the signal came during the fit: the hook then stopped the fit and says nothing of what came after. */
        synchronized boolean signalledDuringTraining() { return signalledAt == Reached.TRAINING; }

        /** For the hook: records the signal, waits (at most timeoutNanos) for a write in progress, and says what is done. */
        synchronized Reached signal(long timeoutNanos) throws InterruptedException {
            if (signalledAt == null) signalledAt = reached;
            long end = System.nanoTime() + timeoutNanos;
            for (long left; writing && (left = end - System.nanoTime()) > 0; ) TimeUnit.NANOSECONDS.timedWait(this, left);
            return reached;
        }
    }

    /**
     * For a training image that cannot be decoded (an image folder read without skipbad=true): ", or " + how + "--data
     * SPEC,skipbad=true, which skips unreadable images", the option that goes on past such files; "" otherwise (another
     * failure, or one that skipbad does not skip: out of memory).
     */
    private String skipBadHint(DataLoadException e, Dataset train, String how) {
        if (!(train instanceof ImageFolderDataset f) || f.skipsBadFiles() || o.data == null) return "";
        for (Throwable t = e.getCause(); t != null; t = t.getCause() == t ? null : t.getCause()) {
            if (t instanceof OutOfMemoryError) return "";
            if (t instanceof DatasetException) {
                String spec = o.data.contains(":") ? o.data + ",skipbad=true" : o.data + ":skipbad=true";
                return ", or " + how + "--data " + ShellWords.quote(spec) + ", which skips unreadable images";
            }
        }
        return "";
    }

    /** Shown at the end of a run: the files that imagefolder:skipbad=true replaced, which were otherwise never named. */
    private void reportBadFiles(DatasetRegistry.Splits data) {
        for (Dataset d : List.of(data.train(), data.test())) {
            if (!(d instanceof ImageFolderDataset f)) continue;
            Map<Path, String> bad = f.badFiles();
            if (bad.isEmpty()) continue;
            log.printf("dl-train: %s: skipped %d unreadable %s (skipbad=true; %,d %s replaced by the next readable image):%n", f.name(),
                    bad.size(), Words.noun(bad.size(), "file"), f.skippedReads(), Words.noun(f.skippedReads(), "read"));
            int shown = 0;
            for (String why : bad.values()) {
                if (shown++ == 20) {
                    log.println("  ... and " + (bad.size() - 20) + " more");
                    break;
                }
                log.println("  " + why);
            }
        }
    }

    /**
     * How long the signal hook waits for the training loop to reach a step boundary and checkpoint (and, after the fit,
     * for a write in progress) before the JVM halts; {@code -Ddltrain.signalWaitSeconds} (tests) overrides it.
     */
    static final long SIGNAL_WAIT_SECONDS = Long.getLong("dltrain.signalWaitSeconds", 120);

    /** How long the training waits for a batch before it names the samples in their read; {@code -Ddltrain.slowDataSeconds} (tests). */
    static final long SLOW_DATA_SECONDS = Long.getLong("dltrain.slowDataSeconds", 60);

    /**
     * What a signal leaves when the training loop did not stop within {@link #SIGNAL_WAIT_SECONDS}: it was stuck
     * (a data read that does not return, on a file system that hangs), so nothing was saved for the signal.
     */
    static String stuckAfterSignal(Path dir, boolean checkpoints) {
        return "stopped on a signal, but the training did not reach the end of a step within " + SIGNAL_WAIT_SECONDS + " s of it"
                + " (a checkpoint write to a file system that hangs? a device that does not answer?), so no checkpoint was written for the signal; "
                + lastCheckpoint(dir, checkpoints);
    }

    /** What a signal's stop is about to do, said as soon as the signal comes (the stop itself waits for the step in progress). */
    static String stopping(boolean checkpoints) {
        return "stopping on a signal: the training stops after the step in progress" + (checkpoints ? " and writes a checkpoint" : ", without a"
                + " checkpoint (--checkpoint-every off)") + "; this waits up to " + SIGNAL_WAIT_SECONDS + " s, and a second signal ends at once"
                + (checkpoints ? " without it" : "");
    }

    /** The run's last checkpoint and the command that continues from it, or that it has none (for a stop that wrote none). */
    static String lastCheckpoint(Path dir, boolean checkpoints) {
        Path ck = dir.resolve(CHECKPOINTS);
        java.util.Optional<Path> last = checkpoints && Files.isDirectory(ck) ? Checkpoint.latest(ck) : java.util.Optional.empty();
        return last.isPresent() ? "the last checkpoint is " + last.get() + ", and --resume " + ShellWords.quote(dir) + " continues from it"
                : checkpoints ? "the run has no checkpoint yet, so its training is lost"
                : "the run has no checkpoints (--checkpoint-every off), so its training is lost";
    }

    /**
     * The line a signal after the fit leaves: what the run in dir has written and what to do about the rest.
     *
     * @param checkpoint the run's last checkpoint, or null when it has none (--checkpoint-every off)
     * @param eval       the command that evaluates the run's model/ without a checkpoint
     */
    static String afterSignal(Ending.Reached at, Path dir, Path checkpoint, String eval) {
        Path model = dir.resolve(SavedModel.DIR), summary = dir.resolve(RunOutput.SUMMARY);
        String resume = "--resume " + ShellWords.quote(dir);
        return switch (at) {
            case DONE -> "a signal came after the run had completed: " + summary + ", " + model + "/ and its other files are written;"
                    + " nothing is lost";
            case MODEL_WRITTEN -> "stopped on a signal after the training, before the test pass ended: " + model + "/ is written, "
                    + summary + " is not; " + (checkpoint != null ? resume + " evaluates the model and writes it"
                            : "the run has no checkpoint (--checkpoint-every off), so --resume cannot write it, but " + eval + " evaluates the model");
            case TRAINED -> "stopped on a signal after the training, while writing " + model + "/: neither it nor " + summary + " is written; "
                    + (checkpoint != null ? "the training is checkpointed in " + checkpoint + ", and " + resume + " writes them"
                            : "the run has no checkpoint (--checkpoint-every off), so its training is lost");
            case TRAINING -> throw new IllegalArgumentException("during the fit a signal stops the trainer at a checkpoint");
        };
    }

    /** This run's options that shape a step besides the model and batch, for the bench an out-of-memory step advises (Main.Step). */
    private String benchOptions() {
        return " --data " + ShellWords.quote(o.data) + (o.dataDir != null ? " --data-dir " + ShellWords.quote(o.dataDir) : "")
                + (o.device == null || o.device.equals("auto") ? "" : " --device " + ShellWords.quote(o.device));
    }

    /** The command that evaluates dir's model/ on this run's data (for a run without checkpoints, which --resume cannot finish). */
    private String evalCommand(Path dir) {
        return "dl-train eval --checkpoint " + ShellWords.quote(dir) + " --data " + ShellWords.quote(o.data)
                + (o.dataDir != null ? " --data-dir " + ShellWords.quote(o.dataDir) : "");
    }

    /**
     * The task a run trains: a regression dataset turns a classifier into a regression model (one output, MSE); the
     * contradictions (an autoencoder on regression targets, label smoothing without classes, a classification
     * dataset with fewer than 2 classes) are usage errors.
     */
    private Task runTask(ModelRegistry.Entry model, DatasetRegistry.Entry dataEntry, Dataset train) {
        Task data = train.task();
        if (data == Task.REGRESSION) {
            if (model.task() != Task.CLASSIFICATION)
                throw usage(model.name() + " is a " + model.task().label() + " model, but " + o.data + " is a regression dataset "
                        + "(real-valued targets): train a regression model with a classifier such as mlp (it gets 1 output), or "
                        + "drop target= to read " + dataEntry.name() + " for classification");
            if (o.labelSmoothing != 0)
                throw usage("--label-smoothing " + o.labelSmoothing + " applies to classification; " + o.data + " is a regression dataset "
                        + "trained with the MSE loss (drop --label-smoothing)");
            return Task.REGRESSION;
        }
        if (model.task() == Task.CLASSIFICATION && train.numClasses() < 2)
            throw usage(train.name() + " has " + train.numClasses() + " class" + (train.numClasses() == 1 ? " (" + train.classNames() + ")" : "es")
                    + "; a classifier needs at least 2 (for a real-valued column, use target=COLUMN to train a regression model)");
        return model.task();
    }

    /**
     * The values TrainConfig refuses (it says "epochs must be >= 1", for callers of the library), checked first here so
     * that the error names the option, the value as written, and the --config file where that is where it came from.
     */
    private void checkTrainingSettings() {
        if (o.epochs < 1) throw usage("--epochs", "--epochs must be >= 1, got " + o.epochs);
        if (o.batchSize < 1) throw usage("--batch-size", "--batch-size must be >= 1, got " + o.batchSize);
        if (!(o.labelSmoothing >= 0 && o.labelSmoothing < 1))
            throw usage("--label-smoothing", "--label-smoothing must be in [0, 1), got " + written("--label-smoothing", o.labelSmoothing));
        if (!(o.valFraction >= 0 && o.valFraction < 1))
            throw usage("--val-fraction", "--val-fraction must be in [0, 1) (the fraction of the training set held out; 0 holds out none),"
                    + " got " + written("--val-fraction", o.valFraction));
        if (!(o.clipNorm >= 0) || Float.isInfinite(o.clipNorm))
            throw usage("--clip-norm", "--clip-norm must be a finite number >= 0 (0 is off), got " + written("--clip-norm", o.clipNorm));
        if (o.patience < 0) throw usage("--patience", "--patience must be >= 0 (0 is off), got " + o.patience);
        if (!(o.minDelta >= 0) || Double.isInfinite(o.minDelta))
            throw usage("--min-delta", "--min-delta must be a finite number >= 0 (the smallest validation-loss improvement that"
                    + " counts for early stopping), got " + written("--min-delta", o.minDelta));
    }

    /**
     * --freeze as written (each flag, or the --config file's value, its list joined by commas) holds no empty prefix.
     * The comma split drops empty items silently, so `--freeze ,` (a "$A,$B" whose variables are unset) froze nothing
     * and `--freeze 1.weight,` dropped its last item, where `--freeze ""` is refused (in {@link #trainable}).
     */
    private void checkFreezeList() {
        CommandLine.ParseResult pr = cl.getParseResult();
        List<String> written = pr != null && pr.hasMatchedOption("--freeze") ? pr.matchedOption("--freeze").originalStringValues()
                : configured("--freeze").isEmpty() ? List.of()
                : List.of(((ConfigFile) cl.getCommandSpec().defaultValueProvider()).values().get("freeze"));
        for (String w : written)
            if (List.of(w.split(",", -1)).contains(""))
                throw usage("--freeze", "--freeze '" + w + "' has an empty prefix, which would freeze every parameter; give"
                        + " PREFIX or PREFIX,PREFIX,... with no empty one");
    }

    /** check's result; an IllegalArgumentException or DatasetException from it (its message) is a usage error about option. */
    private <T> T checked(String option, java.util.function.Supplier<T> check) {
        try {
            return check.get();
        } catch (IllegalArgumentException | DatasetException e) {
            throw usage(option, e.getMessage());
        }
    }

    /**
     * --lr, --momentum and --weight-decay, checked here rather than by the optimiser, which is made after the data is
     * loaded and refuses them with exit 1 (and a run directory left behind). The backend steps in float, so a value
     * that float cannot hold (1e308 becomes Infinity) is refused too. Otherwise PyTorch's rules: momentum >= 0, above
     * 1 allowed (with a notice: the momentum buffer then grows without bound), and sgd-nesterov needs some.
     */
    private void checkOptimiserSettings() {
        for (Object[] v : new Object[][] {{"--lr", o.lr, "a learning rate"}, {"--momentum", o.momentum, "a momentum"},
                {"--weight-decay", o.weightDecay, "a weight decay"}}) {
            String option = (String) v[0], what = (String) v[2];
            double x = (Double) v[1];
            if (Double.isNaN(x)) throw usage(option + " " + typed(option, x) + " is not a number; " + what + " is a number >= 0");
            if (x < 0) throw usage(option + " " + typed(option, x) + " is negative; " + what + " must be >= 0");
            if (Float.isInfinite((float) x))
                throw usage(option + " " + typed(option, x) + " is too large: the optimiser computes in float (32-bit), which cannot"
                        + " hold it (its largest value is " + Float.MAX_VALUE + "); give a smaller " + option);
        }
        if ("sgd-nesterov".equals(o.optimizer) && o.momentum == 0)
            throw usage("--optimizer sgd-nesterov needs a --momentum > 0, got " + typed("--momentum", o.momentum)
                    + " (Nesterov momentum without momentum is undefined); use e.g. --momentum 0.9, or --optimizer sgd for no momentum");
        // PyTorch allows it (a frozen-weights dry run); every schedule scales the base rate, so none makes it move
        if (o.lr == 0)
            log.println("dl-train: notice: --lr " + typed("--lr", o.lr) + ": the weights will not change (each optimiser step,"
                    + " weight decay included, is scaled by the learning rate; batch norm's running statistics still update);"
                    + " give a learning rate above 0 to train");
        if (o.momentum >= 1 && Optimizers.usesMomentum(o.optimizer))
            log.println("dl-train: notice: --momentum " + typed("--momentum", o.momentum) + ": with a momentum of 1 or more the momentum"
                    + " buffer never decays, so " + o.optimizer + " usually diverges (PyTorch allows it; the usual values are 0.9 to 0.99)");
    }

    /**
     * An option's value as the user wrote it (1e308, not 1.0E308): from the command line, else the --config file;
     * otherwise (a default or a resumed run's setting) the value written plainly.
     */
    private String typed(String option, double value) {
        CommandLine.ParseResult pr = cl.getParseResult();
        if (pr != null && pr.hasMatchedOption(option) && !pr.matchedOption(option).stringValues().isEmpty())
            return pr.matchedOption(option).stringValues().getLast();
        if (o.resume == null && cl.getCommandSpec().defaultValueProvider() instanceof ConfigFile c) {
            String configured = c.values().get(option.substring(2));
            if (configured != null) return configured + " (in " + c.file() + ")";
        }
        return plain(value);
    }

    /** An option's value as written (1e400, not Infinity), without saying where: see {@link #usage(String, String)} for that. */
    private String written(String option, double value) {
        CommandLine.ParseResult pr = cl.getParseResult();
        if (pr != null && pr.hasMatchedOption(option) && !pr.matchedOption(option).stringValues().isEmpty())
            return pr.matchedOption(option).stringValues().getLast();
        if (!configured(option).isEmpty()) return ((ConfigFile) cl.getCommandSpec().defaultValueProvider()).values().get(option.substring(2));
        return plain(value);
    }

    /**
     * The model.safetensors that --init-from names: the file itself, or in a directory: its model.safetensors (a
     * checkpoint or a run's model/ directory), the run's model/model.safetensors, or its latest checkpoint's (or, in a
     * run's checkpoints/ folder itself, the latest checkpoint's in it).
     */
    private Path initFile(Path given) {
        if (Files.isRegularFile(given)) return given;
        if (!Files.isDirectory(given)) throw usage("--init-from", "--init-from " + given + ": no such file or directory");
        for (Path p : List.of(given.resolve(Checkpoint.MODEL_FILE), given.resolve(SavedModel.DIR).resolve(Checkpoint.MODEL_FILE)))
            if (Files.isRegularFile(p)) return p;
        Path ckDir = given.resolve(CHECKPOINTS);
        try {
            // a run's checkpoints/, or a folder of ckpt-<step>/ directories itself (as eval and predict take it)
            if (Checkpoint.latest(ckDir).isEmpty() && Checkpoint.latest(given).isPresent()) ckDir = given;
            var latest = Checkpoint.latest(ckDir);
            if (latest.isPresent() && Files.isRegularFile(latest.get().resolve(Checkpoint.MODEL_FILE))) {
                IncompleteCheckpoints.noticeSkipped(log, latest.get(), "initialising from");
                return latest.get().resolve(Checkpoint.MODEL_FILE);
            }
            List<Path> broken = Checkpoint.incomplete(ckDir, 0);
            if (!broken.isEmpty())
                throw usage("--init-from", "--init-from " + given + ": no " + Checkpoint.MODEL_FILE + " in it or in " + given.resolve(SavedModel.DIR)
                        + ", and no complete checkpoint under " + ckDir + ": " + IncompleteCheckpoints.describe(broken)
                        + "; restore the missing files, or name a model file itself");
        } catch (CheckpointException e) {
            throw usage("--init-from", "--init-from " + given + ": " + e.getMessage());
        }
        throw usage("--init-from", "--init-from " + given + ": no " + Checkpoint.MODEL_FILE + " in it, in " + given.resolve(SavedModel.DIR)
                + " or in a checkpoint under " + given.resolve(CHECKPOINTS) + "; name the file itself");
    }

    /**
     * Applies --freeze (requiresGrad(false) on every parameter whose state_dict name starts with a prefix) and returns
     * the parameters left to train, for the optimiser. A prefix that matches nothing is a usage error (a typo would
     * otherwise silently train everything).
     */
    private Map<String, Tensor> trainable(Module model) {
        Map<String, Tensor> all = model.namedParameters(), left = new LinkedHashMap<>();
        Set<String> used = new HashSet<>();
        for (Map.Entry<String, Tensor> e : all.entrySet()) {
            String hit = null;
            for (String p : o.freeze) if (e.getKey().startsWith(p)) { hit = p; used.add(p); }
            if (hit != null) e.getValue().requiresGrad(false);
            else left.put(e.getKey(), e.getValue());
        }
        for (String p : o.freeze) {
            if (p.isEmpty()) throw usage("--freeze", "--freeze: an empty prefix would freeze every parameter");
            if (!used.contains(p)) {
                List<String> names = new ArrayList<>(all.keySet());
                throw usage("--freeze", "--freeze " + p + " matches no parameter of " + o.model + "; its parameters are "
                        + (names.size() <= 12 ? names : names.subList(0, 12) + " and " + (names.size() - 12) + " more"));
            }
        }
        if (left.isEmpty()) throw usage("--freeze", "--freeze " + String.join(",", o.freeze) + " freezes every parameter of " + o.model + "; nothing would train");
        return left;
    }

    /**
     * Where no name of the file is the model's but some are with a prefix before them ("module.": a state_dict saved
     * from DataParallel or DistributedDataParallel; "_orig_mod.": from a torch.compile'd module) for 90% of the file's
     * names and half the model's at least, what that prefix is and how to remove it; else null.
     */
    static String prefixedNames(LoadReport r, String model, Path file) {
        Set<String> names = new HashSet<>(r.loaded());
        for (LoadReport.Skipped k : r.skipped()) names.add(k.key());
        Map<String, Integer> counts = new LinkedHashMap<>();
        for (String u : r.unexpected())
            for (int i = u.indexOf('.'); i >= 0; i = u.indexOf('.', i + 1))
                if (names.contains(u.substring(i + 1))) { counts.merge(u.substring(0, i + 1), 1, Integer::sum); break; }
        String prefix = null;
        for (Map.Entry<String, Integer> e : counts.entrySet()) if (prefix == null || e.getValue() > counts.get(prefix)) prefix = e.getKey();
        // most of the file, and at least half the model: not a few names of another architecture that happen to end
        // in one of the model's (vgg's features.1.weight is mlp's 1.weight after "features.")
        if (prefix == null || counts.get(prefix) * 10 < r.unexpected().size() * 9 || counts.get(prefix) * 2 < names.size()) return null;
        String why = prefix.equals("module.") ? " (a state_dict saved from DataParallel or DistributedDataParallel, which names the model 'module')"
                : prefix.equals("_orig_mod.") ? " (a state_dict saved from a torch.compile'd model)" : "";
        int total = r.unexpected().size() + r.loaded().size();
        return "no name in " + file + " is one of " + model + "'s, but " + counts.get(prefix) + " of its " + total + " tensors are "
                + model + "'s with the prefix '" + prefix + "' before the name" + why + ". Save it without the prefix, e.g. in Python:"
                + " safetensors.torch.save_file({k.removeprefix('" + prefix + "'): v for k, v in safetensors.torch.load_file('"
                + file + "').items()}, 'weights.safetensors'), and give that file";
    }

    /**
     * --init-from a model whose model.json names this run's classes in another order: its output layer's rows were
     * trained for the other order, which the load (by name and shape) cannot know. A csv model of a dl-train before
     * 2026-12-07 with labels that are numbers but not all integers is one (it ordered them as text).
     */
    private void noticeClassOrder(Path initFile, Dataset train) {
        List<String> theirs = SavedModel.classNamesBeside(initFile), ours = train.classNames();
        if (theirs == null || theirs.equals(ours) || theirs.size() != ours.size() || !new HashSet<>(theirs).equals(new HashSet<>(ours))) return;
        log.println("dl-train: notice: --init-from " + initFile.toAbsolutePath().resolveSibling(SavedModel.META_FILE) + " names this run's classes in"
                + " another order (" + theirs + ", here " + ours + (train instanceof CsvDataset
                        ? "; a dl-train before 2026-12-07 ordered csv labels that are numbers but not all integers as text" : "")
                + "): the output layer's rows were trained for that order, so this run starts with those classes swapped and"
                + " learns them again");
    }

    private void printInit(Path file, LoadReport r) {
        log.printf("dl-train: init from %s: %d %s loaded, %d skipped (left at their initial values), %d in the file unused%n",
                file, r.loaded().size(), Words.noun(r.loaded().size(), "tensor"), r.skipped().size(), r.unexpected().size());
        int rounded = r.roundedFromFloat64().size();
        if (rounded > 0)
            log.printf("dl-train:   %d of them %s float64 (F64) in the file, rounded to float32 (what dl-train computes in)%n",
                    rounded, rounded == 1 ? "was" : "were");
        for (LoadReport.Skipped k : r.skipped()) log.println("dl-train:   skipped " + k);
        if (!r.unexpected().isEmpty()) {
            List<String> u = r.unexpected();
            log.println("dl-train:   unused in the file: " + (u.size() <= 10 ? u : u.subList(0, 10) + " and " + (u.size() - 10) + " more"));
        }
    }

    /**
     * Settings a resumed run takes from its checkpoint when not given, but which may be changed on resume: how
     * checkpoints are kept (a resumed run must not prune the ones an earlier --keep 10 kept), --skip-nonfinite
     * (to get past a bad step that stopped the run), and where the data is (it may have moved).
     */
    private static final String[][] SAVED_CHANGEABLE = {
            {"checkpoint_every", "--checkpoint-every"}, {"keep", "--keep"}, {"skip_nonfinite", "--skip-nonfinite"},
            {"data_dir", "--data-dir"}};

    /** The settings a resumed run takes from its checkpoint (state.json "config" keys), with the option for each. */
    private static final String[][] SAVED = {
            {"batch_size", "--batch-size"}, {"lr", "--lr"}, {"optimizer", "--optimizer"}, {"momentum", "--momentum"},
            {"weight_decay", "--weight-decay"}, {"schedule", "--schedule"}, {"label_smoothing", "--label-smoothing"},
            {"clip_norm", "--clip-norm"}, {"seed", "--seed"}, {"val_fraction", "--val-fraction"}, {"patience", "--patience"},
            {"min_delta", "--min-delta"}};

    /**
     * The run directory that dir is inside of, when dir is one of its checkpoints (checkpoints/ckpt-N, checkpoints/best/ckpt-N)
     * or its checkpoints/ folder; else null.
     */
    private static Path runOf(Path dir) {
        Path d = dir.toAbsolutePath().normalize();
        if (Files.isRegularFile(d.resolve(Checkpoint.STATE_FILE))) {
            d = d.getParent();
            if (d != null && d.getFileName() != null && d.getFileName().toString().equals("best")) d = d.getParent();
        }
        if (d == null || d.getFileName() == null || !d.getFileName().toString().equals(CHECKPOINTS) || d.getParent() == null) return null;
        return dir.isAbsolute() ? d.getParent() : Path.of("").toAbsolutePath().relativize(d.getParent());
    }

    /**
     * runs/MODEL-DATA-TIME, the run directory without --out (before RunOutput.freshName makes it unique): one folder,
     * whatever the dataset's options hold (csv:train=/data/a.csv), so DATA keeps letters, digits and . , = + - _ and
     * has anything else (/, :, spaces) as '_', and at most 120 characters of it.
     */
    static Path defaultOut(String model, String data, LocalDateTime time) {
        String d = data.replaceAll("[^A-Za-z0-9.,=+_-]", "_");
        if (d.length() > 120) d = d.substring(0, 120);
        return Path.of("runs", model + "-" + d + "-" + time.format(DateTimeFormatter.ofPattern("yyyyMMdd-HHmmss")));
    }

    private Map<String, Object> savedConfig(TrainConfig c, Backend be, int trainSamples, Map<String, Object> modelMeta, String fingerprint) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("epochs", c.epochs());
        m.put("batch_size", c.batchSize());
        m.put("lr", c.lr());
        m.put("optimizer", c.optimizer());
        m.put("momentum", c.momentum());
        m.put("weight_decay", c.weightDecay());
        m.put("schedule", c.schedule());
        m.put("label_smoothing", (double) c.labelSmoothing());
        m.put("clip_norm", (double) c.clipNorm());
        m.put("seed", c.seed());
        m.put("val_fraction", c.valFraction());
        m.put("patience", c.patience());
        m.put("min_delta", c.minDelta());
        m.put("freeze", List.copyOf(o.freeze));
        m.put("checkpoint_every", o.checkpointEvery);
        m.put("keep", o.keep);
        m.put("skip_nonfinite", o.skipNonfinite);
        if (o.dataDir != null) m.put("data_dir", o.dataDir.toAbsolutePath().normalize().toString()); // absolute: resumable from anywhere
        m.put("train_samples", trainSamples); // with the validation part: a resume checks its data against it
        if (fingerprint != null) m.put(DataFingerprint.KEY, fingerprint); // and against a few samples' hash
        m.putAll(computedOn(be)); // not settings: a resume on other ones is told that its results will differ (resumeDrift)
        m.put(SavedModel.STATE_KEY, modelMeta); // model.json's fields: eval and predict of a checkpoint need not read the training data
        return m;
    }

    /**
     * What decides a run's rounding besides its settings: the device, on the CPU the thread count (how sums are split),
     * and the matrix products' library and kernels (OpenBLAS's, chosen per processor; on CUDA, cuBLAS with or without
     * TF32). Recorded in each checkpoint's config.
     */
    static Map<String, Object> computedOn(Backend be) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("device", be.device().kind() == Device.Kind.CUDA ? "cuda" : "cpu");
        Map<String, Object> d = be.describe();
        if (d.get("threads") instanceof Number t) m.put("cpu_threads", t.intValue());
        if (d.get("gemm") != null) m.put("gemm", gemmKernels(d.get("gemm").toString()));
        return m;
    }

    /**
     * The part of a backend's "gemm" description that decides results: without the reason OpenBLAS could not be loaded
     * ("plain-Java GEMM (OpenBLAS unavailable: ...)", whose message names this machine's paths), which would make two
     * machines computing alike look different.
     */
    static String gemmKernels(String gemm) {
        int why = gemm.indexOf(" (OpenBLAS unavailable");
        return why < 0 ? gemm : gemm.substring(0, why);
    }

    /**
     * Notices for a resume computed otherwise than the run so far ({@link #computedOn}: another device, thread count
     * or matrix-product kernels): it continues the run correctly, but its numbers will not be bit-identical to an
     * uninterrupted run's, which users comparing runs should know. None for a checkpoint that does not record them.
     */
    static List<String> resumeDrift(Map<String, Object> saved, Map<String, Object> now) {
        List<String> notices = new ArrayList<>();
        String differ = ": the results will differ slightly from an uninterrupted run's";
        if (saved.get("device") instanceof String d && !d.equals(now.get("device"))) {
            notices.add("the run trained on " + d + " and resumes on " + now.get("device") + differ);
            return notices; // the rest compares runs on one kind of device
        }
        if (saved.get("cpu_threads") instanceof Number t && now.get("cpu_threads") instanceof Number n && t.intValue() != n.intValue())
            notices.add("the run trained with " + t + " CPU " + Words.noun(t.longValue(), "thread") + " and resumes with " + n
                    + " (the thread count decides how sums are split)" + differ + "; --threads " + t + " keeps them bit-identical");
        if (saved.get("gemm") instanceof String g && now.get("gemm") != null && !g.equals(now.get("gemm")))
            notices.add("the run computed its matrix products with " + g + " and this process computes them with " + now.get("gemm") + differ);
        return notices;
    }

    /**
     * On --resume: settings not given on the command line are the checkpoint's; a setting given with a different
     * value is a usage error (it would not continue the same run).
     */
    private void applySaved(TrainingState st) {
        CommandLine.ParseResult pr = cl.getParseResult();
        if (st.model() != null) {
            if (o.model != null && !o.model.equals(st.model())) throw usage("--model " + o.model + " differs from the resumed run's " + st.model());
            o.model = st.model();
            resumed.add("--model");
        }
        if (st.dataset() != null) {
            if (o.data != null && !o.data.equals(st.dataset())) throw usage("--data " + o.data + " differs from the resumed run's " + st.dataset());
            o.data = st.dataset();
            resumed.add("--data");
        }
        // --epochs is the total: given, it may extend the run (checked against the epochs done, later); not given, the
        // run's own total, so that an interrupted run resumes to the end it was started for, on the same schedule
        if (pr == null || !pr.hasMatchedOption("--epochs")) {
            if (!(st.config().get("epochs") instanceof Number n))
                throw usage("--resume", "--resume " + o.resume + ": its checkpoint does not record the run's number of epochs (written by an "
                        + "earlier dl-train); give the total with --epochs N");
            o.epochs = n.intValue();
            resumed.add("--epochs");
        }
        if (st.config().get("freeze") instanceof List<?> f) {
            List<String> saved = f.stream().map(String::valueOf).toList();
            if (pr != null && pr.hasMatchedOption("--freeze") && !saved.equals(o.freeze))
                throw usage("--freeze", "--freeze " + String.join(",", o.freeze) + " differs from the resumed run's"
                        + (saved.isEmpty() ? ", which froze nothing" : " " + String.join(",", saved)) + "; a resumed run keeps its settings:"
                        + " drop --freeze, or start a new run from its weights with --init-from " + ShellWords.quote(o.resume)
                        + " --freeze " + String.join(",", o.freeze));
            o.freeze = new ArrayList<>(saved);
            resumed.add("--freeze");
        }
        for (String[] kv : SAVED_CHANGEABLE) {
            Object saved = st.config().get(kv[0]);
            if (saved == null || (pr != null && pr.hasMatchedOption(kv[1]))) continue;
            CommandLine.Model.OptionSpec spec = cl.getCommandSpec().findOption(kv[1]);
            spec.setValue(asOptionValue(spec, saved, kv[0]));
            resumed.add(kv[1]);
        }
        for (String[] kv : SAVED) {
            Object saved = st.config().get(kv[0]);
            if (saved == null) continue;
            CommandLine.Model.OptionSpec spec = cl.getCommandSpec().findOption(kv[1]);
            boolean given = pr != null && pr.hasMatchedOption(kv[1]);
            Object now = spec.getValue();
            if (given) {
                if (!same(now, saved)) throw usage(kv[1] + " " + now + " differs from the resumed run's " + saved
                        + "; a resumed run keeps its settings (drop " + kv[1] + ")");
            } else {
                spec.setValue(asOptionValue(spec, saved, kv[0]));
                resumed.add(kv[1]);
            }
        }
    }

    /** A value from state.json (JSON number, boolean or string; its config key {@code key}) as the option's own type. */
    private Object asOptionValue(CommandLine.Model.OptionSpec spec, Object saved, String key) {
        Class<?> t = spec.type();
        if (t == boolean.class || t == Boolean.class) return Boolean.parseBoolean(saved.toString());
        if (t == Path.class) return Path.of(saved.toString());
        if (!(saved instanceof Number n)) {
            if (t.isPrimitive() || Number.class.isAssignableFrom(t))
                throw usage("--resume", "--resume " + o.resume + ": its checkpoint's state.json has \"" + key + "\": " + saved + " (" + spec.longestName()
                        + "), which is not a number; the checkpoint is damaged or was not written by dl-train");
            return saved.toString();
        }
        return t == int.class || t == Integer.class ? (Object) n.intValue() : t == long.class || t == Long.class ? (Object) n.longValue()
                : t == float.class || t == Float.class ? (Object) n.floatValue() : (Object) n.doubleValue();
    }

    /**
     * How many steps of the epoch after its {@link TrainingState#epoch() completed epochs} a checkpoint has trained: 0
     * at an epoch's end (the trainer's {@code step_in_epoch}; a checkpoint without it is taken to be at an epoch's end).
     */
    static long stepInEpoch(TrainingState st) {
        return st.config().get(Trainer.RESUME_KEY) instanceof Map<?, ?> r && r.get("step_in_epoch") instanceof Number n ? n.longValue() : 0;
    }

    /**
     * What a checkpoint has trained, for "resuming from": "1 epoch done, 422 steps in total", "2 epochs and 156 steps of
     * epoch 3 done, 1000 steps in total", "1 step of epoch 1 done, 1 step in total".
     */
    static String done(TrainingState st) {
        long into = stepInEpoch(st);
        String epochs = Words.count(st.epoch(), "epoch");
        return (into == 0 ? epochs : (st.epoch() == 0 ? "" : epochs + " and ") + Words.count(into, "step") + " of epoch " + (st.epoch() + 1))
                + " done, " + Words.count(st.step(), "step") + " in total";
    }

    /**
     * Why a resumed run has nothing left to train, or null: it stopped early, or it has done its {@code --epochs}.
     */
    private String finished(TrainingState st) {
        boolean early = st.config().get(Trainer.RESUME_KEY) instanceof Map<?, ?> r && Boolean.TRUE.equals(r.get("stopped_early"));
        if (early) return "the run in " + o.resume + " stopped early after epoch " + st.epoch() + " (the validation loss did not improve for "
                + Words.count(o.patience, "epoch") + "); nothing to train. To train its weights further, start a new run with --init-from " + ShellWords.quote(o.resume);
        if (st.epoch() >= o.epochs) return "the run in " + o.resume + " has done " + (o.epochs == 1 ? "its 1 epoch" : "all of its " + o.epochs + " epochs")
                + "; nothing to train. "
                + "To train on, give a larger total with --epochs N";
        return null;
    }

    /**
     * The default recipe's optimiser: sgd-nesterov, but adam (lr 0.001, no weight decay) for reconstruction models,
     * which the SGD recipe trains poorly (autoencoder, 2 epochs of Fashion-MNIST: test MSE 0.061 with it, 0.014 with
     * Adam; conv-autoencoder: 0.018 and 0.0039).
     */
    static String defaultOptimizer(String model) {
        try {
            return ModelRegistry.get(model).task() == Task.RECONSTRUCTION ? "adam" : "sgd-nesterov";
        } catch (IllegalArgumentException unknown) {
            return "sgd-nesterov"; // the unknown name is reported with the list of models below
        }
    }

    /** A setting as people write it: 0.0005, not 5.0E-4; 0.9, not 0.90000. */
    static String plain(double v) {
        return Double.isFinite(v) ? new java.math.BigDecimal(Double.toString(v)).stripTrailingZeros().toPlainString() : Double.toString(v);
    }

    private static boolean same(Object a, Object b) {
        if (a instanceof Number x && b instanceof Number y) return x.doubleValue() == y.doubleValue();
        return String.valueOf(a).equals(String.valueOf(b));
    }

    /** buildModel, said when it takes seconds (vgg11's 129 million parameters: 8 s on this 2-core machine). */
    private Module built(Progress.Mode mode, ModelRegistry.Entry entry, Backend be, ModelSpec spec, long seed, long parameters) {
        try (Progress.Phase building = Progress.slowPhase(mode, log, String.format(java.util.Locale.ROOT, "building %s (%,d parameters)",
                entry.name(), parameters))) {
            return buildModel(entry, be, spec, seed);
        }
    }

    private static Module buildModel(ModelRegistry.Entry entry, Backend be, ModelSpec spec, long seed) {
        return io.dltrain.runtime.tensor.Scope.outside(() -> entry.build(new Context(be, seed), spec));
    }

    private static String describeDevice(Backend be) {
        Map<String, Object> d = be.describe();
        return be.name() + (d.containsKey("threads") ? " (" + threads(d) + ", " + d.get("gemm") + ")" : "");
    }

    /** "2 threads", or "8 threads on 2 cores" where the thread count (which decides the results) exceeds the cores. */
    static String threads(Map<String, Object> describe) {
        Object t = describe.get("threads"), cores = describe.get("cores_used");
        return t + " " + Words.noun(t instanceof Number n ? n.longValue() : 2, "thread")
                + (cores != null && !cores.equals(t) ? " on " + cores + " " + Words.noun(cores instanceof Number n ? n.longValue() : 2, "core") : "");
    }

    private Map<String, Object> summary(ModelRegistry.Entry model, Task task, DatasetRegistry.Entry data, Backend be, Module m,
                                        TrainConfig config, Trainer.Result result, EvalResult test,
                                        DataLoader trainLoader, DataLoader valLoader, long processFrom) {
        Map<String, Object> s = Checkpoint.writtenBy(); // format_version, dl_train_version, dl_train_build first
        s.put("model", model.name());
        s.put("dataset", data.name());
        s.put("device", be.name());
        s.put("epochs", result.epochs().size());
        s.put("epochs_requested", config.epochs());
        s.put("stopped_early", result.stoppedEarly());
        s.put("best_epoch", result.bestEpoch());
        s.put("task", task.label());
        s.put("metric", task.metric());
        if (!task.classifies()) s.put("test_" + task.metric(), RunOutput.finiteOrNull(test.loss()));
        s.put("test_loss", RunOutput.finiteOrNull(test.loss()));
        s.put("test_acc", RunOutput.finiteOrNull(test.top1()));
        s.put("test_top5", RunOutput.finiteOrNull(test.top5()));
        s.put("test_samples", test.samples());
        s.put("total_seconds", result.seconds());
        s.put("skipped_steps", result.epochs().stream().mapToLong(EpochMetrics::skippedSteps).sum());
        s.put("parameters", m.parameterCount());
        s.put("train_samples", trainLoader.samples());
        s.put("val_samples", valLoader == null ? 0 : valLoader.samples());
        // the training loader's own throughput: whether data loading kept up with the model. The loader is this
        // process's, and a resumed run's earlier processes kept no count: the section says from which step it counts
        // (0: the whole run). data_wait_seconds is the epochs' total, as metrics.jsonl has them (every process's).
        DataLoader.Stats ls = trainLoader.stats();
        Map<String, Object> loader = new LinkedHashMap<>();
        loader.put("this_process_from_step", processFrom);
        loader.put("workers", ls.workers());
        loader.put("samples_loaded", ls.samplesLoaded());
        loader.put("busy_seconds", ls.busySeconds());
        loader.put("samples_per_second_per_worker", ls.samplesPerSecond());
        loader.put("data_wait_seconds", result.epochs().stream().mapToDouble(EpochMetrics::dataWaitSeconds).sum());
        s.put("loader", loader);
        Map<String, Object> cfg = new LinkedHashMap<>();
        cfg.put("batch_size", config.batchSize());
        cfg.put("lr", config.lr());
        cfg.put("optimizer", config.optimizer());
        cfg.put("momentum", config.momentum());
        cfg.put("weight_decay", config.weightDecay());
        cfg.put("schedule", config.schedule());
        cfg.put("label_smoothing", config.labelSmoothing());
        cfg.put("clip_norm", config.clipNorm());
        cfg.put("seed", config.seed());
        cfg.put("val_fraction", config.valFraction());
        cfg.put("patience", config.patience());
        if (o.initFrom != null) cfg.put("init_from", o.initFrom.toString());
        if (!o.freeze.isEmpty()) cfg.put("freeze", List.copyOf(o.freeze));
        s.put("config", cfg);
        s.put("backend", be.describe());
        io.dltrain.runtime.backend.MemoryStats mem = be.memoryStats();
        Map<String, Object> memory = new LinkedHashMap<>();
        memory.put("in_use_bytes", mem.inUseBytes());
        memory.put("reserved_bytes", mem.reservedBytes());
        memory.put("peak_bytes", mem.peakBytes());
        s.put("memory", memory);
        return s;
    }
}
