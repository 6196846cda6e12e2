package io.dltrain.runtime.backend.cpu;

import java.lang.management.ManagementFactory;
import java.lang.management.ThreadMXBean;
import java.util.ArrayList;
import java.util.List;
import java.util.Random;

/**
 * The CPU allocator's cost per take + free pair, in CPU time of the calling thread, for three versions (run.sh compiles
 * them from commits): a step's trace, requests past many lengths whose arrays are all in use, and many sizes seen.
 */
public class AllocBench {
    interface A { float[] take(int n); void give(float[] a, int n); String name(); }

    static A make(String kind) {
        return switch (kind) {
            case "old" -> new A() { final OldCpuAllocator p = new OldCpuAllocator();
                public float[] take(int n) { return p.floats(n); } public void give(float[] a, int n) { p.free(a); } public String name() { return kind; } };
            case "new" -> new A() { final NewCpuAllocator p = new NewCpuAllocator();
                public float[] take(int n) { return p.floats(n); } public void give(float[] a, int n) { p.free(a, n); } public String name() { return kind; } };
            case "fix" -> new A() { final FixCpuAllocator p = new FixCpuAllocator();
                public float[] take(int n) { return p.floats(n); } public void give(float[] a, int n) { p.free(a, n); } public String name() { return kind; } };
            default -> throw new IllegalArgumentException(kind);
        };
    }

    static final ThreadMXBean MX = ManagementFactory.getThreadMXBean();
    static long cpu() { return MX.getCurrentThreadCpuTime(); }

    /** A step's trace: 60 tensors of 30 lengths (64..65,536), freed in reverse; ns of CPU per take+free pair. */
    static double step(A a, int rounds) {
        Random r = new Random(1);
        int[] lens = new int[60];
        int[] set = new int[30];
        for (int i = 0; i < 30; i++) set[i] = 64 + r.nextInt(65_536);
        for (int i = 0; i < 60; i++) lens[i] = set[r.nextInt(30)];
        float[][] held = new float[60][];
        long t0 = 0;
        for (int round = 0; round < rounds + 200; round++) {
            if (round == 200) t0 = cpu();
            for (int i = 0; i < 60; i++) held[i] = a.take(lens[i]);
            for (int i = 59; i >= 0; i--) a.give(held[i], lens[i]);
        }
        return (cpu() - t0) / (rounds * 60.0);
    }

    /**
     * 10,000 arrays of distinct lengths (10,000..19,999) in use (a model's parameters, a step's activations); one
     * request length (10,000) asked for again and again, freed after each: ns of CPU per take+free pair.
     */
    static double manyInUse(A a, int inUse, int rounds) {
        List<float[]> held = new ArrayList<>();
        for (int k = 0; k < inUse; k++) held.add(a.take(10_000 + k));
        float[] far = a.take(10_000 + inUse); // the one free array, beyond every length in use (within 2x)
        a.give(far, 10_000 + inUse);
        long t0 = 0;
        for (int round = 0; round < rounds + 200; round++) {
            if (round == 200) t0 = cpu();
            float[] x = a.take(10_000);
            a.give(x, 10_000);
        }
        double ns = (cpu() - t0) / (double) rounds;
        for (int k = 0; k < inUse; k++) a.give(held.get(k), 10_000 + k);
        return ns;
    }

    /** A backend that sees lengths of 1,000..101,000 one after another (each taken and freed), then as many more: ns per pair of the second. */
    static double manySizes(A a, int sizes) {
        Random r = new Random(2);
        for (int k = 0; k < sizes; k++) { int n = 1_000 + r.nextInt(100_000); float[] x = a.take(n); a.give(x, n); }
        long t1 = cpu(); // then timed: as many more over the same range
        for (int k = 0; k < sizes; k++) { int n = 1_000 + r.nextInt(100_000); float[] x = a.take(n); a.give(x, n); }
        return (cpu() - t1) / (double) sizes;
    }

    public static void main(String[] args) {
        for (int rep = 0; rep < 3; rep++) {
            for (String k : args) {
                System.out.printf("%-4s rep %d  step(60 tensors, 30 lengths): %8.1f ns/pair   in use 100 lengths: %9.1f   in use 9,999 lengths: %9.1f   10,000 sizes seen: %9.1f%n",
                        k, rep, step(make(k), 20_000), manyInUse(make(k), 100, 20_000), manyInUse(make(k), 9_999, 2_000), manySizes(make(k), 10_000));
            }
        }
    }
}
