package io.dltrain.cli;

import java.util.regex.Pattern;

/** Values in the commands our messages suggest ("continue with --resume DIR"), quoted so that they paste into a shell. */
final class ShellWords {
    private ShellWords() {}

    private static final Pattern PLAIN = Pattern.compile("[A-Za-z0-9_./:=@%+,-]+");

    /** {@code value} as one POSIX shell word: unchanged when it needs no quoting, otherwise in single quotes. */
    static String quote(Object value) {
        String s = String.valueOf(value);
        return PLAIN.matcher(s).matches() ? s : "'" + s.replace("'", "'\\''") + "'";
    }
}
