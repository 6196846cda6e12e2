package io.dltrain.cli;

import io.dltrain.runtime.backend.Backends;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.util.Map;

/** `dl-train info`: the Java runtime, the CPU backend (threads, GEMM library) and whether CUDA is usable, and why not. */
@Command(name = "info", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "Describes this machine as dl-train sees it: Java, CPU backend, GPUs (or why none can be used).")
public final class InfoCommand implements Runnable {
    @Spec CommandSpec spec;

    @Override
    public void run() {
        PrintWriter out = spec.commandLine().getOut();
        out.println("dl-train " + VersionProvider.version());
        out.println("java: " + System.getProperty("java.version") + " (" + System.getProperty("java.vm.name") + "), max heap "
                + Runtime.getRuntime().maxMemory() / (1 << 20) + " MiB");
        out.println("os: " + System.getProperty("os.name") + " " + System.getProperty("os.arch") + ", "
                + Runtime.getRuntime().availableProcessors() + " cores");
        try (CpuBackend be = new CpuBackend(0)) {
            Map<String, Object> d = be.describe();
            out.println("cpu backend: " + d.get("threads") + " threads, GEMM: " + d.get("gemm"));
        }
        String why = Backends.cudaUnavailableReason();
        out.println("cuda: " + (why == null ? "available" : "unavailable: " + why));
        out.flush();
    }
}
