package io.dltrain.runtime.backend.cuda;

import org.junit.jupiter.api.Assumptions;
import org.junit.platform.engine.TestExecutionResult;
import org.junit.platform.engine.discovery.DiscoverySelectors;
import org.junit.platform.launcher.LauncherDiscoveryRequest;
import org.junit.platform.launcher.TestExecutionListener;
import org.junit.platform.launcher.TestIdentifier;
import org.junit.platform.launcher.core.LauncherDiscoveryRequestBuilder;
import org.junit.platform.launcher.core.LauncherFactory;

import java.io.IOException;
import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.lang.reflect.InvocationTargetException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;

/**
 * The emulated device, for tests in any module (runtime's test-jar): the REAL {@link CudaBackend} over host-side
 * stand-ins of the CUDA libraries that compute. Device memory is host memory (the cudart stand-in checks every range
 * and handle), each of our kernels runs its unchanged CUDA C source on the host (kernels/src/test/cuda/emu, called by
 * the driver stand-in's cuLaunchKernel), sgemm and cuBLASLt matmuls are host loops, and cuDNN's convolution, pooling,
 * activation, softmax and batch-norm calls are computed on the host from their descriptors
 * ({@link CudnnOpsStandInTest}). What it can and cannot show: {@link EmulatedDeviceTest}.
 *
 * <p>Use: {@link #build} the libraries into a directory (the test is skipped, with the reason, without gcc/g++, the
 * CUDA headers, or where a real NVIDIA driver is installed: there the GPU suite tests the real thing), then
 * {@link #junit} runs test classes, or {@link #java} any main class, in a child JVM whose library path holds only
 * the stand-ins. The child output's {@code c-error} lines are calls the stand-ins refused ({@link #cErrors}).
 */
public final class EmulatedDevice {
    private EmulatedDevice() {}

    /**
     * JVM option {@code -D}{@value}{@code =true} for {@link #junit} or {@link #java}: every kernel launch runs twice from the
     * same device memory, blocks and threads first in order, then last to first, and must leave the memory its pointer
     * arguments point into byte for byte the same; a kernel whose result depends on the order its threads run in is a
     * {@code c-error} naming it ({@link #cErrors}). The stand-in GPU then has one multiprocessor ({@link #SM_COUNT}),
     * so that grid-stride loops loop. With {@code --junit} the child then prints
     * {@code c-race-check launches=N kernels=K at-grid-cap=C}.
     */
    public static final String RACE_CHECK = "dltrain.emu.raceCheck";

    /**
     * JVM option {@code -D}{@value}{@code =N}: the stand-in GPU reports N multiprocessors (default 132, 1 under
     * {@link #RACE_CHECK}). Grid-stride kernels get at most 32 blocks of 256 threads per multiprocessor, so with 1 their
     * loops go round again beyond 8192 elements, which at 132 only tensors beyond a million elements do.
     */
    public static final String SM_COUNT = "dltrain.emu.smCount";

    /** The repository's kernels module, from the module directory the tests run in (runtime, models or cli). */
    public static final Path KERNELS = Path.of(System.getProperty("basedir", System.getProperty("user.dir"))).resolve("../kernels").normalize();

    /** Builds the kernel emulator and every computing stand-in into dir; aborts the calling test where it cannot. */
    public static Path build(Path dir) throws Exception {
        Path src = KERNELS.resolve("src/test/cuda/emu/kernels_emu.cpp");
        Assumptions.assumeTrue(Files.exists(src), "no kernel emulator source at " + src);
        List<String> gxx = List.of("g++", "-std=c++20", "-shared", "-fPIC", "-ffp-contract=off", "-O2",
                "-I" + KERNELS.resolve("src/main/cuda"), "-I" + src.getParent(), "-o", dir.resolve("libkernelsemu.so").toString(), src.toString());
        StubDriverLoadTest.Result built;
        try {
            built = StubDriverLoadTest.run(gxx, null);
        } catch (IOException e) {
            Assumptions.abort("no g++ to build the kernel emulator: " + e.getMessage());
            return dir;
        }
        assertEquals(0, built.exit(), "g++ failed on the kernel emulator:\n" + String.join(" ", gxx) + "\n" + built.out());
        CudaBackendStandInTest.buildStandIns(dir, CudaBackendStandInTest.STUB_CUDNN, CudnnOpsStandInTest.STUB_CUDNN_OPS,
                CudnnOpsStandInTest.STUB_CUDNN_CNN, List.of("-L" + dir, "-Wl,--no-as-needed", "-l:libkernelsemu.so", "-Wl,-rpath," + dir));
        return dir;
    }

    /**
     * Runs {@code main.main(args)} in a child JVM on the emulated device built in dir (after loading the stand-in
     * runtime, so that the CUDA bindings bind to it). Returns the child's exit status and output (stdout and stderr).
     */
    public static Run java(Path dir, List<String> jvmArgs, Class<?> main, String... args) throws Exception {
        return java(dir, System.getProperty("java.class.path"), jvmArgs, main.getName(), args);
    }

    /** As above, on the given class path (which must hold this class), main named: the shaded jar's test. */
    public static Run java(Path dir, String classPath, List<String> jvmArgs, String main, String... args) throws Exception {
        List<String> childArgs = new ArrayList<>(List.of(main));
        childArgs.addAll(List.of(args));
        StubDriverLoadTest.Result r = CudaBackendStandInTest.runJava(dir, classPath, EmulatedDevice.class, jvmArgs, childArgs.toArray(new String[0]));
        return new Run(r.exit(), r.out());
    }

