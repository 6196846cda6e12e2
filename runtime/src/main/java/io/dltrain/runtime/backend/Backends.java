package io.dltrain.runtime.backend;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.backend.cuda.Cuda;
import io.dltrain.runtime.backend.cuda.CudaBackend;
import io.dltrain.runtime.backend.cuda.CudaLibraries;

import java.util.List;
import java.util.function.Consumer;

/**
 * Chooses a backend from a --device value: {@code cpu}, {@code cuda}, {@code cuda:N} or {@code auto}.
 * {@code auto} takes the GPU when one is usable and otherwise falls back to the CPU after one notice line that
 * says why (also when the device is found but cannot be opened: held by another process in exclusive-process mode);
 * {@code cuda} never falls back: it throws {@link BackendUnavailableException} with the reason.
 */
public final class Backends {
    private Backends() {}

    /**
     * Why CUDA cannot be used here (one line: no driver, which library is missing, driver too old, no device), or null
     * if it can. Loads the CUDA bindings on first use ({@link CudaLibraries#probe()}).
     */
    public static String cudaUnavailableReason() {
        CudaLibraries.Probe p = CudaLibraries.probe();
        return p.usable() ? null : p.reason();
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
            if (why == null) why = CudaLibraries.probe().devices().getFirst().unsupportedReason();
            if (why == null) {
                try {
                    return new CudaBackend(0);
                } catch (Cuda.CudaException e) {
                    why = openFailure(0, e);
                }
            }
            notice.accept("no usable GPU: " + why + "; using the CPU");
            return new CpuBackend(threads);
        }
        return cuda(cudaIndex(device), device.trim());
    }

    private static Backend cuda(int index, String device) {
        Unusable why = cudaUnusable(index, device, CudaLibraries.probe());
        if (why != null) throw why.exception();
        try {
            return new CudaBackend(index);
        } catch (Cuda.CudaException e) {
            throw new Unusable(device, openFailure(index, e), true).exception();
        }
    }

    /**
     * Why device (as given) cannot be used and whether auto would fall back, said to a Java caller in the library's
     * terms (the device argument of {@link #create}) and to the command's user in its own ({@code --device}).
     */
    private record Unusable(String device, String why, boolean cpuInstead, boolean autoInstead) {
        Unusable(String device, String why, boolean autoInstead) { this(device, why, true, autoInstead); }

        String commandLine() {
            return "--device " + device + " cannot be used: " + why + (!cpuInstead ? "." : autoInstead
                    ? ". Use --device cpu, or --device auto to fall back to the CPU." : ". Use --device cpu.");
        }

        String library() {
            return "device \"" + device + "\" cannot be used: " + why + (!cpuInstead ? "." : autoInstead
                    ? ". Use device \"cpu\" (or new CpuBackend()), or \"auto\" to fall back to the CPU."
                    : ". Use device \"cpu\" (or new CpuBackend()).");
        }

        BackendUnavailableException exception() { return new BackendUnavailableException(library(), commandLine()); }
    }

    /**
     * Why a device that the probe found could not be opened (the probe opens none): a GPU that another process holds in
     * exclusive-process mode refuses cudaSetDevice with cudaErrorDevicesUnavailable, a full or failing one its context.
     * The backend's constructor has released what it created.
     */
    private static String openFailure(int index, Cuda.CudaException e) {
        return "cuda:" + index + " (" + CudaLibraries.probe().devices().get(index).name() + ") could not be opened: " + e.getMessage()
                + " (nvidia-smi shows whether another process holds it in exclusive-process mode or fills its memory, or the GPU has an error)";
    }

    /**
     * Why {@code --device} cannot be used here, in the words the command refuses it with (its {@code --device} option;
     * {@link #create} throws the same reason in the library's terms), or null if it can: cpu and
     * auto always can (auto falls back); cuda and cuda:N need that device, usable. Opens no device (a readiness check:
     * {@code dl-train info --device cuda}).
     *
     * @throws IllegalArgumentException for a value that is no device
     */
    public static String unusableReason(String device) {
        int index = cudaIndex(device);
        Unusable why = index < 0 ? null : cudaUnusable(index, device.trim(), CudaLibraries.probe());
        return why == null ? null : why.commandLine();
    }

    /**
     * {@link #unusableReason(String)} as the given probe saw the devices: {@code dl-train info}'s, which read each
     * device's free memory and so opened it (a GPU that another process holds in exclusive-process mode fails there).
     */
    public static String unusableReason(String device, CudaLibraries.Probe probe) {
        int index = cudaIndex(device);
        Unusable why = index < 0 ? null : cudaUnusable(index, device.trim(), probe);
        return why == null ? null : why.commandLine();
    }

    /** N of cuda:N (cuda is 0), or -1 for cpu and auto. @throws IllegalArgumentException for a value that is no device */
    private static int cudaIndex(String device) {
        String d = device == null ? "auto" : device.trim().toLowerCase(java.util.Locale.ROOT);
        if (d.equals("cpu") || d.equals("auto")) return -1;
        if (d.equals("cuda")) return 0;
        if (d.matches("cuda:\\d{1,6}")) return Integer.parseInt(d.substring(5));
        // "gpu" (and "tpu") are a letter from "cpu" but do not mean it: a suggestion keeps the first letter. A GPU's
        // number without its colon (cuda1, "cuda 1", "cuda: 1") means that GPU, not "cuda" (GPU 0), the name it is one
        // letter from; nor is "cuda:" (a script's cuda:$GPU with GPU unset) answered with GPU 0
        java.util.regex.Matcher numbered = java.util.regex.Pattern.compile("cuda[\\s_.:-]*(\\d{1,6})").matcher(d);
        String meant = d.startsWith("gpu") ? " (an NVIDIA GPU is cuda or cuda:N)"
                : d.matches("cuda\\s*:\\s*") ? " (the GPU's number is missing: cuda:N, N from 0)"
                : numbered.matches() ? " (did you mean 'cuda:" + Integer.parseInt(numbered.group(1)) + "'?)"
                : io.dltrain.runtime.Names.didYouMean(d, List.of("auto", "cpu", "cuda").stream().filter(n -> d.startsWith(n.substring(0, 1))).toList());
        throw new IllegalArgumentException("unknown device '" + device + "'" + meant + ": use auto, cpu, cuda or cuda:N");
    }

    /** @param device the value as given (cuda, cuda:0...), which the reason names */
    private static Unusable cudaUnusable(int index, String device, CudaLibraries.Probe probe) {
        if (!probe.usable()) return new Unusable(device, probe.reason(), true);
        List<CudaLibraries.DeviceInfo> devices = probe.devices();
        int count = devices.size();
        if (index >= count) {
            return new Unusable(device, "this machine has " + count + " CUDA device"
                    + (count == 1 ? " (cuda:0)" : "s (cuda:0 .. cuda:" + (count - 1) + ")"), false, false);
        }
        String unsupported = devices.get(index).unsupportedReason();
        return unsupported == null ? null : new Unusable(device, unsupported, false);
    }
}
