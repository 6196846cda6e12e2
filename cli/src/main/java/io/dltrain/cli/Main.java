package io.dltrain.cli;

import picocli.CommandLine;

import java.io.PrintWriter;

/**
 * Entry point of the dl-train command. Exit codes follow picocli: 0 success, 1 a failure while running,
 * 2 a usage error (bad option, unknown model or dataset, missing or corrupt data, unusable device or output).
 */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        System.exit(run(args, new PrintWriter(System.out, true), new PrintWriter(System.err, true)));
    }

    /** Runs the CLI with the given streams and returns the exit code (tests call this). */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        CommandLine cl = new CommandLine(new DlTrain());
        cl.setOut(out).setErr(err);
        cl.setParameterExceptionHandler((ex, a) -> {
            CommandLine c = ex.getCommandLine();
            c.getErr().println("dl-train: error: " + ex.getMessage());
            if (!(ex instanceof UsageError)) CommandLine.UnmatchedArgumentException.printSuggestions(ex, c.getErr());
            c.getErr().println("Try '" + c.getCommandSpec().qualifiedName() + " --help' for more information.");
            c.getErr().flush();
            return c.getCommandSpec().exitCodeOnInvalidInput();
        });
        cl.setExecutionExceptionHandler((ex, c, parsed) -> {
            c.getErr().println("dl-train: error: " + (ex.getMessage() == null ? ex.toString() : ex.getMessage()));
            if (System.getenv("DL_TRAIN_DEBUG") != null) ex.printStackTrace(c.getErr());
            else c.getErr().println("(set DL_TRAIN_DEBUG=1 for the stack trace)");
            c.getErr().flush();
            return c.getCommandSpec().exitCodeOnExecutionException();
        });
        try {
            ConfigFile.install(cl, args); // --config FILE: the file's values become the defaults, flags still win
        } catch (ConfigFile.ConfigException e) {
            err.println("dl-train: error: " + e.getMessage());
            err.println("Try 'dl-train --help' for more information.");
            err.flush();
            return cl.getCommandSpec().exitCodeOnInvalidInput();
        }
        return cl.execute(args);
    }

    /** A usage error found after parsing (bad value, missing data...): exit code 2, no usage dump. */
    static final class UsageError extends CommandLine.ParameterException {
        UsageError(CommandLine cl, String message) { super(cl, message); }
    }
}
