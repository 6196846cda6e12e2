package io.dltrain.cli;

import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.dltrain.runtime.checkpoint.AtomicFiles;
import io.dltrain.runtime.checkpoint.Checkpoint;
import io.dltrain.runtime.checkpoint.CheckpointException;
import io.dltrain.runtime.checkpoint.NewerFormatException;
import io.dltrain.runtime.train.EpochMetrics;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.ByteBuffer;
import java.nio.channels.FileChannel;
import java.nio.channels.FileLock;
import java.nio.channels.OverlappingFileLockException;
import java.nio.charset.StandardCharsets;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardOpenOption;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.OptionalInt;

/**
 * The run directory: {@code metrics.jsonl} (one JSON object per epoch, appended and fsynced as each epoch ends, so
 * a crash loses nothing already reported) and {@code summary.json} (written once at the end through a temporary
 * file, fsynced, and a rename, so it is either complete or absent, also after a power loss).
 */
final class RunOutput implements AutoCloseable {
    private static final ObjectMapper JSON = new ObjectMapper();

    /** Prints value as one indented JSON object on out (a command's --json result on stdout) and flushes. */
    static void printJson(java.io.PrintWriter out, Object value) {
        try {
            out.println(JSON.writerWithDefaultPrettyPrinter().writeValueAsString(value));
        } catch (java.io.IOException e) {
            throw new java.io.UncheckedIOException(e);
        }
        out.flush();
    }
    /** The lock file: held (an OS file lock) while a process trains into the directory; released by close or exit. */
    static final String LOCK = ".lock";
    private final Path dir;
    private final Lock lock;

    /** The directory a run's checkpoints are saved in. */
    static final String CHECKPOINTS = "checkpoints";

    /** The file a run writes once, at its end. */
    static final String SUMMARY = "summary.json";

    private RunOutput(Path dir, Lock lock) {
        this.dir = dir;
        this.lock = lock;
    }

    /**
     * Says why dir cannot hold a run's output, or null if it can. Whatever it creates to find out (OutputDir.problem)
     * it removes again, so bad input leaves no half-made directory behind. With {@code resuming}, an existing run's
     * files are expected rather than refused; with {@code checkLock}, a directory another run holds the lock of is
     * refused (false when the caller holds that lock itself).
     */
    static String problem(Path dir, boolean resuming, boolean checkLock) {
        // made and written by a trial (and removed again): permissions alone miss /proc, read-only mounts and the like
        String unusable = OutputDir.problem(dir, "--out " + dir, "choose another directory");
        if (unusable != null) return unusable;
        Path p = dir.toAbsolutePath();
        if (!Files.isDirectory(p)) return null; // it can be created
        if (checkLock && Lock.heldElsewhere(p)) return inUse(dir, resuming ? "--resume" : "--out");
        if (resuming) return null;
        String held = heldRunFile(p);
        if (held != null) {
            // --resume only where there is a checkpoint to resume: a checkpoints/ folder without one (a run stopped, or
            // out of disk, before its first) would send the user to a resume that refuses and sends them back here
            boolean resumable;
            try {
                resumable = Checkpoint.latest(p.resolve(CHECKPOINTS)).isPresent();
            } catch (CheckpointException e) {
                resumable = false;
            }
            return "--out " + dir + " already holds a run (" + held + "); choose a new directory, or delete that one to reuse it"
                    + (resumable ? ", or continue that run with --resume " + ShellWords.quote(dir) : "");
        }
        // A run stopped before its first epoch ended (--max-steps, a signal, a crash) leaves checkpoints and no
        // metrics.jsonl. A new run here would mix its checkpoints with that run's, and a later --resume would take
        // whichever has the highest step, possibly the older run's. Incomplete checkpoints (a file missing) are that
        // run's too: a resume of the new run would name them as skipped every time, and take one whose files are
        // restored over the new run's.
        Optional<Path> ckpt;
        List<Path> broken;
        try {
            ckpt = Checkpoint.latest(p.resolve(CHECKPOINTS));
            broken = Checkpoint.incomplete(p.resolve(CHECKPOINTS), 0);
        } catch (CheckpointException e) {
            return "--out " + dir + ": " + e.getMessage();
        }
        if (ckpt.isPresent())
            return "--out " + dir + " holds an interrupted run (checkpoint " + ckpt.get() + "); continue it with --resume "
                    + ShellWords.quote(dir) + ", choose a new directory, or delete that one to reuse it";
        if (!broken.isEmpty())
            return "--out " + dir + " holds " + IncompleteCheckpoints.describe(broken) + " of an interrupted run, which cannot be resumed; delete "
                    + (broken.size() == 1 ? "it" : "them") + " to reuse the directory, or choose a new directory";
        return null;
    }

