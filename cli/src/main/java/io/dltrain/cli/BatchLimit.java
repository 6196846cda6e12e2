package io.dltrain.cli;

import java.util.Locale;

/**
 * The largest batch there is: a batch lives in one Java array (the data loader's buffer, a CPU tensor), and the JVM's
 * largest array holds 2^31-9 values. A larger --batch-size is a usage error found before any work, rather than an
 * "integer overflow" or a message about an internal "batchSize" from deep inside the run.
 */
final class BatchLimit {
    private BatchLimit() {}

    /** Values one batch may hold: the JVM's largest array. */
    static final long MAX_VALUES = Integer.MAX_VALUE - 8;

    /**
     * Why {@code batchSize} samples of {@code sampleValues} values each cannot be one batch, or null when they can.
     * {@code samples} names the samples in the message, e.g. "fashion-mnist's [1, 28, 28] samples".
     */
    static String problem(int batchSize, long sampleValues, String samples) {
        if (sampleValues < 1 || (long) batchSize * sampleValues <= MAX_VALUES) return null;
        if (sampleValues > MAX_VALUES) // no batch size helps
            return String.format(Locale.ROOT, "%s are too large: one is %,d values, more than a batch can hold (%,d, the largest"
                    + " Java array), whatever the --batch-size", samples, sampleValues, MAX_VALUES);
        return String.format(Locale.ROOT, "--batch-size %d is too large for %s: %,d x %,d values per sample = %,d values, more than"
                        + " one batch can hold (%,d, the largest Java array); use --batch-size %d or less",
                batchSize, samples, batchSize, sampleValues, (long) batchSize * sampleValues, MAX_VALUES, MAX_VALUES / sampleValues);
    }
}
