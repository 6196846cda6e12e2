package io.dltrain.runtime.backend;

/**
 * The counter-based random numbers dropout uses: uniform(seed, i) is a pure function (SplitMix64's finaliser
 * over seed + (i+1)*golden), so the CPU loop and a CUDA kernel that evaluates the same 64-bit arithmetic draw
 * identical masks, in any order and on any number of threads.
 */
public final class DropoutRng {
    private DropoutRng() {}

    /**
     * The scale a kept element gets, 1/(1-p) (0 for p = 1), as PyTorch's dropout computes it: noise.div_(1 - p) with
     * 1 - p evaluated in double from the Python float p and rounded to float. Our p arrives as a float (0.999 as
     * 0.99900001), and 1 - p in float is then exact, carrying p's rounding error into the scale (1000.0129 instead
     * of torch's 999.99994 for p = 0.999); so 1 - p is taken from the shortest decimal that rounds to p (the value p
     * was most likely written as, as the optimisers' hyper-parameters are read) and rounded to float.
     */
    public static float keepScale(float p) {
        if (p == 1f) return 0f;
        return 1f / (float) (1.0 - Double.parseDouble(Float.toString(p)));
    }

    /** A float in [0, 1) with 24 random bits. */
    public static float uniform(long seed, long i) {
        long z = seed + (i + 1) * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        z = z ^ (z >>> 31);
        return (z >>> 40) * 0x1.0p-24f;
    }
}