    /** The file (metrics.jsonl, summary.json) that makes dir hold a run a new run may not be started into, or null. */
    static String heldRunFile(Path dir) {
        for (String f : new String[] {"metrics.jsonl", SUMMARY}) if (Files.exists(dir.resolve(f))) return f;
        return null;
    }

    /**
     * The files a run writes into its directory before its first checkpoint is complete (its metrics lines, curves,
     * checkpoints/ holding at most a cut-short ckpt-N.tmp, and the temporary files of the first two), in that order.
     */
    private static final List<String> BEFORE_FIRST_CHECKPOINT = List.of("metrics.jsonl", "metrics.jsonl.tmp", Curves.FILE,
            Curves.FILE + ".tmp", CHECKPOINTS);

    /** Where {@link #setAside} moved a run's files, and their names (a folder with a slash after it). */
    record Aside(Path dir, List<String> names) {}

    /**
     * Moves the files of a run that stopped before its first checkpoint (its metrics.jsonl, curves.png, checkpoints/)
     * into {@code dir/abandoned-<UTC time>/} (-2, -3, ... after it where that exists), for --resume-or-start to start
     * a new run in dir; nothing is deleted, and other files (the user's own) stay. The caller holds dir's lock. Each is
     * one rename within dir, and dir is fsynced after them. What --resume-or-start saw before it took the lock is
     * checked again first: a run that was still training there may have completed a checkpoint, or ended, since.
     *
     * @return where they went, or null when dir holds none of them
     * @throws InUse if dir now holds a complete checkpoint, a summary.json or a model/ (nothing is moved)
     * @throws UncheckedIOException if a file cannot be moved (the message names it; those moved before stay moved)
     */
    static Aside setAside(Path dir, java.time.Instant now) {
        String since;
        try {
            since = Checkpoint.latest(dir.resolve(CHECKPOINTS)).map(c -> "a checkpoint (" + c + ")").orElse(null);
        } catch (RuntimeException unreadable) { // CheckpointException, UncheckedIOException: the resume says what is wrong
            since = "checkpoints (" + dir.resolve(CHECKPOINTS) + ") that cannot be read now";
        }
        if (since == null)
            for (String f : List.of(SUMMARY, SavedModel.DIR))
                if (Files.exists(dir.resolve(f), java.nio.file.LinkOption.NOFOLLOW_LINKS)) since = "a run's " + f;
        if (since != null)
            throw new InUse("--resume-or-start: " + dir + " now holds " + since + ", written since this command looked; nothing was moved."
                    + (since.startsWith("a run's") ? " Run the same command again: it says what that run left" : " Run the same command again to resume it"));
        List<String> names = BEFORE_FIRST_CHECKPOINT.stream().filter(n -> Files.exists(dir.resolve(n), java.nio.file.LinkOption.NOFOLLOW_LINKS)).toList();
        if (names.isEmpty()) return null;
        String stamp = java.time.format.DateTimeFormatter.ofPattern("yyyyMMdd'T'HHmmss'Z'").withZone(java.time.ZoneOffset.UTC).format(now);
        Path aside = null;
        Path current = null;
        try {
            for (int i = 1; aside == null; i++) {
                Path candidate = dir.resolve("abandoned-" + stamp + (i == 1 ? "" : "-" + i));
                try {
                    Files.createDirectory(candidate);
                    aside = candidate;
                } catch (FileAlreadyExistsException taken) {
                    // a restart within the same second: the next suffix
                }
            }
            for (String n : names) {
                current = dir.resolve(n);
                Files.move(current, aside.resolve(n), java.nio.file.StandardCopyOption.ATOMIC_MOVE);
            }
            current = null;
            AtomicFiles.syncDirectory(aside);
            AtomicFiles.syncDirectory(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot move " + (current != null ? current : dir) + " aside into "
                    + (aside != null ? aside : dir.resolve("abandoned-" + stamp)) + ": " + OutputDir.reason(e)
                    + "; nothing was deleted. Move or delete the files of the stopped run in " + dir + " yourself", e);
        }
        return new Aside(aside, names.stream().map(n -> n.equals(CHECKPOINTS) ? n + "/" : n).toList());
    }

