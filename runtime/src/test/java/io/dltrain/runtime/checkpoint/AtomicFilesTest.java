package io.dltrain.runtime.checkpoint;

import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;

/** Atomic replacement: success replaces, any failure part-way leaves the previous file and no temporary files. */
class AtomicFilesTest {
    @TempDir Path dir;

    List<String> names() throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).sorted().toList();
        }
    }

    @Test void createsAndReplaces() throws Exception {
        Path f = dir.resolve("a.bin");
        AtomicFiles.write(f, out -> out.write("first".getBytes(StandardCharsets.UTF_8)));
        assertEquals("first", Files.readString(f));
        AtomicFiles.write(f, out -> { out.write("second, longer".getBytes(StandardCharsets.UTF_8)); out.close(); });
        assertEquals("second, longer", Files.readString(f));
        assertEquals(List.of("a.bin"), names(), "no temporary files left");
    }

    /** Models and checkpoints are shared between users: they get the mode of any new file (umask), not owner-only. */
    @Test void theFileGetsTheModeOfAnyNewFileNotOwnerOnly() throws Exception {
        Assumptions.assumeTrue(dir.getFileSystem().supportedFileAttributeViews().contains("posix"), "not a POSIX file system");
        Path probe = Files.createFile(dir.resolve("probe"));   // 0666 less this process's umask
        Path f = dir.resolve("model.safetensors");
        AtomicFiles.write(f, out -> out.write(1));
        assertEquals(PosixFilePermissions.toString(Files.getPosixFilePermissions(probe)),
                PosixFilePermissions.toString(Files.getPosixFilePermissions(f)), "mode of " + f);
        AtomicFiles.write(f, out -> out.write(2));   // a replacement too
        assertEquals(Files.getPosixFilePermissions(probe), Files.getPosixFilePermissions(f));
    }

    @Test void ioFailureMidwayKeepsThePreviousFile() throws Exception {
        Path f = dir.resolve("model.safetensors");
        Files.writeString(f, "old contents");
        CheckpointException e = assertThrows(CheckpointException.class, () -> AtomicFiles.write(f, out -> {
            out.write(new byte[200_000]); // more than the buffer: some bytes reached the temporary file
            throw new IOException("No space left on device");
        }));
        assertTrue(e.getMessage().contains(f.toAbsolutePath().toString()), e.getMessage());
        assertTrue(e.getMessage().contains("No space left on device") && e.getMessage().contains("unchanged"), e.getMessage());
        assertEquals("old contents", Files.readString(f));
        assertEquals(List.of("model.safetensors"), names(), "temporary file removed");
    }

    @Test void runtimeFailureMidwayKeepsThePreviousFileAndPropagates() throws Exception {
        Path f = dir.resolve("state.json");
        Files.writeString(f, "{}");
        IllegalStateException e = assertThrows(IllegalStateException.class, () -> AtomicFiles.write(f, out -> {
            out.write('x');
            throw new IllegalStateException("tensor closed");
        }));
        assertEquals("tensor closed", e.getMessage());
        assertEquals("{}", Files.readString(f));
        assertEquals(List.of("state.json"), names());
    }

    @Test void failureWhenAbsentLeavesNothing() throws Exception {
        Path f = dir.resolve("new.bin");
        assertThrows(CheckpointException.class, () -> AtomicFiles.write(f, out -> { throw new IOException("boom"); }));
        assertEquals(List.of(), names());
    }

    @Test void unwritableLocationIsACheckpointException() throws Exception {
        // A regular file where the directory should be: cannot be created even as root (permission bits would not stop root).
        Path blocker = dir.resolve("blocker");
        Files.writeString(blocker, "I am a file");
        Path f = blocker.resolve("x.bin");
        CheckpointException e = assertThrows(CheckpointException.class, () -> AtomicFiles.write(f, out -> out.write(1)));
        assertTrue(e.getMessage().contains(f.toAbsolutePath().toString()), e.getMessage());
        Path missingDir = dir.resolve("no/such/dir/x.bin");
        e = assertThrows(CheckpointException.class, () -> AtomicFiles.write(missingDir, out -> out.write(1)));
        assertTrue(e.getMessage().contains(missingDir.toAbsolutePath().toString()), e.getMessage());
    }

    /**
     * With a named temporary file (the CLI's summary.json.tmp, model.json.tmp): a leftover of that name is replaced, and
     * a failure part-way deletes it, as a random one; a full disk here is a link to /dev/full, which fails every write
     * with ENOSPC.
     */
    @Test void aNamedTemporaryIsReplacedAndDeletedOnFailure() throws Exception {
        Path f = dir.resolve("summary.json"), tmp = dir.resolve("summary.json.tmp");
        Files.writeString(tmp, "left by a kill, longer than the new contents");
        AtomicFiles.write(f, tmp, out -> out.write("{}".getBytes(StandardCharsets.UTF_8)));
        assertEquals("{}", Files.readString(f));
        assertEquals(List.of("summary.json"), names());
        Assumptions.assumeTrue(Files.isWritable(Path.of("/dev/full")), "no /dev/full here");
        Files.createSymbolicLink(tmp, Path.of("/dev/full"));
        CheckpointException e = assertThrows(CheckpointException.class,
                () -> AtomicFiles.write(f, tmp, out -> out.write(new byte[200_000])));
        assertTrue(e.getMessage().contains("No space left on device"), e.getMessage());
        assertEquals("{}", Files.readString(f));
        assertEquals(List.of("summary.json"), names(), "the temporary is deleted");
    }

    @Test void targetThatIsADirectoryIsNotReplaced() throws Exception {
        Path d = dir.resolve("sub");
        Files.createDirectory(d);
        Files.writeString(d.resolve("keep"), "k");
        assertThrows(CheckpointException.class, () -> AtomicFiles.write(d, out -> out.write(1)));
        assertEquals("k", Files.readString(d.resolve("keep")));
        assertEquals(List.of("sub"), names());
    }
}
