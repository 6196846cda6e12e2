package io.dltrain.cli;

import io.dltrain.runtime.backend.cuda.EmulatedDevice;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.File;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.jar.JarFile;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The shipped jar ({@code cli/target/dl-train.jar}, what {@code ./dl-train}, the Docker image and the GPU bundle run),
 * after {@code package}: Maven runs this in the {@code integration-test} phase (cli/pom.xml). The shade filters leave
 * most of the CUDA presets out of that jar (only cudart, cuBLAS/cuBLASLt and cuDNN go in); the unit tests never see the
 * difference, because they run on Maven's class path. Here the GPU op suite and a training run go through the CUDA
 * backend from the jar alone, on the emulated device ({@link EmulatedDevice}: the real JNI wrappers over host
 * stand-ins of the CUDA libraries), so a class or JNI wrapper the backend needs and the filters drop fails the build.
 */
class ShadedJarIT {
    static final Path JAR = Path.of(System.getProperty("basedir", System.getProperty("user.dir")), "target", "dl-train.jar");

    /**
     * The child's class path: the shaded jar, runtime's test classes (the emulator harness and the GPU suite) and
     * JUnit; nothing else that holds our runtime or a JavaCPP class.
     */
    static String childClassPath() throws Exception {
        assertTrue(Files.isRegularFile(JAR), "no shaded jar at " + JAR + ": run through Maven's integration-test phase (mvn verify)");
        List<String> cp = new ArrayList<>(List.of(JAR.toString()));
        for (String e : System.getProperty("java.class.path").split(File.pathSeparator)) {
            String n = e.replace('\\', '/');
            boolean runtimeTests = n.matches(".*/dl-train-runtime-[^/]*-tests\\.jar") || n.endsWith("runtime/target/test-classes");
            boolean junit = n.contains("/org/junit/") || n.contains("/org/opentest4j/") || n.contains("/org/apiguardian/");
            if (runtimeTests || junit) cp.add(e);
        }
        assertTrue(cp.stream().anyMatch(e -> e.contains("runtime")), "runtime's test classes not found on " + System.getProperty("java.class.path"));
        for (String e : cp.subList(1, cp.size()))
            for (String cls : List.of("io/dltrain/runtime/backend/cuda/CudaBackend.class", "org/bytedeco/javacpp/Loader.class",
                    "org/bytedeco/cuda/global/cudart.class"))
                assertFalse(holds(Path.of(e), cls), e + " holds " + cls + ": the child would not load it from the shaded jar alone");
        return String.join(File.pathSeparator, cp);
    }

    static boolean holds(Path entry, String name) throws Exception {
        if (Files.isDirectory(entry)) return Files.exists(entry.resolve(name));
        try (JarFile j = new JarFile(entry.toFile())) {
            return j.getEntry(name) != null;
        }
    }

    static Class<?> load(String name) {
        try {
            return Class.forName(name, false, ShadedJarIT.class.getClassLoader());
        } catch (ClassNotFoundException e) {
            throw new AssertionError("runtime's test classes lack " + name, e);
        }
    }

    @Test
    void theGpuOpSuiteRunsFromTheShadedJarOnTheEmulatedDevice(@TempDir Path dir) throws Exception {
        String cp = childClassPath();
        EmulatedDevice.build(dir);
        List<String> suite = List.of("io.dltrain.runtime.backend.cuda.CudaVsCpuTest", "io.dltrain.runtime.backend.cuda.CudaMemoryTest");
        String out = EmulatedDevice.junit(dir, cp, List.of(), suite.toArray(new String[0]));
        List<String> results = EmulatedDevice.results(out);
        assertEquals(List.of(), results.stream().filter(l -> !l.startsWith("junit pass ")).toList(),
                "GPU tests that did not pass from the shaded jar:\n" + out);
        long expected = suite.stream().map(ShadedJarIT::load)
                .flatMap(c -> Arrays.stream(c.getDeclaredMethods())).filter(m -> m.isAnnotationPresent(Test.class)).count();
        assertEquals(expected, results.size(), out);
        assertEquals(List.of(), EmulatedDevice.cErrors(out), "the stand-ins saw a wrong call:\n" + out);
    }

