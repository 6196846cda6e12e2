package io.dltrain.runtime.nn;

import io.dltrain.runtime.backend.Backend;

import java.util.SplittableRandom;

/**
 * What layers need when they are built: the backend their parameters live on and a seeded random source for
 * initialisation (and for dropout's seeds). Building the same model from a Context with the same seed gives the
 * same weights on every backend, because initial values are drawn on the host and uploaded.
 */
public final class Context {
    private final Backend backend;
    private final SplittableRandom rng;

    public Context(Backend backend, long seed) {
        this.backend = backend;
        this.rng = new SplittableRandom(seed);
    }

    public Backend backend() { return backend; }

    /** The initialisation random stream; layers draw from it in construction order. */
    public SplittableRandom rng() { return rng; }
}
