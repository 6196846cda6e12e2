package io.dltrain.cli;

import io.dltrain.models.ModelRegistry;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.tensor.Scope;
import picocli.CommandLine.Command;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;

/** `dl-train models`: the model registry with parameter counts (each model is built once on the CPU to count them). */
@Command(name = "models", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "Lists the models in the registry: name, parameters, input shape, description.")
public final class ModelsCommand implements Runnable {
    @Spec CommandSpec spec;

    @Override
    public void run() {
        PrintWriter out = spec.commandLine().getOut();
        out.printf("%-12s %14s  %-16s %s%n", "MODEL", "PARAMETERS", "INPUT -> CLASSES", "DESCRIPTION");
        try (CpuBackend be = new CpuBackend(1)) {
            for (ModelRegistry.Entry e : ModelRegistry.entries()) {
                long params;
                try (Module m = Scope.outside(() -> e.build(new Context(be, 0), e.defaultSpec()))) {
                    params = m.parameterCount();
                }
                out.printf("%-12s %,14d  %-16s %s%n", e.name(), params, e.defaultSpec(), e.description());
            }
        }
        out.flush();
    }
}
