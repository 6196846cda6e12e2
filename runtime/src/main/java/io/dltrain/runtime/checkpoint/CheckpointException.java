package io.dltrain.runtime.checkpoint;

/**
 * Any failure to write or read a checkpoint or a safetensors file: I/O errors, a malformed or truncated file, a
 * checkpoint that does not fit the model or optimiser it is loaded into. The message names the file and says what
 * is wrong and what to do; the cause, when there is one, is the underlying I/O or JSON error.
 *
 * <p>Unchecked, like the other errors of the runtime: callers that can recover (the CLI's --resume) catch it by
 * type; a readers' contract is that nothing else (no OutOfMemoryError, no index or parse exception) escapes for a
 * bad file.
 */
public class CheckpointException extends RuntimeException {
    public CheckpointException(String message) { super(message); }

    public CheckpointException(String message, Throwable cause) { super(message, cause); }
}
