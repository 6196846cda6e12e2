package io.dltrain.kernels;

import org.junit.jupiter.api.Test;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The committed PTX (src/main/resources/io/dltrain/kernels) is what ships, so it must be what build-ptx.sh makes of
 * the current .cu sources. Without nvcc: checks that every .cu has a .ptx, every .ptx a .cu, and that modules.txt
 * lists exactly them. With nvcc (the same version that wrote the committed PTX, named in its header): recompiles
 * each .cu with the flags read from build-ptx.sh's NVCC_FLAGS line and asserts the PTX is byte-identical.
 */
class PtxUpToDateTest {
    static final Path BASE = Path.of(System.getProperty("basedir", System.getProperty("user.dir")));
    static final Path SRC = BASE.resolve("src/main/cuda");
    static final Path PTX = BASE.resolve("src/main/resources/io/dltrain/kernels");
    static final Path SCRIPT = BASE.resolve("build-ptx.sh");
    static final String FIX = "run kernels/build-ptx.sh and commit the PTX";

    static List<String> stems(Path dir, String ext) throws IOException {
        try (Stream<Path> s = Files.list(dir)) {
            return s.map(p -> p.getFileName().toString()).filter(n -> n.endsWith(ext))
                    .map(n -> n.substring(0, n.length() - ext.length())).sorted().toList();
        }
    }

    @Test
    void everySourceHasItsPtxAndTheIndexListsThem() throws IOException {
        assertTrue(Files.isDirectory(SRC), "no CUDA sources at " + SRC + " (is the test running in the kernels module?)");
        List<String> cu = stems(SRC, ".cu"), ptx = stems(PTX, ".ptx");
        assertFalse(cu.isEmpty(), "no .cu files in " + SRC);
        assertEquals(cu, ptx, ".cu sources in " + SRC + " and committed .ptx in " + PTX + " differ: " + FIX);
        List<String> index = Files.readAllLines(PTX.resolve("modules.txt")).stream().map(String::strip).filter(s -> !s.isEmpty()).sorted().toList();
        assertEquals(cu, index, "modules.txt does not list the modules: " + FIX);
        assertEquals(cu, Ptx.modules().stream().sorted().toList(), "Ptx.modules() (classpath) differs from the sources: " + FIX);
        for (String stem : cu) assertTrue(Ptx.load(stem).contains(".visible .entry"), stem + ".ptx has no kernel entry");
    }

    /**
     * The PTX must load where dl-train runs: the driver JIT-compiles it and refuses a PTX ISA newer than it knows
     * (CUDA_ERROR_UNSUPPORTED_PTX_VERSION). The GPU nodes run driver 580 (CUDA 13.0), which reads PTX ISA up to 9.0,
     * what nvcc 13.0 writes; nvcc 13.1 writes 9.1. And the target stays sm_75, the oldest GPU dl-train accepts
     * (runtime's CudaLibraries.DeviceInfo.unsupportedReason).
     */
    @Test
    void committedPtxLoadsOnDriver580AndTargetsTuring() {
        Pattern version = Pattern.compile("(?m)^\\.version\\s+(\\d+)\\.(\\d+)\\s*$"), target = Pattern.compile("(?m)^\\.target\\s+(\\S+)\\s*$");
        for (String stem : Ptx.modules()) {
            String ptx = Ptx.load(stem);
            Matcher v = version.matcher(ptx), t = target.matcher(ptx);
            assertTrue(v.find(), stem + ".ptx has no .version line");
            int major = Integer.parseInt(v.group(1)), minor = Integer.parseInt(v.group(2));
            assertTrue(major < 9 || major == 9 && minor == 0, stem + ".ptx declares PTX ISA " + major + "." + minor
                    + ", which driver 580 (CUDA 13.0, the GPU nodes') refuses: regenerate it with nvcc 13.0 (kernels/build-ptx.sh),"
                    + " or raise the minimum driver in the README and in runtime's PtxKernels.loadHint");
            assertTrue(t.find(), stem + ".ptx has no .target line");
            assertEquals("sm_75", t.group(1), stem + ".ptx targets " + t.group(1) + "; keep -arch=compute_75 in build-ptx.sh"
                    + " (compute capability 7.5 is the oldest dl-train accepts)");
        }
    }

    /** Runs a command in dir; returns its combined output, failing the test on a non-zero exit or a hang. */
    static String run(Path dir, List<String> cmd) throws IOException, InterruptedException {
        Process p = new ProcessBuilder(cmd).directory(dir.toFile()).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "timed out: " + cmd);
        String text = new String(out, StandardCharsets.UTF_8);
        assertEquals(0, p.exitValue(), "command failed: " + String.join(" ", cmd) + "\n" + text);
        return text;
    }

    static final Pattern VERSION = Pattern.compile("release [0-9.]+, V[0-9.]+");

    @Test
    void committedPtxIsWhatNvccMakesOfTheSources() throws Exception {
        Path nvcc = io.dltrain.kernels.Ptx.findNvcc();
        assumeTrue(nvcc != null, "nvcc not found ($NVCC, $CUDA_HOME/bin, /usr/local/cuda/bin, PATH): PTX staleness not checked");
        Matcher flagsLine = Pattern.compile("(?m)^NVCC_FLAGS=\"([^\"]*)\"$").matcher(Files.readString(SCRIPT));
        assertTrue(flagsLine.find(), SCRIPT + " has no NVCC_FLAGS=\"...\" line (the one source of the nvcc flags)");
        List<String> flags = List.of(flagsLine.group(1).trim().split("\\s+"));

        Matcher have = VERSION.matcher(run(SRC, List.of(nvcc.toString(), "--version")));
        assertTrue(have.find(), "cannot read the version of " + nvcc);
        List<String> stems = stems(SRC, ".cu");
        for (String stem : stems) {
            Matcher made = VERSION.matcher(Files.readString(PTX.resolve(stem + ".ptx")));
            assumeTrue(made.find() && made.group().equals(have.group()), stem + ".ptx was written by nvcc "
                    + (made.find(0) ? made.group() : "(unknown)") + " but this machine has " + have.group()
                    + ": output differs between versions, so staleness is not checked here");
        }

        Path tmp = Files.createTempDirectory("ptx-check");
        try {
            List<String> stale = new ArrayList<>();
            for (String stem : stems) {
                Path out = tmp.resolve(stem + ".ptx");
                List<String> cmd = new ArrayList<>();
                cmd.add(nvcc.toString());
                cmd.addAll(flags);
                cmd.add(stem + ".cu"); // relative, as build-ptx.sh compiles from the source directory
                cmd.add("-o");
                cmd.add(out.toString());
                run(SRC, cmd);
                if (!Files.readString(out).equals(Files.readString(PTX.resolve(stem + ".ptx")))) stale.add(stem);
            }
            assertTrue(stale.isEmpty(), "committed PTX is stale for " + stale + " (sources or flags changed): " + FIX);
        } finally {
            try (Stream<Path> s = Files.list(tmp)) { for (Path p : s.toList()) Files.delete(p); }
            Files.delete(tmp);
        }
    }
}
