package io.dltrain.runtime.train;

import java.nio.file.Path;

/**
 * A {@link TrainListener} method threw during {@link Trainer#fit}. The fit stopped calling the listener, went on to the
 * next step boundary (or the epoch's end, when the epoch's training was done), checkpointed that state where it has a
 * checkpoint policy, and ended with this; the listener's exception is the cause.
 */
public class ListenerFailedException extends RuntimeException {
    private final transient Path checkpoint;

    public ListenerFailedException(String message, Throwable cause, Path checkpoint) {
        super(message, cause);
        this.checkpoint = checkpoint;
    }

    /** The checkpoint written after the failure, or null (no checkpoint policy, or the save failed too: suppressed). */
    public Path checkpoint() { return checkpoint; }
}
