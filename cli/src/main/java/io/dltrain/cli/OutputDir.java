package io.dltrain.cli;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileAlreadyExistsException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.NotDirectoryException;
import java.nio.file.Path;
import java.util.Locale;

/**
 * Whether a directory that a command writes into (train's run directory, eval's eval.json, `datasets prepare`'s
 * tree) can be made and written, asked before any work so that a bad one is a usage error rather than a failure at
 * the end of a run. Permissions alone do not tell: root may "write" /proc, where creating anything fails, and a
 * read-only mount may look writable. So the check tries: it creates the first missing directory of the path (or,
 * for an existing directory, an empty file) and removes it again at once, leaving nothing behind.
 */
final class OutputDir {
    private OutputDir() {}

    /**
     * Why {@code dir} cannot be created or written, or null if it can. {@code name} starts the message (e.g.
     * "--out /x"); {@code advice} ends it (what to do, e.g. "choose another --out").
     */
    static String problem(Path dir, String name, String advice) {
        Path p = dir.toAbsolutePath();
        if (Files.isDirectory(p)) {
            if (!Files.isWritable(p)) return name + " is not writable (check its permissions, or " + advice + ")";
            try {
                Files.delete(Files.createTempFile(p, ".dl-train-probe-", ""));
            } catch (IOException e) {
                return name + " is not writable: creating a file in " + where(p) + " fails (" + reason(e) + "); " + advice;
            }
            return null;
        }
        if (Files.exists(p)) return name + " exists and is not a directory; " + advice;
        Path missing = p, parent = p.getParent();
        while (parent != null && !Files.exists(parent)) {
            missing = parent;
            parent = parent.getParent();
        }
        if (parent == null) return name + ": no existing parent directory; " + advice;
        if (!Files.isDirectory(parent)) return name + " cannot be created: " + parent + " is not a directory; " + advice;
        if (Files.isSymbolicLink(missing)) // Files.exists follows links: a link to nothing looks missing, but is in the way
            return name + " cannot be created: " + missing + " is a symbolic link to something that does not exist; " + advice;
        if (!Files.isWritable(parent)) return name + " cannot be created: " + parent + " is not writable (check its permissions, or " + advice + ")";
        try {
            Files.createDirectory(missing);
        } catch (FileAlreadyExistsException raced) {
            return null; // made meanwhile (by another run): whoever creates it next says what is wrong, if anything
        } catch (IOException e) {
            return name + " cannot be created: making a directory in " + where(parent) + " fails (" + reason(e) + "); " + advice;
        }
        try {
            Files.delete(missing);
        } catch (IOException ignored) {
            // an empty directory we made stays: harmless, and the run would have made it anyway
        }
        return null;
    }

    /** dir, with its file system's type where Java knows it ("/proc (file system: proc)"): it explains most refusals. */
    private static String where(Path dir) {
        try {
            return dir + " (file system: " + Files.getFileStore(dir).type() + ")";
        } catch (IOException | RuntimeException unknown) {
            return dir.toString();
        }
    }

    /**
     * What the operating system said, in its words rather than a Java exception's class name: "permission denied",
     * "read-only file system", "no such file or directory", ...
     */
    static String reason(IOException e) {
        String r = switch (e) {
            case AccessDeniedException a -> "permission denied";
            case NoSuchFileException n -> "no such file or directory";
            case FileAlreadyExistsException f -> "a file of that name exists";
            case NotDirectoryException n -> "not a directory";
            case FileSystemException f when f.getReason() != null -> f.getReason();
            default -> e.getMessage() != null ? e.getMessage() : e.getClass().getSimpleName();
        };
        return r.isEmpty() ? r : r.substring(0, 1).toLowerCase(Locale.ROOT) + r.substring(1);
    }
}