    /** The run directory cannot be used now: another process trains into it, or it holds a run since it was checked. */
    static final class InUse extends RuntimeException {
        InUse(String message) { super(message); }
    }

    /**
     * A run directory's lock: an OS file lock on {@code <dir>/.lock}, held while a process trains into the directory,
     * so that two processes never write one run (their metrics.jsonl lines would interleave, and the last to finish
     * would overwrite the other's model and checkpoints). The OS releases it when the process ends, however it ends.
     */
    static final class Lock implements AutoCloseable {
        private final FileChannel channel;
        /** Null when the OS lock is held; otherwise why the directory could not be locked (a warning for the user). */
        private final String unlocked;

        private Lock(FileChannel channel, String unlocked) {
            this.channel = channel;
            this.unlocked = unlocked;
        }

        /** Why the directory is not locked (the file system has no locks), or null when it is. */
        String unlocked() { return unlocked; }

        /**
         * Takes the lock of an existing directory; {@code flag} (--out or --resume) names it in messages.
         *
         * @throws InUse if another process (or another run in this one) holds it
         */
        static Lock acquire(Path dir, String flag) {
            FileChannel ch = null;
            try {
                ch = FileChannel.open(dir.resolve(LOCK), StandardOpenOption.CREATE, StandardOpenOption.WRITE);
                FileLock held;
                try {
                    held = ch.tryLock();
                } catch (OverlappingFileLockException sameProcess) {
                    held = null;
                } catch (IOException unsupported) {
                    // some network file systems have no locks ("No locks available"): train, and say it is unguarded
                    Lock lock = new Lock(ch, flag + " " + dir + " cannot be locked (" + unsupported.getMessage() + "), so nothing"
                            + " stops another run from writing into it at the same time");
                    ch = null;
                    return lock;
                }
                if (held == null) throw new InUse(inUse(dir, flag));
                // who holds it, for whoever looks and for a second run's error (holder): process id, host, since when
                ch.truncate(0);
                ch.write(ByteBuffer.wrap((ProcessHandle.current().pid() + "\n" + host() + "\n"
                        + java.time.Instant.now().truncatedTo(java.time.temporal.ChronoUnit.SECONDS) + "\n").getBytes(StandardCharsets.UTF_8)));
                ch.force(false);
                Lock lock = new Lock(ch, null);
                ch = null;
                return lock;
            } catch (IOException e) {
                throw new UncheckedIOException("cannot lock " + flag + " " + dir + ": " + OutputDir.reason(e), e);
            } finally {
                if (ch != null) try { ch.close(); } catch (IOException ignored) { /* nothing was locked */ }
            }
        }

        /** True if dir's lock file exists and another run holds its lock; looks without taking it for longer than that. */
        static boolean heldElsewhere(Path dir) {
            Path file = dir.resolve(LOCK);
            if (!Files.exists(file)) return false;
            try (FileChannel ch = FileChannel.open(file, StandardOpenOption.WRITE)) {
                try (FileLock probe = ch.tryLock()) {
                    return probe == null;
                } catch (OverlappingFileLockException sameProcess) {
                    return true;
                }
            } catch (IOException unreadable) {
                return false; // not ours to judge here: taking the lock will say what is wrong
            }
        }

