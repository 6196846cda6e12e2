package io.dltrain.runtime.backend.cuda;

import org.bytedeco.cuda.global.cudart;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.concurrent.TimeUnit;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The CUDA bindings' real load path, without a GPU: a child JVM gets a stand-in {@code libcuda.so.1} (built here with
 * gcc; its driver calls report "no device") in front of the CUDA toolkit's own {@code libcudart.so.13}. This checks,
 * with the real JavaCPP loader and the real libraries:
 * <ul>
 *   <li>that the presets' cudart wrapper (built against CUDA 13.1) loads and runs against CUDA 13.0's runtime: it
 *       imports 21 functions 13.0 lacks, and loads only because JNI libraries are bound lazily;</li>
 *   <li>that the probe then names the first library really missing (cuBLAS, which this machine lacks) with the
 *       library-path advice;</li>
 *   <li>that with {@code LD_BIND_NOW=1} (eager binding, which some hardened environments set) the load fails on a
 *       missing function, and the probe says so and to unset it, instead of blaming the library path.</li>
 * </ul>
 * Skips, saying why, without gcc or the toolkit's libcudart, or where a real driver is installed (a GPU machine, where
 * the GPU suite tests the real thing).
 */
class StubDriverLoadTest {
    static final Path CUDART = Path.of("/usr/local/cuda/lib64/libcudart.so.13");

    /**
     * Run in the child JVM: prints the runtime version through the JNI wrapper, then the probe's reason; with the
     * argument {@code reason}, only the reason (when cudart did not load, its class cannot be touched).
     */
    public static void main(String[] args) {
        String load = CudaLibraries.load();
        if (args.length > 0 && args[0].equals("reason")) {
            System.out.println("reason " + load);
            return;
        }
        int[] v = new int[1];
        // cudart loaded before cuBLAS failed: its class is initialised, so the JNI call is live
        int st = cudart.cudaRuntimeGetVersion(v);
        System.out.println("runtime-version " + st + " " + v[0]);
        System.out.println("reason " + load);
    }

    @Test
    void bindingsLoadAgainstCuda130RuntimeAndProbeNamesTheMissingLibrary(@TempDir Path dir) throws Exception {
        Assumptions.assumeTrue(Files.exists(CUDART), "no CUDA toolkit runtime at " + CUDART);
        Assumptions.assumeTrue(!Files.exists(Path.of("/usr/lib/x86_64-linux-gnu/libcuda.so.1")) && !Files.exists(Path.of("/usr/lib64/libcuda.so.1")),
                "a real NVIDIA driver is installed here; the GPU suite tests the real load path");
        Path src = dir.resolve("stub.c"), lib = dir.resolve("libcuda.so.1");
        Files.writeString(src, """
                int cuInit(unsigned flags) { (void)flags; return 100; }
                int cuDriverGetVersion(int *v) { if (v) *v = 13000; return 0; }
                int cuDeviceGetCount(int *n) { if (n) *n = 0; return 100; }
                """);
        Result gcc;
        try {
            gcc = run(List.of("gcc", "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o", lib.toString(), src.toString()), null);
        } catch (IOException e) {
            Assumptions.abort("no gcc to build the stand-in driver: " + e.getMessage());
            return;
        }
        assertEquals(0, gcc.exit, "gcc failed:\n" + gcc.out);

        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        Result child = run(List.of(java, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                StubDriverLoadTest.class.getName()), dir + ":" + CUDART.getParent());
        assertEquals(0, child.exit, "child JVM failed:\n" + child.out);
        String out = child.out;
        // CUDA 13.0's runtime answers through the 13.1-built wrapper: status 0 (cudaSuccess), version 13000
        assertTrue(out.contains("runtime-version 0 13000"), "the cudart wrapper did not run against CUDA 13.0's runtime:\n" + out);
        assertTrue(out.contains("reason ") && out.contains("libcublas.so.13") && out.contains("LD_LIBRARY_PATH"),
                "the probe should name the missing cuBLAS library and the way to fix it:\n" + out);

        // eager binding: the wrapper's first import the stand-in driver (or CUDA 13.0) lacks stops the load
        Result eager = run(List.of(java, "--enable-native-access=ALL-UNNAMED", "-cp", System.getProperty("java.class.path"),
                StubDriverLoadTest.class.getName(), "reason"), dir + ":" + CUDART.getParent(), "1");
        assertEquals(0, eager.exit, "child JVM failed:\n" + eager.out);
        assertTrue(eager.out.contains("reason the CUDA bindings could not be loaded: libjnicudart.so needs the function "),
                "the probe should name the missing function:\n" + eager.out);
        assertTrue(eager.out.contains("unset LD_BIND_NOW") && !eager.out.contains("LD_LIBRARY_PATH"),
                "the probe should blame LD_BIND_NOW, not the library path:\n" + eager.out);
    }

    record Result(int exit, String out) {}

    static Result run(List<String> cmd, String ldLibraryPath) throws IOException, InterruptedException {
        return run(cmd, ldLibraryPath, null);
    }

    /** Runs cmd with LD_LIBRARY_PATH and LD_BIND_NOW set as given (null: LD_BIND_NOW removed from the environment). */
    static Result run(List<String> cmd, String ldLibraryPath, String ldBindNow) throws IOException, InterruptedException {
        ProcessBuilder pb = new ProcessBuilder(cmd).redirectErrorStream(true);
        if (ldLibraryPath != null) pb.environment().put("LD_LIBRARY_PATH", ldLibraryPath);
        if (ldBindNow != null) pb.environment().put("LD_BIND_NOW", ldBindNow);
        else pb.environment().remove("LD_BIND_NOW");
        Process p = pb.start();
        byte[] bytes = p.getInputStream().readAllBytes();
        if (!p.waitFor(120, TimeUnit.SECONDS)) { p.destroyForcibly(); throw new IOException("timed out: " + cmd); }
        return new Result(p.exitValue(), new String(bytes, StandardCharsets.UTF_8));
    }
}
