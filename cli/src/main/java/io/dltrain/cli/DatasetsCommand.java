package io.dltrain.cli;

import io.dltrain.datasets.DatasetException;
import io.dltrain.datasets.DatasetRegistry;
import io.dltrain.datasets.ImageFolderWriter;
import picocli.CommandLine.Command;
import picocli.CommandLine.HelpCommand;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.concurrent.Callable;

/** `dl-train datasets`: the dataset registry; `dl-train datasets prepare`: a dataset written out as an image-folder tree. */
@Command(name = "datasets", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = "Lists the datasets in the registry: name, default directory (and whether it exists), description.",
        subcommands = {DatasetsCommand.Prepare.class, HelpCommand.class}) // `datasets help prepare`, as `dl-train help eval`
public final class DatasetsCommand implements Runnable {
    @Spec CommandSpec spec;

    @Override
    public void run() {
        PrintWriter out = spec.commandLine().getOut();
        java.util.List<DatasetRegistry.Entry> entries = DatasetRegistry.entries();
        java.util.List<String> dirs = entries.stream().map(e -> !e.readsFiles() ? "(generated in memory)"
                : e.defaultDir() + (Files.isDirectory(e.defaultDir()) ? "" : " (absent)")).toList();
        // columns as wide as their longest entry (a long home directory plus "(absent)" must not push one row out)
        int nameWidth = Math.max("DATASET".length(), entries.stream().mapToInt(e -> e.name().length()).max().orElse(0));
        int dirWidth = Math.max("DEFAULT DIRECTORY".length(), dirs.stream().mapToInt(String::length).max().orElse(0));
        String row = "%-" + nameWidth + "s  %-" + dirWidth + "s  %s%n";
        out.printf(row, "DATASET", "DEFAULT DIRECTORY", "DESCRIPTION");
        for (int i = 0; i < entries.size(); i++) out.printf(row, entries.get(i).name(), dirs.get(i), entries.get(i).description());
        out.println();
        out.println("Options follow the name after a colon, separated by commas (defaults shown; e.g. synthetic:3x32x32,classes=10");
        out.println("or imagenet-subset:size=160):");
        for (DatasetRegistry.Entry e : entries)
            if (!e.usage().equals(e.name())) out.println("  " + e.usage());
        out.println("Use --data-dir DIR to read a dataset from elsewhere than its default directory.");
        out.flush();
    }

    /** Writes a registry dataset as root/{train,val}/<class>/<n>.png|jpg, so the image pipeline can be tried on real pictures. */
    @Command(name = "prepare", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
            description = "Writes a dataset (e.g. fashion-mnist) as an image-folder tree: OUT/train/<class>/<n>.png and OUT/val/... from its test split.")
    static final class Prepare implements Callable<Integer> {
        @Spec CommandSpec spec;

        @Option(names = {"-d", "--data"}, required = true, paramLabel = "NAME", description = "Dataset to export (fashion-mnist, mnist, cifar10, cifar100).")
        String data;

        @Option(names = "--data-dir", paramLabel = "DIR", description = "Where the dataset's files are (default: its default directory).")
        Path dataDir;

        @Option(names = {"-o", "--out"}, required = true, paramLabel = "DIR", description = "Root of the tree to write (its train/ and val/ must not exist or be empty).")
        Path out;

        @Option(names = "--format", defaultValue = "png", description = "png (lossless) or jpg (default: ${DEFAULT-VALUE}).")
        String format;

        @Override
        public Integer call() {
            ImageFolderWriter.Format f = switch (format.toLowerCase(java.util.Locale.ROOT)) { // any case, as --device, --model
                case "png" -> ImageFolderWriter.Format.PNG;
                case "jpg", "jpeg" -> ImageFolderWriter.Format.JPEG;
                default -> throw new Main.UsageError(spec.commandLine(), "--format must be png or jpg, not '" + format + "'"
                        + io.dltrain.runtime.Names.didYouMean(format, java.util.List.of("png", "jpg")));
            };
            // checked by a trial before the dataset is read; the exporter's own check (non-empty train/, val/) follows
            String unusable = OutputDir.problem(out, "--out " + out, "choose another directory");
            if (unusable != null) throw new Main.UsageError(spec.commandLine(), unusable);
            try { // before the dataset is read (seconds to minutes), not after
                unusable = ImageFolderWriter.occupied(out, java.util.List.of("train", "val"));
            } catch (DatasetException e) {
                unusable = e.getMessage();
            }
            if (unusable != null) throw new Main.UsageError(spec.commandLine(), unusable);
            // what it wrote on stdout; notices and progress on stderr, so that stdout has the result alone
            PrintWriter o = spec.commandLine().getOut(), notices = spec.commandLine().getErr();
            try {
                DatasetRegistry.Entry entry = DatasetRegistry.get(data);
                String base = entry.name().split(":", 2)[0];
                String why = switch (base) {
                    case "fashion-mnist", "mnist", "cifar10", "cifar100" -> null; // image arrays with a known normalisation
                    case "imagefolder", "imagenet-subset" -> "it is an image-folder tree already: train on it with --data "
                            + base + " --data-dir DIR";
                    case "synthetic" -> "it is generated in memory: train on it with --data synthetic";
                    case "csv" -> "it holds table rows, not images";
                    default -> "the exporter does not know its normalisation";
                };
                if (why != null)
                    throw new Main.UsageError(spec.commandLine(), "cannot export '" + data + "': " + why
                            + ". `dl-train datasets prepare` exports fashion-mnist, mnist, cifar10 and cifar100.");
                DatasetRegistry.Splits splits = entry.load(dataDir, "--data-dir");
                if (splits.hasNotice()) notices.println("dl-train: notice: " + splits.notice());
                // the export takes a while (Fashion-MNIST as PNGs: about 30 s on 2 cores) and shows its result only at the end
                int val = splits.test() == null ? 0 : splits.test().size();
                notices.printf("dl-train: writing %,d training and %,d validation %s (%s) under %s%n", splits.train().size(), val,
                        Words.noun(val, "image"), f.name().toLowerCase(java.util.Locale.ROOT), out);
                notices.flush();
                ImageFolderWriter.Summary s;
                // then a line every 10 s, so that a long export is seen to go on (prepare has no --progress: lines, no bar)
                try (Progress.Phase writing = Progress.slowPhase(Progress.Mode.PLAIN, notices, "writing the images under " + out)) {
                    s = ImageFolderWriter.write(splits.train(), splits.test(), out, f);
                }
                o.printf("dl-train: wrote %,d training and %,d validation %s in %d class %s under %s%n", s.trainImages(), s.valImages(),
                        Words.noun(s.valImages(), "image"), s.classFolders(), Words.noun(s.classFolders(), "folder"), s.root());
                o.flush();
                return 0;
            } catch (DatasetException | IllegalArgumentException e) {
                throw new Main.UsageError(spec.commandLine(), e.getMessage());
            }
        }
    }
}
