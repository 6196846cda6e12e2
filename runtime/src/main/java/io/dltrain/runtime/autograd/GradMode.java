package io.dltrain.runtime.autograd;

/**
 * Whether ops record the autograd graph on this thread. Evaluation runs inside
 * {@code try (var g = GradMode.noGrad()) { ... }} so no graph and no saved tensors are kept.
 */
public final class GradMode {
    private static final ThreadLocal<boolean[]> ENABLED = ThreadLocal.withInitial(() -> new boolean[] {true});

    private GradMode() {}

    public static boolean isEnabled() { return ENABLED.get()[0]; }

    /** Turns recording off until the returned guard is closed (restoring the previous mode). */
    public static Guard noGrad() {
        boolean[] flag = ENABLED.get();
        boolean previous = flag[0];
        flag[0] = false;
        return () -> flag[0] = previous;
    }

    /** Closing restores the previous mode. */
    public interface Guard extends AutoCloseable {
        @Override void close();
    }
}
