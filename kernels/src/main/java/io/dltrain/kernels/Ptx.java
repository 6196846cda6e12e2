package io.dltrain.kernels;

import java.io.IOException;
import java.io.InputStream;
import java.io.UncheckedIOException;
import java.nio.charset.StandardCharsets;
import java.util.List;

/**
 * The PTX modules built from kernels/src/main/cuda/*.cu by kernels/build-ptx.sh, read from this jar's resources
 * ({@code io/dltrain/kernels/<stem>.ptx}, listed in {@code modules.txt}) for the CUDA backend's launcher, which loads
 * every module at start-up (cuModuleLoadData) and finds each kernel by name.
 */
public final class Ptx {
    private Ptx() {}

    private static final String DIR = "/io/dltrain/kernels/";

    /** The module stems ("activation", "elementwise", ...), in build order. */
    public static List<String> modules() {
        return read("modules.txt").lines().map(String::strip).filter(s -> !s.isEmpty()).toList();
    }

    /** The PTX text of one module (plain ASCII; cuModuleLoadData wants it NUL-terminated). */
    public static String load(String stem) {
        if (!modules().contains(stem))
            throw new IllegalArgumentException("no PTX module '" + stem + "'; the kernels jar has " + modules()
                    + " (run kernels/build-ptx.sh after adding a .cu file)");
        return read(stem + ".ptx");
    }

    /**
     * nvcc where kernels/build-ptx.sh finds it ($NVCC, $CUDA_HOME/bin, /usr/local/cuda/bin, then PATH), or null. For the
     * tests that rebuild the PTX or compile the kernels' math for the host; the launcher never needs nvcc.
     */
    public static java.nio.file.Path findNvcc() {
        List<String> candidates = new java.util.ArrayList<>();
        if (System.getenv("NVCC") != null) candidates.add(System.getenv("NVCC"));
        if (System.getenv("CUDA_HOME") != null) candidates.add(System.getenv("CUDA_HOME") + "/bin/nvcc");
        candidates.add("/usr/local/cuda/bin/nvcc");
        for (String dir : System.getenv().getOrDefault("PATH", "").split(java.io.File.pathSeparator)) if (!dir.isEmpty()) candidates.add(dir + "/nvcc");
        for (String c : candidates) { java.nio.file.Path p = java.nio.file.Path.of(c); if (java.nio.file.Files.isExecutable(p)) return p; }
        return null;
    }

    private static String read(String name) {
        try (InputStream in = Ptx.class.getResourceAsStream(DIR + name)) {
            if (in == null)
                throw new IllegalStateException("resource " + DIR + name + " is missing from the dl-train-kernels jar; run kernels/build-ptx.sh and rebuild");
            return new String(in.readAllBytes(), StandardCharsets.US_ASCII);
        } catch (IOException e) {
            throw new UncheckedIOException("cannot read " + DIR + name + " from the dl-train-kernels jar", e);
        }
    }
}
