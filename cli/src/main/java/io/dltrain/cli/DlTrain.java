package io.dltrain.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.HelpCommand;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

/** `dl-train [train options]` trains; subcommands list the registries and describe the machine. */
@Command(name = "dl-train", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = {"Deep-learning training on the JVM, on CPUs and NVIDIA GPUs.",
                "Without a subcommand, trains --model on --data (the same as `dl-train train`).", ""},
        subcommands = {TrainCommand.class, EvalCommand.class, PredictCommand.class, ModelsCommand.class, DatasetsCommand.class,
                InfoCommand.class, BenchCommand.class, HelpCommand.class},
        footer = {"", "Examples:",
                "  dl-train --model lenet5 --data fashion-mnist",
                "  dl-train --model mlp --data fashion-mnist --epochs 5 --out runs/mlp",
                "  dl-train eval --checkpoint runs/mlp --data fashion-mnist",
                "  dl-train predict --checkpoint runs/mlp shirt.png",
                "  dl-train bench --model lenet5 --batch-size 128 --synthetic",
                "  dl-train models", "  dl-train datasets", "  dl-train info"})
public final class DlTrain implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin TrainOptions options;

    @Override
    public Integer call() { return new TrainRun(spec.commandLine(), options).run(); }
}
