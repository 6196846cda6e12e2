package io.dltrain.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.AccessDeniedException;
import java.nio.file.FileSystemException;
import java.nio.file.Files;
import java.nio.file.NoSuchFileException;
import java.nio.file.Path;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/** OutputDir: the trial that finds an unusable output directory leaves nothing behind, and says why in words. */
class OutputDirTest {
    @Test
    void aUsableDirectoryIsLeftAsItWas(@TempDir Path tmp) throws IOException {
        assertNull(OutputDir.problem(tmp.resolve("a/b/c"), "--out a/b/c", "choose another"));
        assertFalse(Files.exists(tmp.resolve("a")), "the trial directory is removed again");
        Path existing = Files.createDirectories(tmp.resolve("existing"));
        assertNull(OutputDir.problem(existing, "--out existing", "choose another"));
        try (var left = Files.list(existing)) {
            assertEquals(0, left.count(), "the trial file is removed again");
        }
    }

    @Test
    void whatCannotBeMadeIsSaidWithTheReason(@TempDir Path tmp) throws IOException {
        Path file = Files.writeString(tmp.resolve("f"), "x");
        assertEquals("--out f exists and is not a directory; choose another", OutputDir.problem(file, "--out f", "choose another"));
        assertEquals("--out f/x cannot be created: " + file + " is not a directory; choose another",
                OutputDir.problem(file.resolve("x"), "--out f/x", "choose another"));
        Path link = Files.createSymbolicLink(tmp.resolve("dangling"), tmp.resolve("nowhere"));
        assertTrue(OutputDir.problem(link.resolve("x"), "--out d/x", "choose another").contains(link + " is a symbolic link to something"
                + " that does not exist"));
        // root may "write" /proc by its permissions, yet mkdir there fails: the trial finds it
        assumeTrue(Files.isDirectory(Path.of("/proc/self")), "no /proc here");
        String why = OutputDir.problem(Path.of("/proc/dl-train-x"), "--out /proc/dl-train-x", "choose another");
        assertTrue(why != null && why.startsWith("--out /proc/dl-train-x cannot be created: "), String.valueOf(why));
    }

    @Test
    void reasonsAreTheSystemsWordsNotJavaClassNames() {
        assertEquals("permission denied", OutputDir.reason(new AccessDeniedException("/x")));
        assertEquals("no such file or directory", OutputDir.reason(new NoSuchFileException("/proc/x")));
        assertEquals("read-only file system", OutputDir.reason(new FileSystemException("/x", null, "Read-only file system")));
    }
}
