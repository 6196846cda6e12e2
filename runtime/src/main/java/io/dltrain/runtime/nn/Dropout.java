package io.dltrain.runtime.nn;

import io.dltrain.runtime.ops.Dropouts;
import io.dltrain.runtime.tensor.Tensor;

/**
 * PyTorch's nn.Dropout(p=0.5): in training mode zeroes each element with probability p and scales the rest by
 * 1/(1-p); in eval mode (and for p = 0) it is the identity. The layer draws a base seed from the context's random
 * stream when it is built, and each training forward call uses the next seed of a SplitMix64 sequence from it, so a
 * run with the same model seed drops the same elements on every backend and thread count.
 */
public class Dropout extends Module {
    private final float p;
    private final long baseSeed;
    private long calls;

    public Dropout(Context ctx) { this(ctx, 0.5f); }

    public Dropout(Context ctx, float p) {
        if (!(p >= 0f && p < 1f))
            throw new IllegalArgumentException("Dropout: p must be in [0, 1), got " + p + " (it is the probability of zeroing an element)");
        this.p = p;
        this.baseSeed = ctx.rng().nextLong();
    }

    public float p() { return p; }

    /** How many training forward calls have drawn a mask (the next call uses seed number {@code calls()}). */
    public long calls() { return calls; }

    /** Sets the call count, so a run resumed from a checkpoint draws the masks the uninterrupted run would have. */
    public void restoreCalls(long n) {
        if (n < 0) throw new IllegalArgumentException("Dropout: calls must be >= 0, got " + n);
        calls = n;
    }

    @Override
    public Tensor forward(Tensor x) {
        if (!isTraining() || p == 0f) return x;
        return Dropouts.dropout(x, p, seed(baseSeed, calls++));
    }

    /** The k-th output of SplitMix64 started at base: well-mixed, distinct seeds for consecutive calls. */
    static long seed(long base, long k) {
        long z = base + (k + 1) * 0x9E3779B97F4A7C15L;
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }

    @Override public String toString() { return "Dropout(p=" + p + ")"; }
}
