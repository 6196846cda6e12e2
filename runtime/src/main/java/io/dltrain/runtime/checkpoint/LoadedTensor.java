package io.dltrain.runtime.checkpoint;

import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Shape;

/**
 * One tensor read from a safetensors file, on the host: the dtype it had in the file ("F32", "F64", "F16", "BF16",
 * "I32", "I64"), its shape, and its values converted to what dl-train holds: {@code floats} for the floating dtypes
 * (F16 and BF16 widened exactly to float, F64 rounded to the nearest float), {@code ints} for the integer ones (I64 narrowed with a range check).
 * Exactly one of the two arrays is non-null. The arrays are not copied: do not share a LoadedTensor you mutate.
 */
public record LoadedTensor(String fileDtype, int[] shape, float[] floats, int[] ints) {
    public LoadedTensor {
        if ((floats == null) == (ints == null)) throw new IllegalArgumentException("exactly one of floats and ints must be set");
    }

    /** The dl-train dtype the values are held in: FP32 or INT32. */
    public DType dtype() { return floats != null ? DType.FP32 : DType.INT32; }

    public Shape shapeObject() { return Shape.of(shape); }

    public int numel() { return floats != null ? floats.length : ints.length; }
}
