package io.dltrain.cli;

import io.dltrain.runtime.backend.Backends;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.backend.cuda.CudaLibraries;
import picocli.CommandLine.Command;
import picocli.CommandLine.Option;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
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

    @Override
    public Integer call() {
        report();
        if (device == null) return 0;
        String why;
        try {
            why = Backends.unusableReason(device);
        } catch (IllegalArgumentException e) {
            throw new Main.UsageError(spec.commandLine(), e.getMessage());
        }
        if (why != null) throw new Main.UsageError(spec.commandLine(), why);
        spec.commandLine().getOut().println("dl-train: --device " + device + " can be used");
        return 0;
    }

    private void report() {
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
        // With free memory: this creates a CUDA context per device, acceptable for a one-off report.
        CudaLibraries.Probe p = CudaLibraries.probe(true);
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
            for (CudaLibraries.DeviceInfo d : p.devices()) {
                out.println("  cuda:" + d.index() + ": " + d.name() + ", compute capability " + d.computeCapability() + ", "
                        + d.multiprocessors() + " SMs, memory " + CudaLibraries.human(d.freeBytes()) + " free of "
                        + CudaLibraries.human(d.totalBytes()));
            }
        }
        out.flush();
    }

    /** A line when the cuDNN loaded is older than the one the CUDA bindings were built against (CudaLibraries). */
    private static void noteOldCudnn(PrintWriter out) {
        String note = CudaLibraries.cudnnCompatibilityNote();
        if (note != null) out.println("  note: " + note);
    }
}
