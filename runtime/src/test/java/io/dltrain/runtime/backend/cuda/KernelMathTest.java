package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.backend.DropoutRng;
import io.dltrain.runtime.backend.LossKind;
import io.dltrain.runtime.backend.OptimizerHyper;
import io.dltrain.runtime.backend.PoolParams;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.MemoryLayout;
import java.lang.foreign.MemorySegment;
import java.lang.foreign.SymbolLookup;
import java.lang.invoke.MethodHandle;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.Arrays;
import java.util.List;
import java.util.SplittableRandom;
import java.util.concurrent.TimeUnit;
import java.util.stream.Stream;

import static java.lang.foreign.ValueLayout.ADDRESS;
import static java.lang.foreign.ValueLayout.JAVA_FLOAT;
import static java.lang.foreign.ValueLayout.JAVA_INT;
import static java.lang.foreign.ValueLayout.JAVA_LONG;
import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The CUDA kernels' math, compiled for the host, against the CPU backend (the reference). nvcc compiles
 * kernels/src/test/cuda/host_math.cu -- host loops over the SAME common.cuh functions the kernels call, with the
 * kernels' block reductions replayed in the device's order -- into a shared library that this test calls through
 * java.lang.foreign. Skipped, with the reason, where nvcc is missing.
 *
 * <p>Tolerances, stated per op (ulp = unit in the last place of the CPU's float):
 * <ul>
 *   <li>Exact (bit for bit): ReLU, LeakyReLU, the sigmoid and tanh backward, every optimiser update and state over
 *       3 steps, dropout masks and outputs, cross-entropy backward, MSE and L1 backward, adaptive average pooling
 *       forward and backward, add_bias, clip_by_norm, countTopK, oneHot, checkFinite. These are the same float operations in
 *       the same order (no FMA contraction, IEEE division and sqrt).</li>
 *   <li>Transcendental activations and losses: within {@link #ULPS} ulps, or {@link #ATOL} absolute where the
 *       result is near zero after cancellation (GELU's derivative near x = -0.75, ELU near 0). The kernels use
 *       single-precision expf/expm1f/log1pf/tanhf/erfcf; the CPU evaluates in double and rounds.</li>
 *   <li>Reductions (sum, sum of squares, bias gradient, mean losses): relative 1e-6; both accumulate in double but in
 *       different orders, and the kernels round per-element loss terms to float before summing.</li>
 * </ul>
 * What this cannot check: the CUDA math library's own results (the host uses glibc's expf etc.; CUDA documents at
 * most 2-4 ulp for these), launches, barriers, shared memory and atomics. Those need a GPU (the gpu-tagged suite).
 */
class KernelMathTest {
    static final int ULPS = 8;
    static final double ATOL = 1e-6;
    static final double RTOL_SUM = 1e-6;

    static final CpuBackend be = new CpuBackend(2);
    static Arena arena;
    static SymbolLookup lib;
    static Path tmp;

    @BeforeAll
    static void compile() throws Exception {
        Path kernels = Path.of(System.getProperty("basedir", System.getProperty("user.dir"))).resolve("../kernels").normalize();
        Path src = kernels.resolve("src/test/cuda/host_math.cu");
        assertTrue(Files.isRegularFile(src), "missing " + src + " (the host wrapper of the kernels' math)");
        Path nvcc = io.dltrain.kernels.Ptx.findNvcc();
        assumeTrue(nvcc != null, "nvcc not found ($NVCC, $CUDA_HOME/bin, /usr/local/cuda/bin, PATH): the kernels' math is not checked here");
        tmp = Files.createTempDirectory("hostmath");
        Path so = tmp.resolve("libhostmath.so");
        List<String> cmd = List.of(nvcc.toString(), "-x", "cu", "-shared", "-Xcompiler", "-fPIC", "-Xcompiler", "-ffp-contract=off",
                "-fmad=false", "-O2", "-std=c++17", "-I", kernels.resolve("src/main/cuda").toString(),
                "-o", so.toString(), src.toString());
        Process p = new ProcessBuilder(cmd).redirectErrorStream(true).start();
        byte[] out = p.getInputStream().readAllBytes();
        assertTrue(p.waitFor(120, TimeUnit.SECONDS), "nvcc timed out: " + cmd);
        assertEquals(0, p.exitValue(), "nvcc failed to compile the host math:\n" + String.join(" ", cmd) + "\n" + new String(out, StandardCharsets.UTF_8));
        arena = Arena.ofShared();
        lib = SymbolLookup.libraryLookup(so, arena);
    }

    @AfterAll
    static void cleanUp() throws Exception {
        be.close();
        if (arena != null) arena.close();
        if (tmp != null) try (Stream<Path> s = Files.list(tmp)) { for (Path f : s.toList()) Files.delete(f); Files.delete(tmp); }
    }


    // ------------------------------------------------------------------ FFM plumbing

    /** Calls host function `name` (void unless ret given) with args: MemorySegment -> pointer, Long, Integer, Float. */
    static Object call(String name, MemoryLayout ret, Object... args) {
        MemoryLayout[] layouts = new MemoryLayout[args.length];
        for (int i = 0; i < args.length; i++) {
            layouts[i] = switch (args[i]) {
                case MemorySegment s -> ADDRESS;
                case Long l -> JAVA_LONG;
                case Integer n -> JAVA_INT;
                case Float f -> JAVA_FLOAT;
                default -> throw new IllegalArgumentException("argument " + i + " of " + name + ": " + args[i]);
            };
        }
        MemorySegment fn = lib.find(name).orElseThrow(() -> new AssertionError("libhostmath.so has no symbol " + name));
        FunctionDescriptor d = ret == null ? FunctionDescriptor.ofVoid(layouts) : FunctionDescriptor.of(ret, layouts);
        MethodHandle h = Linker.nativeLinker().downcallHandle(fn, d);
        try {
            return h.invokeWithArguments(args);
        } catch (Throwable t) {
            throw new AssertionError("calling " + name, t);
        }
    }

    static void call(String name, Object... args) { call(name, null, args); }

    static MemorySegment seg(Arena a, float[] v) { return a.allocateFrom(JAVA_FLOAT, v); }

    static MemorySegment seg(Arena a, int[] v) { return a.allocateFrom(JAVA_INT, v); }

    static float[] floats(MemorySegment s) { return s.toArray(JAVA_FLOAT); }

    static Tensor t(float[] v) { return be.fromHost(v, Shape.of(v.length)); }

    // ------------------------------------------------------------------ comparisons

    /** Distance in representable floats (0 for equal values, +0 vs -0 counts as equal). */
    static long ulps(float a, float b) {
        if (a == b) return 0;
        long ia = Float.floatToRawIntBits(a), ib = Float.floatToRawIntBits(b);
        if (ia < 0) ia = 0x80000000L - ia; // map to a monotone integer line
        if (ib < 0) ib = 0x80000000L - ib;
        return Math.abs(ia - ib);
    }

    /** Bit for bit (NaN matches NaN; +0 and -0 are different). */
    static void exact(String what, float[] want, float[] got) {
        assertEquals(want.length, got.length, what + ": length");
        for (int i = 0; i < want.length; i++)
            if (Float.floatToIntBits(want[i]) != Float.floatToIntBits(got[i]))
                fail(what + ": element " + i + " is " + got[i] + ", the CPU has " + want[i] + " (expected bit-identical)");
    }

    /**
     * Within maxUlps of the CPU, or within atol absolute; NaN and infinities must agree exactly. Returns a note with the
     * worst ulps over all elements and over those with |CPU value| >= 1e-3 (where atol cannot hide a relative error).
     */
    static String close(String what, float[] want, float[] got, int maxUlps, double atol) {
        assertEquals(want.length, got.length, what + ": length");
        long worst = 0, worstLarge = 0;
        for (int i = 0; i < want.length; i++) {
            float w = want[i], g = got[i];
            if (Float.isNaN(w) || Float.isNaN(g) || Float.isInfinite(w) || Float.isInfinite(g)) {
                if (Float.compare(w, g) != 0 && !(Float.isNaN(w) && Float.isNaN(g)))
                    fail(what + ": element " + i + " is " + g + ", the CPU has " + w);
                continue;
            }
            long u = ulps(w, g);
            if (u > maxUlps && Math.abs((double) w - g) > atol)
                fail(String.format("%s: element %d is %.9g, the CPU has %.9g (%d ulps > %d, |err| %.3g > atol %.1g)", what, i, g, w, u, maxUlps,
                        Math.abs((double) w - g), atol));
            worst = Math.max(worst, u);
            if (Math.abs(w) >= 1e-3) worstLarge = Math.max(worstLarge, u);
        }
        return worst + " (" + worstLarge + " where |y| >= 1e-3)";
    }

    static void relClose(String what, double want, float got, double rtol) {
        assertTrue(Math.abs(got - want) <= rtol * Math.abs(want), what + ": " + got + ", the CPU has " + want + " (rtol " + rtol + ")");
    }

    static float[] uniform(SplittableRandom rng, int n, double lo, double hi) {
        float[] v = new float[n];
        for (int i = 0; i < n; i++) v[i] = (float) (lo + (hi - lo) * rng.nextDouble());
        return v;
    }

    /** Random values plus the edge cases: zeros of both signs, tiny and huge values, thresholds, infinities, NaN. */
    static float[] withSpecials(float[] v) {
        float[] s = {0f, -0f, 1e-30f, -1e-30f, 1e-5f, -1e-5f, 1e-4f, -1e-4f, 0.5f, -0.75f, 19.99f, 20.01f, 30f, -30f, 88f, -88f, 100f, -100f,
                Float.MIN_VALUE, -Float.MIN_VALUE, Float.MAX_VALUE, -Float.MAX_VALUE, Float.POSITIVE_INFINITY, Float.NEGATIVE_INFINITY, Float.NaN};
        float[] r = Arrays.copyOf(v, v.length + s.length);
        System.arraycopy(s, 0, r, v.length, s.length);
        return r;
    }

    // ------------------------------------------------------------------ activations

    @Test
    void activationsMatchTheCpu() {
        SplittableRandom rng = new SplittableRandom(1);
        Activation[] acts = {Activation.RELU, Activation.leakyRelu(0.01f), Activation.leakyRelu(0.2f), Activation.elu(1f), Activation.elu(0.5f),
                Activation.SIGMOID, Activation.TANH, Activation.softplus(1f), Activation.softplus(2.5f), Activation.GELU};
        assertEquals(Activation.Kind.values().length, java.util.Arrays.stream(acts).map(Activation::kind).distinct().count(),
                "every Activation.Kind is compared with the kernels' math");
        StringBuilder seen = new StringBuilder();
        for (Activation act : acts) {
            float[] x = withSpecials(uniform(rng, 4000, -8, 8));
            float[] dy = uniform(rng, x.length, -2, 2);
            Tensor tx = t(x), ty = be.zeros(Shape.of(x.length)), tdy = t(dy), tdx = be.zeros(Shape.of(x.length));
            be.activationForward(act, tx, ty);
            float[] cpuY = ty.toFloatArray();
            // Backward gets the CPU's forward output, so the two backward passes see identical inputs.
            be.activationBackward(act, tx, ty, tdy, tdx);
            float[] cpuDx = tdx.toFloatArray();
            float[] y, dx;
            try (Arena a = Arena.ofConfined()) {
                MemorySegment sx = seg(a, x), sy = a.allocate(JAVA_FLOAT, x.length), scy = seg(a, cpuY), sdy = seg(a, dy), sdx = a.allocate(JAVA_FLOAT, x.length);
                int kind = act.kind().ordinal();
                call("host_activation_forward", kind, act.alpha(), sx, sy, (long) x.length);
                call("host_activation_backward", kind, act.alpha(), sx, scy, sdy, sdx, (long) x.length);
                y = floats(sy);
                dx = floats(sdx);
            }
            String what = act.kind() + "(" + act.alpha() + ")";
            switch (act.kind()) {
                case RELU, LEAKY_RELU -> { exact(what + " forward", cpuY, y); exact(what + " backward", cpuDx, dx); }
                case SIGMOID, TANH -> {
                    seen.append(what).append(" fwd ").append(close(what + " forward", cpuY, y, ULPS, ATOL)).append(" ulps; ");
                    exact(what + " backward", cpuDx, dx);
                }
                default -> {
                    seen.append(what).append(" fwd ").append(close(what + " forward", cpuY, y, ULPS, ATOL)).append(", bwd ")
                            .append(close(what + " backward", cpuDx, dx, ULPS, ATOL)).append(" ulps; ");
                }
            }
        }
        System.out.println("KernelMathTest activations, worst ulps: " + seen);
    }

    // ------------------------------------------------------------------ pow

    /**
     * dl_pow / dl_pow_backward against CpuElementwise.pow / powBackward: bit for bit for torch's exact forms (IEEE
     * arithmetic, sqrt and division on both sides), within ULPS for powf's exponents (glibc's powf on the host, CUDA's on
     * the device, against Math.pow in double), with 1^NaN = 1 and (-1)^inf = 1 (C's answers, which the CPU writes out).
     */
    @Test
    void powMatchesTheCpu() {
        SplittableRandom rng = new SplittableRandom(9);
        float[] x = withSpecials(uniform(rng, 4000, -4, 4));
        x = Arrays.copyOf(x, x.length + 2);
        x[x.length - 2] = 1f;
        x[x.length - 1] = -1f;
        float[] dy = uniform(rng, x.length, -2, 2);
        StringBuilder seen = new StringBuilder();
        for (float p : new float[] {0f, 1f, 2f, 3f, -2f, 0.5f, -0.5f, -1f, 2.5f, -1.5f, 0.3f, 4f, 7f, Float.NaN, Float.POSITIVE_INFINITY}) {
            Tensor tx = t(x), ty = be.zeros(Shape.of(x.length)), tdx = be.zeros(Shape.of(x.length));
            be.pow(tx, p, ty);
            be.powBackward(tx, p, t(dy), tdx);
            float[] y, dx;
            try (Arena a = Arena.ofConfined()) {
                MemorySegment sx = seg(a, x), sy = a.allocate(JAVA_FLOAT, x.length), sdy = seg(a, dy), sdx = a.allocate(JAVA_FLOAT, x.length);
                call("host_pow", sx, p, sy, (long) x.length);
                call("host_pow_backward", sx, p, sdy, sdx, (long) x.length);
                y = floats(sy);
                dx = floats(sdx);
            }
            boolean exact = p == 0f || p == 1f || p == 2f || p == 3f || p == -2f || p == 0.5f || p == -0.5f || p == -1f;
            if (exact) exact("pow " + p + " forward", ty.toFloatArray(), y);
            else seen.append(p).append(" fwd ").append(close("pow " + p + " forward", ty.toFloatArray(), y, ULPS, ATOL)).append("; ");
            seen.append(p).append(" bwd ").append(close("pow " + p + " backward", tdx.toFloatArray(), dx, ULPS, ATOL)).append("; ");
        }
        System.out.println("KernelMathTest pow, worst ulps: " + seen);
    }

    // ------------------------------------------------------------------ element-wise losses

    @Test
    void elementwiseLossesMatchTheCpu() {
        SplittableRandom rng = new SplittableRandom(2);
        for (LossKind kind : LossKind.values()) {
            int n = 5003;
            float[] pred = uniform(rng, n, -6, 6);
            float[] target = kind == LossKind.BCE_WITH_LOGITS ? uniform(rng, n, 0, 1) : uniform(rng, n, -6, 6);
            for (int i = 0; i < 20; i++) target[i] = kind == LossKind.BCE_WITH_LOGITS ? (i % 2) : pred[i]; // ties (sign 0) / hard labels
            float[] dloss = {0.7f};
            Tensor loss = be.zeros(Shape.of(1)), dpred = be.zeros(Shape.of(n));
            be.lossForward(kind, t(pred), t(target), loss);
            be.lossBackward(kind, t(pred), t(target), t(dloss), dpred);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment sp = seg(a, pred), st = seg(a, target), elem = a.allocate(JAVA_FLOAT, n), out = a.allocate(JAVA_FLOAT, 1),
                        sd = seg(a, dloss), sg = a.allocate(JAVA_FLOAT, n);
                call("host_loss_forward", kind.ordinal(), sp, st, elem, (long) n);
                // The backend's mean: sum_f32(elem, n, 1/n, loss) with one block of 1024 threads.
                call("host_sum", elem, (long) n, 1f / n, out, 1024);
                relClose(kind + " loss", loss.item(), floats(out)[0], RTOL_SUM);
                call("host_loss_backward", kind.ordinal(), sp, st, sd, sg, (long) n);
                if (kind == LossKind.BCE_WITH_LOGITS) close(kind + " backward", dpred.toFloatArray(), floats(sg), ULPS, ATOL * dloss[0] / n);
                else exact(kind + " backward", dpred.toFloatArray(), floats(sg));
            }
        }
    }

    // ------------------------------------------------------------------ cross-entropy and top-k

    @Test
    void crossEntropyMatchesTheCpu() {
        SplittableRandom rng = new SplittableRandom(3);
        for (int c : new int[] {10, 1000}) {
            for (float smoothing : new float[] {0f, 0.1f}) {
                int n = 37;
                float[] logits = uniform(rng, n * c, -10, 10);
                for (int j = 0; j < c; j++) logits[c + j] += 80f; // a row of large logits: the max shift matters
                int[] labels = new int[n];
                for (int r = 0; r < n; r++) labels[r] = rng.nextInt(c);
                Tensor tl = t(logits).view(Shape.of(n, c)), tlab = be.fromHost(labels, Shape.of(n)), probs = be.zeros(Shape.of(n, c)),
                        loss = be.zeros(Shape.of(1)), dlogits = be.zeros(Shape.of(n, c));
                float[] dloss = {1.3f};
                be.crossEntropyForward(tl, tlab, smoothing, probs, loss);
                be.crossEntropyBackward(probs, tlab, smoothing, t(dloss), dlogits);
                float[] cpuProbs = probs.toFloatArray();
                String what = "cross-entropy C=" + c + " smoothing " + smoothing;
                try (Arena a = Arena.ofConfined()) {
                    MemorySegment sx = seg(a, logits), slab = seg(a, labels), sp = a.allocate(JAVA_FLOAT, (long) n * c),
                            rows = a.allocate(JAVA_FLOAT, n), out = a.allocate(JAVA_FLOAT, 1), scp = seg(a, cpuProbs), sd = seg(a, dloss),
                            sg = a.allocate(JAVA_FLOAT, (long) n * c);
                    call("host_cross_entropy_forward", sx, slab, n, c, smoothing, sp, rows, 256); // one block of 256 per row
                    call("host_sum", rows, (long) n, 1f / n, out, 1024);
                    relClose(what + " loss", loss.item(), floats(out)[0], RTOL_SUM);
                    System.out.println("KernelMathTest " + what + " probs, worst ulps: " + close(what + " probs", cpuProbs, floats(sp), ULPS, 0));
                    call("host_cross_entropy_backward", scp, slab, n, c, smoothing, sd, sg);
                    exact(what + " backward", dlogits.toFloatArray(), floats(sg));
                }
            }
        }
    }

    @Test
    void crossEntropyRowWithABadLabelIsNaN() {
        try (Arena a = Arena.ofConfined()) {
            MemorySegment rows = a.allocate(JAVA_FLOAT, 2);
            call("host_cross_entropy_forward", seg(a, new float[] {1, 2, 3, 4, 5, 6}), seg(a, new int[] {2, 3}), 2, 3, 0f,
                    a.allocate(JAVA_FLOAT, 6), rows, 256);
            float[] r = floats(rows);
            assertFalse(Float.isNaN(r[0]), "row 0 has a valid label");
            assertTrue(Float.isNaN(r[1]), "label 3 of 3 classes must make the row loss NaN (the kernel cannot throw)");
        }
    }

    @Test
    void crossEntropyRowWithMaskedLogitsIsFiniteWithoutSmoothing() {
        // -inf logits away from the label: the row loss is finite without smoothing (log(1 + e) and 0, as PyTorch),
        // inf with it (the masked classes' -log p enter the smoothing term).
        float ninf = Float.NEGATIVE_INFINITY;
        try (Arena a = Arena.ofConfined()) {
            MemorySegment x = seg(a, new float[] {0, ninf, 1, 2, ninf, ninf}), lab = seg(a, new int[] {0, 0}),
                    rows = a.allocate(JAVA_FLOAT, 2);
            call("host_cross_entropy_forward", x, lab, 2, 3, 0f, a.allocate(JAVA_FLOAT, 6), rows, 256);
            float[] r = floats(rows);
            assertEquals((float) Math.log1p(Math.E), r[0], 1e-6f, "row 0 without smoothing");
            assertEquals(0f, r[1], "row 1 without smoothing");
            call("host_cross_entropy_forward", x, lab, 2, 3, 0.1f, a.allocate(JAVA_FLOAT, 6), rows, 256);
            r = floats(rows);
            assertEquals(Float.POSITIVE_INFINITY, r[0], "row 0 with smoothing");
            assertEquals(Float.POSITIVE_INFINITY, r[1], "row 1 with smoothing");
        }
    }

    @Test
    void countTopKMatchesTheCpu() {
        SplittableRandom rng = new SplittableRandom(4);
        int n = 200, c = 7;
        float[] logits = new float[n * c];
        for (int i = 0; i < logits.length; i++) logits[i] = rng.nextInt(5); // many ties
        logits[3] = Float.NaN;
        logits[c + 2] = Float.NaN;
        int[] labels = new int[n];
        for (int r = 0; r < n; r++) labels[r] = rng.nextInt(c);
        labels[1] = 2; // the label's own logit is NaN: never a hit
        for (int k : new int[] {1, 3, 7}) {
            Tensor count = be.zeros(Shape.of(1));
            be.countTopK(t(logits).view(Shape.of(n, c)), be.fromHost(labels, Shape.of(n)), k, count);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment out = seg(a, new float[] {5f}); // count accumulates
                call("host_count_topk", seg(a, logits), seg(a, labels), n, c, k, out);
                assertEquals(count.item() + 5f, floats(out)[0], "top-" + k + " hits");
            }
        }
    }

    @Test
    void oneHotMatchesTheCpuAndMakesARowWithABadLabelNaN() {
        SplittableRandom rng = new SplittableRandom(6);
        int n = 50, c = 7;
        int[] labels = new int[n];
        for (int r = 0; r < n; r++) labels[r] = rng.nextInt(c);
        Tensor cpu = be.empty(Shape.of(n, c));
        be.oneHot(be.fromHost(labels, Shape.of(n)), cpu);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment out = seg(a, new float[n * c]);
            call("host_one_hot", seg(a, labels), n, c, out);
            assertArrayEquals(cpu.toFloatArray(), floats(out), "one-hot rows");
            // A label the CPU refuses (it throws, naming the row): the kernel writes NaN across its row only.
            MemorySegment bad = seg(a, new float[2 * 3]);
            call("host_one_hot", seg(a, new int[] {1, 3}), 2, 3, bad);
            assertArrayEquals(new float[] {0f, 1f, 0f, Float.NaN, Float.NaN, Float.NaN}, floats(bad), "label 3 of 3 classes in row 1");
            call("host_one_hot", seg(a, new int[] {-1, 0}), 2, 3, bad);
            assertArrayEquals(new float[] {Float.NaN, Float.NaN, Float.NaN, 1f, 0f, 0f}, floats(bad), "label -1 in row 0");
        }
    }

    // ------------------------------------------------------------------ dropout

    @Test
    void dropoutIsBitIdentical() {
        SplittableRandom rng = new SplittableRandom(5);
        long[] seeds = {0L, 42L, -7L, 0x9E3779B97F4A7C15L, Long.MIN_VALUE};
        for (long seed : seeds)
            for (long i : new long[] {0, 1, 2, 1000, Integer.MAX_VALUE, 3_000_000_000L, Long.MAX_VALUE - 1, -1})
                assertEquals(Float.floatToIntBits(DropoutRng.uniform(seed, i)), Float.floatToIntBits((float) call("host_dropout_uniform", JAVA_FLOAT, seed, i)),
                        "uniform(" + seed + ", " + i + ")");
        for (float p : new float[] {0f, 0.1f, 0.5f, 0.999f, 1f}) {
            int n = 10007;
            float[] x = uniform(rng, n, -3, 3);
            long seed = rng.nextLong();
            Tensor y = be.zeros(Shape.of(n)), mask = be.zeros(Shape.of(n));
            be.dropoutForward(t(x), y, mask, p, seed);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment sy = a.allocate(JAVA_FLOAT, n), sm = a.allocate(JAVA_FLOAT, n);
                call("host_dropout_forward", seg(a, x), sy, sm, p, DropoutRng.keepScale(p), seed, (long) n);
                exact("dropout p=" + p + " mask", mask.toFloatArray(), floats(sm));
                exact("dropout p=" + p + " output", y.toFloatArray(), floats(sy));
            }
        }
    }

    // ------------------------------------------------------------------ element-wise ops and reductions

    @Test
    void reductionsAndElementwiseOpsMatchTheCpu() {
        SplittableRandom rng = new SplittableRandom(6);
        int n = 100_003;
        float[] x = uniform(rng, n, -1, 1);
        try (Arena a = Arena.ofConfined()) {
            MemorySegment sx = seg(a, x), out = seg(a, new float[] {0.25f});
            Tensor o = be.zeros(Shape.of(1));
            be.sum(t(x), 0.5f, o);
            call("host_sum", sx, (long) n, 0.5f, out, 1024);
            relClose("sum", o.item(), floats(out)[0], RTOL_SUM);

            be.fill(o, 0.25f);
            be.sumSquares(t(x), o, true);
            out = seg(a, new float[] {0.25f});
            call("host_sum_squares", sx, (long) n, out, 1, 1024);
            relClose("sumSquares (accumulate)", o.item(), floats(out)[0], RTOL_SUM);

            // clip_by_norm with the CPU's own sum of squares as input: the scaling is then exact.
            for (float maxNorm : new float[] {1f, 1e6f}) {
                Tensor tx = t(x), ss = be.zeros(Shape.of(1));
                be.sumSquares(tx, ss, false);
                be.clipByNorm(tx, ss, maxNorm);
                MemorySegment cx = seg(a, x);
                call("host_clip_by_norm", cx, (long) n, seg(a, new float[] {ss.item()}), maxNorm);
                exact("clipByNorm " + maxNorm, tx.toFloatArray(), floats(cx));
            }

            float[] bad = x.clone();
            MemorySegment flag = seg(a, new float[] {0f});
            call("host_check_finite", seg(a, bad), (long) n, flag);
            assertEquals(0f, floats(flag)[0], "finite data flagged");
            bad[n - 1] = Float.NaN;
            call("host_check_finite", seg(a, bad), (long) n, flag);
            assertEquals(1f, floats(flag)[0], "NaN not flagged");
        }

        int N = 3, C = 5, inner = 77;
        float[] dy = uniform(rng, N * C * inner, -1, 1), bias = uniform(rng, C, -1, 1), y = uniform(rng, N * C * inner, -1, 1);
        float[] start = uniform(rng, C, -1, 1);
        Tensor dbias = t(start.clone()), ty = t(y).view(Shape.of(N, C, 7, 11));
        be.biasGrad(t(dy).view(Shape.of(N, C, 7, 11)), dbias, true);
        be.addBias(ty, t(bias));
        try (Arena a = Arena.ofConfined()) {
            MemorySegment db = seg(a, start), sy = seg(a, y);
            call("host_bias_grad", seg(a, dy), db, N, C, (long) inner, 1, 256);
            float[] got = floats(db), want = dbias.toFloatArray();
            for (int c = 0; c < C; c++) relClose("biasGrad channel " + c, want[c], got[c], RTOL_SUM);
            call("host_add_bias", sy, seg(a, bias), (long) y.length, C, (long) inner);
            exact("addBias", ty.toFloatArray(), floats(sy));
        }
    }

    /**
     * norm.cu's batch-norm training and backward (the CUDA backend's path for [N, C] inputs and batches beyond cuDNN's
     * limits) against CpuNorm: statistics and parameter gradients to RTOL_SUM (double sums in another order), y and dx
     * within a few ulps (they differ only where a statistic rounds to another float).
     */
    @Test
    void batchNormTrainingAndBackwardMatchTheCpu() {
        SplittableRandom rng = new SplittableRandom(8);
        // [N, C]; [N, C, H, W]; and values far from zero (mean 1000, std ~1), where the shifted sums matter.
        int[][] shapes = {{37, 5}, {3, 4, 7, 11}, {64, 3}};
        double[] offsets = {0, 0, 1000};
        for (int s = 0; s < shapes.length; s++) {
            Shape shape = Shape.of(shapes[s]);
            int N = shape.dim(0), C = shape.dim(1), inner = shape.sizeFrom(2), n = (int) shape.numel();
            String what = "batchNorm " + shape + (offsets[s] != 0 ? " around " + offsets[s] : "");
            float[] x = uniform(rng, n, offsets[s] - 2, offsets[s] + 2), gamma = uniform(rng, C, 0.5, 1.5), beta = uniform(rng, C, -1, 1);
            float[] rm = uniform(rng, C, -1, 1), rv = uniform(rng, C, 0.5, 2), dy = uniform(rng, n, -1, 1), dg0 = uniform(rng, C, -1, 1);
            float momentum = 0.1f, eps = 1e-5f;
            Tensor ty = be.zeros(shape), tsm = be.zeros(Shape.of(C)), tsi = be.zeros(Shape.of(C)), trm = t(rm.clone()), trv = t(rv.clone());
            Tensor tx = t(x).view(shape);
            be.batchNormForwardTraining(tx, t(gamma), t(beta), trm, trv, momentum, eps, ty, tsm, tsi);
            Tensor tdx = be.zeros(shape), tdg = t(dg0.clone()), tdb = t(dg0.clone());
            be.batchNormBackward(tx, t(dy).view(shape), t(gamma), tsm, tsi, tdx, tdg, tdb, true);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment y = seg(a, new float[n]), sm = seg(a, new float[C]), si = seg(a, new float[C]), srm = seg(a, rm), srv = seg(a, rv);
                call("host_batch_norm_training", seg(a, x), y, seg(a, gamma), seg(a, beta), srm, srv, sm, si, N, C, (long) inner, momentum, eps, 256);
                float[][] want = {tsm.toFloatArray(), tsi.toFloatArray(), trm.toFloatArray(), trv.toFloatArray()};
                float[][] got = {floats(sm), floats(si), floats(srm), floats(srv)};
                String[] names = {"saveMean", "saveInvStd", "running_mean", "running_var"};
                for (int k = 0; k < 4; k++)
                    for (int c = 0; c < C; c++) relClose(what + " " + names[k] + " " + c, want[k][c], got[k][c], RTOL_SUM);
                close(what + " y", ty.toFloatArray(), floats(y), 4, 0);
                // The backward from the CPU's saved statistics, so that both sides start from the same floats.
                MemorySegment dx = seg(a, new float[n]), dg = seg(a, dg0), db = seg(a, dg0);
                call("host_batch_norm_backward", seg(a, x), seg(a, dy), seg(a, gamma), seg(a, want[0]), seg(a, want[1]), dx, dg, db,
                        N, C, (long) inner, 1, 256);
                float[] wdg = tdg.toFloatArray(), wdb = tdb.toFloatArray(), gdg = floats(dg), gdb = floats(db);
                for (int c = 0; c < C; c++) {
                    relClose(what + " dgamma " + c, wdg[c], gdg[c], RTOL_SUM);
                    relClose(what + " dbeta " + c, wdb[c], gdb[c], RTOL_SUM);
                }
                close(what + " dx", tdx.toFloatArray(), floats(dx), 4, 0);
            }
        }
    }

    @Test
    void adaptiveAvgPoolMatchesTheCpu() {
        SplittableRandom rng = new SplittableRandom(7);
        int[][] cases = {{2, 3, 7, 5, 3, 2}, {1, 2, 6, 6, 6, 6}, {1, 1, 5, 7, 1, 1}, {2, 2, 4, 4, 8, 3}, {1, 3, 10, 9, 4, 4},
                {1, 2, 512, 512, 1, 1}}; // the last: global pooling of a large plane (PoolTest holds the CPU to the exact mean)
        for (int[] k : cases) {
            int N = k[0], C = k[1], H = k[2], W = k[3], P = k[4], Q = k[5], nc = N * C;
            String what = "adaptiveAvgPool " + H + "x" + W + " -> " + P + "x" + Q;
            float[] x = uniform(rng, nc * H * W, -2, 2), dy = uniform(rng, nc * P * Q, -2, 2);
            Tensor y = be.zeros(Shape.of(N, C, P, Q)), dx = be.zeros(Shape.of(N, C, H, W));
            be.adaptiveAvgPoolForward(t(x).view(Shape.of(N, C, H, W)), y);
            be.adaptiveAvgPoolBackward(t(dy).view(Shape.of(N, C, P, Q)), dx);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment sy = a.allocate(JAVA_FLOAT, (long) nc * P * Q), sdx = a.allocate(JAVA_FLOAT, (long) nc * H * W);
                call("host_adaptive_avg_pool_forward", seg(a, x), sy, nc, H, W, P, Q);
                call("host_adaptive_avg_pool_backward", seg(a, dy), sdx, nc, H, W, P, Q);
                exact(what + " forward", y.toFloatArray(), floats(sy));
                exact(what + " backward", dx.toFloatArray(), floats(sdx));
            }
        }
    }

    /**
     * pool.cu's average pooling (which the CUDA backend runs where ceil mode adds a window cuDNN cannot compute) against
     * CpuPool, bit for bit: every combination of ceil mode and count_include_pad, with and without padding, square and
     * rectangular windows, including windows that start in the padding and end past it.
     */
    @Test
    void avgPoolMatchesTheCpu() {
        SplittableRandom rng = new SplittableRandom(11);
        int[][] geometry = { // H, W, kH, kW, sH, sW, pH, pW
                {8, 8, 3, 3, 2, 2, 1, 1}, {7, 7, 3, 3, 2, 2, 1, 1}, {10, 10, 3, 3, 2, 2, 0, 0}, {6, 9, 2, 3, 2, 2, 1, 1},
                {5, 5, 2, 2, 2, 2, 0, 0}, {9, 6, 3, 2, 3, 1, 1, 0}, {4, 4, 3, 3, 1, 1, 1, 1}};
        int checked = 0, extra = 0;
        for (int[] g : geometry)
            for (boolean ceil : new boolean[] {false, true})
                for (boolean includePad : new boolean[] {false, true}) {
                    PoolParams p = new PoolParams(PoolParams.Kind.AVG, g[2], g[3], g[4], g[5], g[6], g[7], includePad, ceil);
                    int N = 2, C = 3, H = g[0], W = g[1], P = p.outH(H), Q = p.outW(W), nc = N * C;
                    String what = "avgPool " + H + "x" + W + " " + p + " -> " + P + "x" + Q;
                    float[] x = uniform(rng, nc * H * W, -2, 2), dy = uniform(rng, nc * P * Q, -2, 2);
                    Tensor tx = t(x).view(Shape.of(N, C, H, W)), y = be.zeros(Shape.of(N, C, P, Q)), dx = be.zeros(Shape.of(N, C, H, W));
                    be.poolForward(tx, y, p);
                    be.poolBackward(tx, y, t(dy).view(Shape.of(N, C, P, Q)), dx, p);
                    try (Arena a = Arena.ofConfined()) {
                        MemorySegment sy = a.allocate(JAVA_FLOAT, (long) nc * P * Q), sdx = a.allocate(JAVA_FLOAT, (long) nc * H * W);
                        Object[] shape = {nc, H, W, P, Q, g[2], g[3], g[4], g[5], g[6], g[7], includePad ? 1 : 0};
                        call("host_avg_pool_forward", Stream.concat(Stream.of(seg(a, x), sy), Arrays.stream(shape)).toArray());
                        call("host_avg_pool_backward", Stream.concat(Stream.of(seg(a, dy), sdx), Arrays.stream(shape)).toArray());
                        exact(what + " forward", y.toFloatArray(), floats(sy));
                        exact(what + " backward", dx.toFloatArray(), floats(sdx));
                    }
                    checked++;
                    if (CudaVsCpuTest.avgCeilAddsWindow(p, H, W)) extra++;
                }
        assertEquals(28, checked);
        assertTrue(extra >= 4, "cases where ceil mode adds a window (the ones the CUDA backend sends to pool.cu): " + extra);
    }

    /**
     * lstm.cu's cell against CpuLstm. The kernels compute in float with expf and tanhf, the CPU in float with its own
     * exponential (CpuLstm.Rows, within 2.5 ulps; CpuLstmTest):
     * within ULPS ulps or ATOL absolute, like the other transcendental ops. Here ATOL does more than cover results near
     * zero: c = s(f) cPrev + s(i) tanh(g) can cancel, and where a gate saturates, s' = s (1 - s) loses most of its
     * relative precision in float (1 - s of s = 0.99999), as in PyTorch's own float kernels; the printed worst ulps
     * show it (3,831 ulps where |value| >= 1e-3 with both sides in float, every difference under 1e-6 absolute for
     * terms of order 1).
     * Backward passes get the CPU's forward values, so each direction is compared on identical inputs.
     */
    @Test
    void lstmCellMatchesTheCpu() {
        SplittableRandom rng = new SplittableRandom(13);
        StringBuilder seen = new StringBuilder();
        for (int[] nh : new int[][] {{3, 5}, {64, 128}, {1, 1}}) {
            int n = nh[0], h = nh[1], m = n * h;
            String what = "lstmCell N=" + n + " H=" + h;
            float[] gates = uniform(rng, 4 * m, -6, 6), cPrev = uniform(rng, m, -3, 3);
            float[] specials = withSpecials(new float[0]); // 0, +-1e-30, ..., +-20, +-88, +-inf, NaN over the first gates
            System.arraycopy(specials, 0, gates, 0, Math.min(specials.length, gates.length));
            float[] dc = uniform(rng, m, -2, 2), dh = uniform(rng, m, -2, 2);
            Shape gs = Shape.of(n, 4 * h), hs = Shape.of(n, h);
            Tensor tg = t(gates).view(gs), tcp = t(cPrev).view(hs), tc = be.zeros(hs), th = be.zeros(hs);
            be.lstmCellForward(tg, tcp, tc, th);
            Tensor dgC = be.zeros(gs), dcp = be.zeros(hs), dgH = be.zeros(gs), dcH = be.zeros(hs), dgNoPrev = be.zeros(gs);
            be.lstmCellBackwardC(tg, tcp, t(dc).view(hs), dgC, dcp);
            be.lstmCellBackwardC(tg, tcp, t(dc).view(hs), dgNoPrev, null);
            be.lstmCellBackwardH(tg, tc, t(dh).view(hs), dgH, dcH);
            try (Arena a = Arena.ofConfined()) {
                MemorySegment sg = seg(a, gates), scp = seg(a, cPrev), sc = a.allocate(JAVA_FLOAT, m), sh = a.allocate(JAVA_FLOAT, m);
                call("host_lstm_cell_forward", sg, scp, sc, sh, (long) m, h);
                within(seen, what + " c", tc.toFloatArray(), floats(sc));
                within(seen, what + " h", th.toFloatArray(), floats(sh));
                MemorySegment sdg = a.allocate(JAVA_FLOAT, 4L * m), sdcp = a.allocate(JAVA_FLOAT, m);
                call("host_lstm_cell_backward_c", sg, scp, seg(a, dc), sdg, sdcp, (long) m, h);
                within(seen, what + " backward c: dgates", dgC.toFloatArray(), floats(sdg));
                within(seen, what + " backward c: dcPrev", dcp.toFloatArray(), floats(sdcp));
                MemorySegment sdg2 = a.allocate(JAVA_FLOAT, 4L * m);
                call("host_lstm_cell_backward_c", sg, scp, seg(a, dc), sdg2, MemorySegment.NULL, (long) m, h);
                within(seen, what + " backward c without dcPrev: dgates", dgNoPrev.toFloatArray(), floats(sdg2));
                MemorySegment sdgh = a.allocate(JAVA_FLOAT, 4L * m), sdch = a.allocate(JAVA_FLOAT, m);
                call("host_lstm_cell_backward_h", sg, seg(a, tc.toFloatArray()), seg(a, dh), sdgh, sdch, (long) m, h);
                within(seen, what + " backward h: dgates", dgH.toFloatArray(), floats(sdgh));
                within(seen, what + " backward h: dc", dcH.toFloatArray(), floats(sdch));
            }
        }
        System.out.println("KernelMathTest LSTM cell, worst ulps: " + seen);
    }

    /** {@link #close} within ULPS / ATOL, with the worst ulps appended to seen. */
    static void within(StringBuilder seen, String what, float[] want, float[] got) {
        seen.append(what).append(": ").append(close(what, want, got, ULPS, ATOL)).append("; ");
    }

    // ------------------------------------------------------------------ optimisers

    /** CpuOptim.dec: the decimal a float hyper-parameter was written as, in double (the backend computes scalars this way). */
    static double dec(float v) { return Double.parseDouble(Float.toString(v)); }

    /**
     * One host step, with the host scalars computed exactly as the same-named locals in CpuOptim (the CUDA backend's
     * job). state: the host copies of the optimiser buffers, in Backend.optimizerStep's order.
     */
    static void hostStep(Arena a, OptimizerHyper hyper, MemorySegment p, MemorySegment g, MemorySegment[] st, long n, float lr, long step) {
        int first = step == 1 ? 1 : 0;
        switch (hyper) {
            case OptimizerHyper.Sgd h -> call("host_sgd_step", p, g, st.length > 0 ? st[0] : MemorySegment.NULL, n, -lr, h.weightDecay(), h.l1(),
                    h.momentum(), (float) (1 - dec(h.dampening())), h.nesterov() ? 1 : 0, first);
            case OptimizerHyper.Adagrad h -> call("host_adagrad_step", p, g, st[0], n, (float) -(dec(lr) / (1 + (step - 1) * dec(h.lrDecay()))),
                    h.weightDecay(), h.l1(), h.eps(), h.initialAccumulator(), first);
            case OptimizerHyper.Adadelta h -> call("host_adadelta_step", p, g, st[0], st[1], n, -lr, h.weightDecay(), h.l1(), h.rho(),
                    (float) (1 - dec(h.rho())), h.eps());
            case OptimizerHyper.RmsProp h -> call("host_rmsprop_step", p, g, st[0], h.momentum() > 0 ? st[1] : MemorySegment.NULL,
                    h.centered() ? st[2] : MemorySegment.NULL, n, -lr, h.weightDecay(), h.l1(), h.alpha(), (float) (1 - dec(h.alpha())), h.eps(),
                    h.momentum(), h.centered() ? 1 : 0);
            case OptimizerHyper.Adam h -> {
                boolean decoupled = h.decoupled();
                float coupledWd = decoupled ? 0f : h.weightDecay();
                float decay = decoupled && h.weightDecay() != 0f ? (float) (1 - dec(lr) * dec(h.weightDecay())) : 1f;
                double bc1 = 1 - Math.pow(dec(h.beta1()), step), bc2 = 1 - Math.pow(dec(h.beta2()), step);
                call("host_adam_step", p, g, st[0], st[1], n, (float) -(dec(lr) / bc1), coupledWd, h.l1(), decay, (float) (1 - dec(h.beta1())),
                        h.beta2(), (float) (1 - dec(h.beta2())), (float) Math.sqrt(bc2), h.eps());
            }
        }
    }

    static int slots(OptimizerHyper h) {
        return switch (h) {
            case OptimizerHyper.Sgd s -> s.momentum() == 0f ? 0 : 1;
            case OptimizerHyper.Adagrad s -> 1;
            case OptimizerHyper.Adadelta s -> 2;
            case OptimizerHyper.RmsProp s -> 3;
            case OptimizerHyper.Adam s -> 2;
        };
    }

    @Test
    void optimiserUpdatesAreBitIdenticalOverThreeSteps() {
        OptimizerHyper[] hypers = {
                new OptimizerHyper.Sgd(0f, 0f, false, 0f, 0f),
                new OptimizerHyper.Sgd(0f, 0f, false, 0.01f, 0.001f),
                new OptimizerHyper.Sgd(0.9f, 0f, false, 0f, 0f),
                new OptimizerHyper.Sgd(0.9f, 0.1f, false, 0.005f, 0f),
                new OptimizerHyper.Sgd(0.9f, 0f, true, 0.01f, 0.002f),
                new OptimizerHyper.Adagrad(0f, 1e-10f, 0f, 0f, 0f),
                new OptimizerHyper.Adagrad(0.01f, 1e-10f, 0.1f, 0.01f, 0.001f),
                new OptimizerHyper.Adadelta(0.9f, 1e-6f, 0f, 0f),
                new OptimizerHyper.Adadelta(0.95f, 1e-6f, 0.01f, 0.001f),
                new OptimizerHyper.RmsProp(0.99f, 1e-8f, 0f, false, 0f, 0f),
                new OptimizerHyper.RmsProp(0.9f, 1e-8f, 0.9f, false, 0.01f, 0f),
                new OptimizerHyper.RmsProp(0.99f, 1e-8f, 0f, true, 0f, 0.001f),
                new OptimizerHyper.RmsProp(0.99f, 1e-8f, 0.5f, true, 0.01f, 0f),
                new OptimizerHyper.Adam(0.9f, 0.999f, 1e-8f, false, 0f, 0f),
                new OptimizerHyper.Adam(0.9f, 0.999f, 1e-8f, false, 0.01f, 0.001f),
                new OptimizerHyper.Adam(0.8f, 0.99f, 1e-6f, true, 0.01f, 0f),
                new OptimizerHyper.Adam(0.9f, 0.999f, 1e-8f, true, 0f, 0f),
        };
        float[] lrs = {0.1f, 0.05f, 0.02f};
        int n = 3001;
        for (OptimizerHyper hyper : hypers) {
            SplittableRandom rng = new SplittableRandom(hyper.hashCode());
            float[] p0 = uniform(rng, n, -1, 1);
            for (int i = 0; i < 8; i++) p0[i] = i % 2 == 0 ? 0f : -0f; // sign(0) in L1, zero weight decay terms
            int k = slots(hyper);
            Tensor param = t(p0.clone());
            Tensor[] state = new Tensor[k];
            for (int s = 0; s < k; s++) state[s] = be.zeros(Shape.of(n));
            try (Arena a = Arena.ofConfined()) {
                MemorySegment hp = seg(a, p0);
                MemorySegment[] hs = new MemorySegment[k];
                for (int s = 0; s < k; s++) hs[s] = a.allocate(JAVA_FLOAT, n); // zero-filled, as the backend's buffers
                for (int step = 1; step <= 3; step++) {
                    float[] g = uniform(rng, n, -1, 1);
                    g[10] = 0f;
                    float lr = lrs[step - 1];
                    be.optimizerStep(hyper, param, t(g), state, lr, step);
                    MemorySegment hg = seg(a, g);
                    hostStep(a, hyper, hp, hg, hs, n, lr, step);
                    exact(hyper + " step " + step + " grad untouched", g, floats(hg));
                    exact(hyper + " step " + step + " param", param.toFloatArray(), floats(hp));
                    for (int s = 0; s < k; s++) exact(hyper + " step " + step + " state[" + s + "]", state[s].toFloatArray(), floats(hs[s]));
                }
            }
        }
    }
}
