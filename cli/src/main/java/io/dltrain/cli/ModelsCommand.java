package io.dltrain.cli;

import io.dltrain.models.ModelRegistry;
import io.dltrain.models.ModelSpec;
import io.dltrain.runtime.train.Task;
import picocli.CommandLine.Command;
import picocli.CommandLine.Spec;
import picocli.CommandLine.Model.CommandSpec;

import java.io.PrintWriter;

/**
 * `dl-train models`: the model registry with parameter counts. Each model is built on the meta backend to count its
 * parameters ({@link ModelRegistry.Entry#parameterCount}), so listing VGG's 138 million weights allocates nothing.
 */
@Command(name = "models", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "Lists the models in the registry: name, parameters, input shape, description.")
public final class ModelsCommand implements Runnable {
    @Spec CommandSpec spec;

    @Override
    public void run() {
        PrintWriter out = spec.commandLine().getOut();
        int w = Math.max(16, ModelRegistry.entries().stream().mapToInt(e -> e.name().length()).max().orElse(0));
        String row = "%-" + w + "s %14s  %-18s %s%n";
        out.printf(row, "MODEL", "PARAMETERS", "INPUT -> CLASSES", "DESCRIPTION");
        for (ModelRegistry.Entry e : ModelRegistry.entries()) {
            ModelSpec spec = e.defaultSpec();
            // a reconstruction model's output is its input's shape: the class count means nothing for it
            String io = e.task() == Task.CLASSIFICATION ? spec.toString()
                    : spec.inChannels() + "x" + spec.height() + "x" + spec.width() + " -> same";
            out.printf(row, e.name(), String.format("%,d", e.parameterCount(spec)), io, e.description());
        }
        out.flush();
    }
}
