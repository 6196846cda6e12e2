package io.dltrain.runtime.checkpoint;

/**
 * A file of a newer format_version than this dl-train reads ({@link Checkpoint#refuseNewer}): not damage, so a caller
 * must not suggest going back to an older checkpoint (whose files the same newer dl-train most likely wrote) or deleting
 * it; the way on is the dl-train that wrote it, or a newer one, as the message says.
 */
public class NewerFormatException extends CheckpointException {
    public NewerFormatException(String message) { super(message); }
}
