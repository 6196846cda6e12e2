package io.dltrain.cli;

import io.dltrain.runtime.backend.Backends;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.backend.cuda.CudaLibraries;
import io.dltrain.runtime.checkpoint.Checkpoint;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;


import java.io.PrintWriter;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Callable;

/**
 * `dl-train info`: the Java runtime, the CPU backend (threads, GEMM library) and CUDA: the driver, runtime, cuBLAS and
 * cuDNN versions and each GPU (name, compute capability, memory), or the one-line reason CUDA cannot be used.
 */
@Command(name = "info", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "Describes this machine as dl-train sees it: Java, CPU backend, GPUs (or why none can be used).")
public final class InfoCommand implements Callable<Integer> {
    @Spec CommandSpec spec;

    @Option(names = "--device", paramLabel = "DEVICE",
            description = "Also check that training could use this device (cuda or cuda:N): after the report, exit with "
                    + "status 2 and the reason if it cannot (a readiness check for GPU nodes); cpu and auto always pass.")
    String device;

    @Option(names = "--json", description = "Print one JSON object instead of the text report (for a probe or a pipeline): "
            + "format_version, dl_train_version, dl_train_build, version, java (version, vm, max_heap_bytes), os (name, arch, cores), cpu_backend (threads, cores_used, gemm), "
            + "cuda (available, reason, driver_cuda_version, runtime_cuda_version, cublas_version, cudnn_version, note, devices) "
            + "and, with --device, device (name, usable, reason).")
    boolean json;

    /**
     * The probe the report shows, with free memory (a seam: tests give GPUs that fail). It creates a CUDA context per
     * device, acceptable for a one-off report.
     */
    static java.util.function.Supplier<CudaLibraries.Probe> probe = () -> CudaLibraries.probe(true);

    @Override
    public Integer call() {
        CudaLibraries.Probe p = probe.get();
        if (!json) report(p);
        String why = null;
        if (device != null) {
            try {
                why = Backends.unusableReason(device, p);   // as the report saw the devices (each opened for its free memory)
            } catch (IllegalArgumentException e) {
                throw new Main.UsageError(spec.commandLine(), e.getMessage());
            }
        }
        if (json) jsonReport(why, p);
        if (device == null) return 0;
        if (why != null) throw new Main.Unusable(spec.commandLine(), why);
        if (!json) spec.commandLine().getOut().println("dl-train: --device " + device + " can be used");
        return 0;
    }

    /** The report as one JSON object; {@code why}: why --device cannot be used (null: it can, or none was given). */
    private void jsonReport(String why, CudaLibraries.Probe p) {
        Map<String, Object> j = Checkpoint.writtenBy(); // format_version, dl_train_version, dl_train_build first
        j.put("version", VersionProvider.version());
        j.put("java", ordered("version", System.getProperty("java.version"), "vm", System.getProperty("java.vm.name"),
                "max_heap_bytes", Runtime.getRuntime().maxMemory()));
        j.put("os", ordered("name", System.getProperty("os.name"), "arch", System.getProperty("os.arch"),
                "cores", Runtime.getRuntime().availableProcessors()));
        try (CpuBackend be = new CpuBackend(0)) {
            Map<String, Object> d = be.describe();
            j.put("cpu_backend", ordered("threads", d.get("threads"), "cores_used", d.get("cores_used"), "gemm", String.valueOf(d.get("gemm"))));
        }
        Map<String, Object> cuda = new LinkedHashMap<>();
        cuda.put("available", p.usable());
        cuda.put("reason", p.usable() ? null : p.reason());
        boolean loaded = p.usable() || !p.runtimeVersion().isEmpty(); // the libraries loaded: their versions mean something
        cuda.put("driver_cuda_version", loaded ? p.driverVersion() : null);
        cuda.put("runtime_cuda_version", loaded ? p.runtimeVersion() : null);
        cuda.put("cublas_version", loaded ? p.cublasVersion() : null);
        cuda.put("cudnn_version", loaded ? p.cudnnVersion() : null);
        cuda.put("note", CudaLibraries.cudnnCompatibilityNote());
        List<Map<String, Object>> devices = new ArrayList<>();
        for (CudaLibraries.DeviceInfo d : p.devices()) {
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("index", d.index());
            boolean known = d.propertiesKnown();   // else cudaGetDeviceProperties failed: its problem says so
            m.put("name", known ? d.name() : null);
            m.put("compute_capability", known ? d.computeCapability() : null);
            m.put("multiprocessors", known ? d.multiprocessors() : null);
            m.put("free_bytes", d.freeBytes() >= 0 ? d.freeBytes() : null);
            m.put("total_bytes", known ? d.totalBytes() : null);
            m.put("problem", d.problem());
            devices.add(m);
        }
        cuda.put("devices", devices);
        j.put("cuda", cuda);
        if (device != null) {
            Map<String, Object> d = new LinkedHashMap<>();
            d.put("name", device);
            d.put("usable", why == null);
            d.put("reason", why);
            j.put("device", d);
        }
        RunOutput.printJson(spec.commandLine().getOut(), j);
    }

