package io.dltrain.runtime.tensor;

import java.util.Arrays;

/**
 * An immutable tensor shape. Tensors are dense and row-major; image tensors are NCHW
 * (N batch, C channels, H height, W width) and these letters mean the same everywhere in the code.
 */
public final class Shape {
    private final int[] dims;
    private final long numel;

    private Shape(int[] dims) {
        long n = 1;
        for (int d : dims) {
            if (d < 0) throw new IllegalArgumentException("negative dimension in shape " + Arrays.toString(dims));
            n = Math.multiplyExact(n, d);
        }
        this.dims = dims;
        this.numel = n;
    }

    public static Shape of(int... dims) { return new Shape(dims.clone()); }

    public static final Shape SCALAR = new Shape(new int[0]);

    public int rank() { return dims.length; }

    /** Dimension i; negative i counts from the end (-1 is the last). */
    public int dim(int i) { return dims[i < 0 ? dims.length + i : i]; }

    public int[] dims() { return dims.clone(); }

    public long numel() { return numel; }

    /** Number of elements as an int; throws for tensors over 2^31-1 elements, which CPU storage cannot hold. */
    public int size() {
        if (numel > Integer.MAX_VALUE) throw new IllegalStateException("tensor of shape " + this + " exceeds 2^31-1 elements");
        return (int) numel;
    }

    /**
     * Product of the dimensions from index {@code from} (inclusive) to the end, as an int: an IllegalArgumentException
     * naming the shape where it exceeds 2^31-1 ({@link #numelFrom} gives it as a long).
     */
    public int sizeFrom(int from) {
        long n = numelFrom(from);
        if (n > Integer.MAX_VALUE)
            throw new IllegalArgumentException("tensor of shape " + this + " has " + n + " elements from dimension " + from
                    + " on, more than the 2^31-1 this op counts with an int; use a smaller batch or smaller inputs");
        return (int) n;
    }

    /** Product of the dimensions from index {@code from} (inclusive) to the end. */
    public long numelFrom(int from) {
        long n = 1;
        for (int i = from; i < dims.length; i++) n *= dims[i];
        return n;
    }

    /** A shape with dimension i replaced. */
    public Shape withDim(int i, int value) {
        int[] d = dims.clone();
        d[i < 0 ? d.length + i : i] = value;
        return new Shape(d);
    }

    @Override public boolean equals(Object o) { return o instanceof Shape s && Arrays.equals(dims, s.dims); }
    @Override public int hashCode() { return Arrays.hashCode(dims); }

    @Override public String toString() {
        StringBuilder b = new StringBuilder("[");
        for (int i = 0; i < dims.length; i++) { if (i > 0) b.append(", "); b.append(dims[i]); }
        return b.append(']').toString();
    }
}
