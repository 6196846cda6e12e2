package io.dltrain.runtime.backend;

import io.dltrain.runtime.backend.cpu.CpuBackend;

import java.lang.foreign.Arena;
import java.lang.foreign.SymbolLookup;
import java.util.function.Consumer;

/**
 * Chooses a backend from a --device value: {@code cpu}, {@code cuda}, {@code cuda:N} or {@code auto}.
 * {@code auto} takes the GPU when one is usable and otherwise falls back to the CPU after one notice line that
 * says why; {@code cuda} never falls back: it throws {@link BackendUnavailableException} with the reason.
 */
public final class Backends {
    private Backends() {}

    /** Why CUDA cannot be used here, or null if it can. */
    public static String cudaUnavailableReason() {
        try (Arena arena = Arena.ofConfined()) {
            SymbolLookup.libraryLookup("libcuda.so.1", arena);
        } catch (IllegalArgumentException e) {
            return "no NVIDIA driver found (libcuda.so.1 is not on the library path)";
        }
        return "this build of dl-train has no CUDA backend yet (it arrives with the CUDA backend work); the driver is present";
    }

    /**
     * Creates the backend for a --device value.
     *
     * @param device  cpu | cuda | cuda:N | auto
     * @param threads CPU threads (<= 0: all cores)
     * @param notice  receives the one-line notice when auto falls back to the CPU
     */
    public static Backend create(String device, int threads, Consumer<String> notice) {
        String d = device == null ? "auto" : device.trim().toLowerCase(java.util.Locale.ROOT);
        if (d.equals("cpu")) return new CpuBackend(threads);
        if (d.equals("auto")) {
            String why = cudaUnavailableReason();
            if (why != null) {
                notice.accept("no usable GPU: " + why + "; training on the CPU");
                return new CpuBackend(threads);
            }
            return cuda(0);
        }
        if (d.equals("cuda") || d.matches("cuda:\\d+")) return cuda(d.equals("cuda") ? 0 : Integer.parseInt(d.substring(5)));
        throw new IllegalArgumentException("unknown device '" + device + "': use auto, cpu, cuda or cuda:N");
    }

    private static Backend cuda(int index) {
        String why = cudaUnavailableReason();
        throw new BackendUnavailableException("--device cuda" + (index > 0 ? ":" + index : "") + " cannot be used: " + why
                + ". Use --device cpu, or --device auto to fall back to the CPU.");
    }
}