    /** A map of the given keys and values, in that order (the JSON's keys stay in a stable order). */
    private static Map<String, Object> ordered(Object... kv) {
        Map<String, Object> m = new LinkedHashMap<>();
        for (int i = 0; i < kv.length; i += 2) m.put((String) kv[i], kv[i + 1]);
        return m;
    }

    private void report(CudaLibraries.Probe p) {
        PrintWriter out = spec.commandLine().getOut();
        out.println("dl-train " + VersionProvider.version());
        out.println("java: " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + "), max heap "
                + Runtime.getRuntime().maxMemory() / (1 << 20) + " MiB");
        out.println("os: " + System.getProperty("os.name") + " " + System.getProperty("os.arch") + ", "
                + Words.count(Runtime.getRuntime().availableProcessors(), "core"));
        try (CpuBackend be = new CpuBackend(0)) {
            Map<String, Object> d = be.describe();
            out.println("cpu backend: " + TrainRun.threads(d) + ", GEMM: " + d.get("gemm"));
        }
        if (!p.usable()) {
            out.println("cuda: unavailable: " + p.reason());
            if (!p.runtimeVersion().isEmpty()) // the libraries loaded: the device (or the driver) is the problem
                out.println("  libraries loaded: driver supports CUDA " + p.driverVersion() + ", runtime CUDA " + p.runtimeVersion()
                        + ", cuBLAS " + p.cublasVersion() + ", cuDNN " + p.cudnnVersion());
            noteOldCudnn(out);
        } else {
            out.println("cuda: available: driver supports CUDA " + p.driverVersion() + ", runtime CUDA " + p.runtimeVersion()
                    + ", cuBLAS " + p.cublasVersion() + ", cuDNN " + p.cudnnVersion());
            noteOldCudnn(out);
        }
        // every device, one that failed a query with its problem (where all did, CUDA is unavailable and they are listed)
        for (CudaLibraries.DeviceInfo d : p.devices()) {
            String line = "  cuda:" + d.index() + ": " + (!d.propertiesKnown() ? "unknown"
                    : d.name() + ", compute capability " + d.computeCapability() + ", " + d.multiprocessors() + " SMs, memory "
                    + CudaLibraries.human(d.freeBytes()) + " free of " + CudaLibraries.human(d.totalBytes()));
            out.println(d.problem() == null ? line : line + "; does not answer: " + d.problem());
        }
        out.flush();
    }

    /** A line when the cuDNN loaded is older than the one the CUDA bindings were built against (CudaLibraries). */
    private static void noteOldCudnn(PrintWriter out) {
        String note = CudaLibraries.cudnnCompatibilityNote();
        if (note != null) out.println("  note: " + note);
    }
}
