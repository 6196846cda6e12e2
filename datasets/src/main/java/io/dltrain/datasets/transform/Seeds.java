package io.dltrain.datasets.transform;

import java.util.SplittableRandom;

/**
 * Per-sample random streams for data augmentation and synthetic data. A sample's stream depends only on
 * (seed, epoch, index) — never on which loader thread reads it or in what order — so an epoch's augmented samples
 * are bit-identical whatever the worker count. The parts are mixed through a 64-bit finaliser between steps, so
 * nearby tuples (index 7 vs 8, epoch 0 vs 1) give unrelated streams.
 */
public final class Seeds {
    private Seeds() {}

    /** The random stream of sample {@code index} in epoch {@code epoch} of a dataset seeded with {@code seed}. */
    public static SplittableRandom sample(long seed, long epoch, long index) {
        return new SplittableRandom(mix(seed, epoch, index));
    }

    /** Mixes any number of 64-bit parts into one well-spread seed; order matters. */
    public static long mix(long... parts) {
        long h = 0x243F6A8885A308D3L; // pi's fraction: an arbitrary non-zero start
        for (long p : parts) h = mix64(h + mix64(p + 0x9E3779B97F4A7C15L));
        return h;
    }

    /** Stafford's variant 13 of the MurmurHash3 64-bit finaliser (as DataLoader uses for its shuffles). */
    public static long mix64(long z) {
        z = (z ^ (z >>> 30)) * 0xBF58476D1CE4E5B9L;
        z = (z ^ (z >>> 27)) * 0x94D049BB133111EBL;
        return z ^ (z >>> 31);
    }
}