    /** A child JVM's exit status and output (stdout and stderr). */
    public record Run(int exit, String out) {}

    /**
     * Runs the given JUnit test classes (every test, parameterised ones included) in a child JVM on the emulated device
     * and returns its output: a line per test, {@code junit <status> <class> <test>} with status pass, FAIL (followed by
     * the stack trace), abort or skip, then {@code junit-done tests=N failed=F aborted=A}.
     */
    public static String junit(Path dir, List<String> jvmArgs, Class<?>... tests) throws Exception {
        return junit(dir, System.getProperty("java.class.path"), jvmArgs, Arrays.stream(tests).map(Class::getName).toArray(String[]::new));
    }

    /** As above, on the given class path (which must hold this class, JUnit and the named test classes). */
    public static String junit(Path dir, String classPath, List<String> jvmArgs, String... testClasses) throws Exception {
        List<String> names = new ArrayList<>(List.of("--junit"));
        names.addAll(List.of(testClasses));
        StubDriverLoadTest.Result r = CudaBackendStandInTest.runJava(dir, classPath, EmulatedDevice.class, jvmArgs, names.toArray(new String[0]));
        assertEquals(0, r.exit(), "child JVM failed:\n" + r.out());
        return r.out();
    }

    /** The {@code junit ...} result lines of a {@link #junit} run. */
    public static List<String> results(String out) {
        return out.lines().filter(l -> l.startsWith("junit ")).toList();
    }

    /** Calls the stand-ins refused (a wrong handle, a range outside every allocation, ...). */
    public static List<String> cErrors(String out) {
        return out.lines().filter(l -> l.startsWith("c-error")).toList();
    }

    /** The child: args[0] is the stand-in directory; then {@code --junit class...} or {@code mainClass args...}. */
    public static void main(String[] args) throws Throwable {
        // The stand-in runtime first: the JNI wrapper (libjnicudart needs libcudart.so.13) then binds to it, not to a
        // toolkit's libcudart that JavaCPP would otherwise find in its own search path.
        System.load(Path.of(args[0], "libcudart.so.13").toString());
        boolean raceCheck = Boolean.getBoolean(RACE_CHECK);
        Integer sms = Integer.getInteger(SM_COUNT, raceCheck ? 1 : null);
        if (sms != null) callInt(args[0], "libcudart.so.13", "standin_set_sm_count", sms);
        // Every launch runs twice, threads and blocks in order then in reverse (the driver stand-in's standin_race_check).
        if (raceCheck) callInt(args[0], "libcuda.so.1", "standin_race_check", 1);
        if (args[1].equals("--junit")) {
            runJUnit(Arrays.copyOfRange(args, 2, args.length));
            if (raceCheck) CudaBackendStandInTest.call("libcuda.so.1", "standin_cuda_report");   // prints c-race-check launches=N
            return;
        }
        try {
            java.lang.reflect.Method main = Class.forName(args[1]).getMethod("main", String[].class);
            main.setAccessible(true);   // a test class's main may sit in a package-private class
            main.invoke(null, (Object) Arrays.copyOfRange(args, 2, args.length));
        } catch (InvocationTargetException e) {
            throw e.getCause();
        }
    }

    /** Calls {@code void fn(int)} of the stand-in library lib in dir. */
    private static void callInt(String dir, String lib, String fn, int value) throws Throwable {
        Linker.nativeLinker().downcallHandle(SymbolLookup.libraryLookup(Path.of(dir, lib), Arena.global()).find(fn).orElseThrow(),
                FunctionDescriptor.ofVoid(ValueLayout.JAVA_INT)).invokeExact(value);
    }

    private static void runJUnit(String[] classes) {
        LauncherDiscoveryRequest request = LauncherDiscoveryRequestBuilder.request()
                .selectors(Arrays.stream(classes).map(DiscoverySelectors::selectClass).toList()).build();
        int[] counts = new int[3];   // tests, failed, aborted
        java.util.Map<String, Long> started = new java.util.HashMap<>();
        TestExecutionListener lines = new TestExecutionListener() {
            @Override
            public void executionStarted(TestIdentifier id) { started.put(id.getUniqueId(), System.nanoTime()); }

            @Override
            public void executionSkipped(TestIdentifier id, String reason) {
                System.out.println("junit skip " + id.getLegacyReportingName() + " " + id.getUniqueId() + ": " + reason);
            }

            @Override
            public void executionFinished(TestIdentifier id, TestExecutionResult result) {
                if (!id.isTest() && result.getStatus() == TestExecutionResult.Status.SUCCESSFUL) return;
                counts[0]++;
                String name = id.getUniqueId() + String.format(java.util.Locale.ROOT, " (%.1f s)",
                        (System.nanoTime() - started.getOrDefault(id.getUniqueId(), System.nanoTime())) / 1e9);
                switch (result.getStatus()) {
                    case SUCCESSFUL -> System.out.println("junit pass " + name);
                    case ABORTED -> {
                        counts[2]++;
                        System.out.println("junit abort " + name + ": " + result.getThrowable().map(Throwable::getMessage).orElse(""));
                    }
                    case FAILED -> {
                        counts[1]++;
                        Throwable t = result.getThrowable().orElse(null);
                        System.out.println("junit FAIL " + name + ": " + (t == null ? "" : String.valueOf(t.getMessage()).lines().findFirst().orElse("")));
                        if (t != null) t.printStackTrace(System.out);
                    }
                }
                System.out.flush();
            }
        };
        LauncherFactory.create().execute(request, lines);
        System.out.println("junit-done tests=" + counts[0] + " failed=" + counts[1] + " aborted=" + counts[2]);
    }
}
