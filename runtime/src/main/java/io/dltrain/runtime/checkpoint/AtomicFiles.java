package io.dltrain.runtime.checkpoint;

import java.io.BufferedOutputStream;
import java.io.FilterOutputStream;
import java.io.IOException;
import java.io.OutputStream;
import java.nio.channels.Channels;
import java.nio.channels.FileChannel;
import java.nio.file.AtomicMoveNotSupportedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.nio.file.StandardOpenOption;

/**
 * Crash-safe file replacement: after {@link #write} returns, the file holds the new contents durably; if it throws
 * (or the machine dies part-way), the file holds the previous contents (or is still absent), never a mix or a
 * truncated file.
 *
 * <p>How: the contents go to a temporary file in the same directory (a rename is only atomic within one file
 * system), which is fsynced; it is then renamed over the target with ATOMIC_MOVE (POSIX rename(2)) and the
 * directory is fsynced so the rename itself survives a power loss. The temporary file is deleted on failure.
 */
public final class AtomicFiles {
    private AtomicFiles() {}

    /** Produces a file's contents. The stream is buffered; closing it is allowed and does nothing. */
    @FunctionalInterface
    public interface Content {
        void writeTo(OutputStream out) throws IOException;
    }

    /**
     * Atomically replaces (or creates) {@code target} with what {@code content} writes. An I/O failure (disk full,
     * unwritable directory, an IOException from the content) throws a {@link CheckpointException} naming the path;
     * a RuntimeException from the content is rethrown as is. Either way the previous file is left untouched.
     */
    public static void write(Path target, Content content) {
        write(target, null, content);
    }

    /**
     * As {@link #write(Path, Content)}, through the temporary file {@code tmp} (in target's directory; a file of that
     * name is replaced) rather than one of a random name: for a writer that is alone in its directory (the process that
     * holds a run directory's lock), whose files keep the names they have always had.
     *
     * @param tmp null for a random name
     */
    public static void write(Path target, Path tmp, Content content) {
        Path abs = target.toAbsolutePath();
        Path dir = abs.getParent();
        Path fixed = tmp == null ? null : tmp.toAbsolutePath();
        tmp = null;
        boolean done = false;
        try {
            FileChannel created = null;
            // Not Files.createTempFile: it makes the file owner-only (0600) whatever the umask, and the rename keeps
            // that mode, so another user could not load a shared model or checkpoint. CREATE(_NEW) gives the mode any
            // new file gets (0666 less the umask: 0644 under the usual 022), like the JSON files beside it.
            while (created == null) {
                if (fixed != null) {
                    tmp = fixed;
                    created = FileChannel.open(tmp, StandardOpenOption.CREATE, StandardOpenOption.TRUNCATE_EXISTING, StandardOpenOption.WRITE);
                    break;
                }
                tmp = dir.resolve("." + abs.getFileName() + "." + Long.toUnsignedString(java.util.concurrent.ThreadLocalRandom.current().nextLong(), 36) + ".tmp");
                try {
                    created = FileChannel.open(tmp, StandardOpenOption.CREATE_NEW, StandardOpenOption.WRITE);
                } catch (FileAlreadyExistsException taken) {
                    tmp = null;   // a name in use (another writer's): draw again
                }
            }
            try (FileChannel ch = created) {
                OutputStream out = new BufferedOutputStream(Channels.newOutputStream(ch), 1 << 16);
                content.writeTo(new FilterOutputStream(out) {
                    // Bulk writes straight through (FilterOutputStream's default writes byte by byte).
                    @Override public void write(byte[] b, int off, int len) throws IOException { out.write(b, off, len); }
                    // The content may close the stream (Jackson does by default); the channel must stay open to fsync.
                    @Override public void close() throws IOException { out.flush(); }
                });
                out.flush();
                ch.force(true);
            }
            try {
                Files.move(tmp, abs, StandardCopyOption.ATOMIC_MOVE, StandardCopyOption.REPLACE_EXISTING);
            } catch (AtomicMoveNotSupportedException e) {
                throw new CheckpointException("cannot atomically replace " + abs + ": the file system does not support atomic "
                        + "renames (" + e.getMessage() + "); write checkpoints to a local disk", e);
            }
            done = true;
        } catch (IOException e) {
            throw new CheckpointException("could not write " + abs + ": " + describe(e) + "; the previous file (if any) is "
                    + "unchanged. Check free disk space, that the directory exists and is writable", e);
        } finally {
            if (!done && tmp != null) {
                try { Files.deleteIfExists(tmp); } catch (IOException ignored) { /* best effort: leave a stray .tmp */ }
            }
        }
        try {
            syncDirectory(dir);
        } catch (IOException e) {
            throw new CheckpointException("wrote " + abs + " but could not fsync its directory " + dir + ": " + describe(e)
                    + "; the new file is in place but may not survive a power loss. Check the disk", e);
        }
    }

    /**
     * fsyncs a directory so that renames and creations in it are durable. Linux allows opening a directory for
     * reading and forcing it; on platforms that do not (Windows), the open fails and there is nothing to do.
     */
    public static void syncDirectory(Path dir) throws IOException {
        FileChannel ch;
        try {
            ch = FileChannel.open(dir, StandardOpenOption.READ);
        } catch (IOException | UnsupportedOperationException e) {
            return;
        }
        try (ch) {
            ch.force(true);
        }
    }

    /** An IOException's class and message: NoSuchFileException and friends carry only the path as message. */
    static String describe(IOException e) {
        String m = e.getMessage();
        return e.getClass().getSimpleName() + (m == null ? "" : " (" + m + ")");
    }
}
