package io.dltrain.runtime;

/**
 * Decimal numbers as dl-train's options take them, wherever they are written: a flag (--lr), a number inside a
 * value (--schedule cosine:1e-5, a dataset's noise=0.5). Java's parsers take more than that: blanks around the number
 * and a d or f type suffix (Double.parseDouble(" 3d") is 3), so a misquoted "$A $B" or a Java-ism ran where a whole
 * number (--epochs " 3") is refused.
 */
public final class Numbers {
    private Numbers() {}

    /**
     * s itself where it is a decimal number without Java's extras (for Double.parseDouble or Float.parseFloat to read),
     * else a NumberFormatException naming it. Blanks around it and a d/f suffix are refused; NaN and Infinity are left
     * to the caller's range check.
     */
    public static String decimal(String s) {
        if (!s.equals(s.strip()) || s.matches("(?s).*[0-9.][dDfF]")) throw new NumberFormatException("'" + s + "' is not a decimal number");
        return s;
    }
}
