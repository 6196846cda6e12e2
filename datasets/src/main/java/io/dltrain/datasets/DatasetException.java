package io.dltrain.datasets;

/**
 * A dataset could not be found or read: missing, truncated, corrupt or inconsistent files. The message always names
 * the file (path or classpath resource) and what was wrong, and where there is one, what to do about it; the CLI
 * prints it as is.
 */
public class DatasetException extends RuntimeException {
    public DatasetException(String message) {
        super(message);
    }

    public DatasetException(String message, Throwable cause) {
        super(message, cause);
    }
}
