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

    /** Builds the registry model described by saved and strictly loads its weights (every key, shape and dtype must match). */
    static Module model(CommandLine cl, Backend be, SavedModel saved) {
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
        try {
            Checkpoint.loadInto(m, saved.weights(), true);
        } catch (CheckpointException e) {
            m.close();
            throw new Main.UsageError(cl, e.getMessage());
        }
        return m;
    }
}