    @Test
    void trainsWithDeviceCudaFromTheShadedJarOnTheEmulatedDevice(@TempDir Path tmp) throws Exception {
        String cp = childClassPath();
        Path data = CliTest.fashionSubset(tmp.resolve("fmnist"), 512, 256);
        Path emu = Files.createDirectories(tmp.resolve("emulated"));
        EmulatedDevice.build(emu);
        Path out = tmp.resolve("run");
        EmulatedDevice.Run r = EmulatedDevice.java(emu, cp, List.of(), Main.class.getName(), "train", "--model", "lenet5",
                "--data", "fashion-mnist", "--data-dir", data.toString(), "--epochs", "1", "--batch-size", "64", "--device", "cuda",
                "--progress", "plain", "--out", out.toString());
        assertEquals(0, r.exit(), r.out());
        assertEquals(List.of(), EmulatedDevice.cErrors(r.out()), r.out());
        assertTrue(r.out().contains("device cuda:0"), "the run names its device:\n" + r.out());
        assertEquals("cuda:0", CliTest.JSON.readTree(out.resolve("summary.json").toFile()).get("device").asText());
    }

    /**
     * Running out of Java heap (VGG-11's 133 million parameters in a 48 MiB heap) ends the run with exit code 1 and one
     * line that says what ran out and what to do, not a JVM stack trace: picocli passes Errors by its handler, so
     * Main catches them itself.
     */
    @Test
    void runningOutOfHeapSaysWhatToDo(@TempDir Path tmp) throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "-Xmx48m", "-jar", JAR.toString(), "--model", "vgg11", "--data", "synthetic:3x32x32,classes=10",
                "--epochs", "1", "--max-steps", "1", "--device", "cpu", "--progress", "plain", "--out", tmp.resolve("run").toString())
                .redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), out);
        assertEquals(1, p.exitValue(), out);
        // the weights alone (vgg11 for 10 classes: 491 MiB) do not fit: a smaller batch would not help
        assertTrue(out.contains("dl-train: error: out of memory (Java heap space) building vgg11 (128,807,306 parameters, 491 MiB): the model"
                + " alone does not fit. Give Java a larger heap than its "), out);
        // -Xmx on the command line: JDK_JAVA_OPTIONS, which comes before it, would not raise it
        assertTrue(out.contains(": run java with -Xmx") && out.contains(" in place of its -Xmx48m"), out);
        assertFalse(out.contains("Exception in thread") || out.contains("\tat "), out);
        // the heap from JDK_JAVA_OPTIONS: raised there (and in Docker, with docker run -e)
        ProcessBuilder viaVariable = new ProcessBuilder(java, "-jar", JAR.toString(), "--model", "vgg11", "--data", "synthetic:3x32x32,classes=10",
                "--epochs", "1", "--max-steps", "1", "--device", "cpu", "--progress", "plain", "--out", tmp.resolve("run2").toString())
                .redirectErrorStream(true);
        viaVariable.environment().put("JDK_JAVA_OPTIONS", "-Xmx48m");
        viaVariable.environment().remove("DL_TRAIN_JAVA_OPTS");
        p = viaVariable.start();
        out = new String(p.getInputStream().readAllBytes());
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), out);
        assertEquals(1, p.exitValue(), out);
        assertTrue(out.contains(": JDK_JAVA_OPTIONS=-Xmx") && out.contains("(in Docker: docker run -e JDK_JAVA_OPTIONS=-Xmx"), out);
    }

    @Test
    void theJarStartsWithJavaDashJar() throws Exception {
        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Process p = new ProcessBuilder(java, "-jar", JAR.toString(), "info").redirectErrorStream(true).start();
        String out = new String(p.getInputStream().readAllBytes());
        assertEquals(0, p.waitFor(), out);
        // the manifest's Enable-Native-Access: no "restricted method" warning without the flag
        assertFalse(out.contains("WARNING: A restricted method"), out);
        assertTrue(out.contains("cpu backend:") && out.contains("GEMM: OpenBLAS"), "OpenBLAS loads from the jar:\n" + out);
        assertTrue(out.lines().anyMatch(l -> l.startsWith("cuda: ")), out);
    }
}