        /** Releases the lock (idempotent); the empty lock file stays. */
        @Override
        public void close() {
            try {
                channel.close();
            } catch (IOException ignored) {
                // closing releases the lock; the process's exit would release it too
            }
        }
    }

    /**
     * This machine's name (in Kubernetes, the pod's; in Docker, the container id), or "" where it cannot be read:
     * the kernel's, which needs no name lookup, else $HOSTNAME.
     */
    static String host() {
        try {
            String h = Files.readString(Path.of("/proc/sys/kernel/hostname")).strip();
            if (!h.isEmpty()) return h;
        } catch (IOException | RuntimeException notLinux) {
            // below
        }
        String h = System.getenv("HOSTNAME");
        return h == null ? "" : h.strip();
    }

    /**
     * Who holds dir's lock, from its lock file: " by process PID on HOST, since TIME", or "" where the file says
     * nothing readable (an older dl-train wrote the pid alone: " by process PID").
     */
    static String holder(Path dir) {
        List<String> lines;
        try {
            lines = Files.readAllLines(dir.resolve(LOCK), StandardCharsets.UTF_8);
        } catch (IOException | RuntimeException unreadable) {
            return "";
        }
        if (lines.isEmpty() || !lines.get(0).strip().matches("\\d{1,19}")) return "";
        String by = " by process " + lines.get(0).strip();
        if (lines.size() > 1 && !lines.get(1).isBlank()) by += " on " + lines.get(1).strip();
        if (lines.size() > 2 && !lines.get(2).isBlank()) by += ", since " + lines.get(2).strip();
        return by;
    }

    private static String inUse(Path dir, String flag) {
        return flag + " " + dir + " is in use: another dl-train run is training into it now (" + dir.resolve(LOCK) + " is locked"
                + holder(dir) + "); "
                + (flag.equals("--out") ? "choose another --out, or wait for that run to end" : "wait for that run to end, or stop it, before resuming");
    }

    /**
     * Creates dir if needed and takes its lock, unless the caller holds it already ({@code held}, a resume locks its
     * directory before reading a checkpoint there). Then dir is checked again: another run may have written it
     * between {@link #problem} and now. Closing the RunOutput releases the lock.
     *
     * @throws InUse if another process holds the lock, or the directory now holds a run (and {@code resuming} is false)
     */
    static RunOutput create(Path dir, boolean resuming, Lock held) {
        try {
            Files.createDirectories(dir);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create --out " + dir + ": " + OutputDir.reason(e), e);
        }
        Lock lock = held != null ? held : Lock.acquire(dir, "--out");
        String problem = problem(dir, resuming, false);
        if (problem != null) {
            lock.close();
            throw new InUse(problem);
        }
        return new RunOutput(dir, lock);
    }

    /**
     * The run directory of a run without --out: {@code base} (runs/MODEL-DATA-TIME), or base-2, base-3, ... when that
     * exists (runs started in the same second, e.g. by a sweep script), claimed with an atomic directory creation so
     * that two processes never get the same one; then as {@link #create}.
     */
    static RunOutput createFresh(Path base) {
        Path parent = base.toAbsolutePath().getParent();
        try {
            Files.createDirectories(parent);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot create " + parent + ": " + OutputDir.reason(e), e);
        }
        for (int i = 1; ; i++) {
            Path candidate = freshCandidate(base, i);
            try {
                Files.createDirectory(candidate);
            } catch (FileAlreadyExistsException taken) {
                continue;
            } catch (IOException e) {
                throw new UncheckedIOException("cannot create " + candidate + ": " + OutputDir.reason(e), e);
            }
            return create(candidate, false, null);
        }
    }

    /** The first of base, base-2, base-3, ... that does not exist now (for the checks before anything is created). */
    static Path freshName(Path base) {
        for (int i = 1; ; i++) if (!Files.exists(freshCandidate(base, i))) return freshCandidate(base, i);
    }

