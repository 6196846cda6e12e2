package io.dltrain.cli;

import io.dltrain.datasets.DatasetRegistry;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;

/** `dl-train datasets`: the dataset registry, each with its default directory and whether data is there. */
@Command(name = "datasets", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "Lists the datasets in the registry: name, default directory (and whether it exists), description.")
public final class DatasetsCommand implements Runnable {
    @Spec CommandSpec spec;

    @Override
    public void run() {
        PrintWriter out = spec.commandLine().getOut();
        out.printf("%-14s %-44s %s%n", "DATASET", "DEFAULT DIRECTORY", "DESCRIPTION");
        for (DatasetRegistry.Entry e : DatasetRegistry.entries()) {
            String dir = e.defaultDir() + (Files.isDirectory(e.defaultDir()) ? "" : " (absent)");
            out.printf("%-14s %-44s %s%n", e.name(), dir, e.description());
        }
        out.println();
        out.println("Use --data-dir DIR to read a dataset from elsewhere.");
        out.flush();
    }
}
