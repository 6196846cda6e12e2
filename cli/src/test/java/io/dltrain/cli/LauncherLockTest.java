package io.dltrain.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The {@code ./dl-train} launcher in a checkout shared by several users: the build lock (cli/target/.dl-train-build.lock)
 * is another user's file, which this user may read but not write. The launcher ended with bash's "Permission denied"
 * on that file; a lock needs only reading, so it now takes it read-only and builds. A lock it cannot open at all is
 * an error that says what to do. Run on a copy of the launcher with stand-ins for java and mvn (a second, no build);
 * as root, whom permissions do not stop, as the user nobody (runuser), and skipped where neither can be arranged.
 */
class LauncherLockTest {
    static final Path LAUNCHER = Path.of(System.getProperty("basedir", System.getProperty("user.dir")), "..", "dl-train");

    record Ran(int code, String output) {}

    /** A checkout with a jar older than its sources, stand-in java and mvn, and a lock file of mode {@code lockMode}. */
    static Path checkout(Path tmp, String lockMode) throws IOException {
        Path root = Files.createDirectories(tmp.resolve("checkout"));
        Files.copy(LAUNCHER, root.resolve("dl-train"));
        Path target = Files.createDirectories(root.resolve("cli/target")), bin = Files.createDirectories(root.resolve("bin"));
        Files.createDirectories(root.resolve("jdk/bin"));
        Files.createDirectories(root.resolve(".ci"));
        Files.writeString(root.resolve(".ci/java-env"), "export JAVA_HOME=" + root.resolve("jdk") + "\nexport PATH=" + bin + ":$PATH\n");
        Files.writeString(root.resolve("jdk/bin/java"), "#!/bin/sh\necho \"java ran: $*\"\n");
        Files.writeString(bin.resolve("mvn"), "#!/bin/sh\n: > " + target.resolve("dl-train.jar") + "\n");
        Path jar = Files.writeString(target.resolve("dl-train.jar"), "");
        Path source = Files.writeString(Files.createDirectories(root.resolve("cli/src/main")).resolve("A.java"), "");
        Files.setLastModifiedTime(jar, FileTime.fromMillis(System.currentTimeMillis() - 60_000)); // older: a build is due
        Files.setLastModifiedTime(source, FileTime.fromMillis(System.currentTimeMillis()));
        Path lock = Files.writeString(target.resolve(".dl-train-build.lock"), "");
        // every user may enter, read and run; cli/target and the jar are writable by all (a group-writable shared checkout)
        try (var all = Files.walk(tmp)) {
            for (Path f : all.toList()) {
                boolean run = Files.isDirectory(f) || List.of("java", "mvn", "dl-train").contains(f.getFileName().toString());
                Files.setPosixFilePermissions(f, PosixFilePermissions.fromString(run ? "rwxrwxrwx" : "rw-rw-rw-"));
            }
        }
        Files.setPosixFilePermissions(lock, PosixFilePermissions.fromString(lockMode));
        return root;
    }

    /**
     * Runs the launcher as a user whom the lock's mode stops: this one, or nobody where this is root. As root, skipped
     * where runuser cannot make nobody run the copied launcher: a container without CAP_SETUID and CAP_SETGID ("runuser:
     * cannot set groups: Operation not permitted"), no user nobody, or a temporary directory nobody cannot reach.
     */
    static Ran launch(Path root) throws Exception {
        List<String> as = "root".equals(System.getProperty("user.name")) ? List.of("runuser", "-u", "nobody", "--") : List.of();
        if (!as.isEmpty()) {
            Ran probe = run(concat(as, List.of("test", "-x", root.resolve("dl-train").toString())));
            assumeTrue(probe.code() == 0, "as root, the launcher must run as another user, and 'runuser -u nobody' cannot run it here: "
                    + probe.output().strip());
        }
        return run(concat(as, List.of(root.resolve("dl-train").toString(), "--version")));
    }

    static Ran run(List<String> cmd) throws Exception {
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        assertTrue(p.waitFor(60, TimeUnit.SECONDS), "the launcher did not end");
        return new Ran(p.exitValue(), new String(p.getInputStream().readAllBytes()));
    }

    static List<String> concat(List<String> a, List<String> b) {
        List<String> all = new ArrayList<>(a);
        all.addAll(b);
        return all;
    }

