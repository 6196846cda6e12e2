package io.dltrain.datasets.transform;

import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.random.RandomGenerator;

/**
 * One step of an image preprocessing pipeline, mirroring a torchvision transform (each implementation says which).
 * Transforms compose with {@link #then} / {@link #compose} like {@code torchvision.transforms.Compose}.
 *
 * <p><b>Randomness.</b> A random transform draws only from the {@code rng} it is given, in a fixed order, and a
 * deterministic one draws nothing. Datasets create one stream per sample with {@link Seeds#sample(long, long, long)}
 * from (seed, epoch, index) and pass it through the whole pipeline, so a sample's augmentation is reproducible and
 * independent of loader threads. (The random numbers differ from torch's generator: same distributions, not the same
 * draws.)
 *
 * <p><b>Shapes.</b> {@link #outputShape} maps an input [C, H, W] to the output [C, H, W], with -1 for a size that
 * depends on the particular image; a dataset uses it to check, before reading anything, that its pipeline ends in a
 * fixed sample shape (e.g. with a crop).
 */
public interface Transform {
    /**
     * Applies the transform. Never modifies {@code in}; may return it unchanged.
     *
     * @param rng this sample's random stream (ignored by deterministic transforms)
     */
    Image apply(Image in, RandomGenerator rng);

    /**
     * The output [C, H, W] for an input [C, H, W]; any entry may be -1 (unknown) on input and output.
     *
     * @throws IllegalArgumentException if the input shape is known to be invalid for this transform
     */
    int[] outputShape(int[] chw);

    /** This transform followed by {@code next}. */
    default Transform then(Transform next) { return compose(this, next); }

    /** The transforms applied in order, like {@code torchvision.transforms.Compose(list)}. */
    static Transform compose(Transform... steps) {
        List<Transform> flat = new ArrayList<>();
        for (Transform t : steps) {
            if (t instanceof Compose c) flat.addAll(c.steps);
            else if (t != null) flat.add(t);
            else throw new IllegalArgumentException("null transform in compose(" + Arrays.toString(steps) + ")");
        }
        return new Compose(List.copyOf(flat));
    }

    /** The identity: returns its input. */
    static Transform identity() { return new Compose(List.of()); }

    /** A sequence of transforms; see {@link #compose}. */
    record Compose(List<Transform> steps) implements Transform {
        @Override public Image apply(Image in, RandomGenerator rng) {
            Image x = in;
            for (Transform t : steps) x = t.apply(x, rng);
            return x;
        }

        @Override public int[] outputShape(int[] chw) {
            int[] s = chw.clone();
            for (Transform t : steps) s = t.outputShape(s);
            return s;
        }

        @Override public String toString() {
            return "Compose" + steps;
        }
    }
}
