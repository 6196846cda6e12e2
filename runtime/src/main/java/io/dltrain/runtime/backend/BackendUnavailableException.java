package io.dltrain.runtime.backend;

/** The requested device cannot be used; the message says why in one line (no driver, library missing, ...). */
public class BackendUnavailableException extends RuntimeException {
    public BackendUnavailableException(String message) { super(message); }
}