    static void assumeUsable() {
        assumeTrue(Files.isRegularFile(LAUNCHER) && Path.of("/proc/self").toFile().isDirectory(), "Linux and the launcher");
        assumeTrue(onPath("flock"), "the launcher locks only where flock is installed");
        assumeTrue(!"root".equals(System.getProperty("user.name")) || onPath("runuser"), "as root, runuser is needed to be another user");
    }

    static boolean onPath(String tool) {
        for (String d : System.getenv().getOrDefault("PATH", "").split(":")) if (Files.isExecutable(Path.of(d, tool))) return true;
        return false;
    }

    @Test
    void anotherUsersLockFileIsTakenReadOnly(@TempDir Path tmp) throws Exception {
        assumeUsable();
        Ran r = launch(checkout(tmp, "r--r--r--"));
        assertEquals(0, r.code(), r.output());
        assertTrue(r.output().contains("java ran: ") && r.output().contains("--version"), r.output());
        assertTrue(!r.output().contains("Permission denied"), r.output());
    }

    /**
     * The lock taken read-only, but the build's output is the other user's too (cli/target not group-writable): the
     * build failed with Maven's pages of errors and "the build failed (output above)", where README promises that the
     * error says this user needs write access and what to do. Now said before Maven runs.
     */
    @Test
    void aBuildOutputThisUserCannotWriteSaysWhatToDo(@TempDir Path tmp) throws Exception {
        assumeUsable();
        Path root = checkout(tmp, "r--r--r--");
        Path target = root.resolve("cli/target");
        Files.setPosixFilePermissions(target.resolve("dl-train.jar"), PosixFilePermissions.fromString("r--r--r--"));
        Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("r-xr-xr-x"));
        try {
            Ran r = launch(root);
            assertEquals(1, r.code(), r.output());
            assertTrue(r.output().startsWith("dl-train: error: the jar is older than the sources and must be rebuilt, but "
                    + target), r.output());
            assertTrue(r.output().contains(" is not writable by "), r.output());
            assertTrue(r.output().contains("Rebuild the jar as the checkout's owner (./dl-train --version), make the modules' target"
                    + " directories group-writable (chmod -R g+w */target), or use a checkout of your own."), r.output());
            assertTrue(!r.output().contains("java ran") && !r.output().contains("the build failed"), r.output());
        } finally {
            Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rwxrwxrwx")); // for @TempDir's clean-up
        }
    }

    @Test
    void aLockFileThatCannotBeOpenedSaysWhatToDo(@TempDir Path tmp) throws Exception {
        assumeUsable();
        Ran r = launch(checkout(tmp, "---------"));
        assertEquals(1, r.code(), r.output());
        assertTrue(r.output().startsWith("dl-train: error: the jar is older than the sources and must be rebuilt, but the build lock "), r.output());
        assertTrue(r.output().contains("Rebuild the jar as the checkout's owner (./dl-train --version), make cli/target and its files"
                + " group-writable (chmod -R g+w cli/target), or use a checkout of your own."), r.output());
        assertTrue(!r.output().contains("java ran"), r.output());
    }

    /**
     * A checkout never built (no cli/target) whose cli/ this user cannot write (another user's clone, read-only to the
     * group): the launcher ended with mkdir's own "cannot create directory ... Permission denied" and exit 1, where the
     * other cases say what is wrong and what to do. Now it says so too, before any build.
     */
    @Test
    void aCliDirectoryThisUserCannotWriteSaysWhatToDo(@TempDir Path tmp) throws Exception {
        assumeUsable();
        Path root = checkout(tmp, "rw-rw-rw-"), cli = root.resolve("cli");
        try (var files = Files.walk(cli.resolve("target"))) {
            for (Path f : files.sorted(java.util.Comparator.reverseOrder()).toList()) Files.delete(f); // never built
        }
        Files.setPosixFilePermissions(cli, PosixFilePermissions.fromString("r-xr-xr-x"));
        try {
            Ran r = launch(root);
            assertEquals(1, r.code(), r.output());
            assertTrue(r.output().startsWith("dl-train: error: the jar must be built (first use, or sources changed), but "
                    + cli.resolve("target") + " cannot be created by "), r.output());
            assertTrue(r.output().contains("Build the jar as the checkout's owner (./dl-train --version), make cli/ group-writable"
                    + " (chmod g+w cli), or use a checkout of your own."), r.output());
            assertTrue(!r.output().contains("mkdir:") && !r.output().contains("java ran"), r.output());
        } finally {
            Files.setPosixFilePermissions(cli, PosixFilePermissions.fromString("rwxrwxrwx")); // for @TempDir's clean-up
        }
    }
}
