package io.dltrain.runtime.backend;

/**
 * The requested device cannot be used; the message says why in one line (no driver, library missing, ...) and what to
 * use instead, in the library's terms ({@code Backends.create}'s device argument). A front end that took the device from
 * an option of its own (the command's {@code --device}) gives {@link #commandLineMessage()} instead.
 */
public class BackendUnavailableException extends RuntimeException {
    private final String commandLineMessage;

    public BackendUnavailableException(String message) { this(message, message); }

    /** @param commandLineMessage the same in the terms of dl-train's command line ({@code --device cuda cannot be used: ...}) */
    public BackendUnavailableException(String message, String commandLineMessage) {
        super(message);
        this.commandLineMessage = commandLineMessage;
    }

    /** The message in the terms of dl-train's command line: its {@code --device} option. */
    public String commandLineMessage() { return commandLineMessage; }
}
