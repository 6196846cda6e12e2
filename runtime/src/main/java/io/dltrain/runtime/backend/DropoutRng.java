package io.dltrain.runtime.backend;

/**
 * The counter-based random numbers dropout uses: uniform(seed, i) is a pure function (SplitMix64's finaliser
 * over seed + (i+1)*golden), so the CPU loop and a CUDA kernel that evaluates the same 64-bit arithmetic draw
 * identical masks, in any order and on any number of threads.
 */
public final class DropoutRng {
    private DropoutRng() {}

    /** A float in [0, 1) with 24 random bits. */
    public static float uniform(long seed, long i) {
        long z = seed + (i + 1) * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z = z ^ (z >>> 31);
        return (z >>> 40) * 0x1.0p-24f;
    }
}
