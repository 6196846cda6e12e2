package io.dltrain.cli;

import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.attribute.FileTime;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The {@code ./dl-train} launcher in the C or POSIX locale (cron, a bare container, a CI job with LANG unset): Java
 * decodes the command line and file names in the locale's charset, ASCII there, so a path with an {@code é}
 * ("/data/café", "runs/résumé") was refused with "Malformed input or input contains unmappable characters". The
 * launcher runs java in C.UTF-8 in that case, and leaves any other locale as it is. Run on a copy of the launcher with
 * a built jar and a stand-in java that prints the locale it was given.
 */
class LauncherLocaleTest {
    /** What the stand-in java saw of LC_ALL and LANG, the launcher run with exactly {@code env}. */
    static String javaSees(Path tmp, Map<String, String> env) throws IOException, InterruptedException {
        return run(tmp, env, Files.readString(LauncherLockTest.LAUNCHER), ProcessBuilder.Redirect.DISCARD)[0]; // bash warns of a locale not installed here
    }

    /** The launcher (its text {@code launcher}) run with exactly {@code env}: what the stand-in java printed, and stderr (unless discarded). */
    static String[] run(Path tmp, Map<String, String> env, String launcher, ProcessBuilder.Redirect stderr) throws IOException, InterruptedException {
        Path root = Files.createDirectories(tmp.resolve("checkout"));
        Files.writeString(root.resolve("dl-train"), launcher);
        Files.createDirectories(root.resolve("jdk/bin"));
        Files.createDirectories(root.resolve(".ci"));
        Files.writeString(root.resolve(".ci/java-env"), "export JAVA_HOME=" + root.resolve("jdk") + "\n");
        Path java = Files.writeString(root.resolve("jdk/bin/java"), "#!/bin/sh\necho \"LC_ALL=${LC_ALL-unset} LANG=${LANG-unset}\"\n");
        Path source = Files.writeString(Files.createDirectories(root.resolve("cli/src/main")).resolve("A.java"), "");
        Path jar = Files.writeString(Files.createDirectories(root.resolve("cli/target")).resolve("dl-train.jar"), "");
        Files.setLastModifiedTime(source, FileTime.fromMillis(System.currentTimeMillis() - 60_000)); // the jar is newer: no build
        java.toFile().setExecutable(true);
        root.resolve("dl-train").toFile().setExecutable(true);
        Path err = tmp.resolve("stderr.txt");
        ProcessBuilder pb = new ProcessBuilder(root.resolve("dl-train").toString(), "--version")
                .redirectError(stderr == ProcessBuilder.Redirect.DISCARD ? stderr : ProcessBuilder.Redirect.to(err.toFile()));
        pb.environment().clear();
        pb.environment().put("PATH", "/usr/bin:/bin");
        pb.environment().putAll(env);
        Process p = pb.start();
        String out = new String(p.getInputStream().readAllBytes()).trim();
        if (!p.waitFor(10, TimeUnit.SECONDS)) p.destroyForcibly();
        assertEquals(0, p.exitValue(), out);
        return new String[] {out, Files.exists(err) ? Files.readString(err) : ""};
    }

    @Test
    void theCOrPosixLocaleOrNoneRunsJavaInUtf8(@TempDir Path tmp) throws Exception {
        int i = 0;
        for (Map<String, String> env : List.of(Map.<String, String>of(), Map.of("LANG", "C"), Map.of("LC_ALL", "POSIX", "LANG", "en_US.UTF-8"),
                Map.of("LC_CTYPE", "C"), Map.of("LC_ALL", "", "LANG", "POSIX"))) {
            String sees = javaSees(tmp.resolve("c" + i++), env);
            assertEquals("LC_ALL=C.UTF-8 LANG=" + env.getOrDefault("LANG", "unset"), sees, env.toString());
        }
    }

    @Test
    void anyOtherLocaleIsLeftAsItIs(@TempDir Path tmp) throws Exception {
        assertEquals("LC_ALL=unset LANG=en_US.UTF-8", javaSees(tmp.resolve("a"), Map.of("LANG", "en_US.UTF-8")));
        assertEquals("LC_ALL=de_DE.ISO-8859-1 LANG=C", javaSees(tmp.resolve("b"), Map.of("LC_ALL", "de_DE.ISO-8859-1", "LANG", "C")));
        assertEquals("LC_ALL=unset LANG=C", javaSees(tmp.resolve("c"), Map.of("LC_CTYPE", "C.UTF-8", "LANG", "C")));
    }

    /**
     * Where C.UTF-8 is not installed (glibc before 2.35 without a distribution's own C.UTF-8: CentOS 7, Amazon Linux 2;
     * macOS), bash warned on every run, on stderr, "dl-train: line 90: warning: setlocale: LC_ALL: cannot change locale
     * (C.UTF-8)": in every cron mail and log. java then runs in the C locale, as before the launcher set one. Shown with
     * a launcher whose C.UTF-8 is a locale no system has.
     */
    @Test
    void aSystemWithoutCUtf8RunsJavaWithoutAWarning(@TempDir Path tmp) throws Exception {
        String launcher = Files.readString(LauncherLockTest.LAUNCHER);
        assertTrue(launcher.contains("LC_ALL=C.UTF-8"), "the launcher no longer sets LC_ALL=C.UTF-8: update this test");
        String[] r = run(tmp, Map.of("LANG", "C"), launcher.replace("C.UTF-8", "xx_NONE.UTF-8"), null);
        assertEquals("LC_ALL=xx_NONE.UTF-8 LANG=C", r[0]);
        assertEquals("", r[1], "the launcher's stderr");
    }
}
