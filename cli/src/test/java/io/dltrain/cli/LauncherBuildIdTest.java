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

    /** Launches the copied launcher (--version) and returns how many builds there have been. */
    private static long launches(Path root, Path builds) throws Exception {
        LauncherLockTest.Ran r = LauncherLockTest.run(List.of(root.resolve("dl-train").toString(), "--version"));
        assertEquals(0, r.code(), r.output());
        assertTrue(r.output().contains("java ran: "), r.output());
        return Files.exists(builds) ? Files.readAllLines(builds).size() : 0;
    }

    private static void git(Path dir, String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of("git", "-C", dir.toString(), "-c", "user.name=t", "-c", "user.email=t@t",
                "-c", "commit.gpgsign=false"));
        cmd.addAll(List.of(args));
        LauncherLockTest.Ran r = LauncherLockTest.run(cmd);
        assertEquals(0, r.code(), String.join(" ", cmd) + ": " + r.output());
    }
}