    private static Path freshCandidate(Path base, int i) {
        return i == 1 ? base : base.resolveSibling(base.getFileName() + "-" + i);
    }

    @Override
    public void close() { lock.close(); }

    Path dir() { return dir; }

    /** Why this run's directory is not locked, or null when it is ({@link Lock#unlocked}). */
    String unlocked() { return lock.unlocked(); }

    /**
     * On resume: metrics.jsonl gets one line for each of the {@code completedEpochs} the checkpoint holds, and none
     * after. Lines of later epochs (written after that checkpoint, so about to be written again) are dropped; an epoch
     * the checkpoint has but the file lacks (its line could not be written: the trainer checkpointed the epoch before
     * ending on that failure) gets its line from the checkpoint's {@code history}. The file is replaced atomically.
     */
    void resumeMetrics(int completedEpochs, List<EpochMetrics> history) {
        Path f = dir.resolve("metrics.jsonl");
        boolean hasEpochs = history.stream().anyMatch(m -> m.epoch() <= completedEpochs);
        if (!Files.exists(f) && !hasEpochs) return;
        try {
            java.util.TreeMap<Integer, String> lines = new java.util.TreeMap<>();
            if (Files.exists(f)) {
                for (String line : Files.readAllLines(f)) {
                    if (line.isBlank()) continue;
                    com.fasterxml.jackson.databind.JsonNode row;
                    try { row = JSON.readTree(line); } catch (IOException e) { break; } // a line torn by a crash: the end
                    int epoch = row.path("epoch").asInt(Integer.MAX_VALUE);
                    if (epoch <= completedEpochs) lines.putIfAbsent(epoch, line);
                }
            }
            for (EpochMetrics m : history)
                if (m.epoch() <= completedEpochs && !lines.containsKey(m.epoch())) lines.put(m.epoch(), JSON.writeValueAsString(row(m)));
            StringBuilder keep = new StringBuilder();
            for (String line : lines.values()) keep.append(line).append('\n');
            replace(f, keep.toString(), "rewrite");
        } catch (IOException e) {
            throw new UncheckedIOException("cannot rewrite " + f + ": " + OutputDir.reason(e), e);
        }
    }

    /**
     * Before a resume changes anything: refuses dir's metrics.jsonl if a line {@link #resumeMetrics} would keep (of the
     * {@code completedEpochs} the checkpoint holds) records a newer format_version than this dl-train's, or one that is
     * not an integer ({@link Checkpoint#checkFormat}). Lines without one (written before 2026-12-08) pass; lines of later
     * epochs are dropped by the resume, so they are not looked at, nor is what follows a torn line.
     *
     * @throws CheckpointException naming the file, the version and what to do
     */
    static void checkMetricsFormat(Path dir, int completedEpochs) {
        Path f = dir.resolve("metrics.jsonl").toAbsolutePath();
        if (!Files.exists(f)) return;
        List<String> lines;
        try {
            lines = Files.readAllLines(f);
        } catch (IOException e) {
            return; // resumeMetrics says what is wrong with it
        }
        int n = 0;
        for (String line : lines) {
            n++;
            if (line.isBlank()) continue;
            com.fasterxml.jackson.databind.JsonNode row;
            try { row = JSON.readTree(line); } catch (IOException e) { break; } // a line torn by a crash: the end
            if (row.path("epoch").asInt(Integer.MAX_VALUE) > completedEpochs) continue;
            try {
                Checkpoint.checkFormat(f, row);
            } catch (CheckpointException e) {
                // which of the file's lines, and (damage) what to do: the message begins with the file's name
                if (!e.getMessage().startsWith(f.toString())) throw e;
                String said = f + " line " + n + e.getMessage().substring(f.toString().length());
                if (e instanceof NewerFormatException) throw new NewerFormatException(said);
                throw new CheckpointException(said + ": correct that value (this dl-train writes " + Checkpoint.FORMAT_VERSION
                        + ") or restore the file from a copy, and resume again", e);
            }
        }
    }

