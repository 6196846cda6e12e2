package io.dltrain.cli;

/**
 * Counts in messages, in English: "1 epoch", "2 epochs", "0 classes", never "1 epochs"; {@link #noun} is the noun alone,
 * for a number the caller formats (e.g. with %,d).
 */
final class Words {
    private Words() {}

    /** {@code one} for n == 1, else {@code one + "s"}. */
    static String noun(long n, String one) { return noun(n, one, one + "s"); }

    /** {@code one} for n == 1, else {@code many} ("class" / "classes"). */
    static String noun(long n, String one, String many) { return n == 1 ? one : many; }

    /** "1 epoch", "3 epochs". */
    static String count(long n, String one) { return n + " " + noun(n, one); }

    /** "1 class", "3 classes". */
    static String count(long n, String one, String many) { return n + " " + noun(n, one, many); }
}
