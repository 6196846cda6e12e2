package io.dltrain.cli;

import io.dltrain.models.ModelRegistry;
import io.dltrain.runtime.train.Task;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.checkpoint.Checkpoint;
import io.dltrain.runtime.checkpoint.CheckpointException;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.tensor.Scope;
import picocli.CommandLine;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.Optional;

/** Finding and loading a saved model for {@code eval} and {@code predict}; every problem is a usage error (exit 2). */
final class Loaded {
    private Loaded() {}

    /**
     * The model directory --checkpoint DIR stands for (see {@link SavedModel#locate}). Where that is the latest complete
     * checkpoint and newer ones are incomplete, a notice on {@code notices} names them and the one used.
     */
    static Path locate(CommandLine cl, Path dir, PrintWriter notices) {
        if (!Files.exists(dir)) throw new Main.UsageError(cl, "--checkpoint " + dir + " does not exist");
        if (!Files.isDirectory(dir))
            throw new Main.UsageError(cl, "--checkpoint " + dir + " is not a directory: give a run directory (with model/) or a checkpoint directory");
        try {
            Optional<Path> found = SavedModel.locate(dir);
            if (found.isPresent()) {
                IncompleteCheckpoints.noticeSkipped(notices, found.get(), "using");
                return found.get();
            }
            List<Path> broken = new ArrayList<>(Checkpoint.incomplete(dir.resolve(RunOutput.CHECKPOINTS), 0));
            broken.addAll(Checkpoint.incomplete(dir, 0));
            throw new Main.UsageError(cl, "--checkpoint " + dir + " holds no model: expected "
                    + dir.resolve(SavedModel.DIR).resolve(Checkpoint.MODEL_FILE) + ", " + dir.resolve(Checkpoint.MODEL_FILE)
                    + " or checkpoints/ckpt-<step>/ " + (broken.isEmpty() ? "(train with --out DIR to get one)"
                    : "but found only " + IncompleteCheckpoints.describe(broken) + "; restore the missing files, or give another --checkpoint"));
        } catch (CheckpointException e) {
            throw new Main.UsageError(cl, e.getMessage());
        }
    }

    /** How often {@link #read} and {@link #model} look again for a checkpoint that a live run rotated away meanwhile. */
    static final int ROTATION_TRIES = 10;

    /**
     * {@code reader} on {@code found}, what {@link #locate} found for DIR. A run that is training into DIR deletes its older
     * checkpoints as it saves new ones (--keep): when the checkpoint located was deleted before reader got to its
     * files, the latest one is located again (a notice says so), up to {@link #ROTATION_TRIES} times. Any other failure
     * of reader is thrown as is.
     */
    static SavedModel read(CommandLine cl, Path dir, Path found, PrintWriter notices, java.util.function.Function<Path, SavedModel> reader) {
        for (int tries = 1; ; tries++) {
            try {
                return reader.apply(found);
            } catch (RuntimeException e) {
                if (!rotatedAway(found) || tries >= ROTATION_TRIES) throw e;
                Path again = locate(cl, dir, notices);
                notices.println("dl-train: notice: " + found + " was deleted while being read (the run training into " + dir
                        + " rotates its checkpoints); using " + again);
                notices.flush();
                found = again;
            }
        }
    }

    /**
     * True if dir is a periodic checkpoint ({@code ckpt-<step>}) that lacks its files now: its run's rotation (or a
     * newer best/) deleted it, or is deleting it.
     */
    private static boolean rotatedAway(Path dir) {
        return Checkpoint.step(dir) >= 0 && !(Files.isRegularFile(dir.resolve(Checkpoint.STATE_FILE))
                && Files.isRegularFile(dir.resolve(Checkpoint.MODEL_FILE)));
    }

    /** Builds the registry model described by saved and strictly loads its weights (every key, shape and dtype must match). */
    static Module model(CommandLine cl, Backend be, SavedModel saved) {
        return model(cl, be, saved, null, null);
    }

    /**
     * As above; when saved is a checkpoint that a live run rotated away after it was read, its run's latest checkpoint's
     * weights are loaded instead (same model: one run's checkpoints), with a notice on {@code notices} (if not null), and
     * that checkpoint's directory is given to {@code loadedInstead} (if not null), for what reports where the weights came from.
     */
    static Module model(CommandLine cl, Backend be, SavedModel saved, PrintWriter notices, java.util.function.Consumer<Path> loadedInstead) {
        ModelRegistry.Entry entry;
        try {
            entry = ModelRegistry.get(saved.model());
        } catch (IllegalArgumentException e) {
            throw new Main.UsageError(cl, saved.dir() + ": " + e.getMessage());
        }
        if (entry.task() != Task.CLASSIFICATION)
            throw new Main.UsageError(cl, saved.dir() + ": " + entry.name() + " is a " + entry.task().label() + " model; eval and predict"
                    + " score classifiers (its test " + entry.task().metric() + " is test_" + entry.task().metric() + " in the run's summary.json)");
        Module m = Scope.outside(() -> entry.build(new Context(be, 0), saved.spec()));
        Path weights = saved.weights();
        for (int tries = 1; ; tries++) {
            try {
                Checkpoint.loadInto(m, weights, true);
                if (loadedInstead != null && !weights.equals(saved.weights())) loadedInstead.accept(weights.getParent());
                return m;
            } catch (CheckpointException e) {
                Optional<Path> newer = Optional.empty();
                if (tries < ROTATION_TRIES && rotatedAway(weights.getParent())) {
                    try {
                        newer = Checkpoint.latest(weights.getParent().getParent())
                                .filter(c -> Checkpoint.step(c) > Checkpoint.step(saved.dir()));
                    } catch (CheckpointException unlisted) {
                        // reported as the load's failure below
                    }
                }
                if (newer.isEmpty()) {
                    m.close();
                    throw new Main.UsageError(cl, e.getMessage());
                }
                if (notices != null) {
                    notices.println("dl-train: notice: " + weights.getParent() + " was deleted while being read (its run rotates its"
                            + " checkpoints); using the weights of " + newer.get());
                    notices.flush();
                }
                weights = newer.get().resolve(Checkpoint.MODEL_FILE);
            }
        }
    }
}