    /**
     * Replaces {@code file} with {@code text} through FILE.tmp, fsynced as checkpoints are (AtomicFiles): once this
     * returns, a power loss leaves the new file, not an empty one. metrics.jsonl's lines are fsynced as they are
     * appended (SYNC), and its rewrite is too; summary.json is what makes a run complete, written once per run. A part
     * written to a full disk is deleted (it would hold space the resume needs). {@code verb} names the failure.
     */
    private static void replace(Path file, String text, String verb) {
        try {
            AtomicFiles.write(file, file.resolveSibling(file.getFileName() + ".tmp"), out -> out.write(text.getBytes(StandardCharsets.UTF_8)));
        } catch (CheckpointException e) {
            String why = e.getCause() instanceof IOException io ? OutputDir.reason(io) : e.getMessage();
            throw new UncheckedIOException("cannot " + verb + " " + file + ": " + why,
                    e.getCause() instanceof IOException io ? io : new IOException(e.getMessage(), e));
        }
    }

    void appendEpoch(EpochMetrics m) {
        try {
            Files.writeString(dir.resolve("metrics.jsonl"), JSON.writeValueAsString(row(m)) + "\n",
                    StandardOpenOption.CREATE, StandardOpenOption.APPEND, StandardOpenOption.WRITE, StandardOpenOption.SYNC);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + dir.resolve("metrics.jsonl") + ": " + OutputDir.reason(e), e);
        }
    }

    /** An epoch's line of metrics.jsonl: format_version, dl_train_version and dl_train_build first (a resume may change the build). */
    private static Map<String, Object> row(EpochMetrics m) {
        Map<String, Object> row = Checkpoint.writtenBy();
        row.put("epoch", m.epoch());
        row.put("train_loss", m.trainLoss());
        row.put("train_acc", finiteOrNull(m.trainAcc())); // NaN (null) when the task is not classification
        row.put("val_loss", finiteOrNull(m.valLoss()));
        row.put("val_acc", finiteOrNull(m.valAcc()));
        row.put("lr", m.lr());
        row.put("seconds", m.seconds());
        row.put("train_seconds", m.trainSeconds());
        row.put("images_per_sec", finiteOrNull(m.imagesPerSec()));
        row.put("data_wait_seconds", m.dataWaitSeconds());
        row.put("skipped_steps", m.skippedSteps());
        return row;
    }

    void writeSummary(Map<String, Object> summary) {
        Path target = dir.resolve(SUMMARY);
        String text;
        try {
            text = JSON.copy().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(summary) + "\n";
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write " + target + ": " + e.getMessage(), e);
        }
        replace(target, text, "write");
    }

    /**
     * The number of epochs dir's summary.json records ({@code "epochs"}), or empty when there is none.
     *
     * @throws IOException if it cannot be read, is not JSON or has no whole number "epochs" (the message says which)
     * @throws CheckpointException if it records a newer format_version than this dl-train's, or one that is not an integer
     */
    static OptionalInt summaryEpochs(Path dir) throws IOException {
        Path f = dir.resolve(SUMMARY);
        if (!Files.exists(f)) return OptionalInt.empty();
        com.fasterxml.jackson.databind.JsonNode root;
        try {
            root = JSON.readTree(f.toFile());
        } catch (com.fasterxml.jackson.core.JsonProcessingException e) {
            throw new IOException("not JSON: " + e.getOriginalMessage(), e); // without Jackson's multi-line location
        }
        if (root != null && root.isObject()) Checkpoint.checkFormat(f.toAbsolutePath(), root);
        com.fasterxml.jackson.databind.JsonNode epochs = root == null ? null : root.get("epochs");
        if (epochs == null || !epochs.isIntegralNumber() || !epochs.canConvertToInt()) throw new IOException("no whole number \"epochs\" in it");
        return OptionalInt.of(epochs.intValue());
    }

    static Object finiteOrNull(double v) { return Double.isFinite(v) ? v : null; }
}
