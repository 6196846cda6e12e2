package io.dltrain.runtime.tensor;

/**
 * Element types. FP32 is what every op supports today; INT32 holds class labels and indices.
 * BF16 and FP16 are named now so that storage, checkpoints and the CUDA backend can admit them later
 * without changing any signature; ops reject them with a clear message until then.
 */
public enum DType {
    FP32(4, "F32"), INT32(4, "I32"), BF16(2, "BF16"), FP16(2, "F16");

    private final int bytes;
    private final String safetensorsName;

    DType(int bytes, String safetensorsName) {
        this.bytes = bytes;
        this.safetensorsName = safetensorsName;
    }

    /** Size of one element in bytes. */
    public int bytes() { return bytes; }

    /** The dtype string the safetensors format uses ("F32", "I32", ...). */
    public String safetensorsName() { return safetensorsName; }
}
