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

import java.nio.file.Files;
import java.nio.file.Path;

/** Finding and loading a saved model for {@code eval} and {@code predict}; every problem is a usage error (exit 2). */
final class Loaded {
    private Loaded() {}

    /** The model directory --checkpoint DIR stands for (see {@link SavedModel#locate}). */
    static Path locate(CommandLine cl, Path dir) {
        if (!Files.exists(dir)) throw new Main.UsageError(cl, "--checkpoint " + dir + " does not exist");
        if (!Files.isDirectory(dir))
            throw new Main.UsageError(cl, "--checkpoint " + dir + " is not a directory: give a run directory (with model/) or a checkpoint directory");
        try {
            return SavedModel.locate(dir).orElseThrow(() -> new Main.UsageError(cl, "--checkpoint " + dir + " holds no model: expected "
                    + dir.resolve(SavedModel.DIR).resolve(Checkpoint.MODEL_FILE) + ", " + dir.resolve(Checkpoint.MODEL_FILE)
                    + " or checkpoints/ckpt-<step>/ (train with --out DIR to get one)"));
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
