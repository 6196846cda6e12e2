package io.dltrain.cli;

import picocli.CommandLine.Command;
import picocli.CommandLine.Mixin;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.util.concurrent.Callable;

/** `dl-train train ...`: the same as `dl-train ...` without a subcommand. */
@Command(name = "train", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "Trains a model from the model registry on a dataset from the dataset registry.")
public final class TrainCommand implements Callable<Integer> {
    @Spec CommandSpec spec;
    @Mixin TrainOptions options;

    @Override
    public Integer call() { return new TrainRun(spec.commandLine(), options).run(); }
}
