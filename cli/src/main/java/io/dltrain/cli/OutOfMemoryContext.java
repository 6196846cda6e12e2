package io.dltrain.cli;

import java.util.function.IntSupplier;

/**
 * What a command is doing, for an out-of-memory error: {@link #run} turns an OutOfMemoryError thrown once something is
 * set into {@link Main.OutOfMemoryWhile}, which Main turns into advice (what ran out, why, what to make smaller); before
 * anything is set, the error goes on as it is (Main's generic advice). Train and eval set it step by step.
 */
final class OutOfMemoryContext {
    private String doing, why, smaller;

    /** From now on an out-of-memory error happened while {@code doing}; {@code why} and {@code smaller}: see Main.OutOfMemoryWhile. */
    void doing(String doing, String why, String smaller) {
        this.doing = doing;
        this.why = why;
        this.smaller = smaller;
    }

    /** Runs the command's body, naming what it was doing if the heap runs out. */
    int run(IntSupplier body) {
        try {
            return body.getAsInt();
        } catch (OutOfMemoryError e) {
            if (doing == null) throw e;
            throw new Main.OutOfMemoryWhile(doing, why, smaller, e);
        }
    }
}
