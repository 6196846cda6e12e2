package io.dltrain.runtime.data;

import java.nio.file.Path;

/**
 * A batch could not be loaded: a sample failed to read (a corrupt image, an unreadable file), or holds a label or
 * target the run cannot use. The message names the dataset, the sample and the batch ("batch 2 of 422 in epoch 1").
 * The trainer checkpoints the state before that batch, when it has a checkpoint policy, and says where
 * ({@link #checkpoint()}), so that the run can be resumed once the data is fixed.
 */
public final class DataLoadException extends RuntimeException {
    private final Path checkpoint;

    public DataLoadException(String message, Throwable cause) { this(message, cause, null); }

    public DataLoadException(String message, Throwable cause, Path checkpoint) {
        super(message, cause);
        this.checkpoint = checkpoint;
    }

    /** The checkpoint written before the batch that failed, or null if none was. */
    public Path checkpoint() { return checkpoint; }
}
