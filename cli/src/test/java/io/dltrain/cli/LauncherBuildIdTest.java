package io.dltrain.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.PosixFilePermissions;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The {@code ./dl-train} launcher rebuilt the jar only when a source file was newer than it, so a commit (or a checkout,
 * a reset) that changed no source file left the jar recording the build before it: --version, summary.json and every
 * checkpoint named the previous commit, or "-dirty" for a tree since committed. Where the checkout is a git one, it now
 * also compares the build the jar records (runtime's build.properties, written by the build) with git describe of the
 * checkout now, as runtime/pom.xml runs it. Run on a copy of the launcher in a git repository, with stand-ins for java
 * and mvn (a build writes build.properties as the real one does, and is counted).
 */
class LauncherBuildIdTest {
    @Test
    void aCommitThatChangesNoSourceRebuildsTheJarOnce(@TempDir Path tmp) throws Exception {
        assumeTrue(Files.isRegularFile(LauncherLockTest.LAUNCHER) && LauncherLockTest.onPath("git"), "the launcher and git");
        Path root = checkout(tmp), builds = root.resolve("builds.txt");

        assertEquals(1, launches(root, builds), "the first launch builds");
        assertEquals(1, launches(root, builds), "nothing changed: no build");
        git(root, "commit", "-q", "--allow-empty", "-m", "a commit that changes no file");
        assertEquals(2, launches(root, builds), "another commit: the jar records the one before it, and is rebuilt");
        assertEquals(2, launches(root, builds), "once");
        Files.writeString(root.resolve("README.md"), "dl-train, edited\n"); // no source, but the tree is dirty now
        assertEquals(3, launches(root, builds), "a dirty tree: the build says so");
        git(root, "commit", "-q", "-am", "the edit");
        assertEquals(4, launches(root, builds), "the dirty tree committed");
        assertEquals(4, launches(root, builds), "once");
        // a jar whose build recorded no commit (git failed then) is not rebuilt on every launch
        Files.writeString(root.resolve("runtime/target/classes/io/dltrain/runtime/build.properties"), "build=unknown\n");
        assertEquals(4, launches(root, builds), "build=unknown: left as it is");
    }

    /**
     * A checkout shared by several users (the jar and target/ the owner's): the owner's commit of a README edit, or the
     * edit itself uncommitted, changes no source, but the jar's build id no longer matches git describe. Another user
     * whose git answers there (safe.directory) cannot rebuild; that must not stop them running the jar, built from the
     * same sources: a notice says which commit the jar records and how to record the new one. Before, every launch by
     * another user failed (exit 1) with "the jar is older than the sources", which it was not.
     */
    @Test
    void anotherUserRunsTheJarAsBuiltWhenOnlyTheCommitChanged(@TempDir Path tmp) throws Exception {
        assumeTrue(Files.isRegularFile(LauncherLockTest.LAUNCHER) && LauncherLockTest.onPath("git"), "the launcher and git");
        LauncherLockTest.assumeUsable();
        Path root = checkout(tmp), builds = root.resolve("builds.txt");
        assertEquals(1, launches(root, builds), "the owner's first launch builds");
        String built = Files.readString(root.resolve("runtime/target/classes/io/dltrain/runtime/build.properties")).strip()
                .substring("build=".length());
        try (var all = Files.walk(tmp)) { // others may enter, read and run, not write (the owner's umask 022)
            for (Path f : all.toList()) {
                boolean run = Files.isDirectory(f) || List.of("java", "mvn", "dl-train").contains(f.getFileName().toString());
                Files.setPosixFilePermissions(f, PosixFilePermissions.fromString(run ? "r-xr-xr-x" : "r--r--r--"));
            }
            Files.setPosixFilePermissions(root, PosixFilePermissions.fromString("rwxr-xr-x")); // the owner's commits
            Files.setPosixFilePermissions(root.resolve(".git"), PosixFilePermissions.fromString("rwxr-xr-x"));
            try (var g = Files.walk(root.resolve(".git"))) {
                for (Path f : g.toList()) if (Files.isDirectory(f)) Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rwxr-xr-x"));
            }
            Files.setPosixFilePermissions(root.resolve("README.md"), PosixFilePermissions.fromString("rw-r--r--"));
            git(root, "commit", "-q", "--allow-empty", "-m", "a README edit");
            String now = git(root, "describe", "--always", "--dirty", "--abbrev=12", "--exclude=*");
            LauncherLockTest.Ran r = asAnotherUser(root);
            assertEquals(0, r.code(), r.output());
            assertTrue(r.output().startsWith("dl-train: notice: the jar was built at " + built + " and the checkout is at " + now
                    + " (a commit, checkout or edit that changed no source file); " + root.resolve("runtime/target") + " is not writable by "),
                    r.output());
            assertTrue(r.output().contains("so it runs as built, and --version, summary.json, model.json and checkpoints name "
                    + built + ". To record " + now + ", rebuild the jar as the checkout's owner (./dl-train --version).\n"), r.output());
            assertTrue(r.output().contains("java ran: "), r.output());
            assertEquals(1, Files.readAllLines(builds).size(), "no build");

            Files.writeString(root.resolve("README.md"), "dl-train, edited again\n"); // uncommitted: -dirty
            r = asAnotherUser(root);
            assertEquals(0, r.code(), r.output());
            assertTrue(r.output().contains(" and the checkout is at " + now + "-dirty "), r.output());
            assertTrue(r.output().contains("java ran: "), r.output());

            // no lock file, and cli/target not writable: the lock cannot be opened, and likewise the jar runs as built
            Path target = root.resolve("cli/target");
            Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("rwxr-xr-x"));
            Files.delete(target.resolve(".dl-train-build.lock"));
            Files.setPosixFilePermissions(target, PosixFilePermissions.fromString("r-xr-xr-x"));
            r = asAnotherUser(root);
            assertEquals(0, r.code(), r.output());
            assertTrue(r.output().contains("-dirty (a commit, checkout or edit that changed no source file); the build lock "
                    + target.resolve(".dl-train-build.lock") + " is not writable by "), r.output());
            assertTrue(r.output().contains("java ran: "), r.output());
            assertEquals(1, Files.readAllLines(builds).size(), "no build");
        } finally {
            try (var all = Files.walk(tmp)) { // for @TempDir's clean-up
                for (Path f : all.toList()) if (Files.isDirectory(f)) Files.setPosixFilePermissions(f, PosixFilePermissions.fromString("rwxr-xr-x"));
            }
        }
    }

    /** LauncherLockTest.launch with git told that the owner's checkout is safe (safe.directory, as a shared one needs). */
    private static LauncherLockTest.Ran asAnotherUser(Path root) throws Exception {
        List<String> as = "root".equals(System.getProperty("user.name")) ? List.of("runuser", "-u", "nobody", "--") : List.of();
        if (!as.isEmpty()) {
            LauncherLockTest.Ran probe = LauncherLockTest.run(LauncherLockTest.concat(as, List.of("test", "-x", root.resolve("dl-train").toString())));
            assumeTrue(probe.code() == 0, "as root, the launcher must run as another user, and 'runuser -u nobody' cannot run it here: "
                    + probe.output().strip());
        }
        return LauncherLockTest.run(LauncherLockTest.concat(as, List.of("env", "GIT_CONFIG_COUNT=1", "GIT_CONFIG_KEY_0=safe.directory",
                "GIT_CONFIG_VALUE_0=*", root.resolve("dl-train").toString(), "--version")));
    }

    /**
     * A git repository with a copy of the launcher, a source file, README.md, stand-in java and a stand-in mvn that
     * writes build.properties as runtime/pom.xml does and counts its builds in builds.txt; one commit.
     */
    static Path checkout(Path tmp) throws Exception {
        Path root = Files.createDirectories(tmp.resolve("checkout")), bin = Files.createDirectories(root.resolve("bin"));
        Files.copy(LauncherLockTest.LAUNCHER, root.resolve("dl-train"));
        Files.createDirectories(root.resolve("jdk/bin"));
        Files.createDirectories(root.resolve(".ci"));
        Files.writeString(root.resolve(".ci/java-env"), "export JAVA_HOME=" + root.resolve("jdk") + "\nexport PATH=" + bin + ":$PATH\n");
        Files.writeString(root.resolve("jdk/bin/java"), "#!/bin/sh\necho \"java ran: $*\"\n");
        Path builds = root.resolve("builds.txt"); // one line a build (ignored by git, as target/ is)
        Files.writeString(bin.resolve("mvn"), "#!/bin/sh\nset -e\nmkdir -p cli/target runtime/target/classes/io/dltrain/runtime\n"
                + ": > cli/target/dl-train.jar\n"
                + "echo \"build=$(git describe --always --dirty --abbrev=12 --exclude='*')\" > runtime/target/classes/io/dltrain/runtime/build.properties\n"
                + "echo built >> " + builds + "\n");
        Files.writeString(root.resolve(".gitignore"), "target/\n/bin/\n/jdk/\n/builds.txt\n");
        Files.writeString(Files.createDirectories(root.resolve("cli/src/main")).resolve("A.java"), "class A {}\n");
        Files.writeString(root.resolve("README.md"), "dl-train\n");
        for (String f : List.of("dl-train", "bin/mvn", "jdk/bin/java"))
            Files.setPosixFilePermissions(root.resolve(f), PosixFilePermissions.fromString("rwxr-xr-x"));
        git(root, "init", "-q");
        git(root, "add", ".gitignore", "dl-train", ".ci", "cli", "README.md");
        git(root, "commit", "-q", "-m", "first");
        return root;
    }

    /** Launches the copied launcher (--version) and returns how many builds there have been. */
    private static long launches(Path root, Path builds) throws Exception {
        LauncherLockTest.Ran r = LauncherLockTest.run(List.of(root.resolve("dl-train").toString(), "--version"));
        assertEquals(0, r.code(), r.output());
        assertTrue(r.output().contains("java ran: "), r.output());
        return Files.exists(builds) ? Files.readAllLines(builds).size() : 0;
    }

    private static String git(Path dir, String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of("git", "-C", dir.toString(), "-c", "user.name=t", "-c", "user.email=t@t",
                "-c", "commit.gpgsign=false"));
        cmd.addAll(List.of(args));
        LauncherLockTest.Ran r = LauncherLockTest.run(cmd);
        assertEquals(0, r.code(), String.join(" ", cmd) + ": " + r.output());
        return r.output().strip();
    }
}
