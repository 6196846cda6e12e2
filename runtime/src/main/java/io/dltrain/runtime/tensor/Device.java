package io.dltrain.runtime.tensor;

/**
 * Where a tensor's storage lives: the host (CPU backend), one CUDA device, or nowhere: the meta device
 * ({@code backend.meta.MetaBackend}), whose tensors have a shape but no values, like PyTorch's {@code device="meta"}.
 */
public record Device(Kind kind, int index) {
    public enum Kind { CPU, CUDA, META }

    public static final Device CPU = new Device(Kind.CPU, 0);

    public static final Device META = new Device(Kind.META, 0);

    public static Device cuda(int index) { return new Device(Kind.CUDA, index); }

    @Override
    public String toString() {
        return switch (kind) {
            case CPU -> "cpu";
            case CUDA -> "cuda:" + index;
            case META -> "meta";
        };
    }
}
