package io.dltrain.cli;

import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.io.PrintWriter;

/**
 * Standard output as the commands write it: a PrintWriter (auto-flushing on println) that remembers why a write
 * failed, where PrintWriter only remembers that one did ({@link PrintWriter#checkError}). {@link Main#run} checks it
 * when the command ends: a full disk ({@code > /dev/full}) or a closed descriptor ({@code >&-}) is then an error, and a
 * reader that went away ({@code | head -1}, EPIPE) ends the command quietly with 141, as SIGPIPE ends a C program
 * (the JVM ignores SIGPIPE, so its writes fail instead).
 */
final class Stdout extends PrintWriter {
    private final Recording recording;

    private Stdout(Recording r) {
        super(r, true);
        this.recording = r;
    }

    /** The process's standard output, unbuffered below this writer (a println reaches the descriptor at once). */
    static Stdout system() { return writer(new FileOutputStream(FileDescriptor.out)); }

    /** A writer over {@code out} (tests: a stream failing as the OS would). */
    static Stdout writer(OutputStream out) { return new Stdout(new Recording(out)); }

    /** The first write's failure ("No space left on device", "Broken pipe"), or null where none failed. */
    String failure() {
        IOException e = recording.failed;
        return e == null ? null : e.getMessage() == null ? e.toString() : e.getMessage();
    }

    /** True when the reader of a pipe went away (EPIPE), as Linux, macOS and the BSDs word it. */
    boolean readerGone() { return "Broken pipe".equals(failure()); }

    private static final class Recording extends FilterOutputStream {
        volatile IOException failed;

        Recording(OutputStream out) { super(out); }

        @Override public void write(int b) throws IOException { write(new byte[]{(byte) b}, 0, 1); }

        @Override public void write(byte[] b, int off, int len) throws IOException {
            try {
                out.write(b, off, len);
            } catch (IOException e) {
                if (failed == null) failed = e;
                throw e;
            }
        }

        @Override public void flush() throws IOException {
            try {
                out.flush();
            } catch (IOException e) {
                if (failed == null) failed = e;
                throw e;
            }
        }
    }
}
