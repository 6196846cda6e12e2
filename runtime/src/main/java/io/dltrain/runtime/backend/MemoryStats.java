package io.dltrain.runtime.backend;

/**
 * A backend's memory figures, in bytes: {@code inUse} by live tensors and workspaces, {@code reserved} by the
 * allocator's cache (in use + cached free blocks), {@code peak} the largest {@code inUse} seen since creation.
 * Written to summary.json and printed by {@code dl-train bench}.
 */
public record MemoryStats(long inUseBytes, long reservedBytes, long peakBytes) {
    public static final MemoryStats NONE = new MemoryStats(0, 0, 0);
}
