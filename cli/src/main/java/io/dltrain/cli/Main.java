package io.dltrain.cli;

import picocli.CommandLine;

import java.io.PrintWriter;
import java.util.List;

/**
 * Entry point of the dl-train command. Exit codes follow picocli: 0 success, 1 a failure while running,
 * 2 a usage error (bad option, unknown model or dataset, missing or corrupt data, unusable device or output); and as
 * for any process a signal ends, 128 + the signal's number: 130 after SIGINT (Ctrl-C), 143 after SIGTERM (docker
 * stop, Kubernetes), whether training first wrote its checkpoint or a second signal ended it at once ({@link Signals});
 * 0 for a signal that came after a training run had completed.
 */
public final class Main {
    private Main() {}

    public static void main(String[] args) {
        PrintWriter out = Stdout.system(), err = new PrintWriter(System.err, true);
        Signals.install(err); // what a signal's stop says is a notice: stderr, as the run's own (stdout has the results alone)
        System.exit(run(args, out, err));
    }

    /** Runs the CLI with the given streams and returns the exit code (tests call this). */
    public static int run(String[] args, PrintWriter out, PrintWriter err) {
        // Numbers as the README writes them (0.0047, 235,146), whatever the machine's locale: under LANG=de_DE.UTF-8 they
        // were 0,0047 and 235.146, which a script reading them misread, and a log differed from machine to machine
        java.util.Locale.setDefault(java.util.Locale.Category.FORMAT, java.util.Locale.ROOT);
        CommandLine cl = new CommandLine(new DlTrain());
        cl.setOut(out).setErr(err);
        withConverters(cl);
        cl.setParameterExceptionHandler((ex, a) -> {
            CommandLine c = ex.getCommandLine();
            c.getErr().println("dl-train: error: " + ex.getMessage());
            if (!(ex instanceof UsageError)) CommandLine.UnmatchedArgumentException.printSuggestions(ex, c.getErr());
            if (!(ex instanceof Unusable))
                c.getErr().println("Try '" + c.getCommandSpec().qualifiedName() + " --help' for more information.");
            c.getErr().flush();
            return c.getCommandSpec().exitCodeOnInvalidInput();
        });
        cl.setExecutionExceptionHandler((ex, c, parsed) -> failed(ex, c.getErr(), c.getCommandSpec().exitCodeOnExecutionException()));
        try {
            ConfigFile.install(cl, args); // --config FILE: the file's values become the defaults, flags still win
        } catch (ConfigFile.ConfigException e) {
            err.println("dl-train: error: " + e.getMessage());
            err.println("Try 'dl-train --help' for more information.");
            err.flush();
            return cl.getCommandSpec().exitCodeOnInvalidInput();
        }
        int code;
        try {
            code = cl.execute(args);
        } catch (OutOfMemoryError e) {   // picocli hands Exceptions to the handler above; Errors come through here
            code = failed(e, err, cl.getCommandSpec().exitCodeOnExecutionException());
        }
        return outputChecked(out, err, code);
    }

    /**
     * code, unless standard output could not be written (PrintWriter swallows the failure, so `dl-train models > /dev/full`
     * or `>&-` ended 0 with nothing written): then 1 with the reason, or, where the reader of a pipe went away
     * (`| head -1`), 141 and nothing said, as SIGPIPE ends a C program. A command's own failure keeps its code.
     */
    static int outputChecked(PrintWriter out, PrintWriter err, int code) {
        if (!out.checkError() || code != 0) return code; // checkError flushes
        Stdout s = out instanceof Stdout o ? o : null;
        if (s != null && s.readerGone()) return 128 + 13;
        err.println("dl-train: error: standard output could not be written (" + (s == null || s.failure() == null ? "write error" : s.failure())
                + "): what the command printed there is incomplete. Send it to a file or pipe that can take it.");
        err.flush();
        return 1;
    }

    /** Registers the value converters of every dl-train command line (also the one that checks a --config file's values). */
    static CommandLine withConverters(CommandLine cl) {
        // an empty path is not the current directory: `--out "$OUT"` with OUT unset would write a run where the command runs
        return cl.registerConverter(java.nio.file.Path.class, s -> {
                    if (s.isEmpty()) throw new CommandLine.TypeConversionException("an empty path (an unset variable?); give a file or directory");
                    return java.nio.file.Path.of(s);
                })
                .registerConverter(Double.class, s -> Double.valueOf(decimal(s, "double")))
                .registerConverter(double.class, s -> Double.valueOf(decimal(s, "double")))
                .registerConverter(Float.class, s -> Float.valueOf(decimal(s, "float")))
                .registerConverter(float.class, s -> Float.valueOf(decimal(s, "float")))
                .registerConverter(Boolean.class, Main::bool)
                .registerConverter(boolean.class, Main::bool);
    }

    /**
     * true or false, in any case, as picocli takes them (--skip-nonfinite=true; a config file's skip-nonfinite: true);
     * YAML 1.1's yes, no, on and off are not booleans in YAML 1.2 or JSON, and the error says what to write instead.
     */
    private static Boolean bool(String s) {
        if (s.equalsIgnoreCase("true") || s.equalsIgnoreCase("false")) return Boolean.valueOf(s);
        throw new CommandLine.TypeConversionException("'" + s + "' is not a boolean: write true or false");
    }

    /**
     * s, a decimal number as picocli reads whole numbers: Java's Double.valueOf (picocli's converter) also takes blanks
     * around it and a d or f type suffix, so --lr " 3" and --lr 3d ran where --epochs " 3" is refused ("is not an int").
     * A config file's value is what YAML or JSON read: YAML trims an unquoted value itself, a quoted one keeps its blanks.
     */
    private static String decimal(String s, String type) {
        try {
            return io.dltrain.runtime.Numbers.decimal(s);
        } catch (NumberFormatException e) {
            throw new CommandLine.TypeConversionException("'" + s + "' is not a " + type);
        }
    }

    /** Prints a failure while running (one line, with advice where we have some) and returns the exit code. */
    private static int failed(Throwable ex, PrintWriter err, int exitCode) {
        err.println("dl-train: error: " + failure(ex));
        if (System.getenv("DL_TRAIN_DEBUG") != null) ex.printStackTrace(err);
        else err.println("(set DL_TRAIN_DEBUG=1 for the stack trace)");
        err.flush();
        return exitCode;
    }

    /** The one-line message of a failure while running (after "dl-train: error: "). */
    static String failure(Throwable ex) {
        OutOfMemoryError oom = outOfMemory(ex);
        if (oom == null) return ex.getMessage() == null ? ex.toString() : ex.getMessage();
        // Decoding one image too large for the heap (ImageCodec's DatasetException): its message names the file (and in
        // training, the run's checkpoint), and a smaller batch would not help. A data loader's worker that ran out reading
        // anything else (the loader wraps every failed read in a DataLoadException) ran out as the training did.
        for (Throwable t = ex; t != oom; t = t.getCause())
            if (t instanceof io.dltrain.datasets.DatasetException)
                return ex.getMessage() + ". To read it, " + largerHeap() + ", or make the file smaller.";
        for (Throwable t = ex; t != oom; t = t.getCause())
            if (t instanceof OutOfMemoryWhile w)
                return outOfMemoryAdvice(oom, w.getMessage(), w.why, w.smaller, w.step, Runtime.getRuntime().maxMemory(), physicalMemory());
        return outOfMemoryAdvice(oom);
    }

    /** An OutOfMemoryError with what the command was doing ("building vgg16 (...)", "training vgg16 at --batch-size 16"). */
    static final class OutOfMemoryWhile extends RuntimeException {
        final String why, smaller;
        final Step step;

        /**
         * @param why     what did not fit ("the model alone does not fit"), or null: the model, one batch and its activations
         * @param smaller what to make smaller ("Use fewer --workers or a smaller --batch-size"), or null when nothing helps
         *                but a larger heap; with why null, a smaller --batch-size
         */
        OutOfMemoryWhile(String doing, String why, String smaller, OutOfMemoryError cause) {
            this(doing, why, smaller, null, cause);
        }

        /** A training or bench step that ran out: {@code step} says what is known of it (see {@link #outOfMemoryAdvice}). */
        OutOfMemoryWhile(String doing, Step step, OutOfMemoryError cause) { this(doing, null, null, step, cause); }

        private OutOfMemoryWhile(String doing, String why, String smaller, Step step, OutOfMemoryError cause) {
            super(doing, cause);
            this.why = why;
            this.smaller = smaller;
            this.step = step;
        }
    }

    /** The OutOfMemoryError in ex's cause chain (a worker thread's reaches us wrapped), or null. */
    static OutOfMemoryError outOfMemory(Throwable ex) {
        for (Throwable t = ex; t != null; t = t.getCause() == t ? null : t.getCause())
            if (t instanceof OutOfMemoryError o) return o;
        return null;
    }

    /** What ran out and what to do: a smaller batch, or (for the Java heap) a larger heap, sized from this machine. */
    static String outOfMemoryAdvice(OutOfMemoryError e) { return outOfMemoryAdvice(e, null, null, null); }

    /** The same, saying what ran out of memory ({@code doing}, or nothing where null); why and smaller: see OutOfMemoryWhile. */
    static String outOfMemoryAdvice(OutOfMemoryError e, String doing, String why, String smaller) {
        return outOfMemoryAdvice(e, doing, why, smaller, null, Runtime.getRuntime().maxMemory(), physicalMemory());
    }

    /**
     * What is known of a step that ran out of memory: the model, its --batch-size, the most bytes of tensors in use, and
     * the command's options that shape the step besides those (" --data cifar10 --device cpu", "" for none), which the
     * advised bench must be given too: without them it times another input (the model's listed image size, synthetic
     * data) on perhaps another device, and says whether that fits.
     */
    record Step(String model, int batch, long tensorBytes, String benchOptions) {
        Step(String model, int batch, long tensorBytes) { this(model, batch, tensorBytes, ""); }
    }

    /**
     * The same for a Java heap of {@code heapBytes} on a machine of {@code ram} bytes (0: not known). {@code step}, where a
     * training or bench step ran out (null otherwise), says what is known: the tensors in use, which the step needed more
     * than (how much more is not known: resnet50 at batch 128 ran out of 6 GiB, and of the 18 GiB then advised), a batch
     * to try (half) and the bench that says in a few steps whether it fits. A larger heap is advised only where the
     * machine has more to give than the heap has ({@link #heapIsAtMost}): else the advice named the heap it had.
     */
    static String outOfMemoryAdvice(OutOfMemoryError e, String doing, String why, String smaller, Step step, long heapBytes, long ram) {
        String what = e.getMessage() == null ? "memory" : e.getMessage();
        boolean heap = what.contains("Java heap") || what.contains("GC overhead") || what.contains("array size");
        boolean grows = heap && !heapIsAtMost(heapBytes, ram);
        if (why == null) {
            why = "the model, one batch and its activations do not fit";
            smaller = "Use a smaller --batch-size";
            if (step != null && step.tensorBytes() > 0)
                why += ": " + size(step.tensorBytes()) + " of tensors were in use and the step needed more"
                        + (grows ? " (how much more is not known: a larger heap may not be enough either)" : "");
            if (step != null) {
                int half = step.batch() / 2;
                smaller = half < 1 ? null : smaller + ", e.g. " + half + " (dl-train bench --model " + step.model() + " --batch-size " + half
                        + step.benchOptions() + " --steps 1 --warmup 1 --windows 1 says within 3 steps whether it fits, and its peak memory)";
            }
        }
        StringBuilder b = new StringBuilder("out of memory (" + what + ")" + (doing == null ? "" : " " + doing) + ": " + why);
        if (smaller != null) b.append(". ").append(smaller);
        if (grows) b.append(smaller != null ? ", or " + largerHeap(heapBytes, ram) : ". G" + largerHeap(heapBytes, ram).substring(1));
        else if (heap) b.append("; ").append(heapAtMost(heapBytes, ram));
        return b.append('.').toString();
    }

    /** Whether a heap of {@code heap} bytes is already about the most {@link #largerHeap} would advise (ram: 0 where not known). */
    static boolean heapIsAtMost(long heap, long ram) {
        return ram > 0 && heap >= 0.9 * (suggestedHeapGiB(heap, ram) << 30);
    }

    /** "Java's heap, 17.0 GiB, is already about the most this machine's 23.4 GiB can give". */
    private static String heapAtMost(long heap, long ram) {
        return "Java's heap, " + size(heap) + ", is already about the most this machine's " + size(ram) + " can give";
    }

    /** The heap to advise, in GiB: three quarters of the machine's memory, or twice the heap's where that is not known. */
    private static long suggestedHeapGiB(long heap, long ram) {
        return ram > 0 ? Math.max(1, ram * 3 / 4 >> 30) : Math.max(2, 2 * heap >> 30);
    }

    /** "give Java a larger heap than its 1.2 GiB (this machine has ...): JDK_JAVA_OPTIONS=-Xmx17g ./dl-train ... (...)". */
    private static String largerHeap() { return largerHeap(Runtime.getRuntime().maxMemory(), physicalMemory()); }

    private static String largerHeap(long heap, long ram) {
        StringBuilder b = new StringBuilder("give Java a larger heap than its ").append(size(heap));
        if (ram > 0) b.append(" (this machine has ").append(size(ram)).append(")");
        long suggest = suggestedHeapGiB(heap, ram);
        return b.append(": ").append(heapCommand(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments(),
                System.getenv("JAVA_TOOL_OPTIONS"), System.getenv("JDK_JAVA_OPTIONS"), System.getenv("_JAVA_OPTIONS"),
                System.getenv("DL_TRAIN_JAVA_OPTS"), "-Xmx" + suggest + "g")).toString();
    }

    /**
     * How to run with the heap option {@code xmx}, given the JVM's arguments ({@code jvmArgs}: JAVA_TOOL_OPTIONS's words
     * first, then JDK_JAVA_OPTIONS's, the command line's, and _JAVA_OPTIONS's last) and those variables, where the last
     * heap size wins. JDK_JAVA_OPTIONS comes after JAVA_TOOL_OPTIONS but before the command line: a heap set on the
     * command line (by the launcher's DL_TRAIN_JAVA_OPTS, or by running java with -Xmx) is not raised by it, nor one set
     * by _JAVA_OPTIONS, and the advice names the option that set it.
     */
    static String heapCommand(List<String> jvmArgs, String javaToolOptions, String jdkJavaOptions, String javaOptions,
                              String dlTrainJavaOpts, String xmx) {
        String last = heapOption(jvmWords(javaOptions), 0, jvmWords(javaOptions).size());
        if (last != null) return "_JAVA_OPTIONS=" + xmx + " ./dl-train ... (its " + last + " sets the heap now, over every other option)";
        int from = jvmWords(javaToolOptions).size() + jvmWords(jdkJavaOptions).size();
        String set = heapOption(jvmArgs, Math.min(from, jvmArgs.size()), Math.max(0, jvmArgs.size() - jvmWords(javaOptions).size()));
        if (set == null)
            return "JDK_JAVA_OPTIONS=" + xmx + " ./dl-train ... (in Docker: docker run -e JDK_JAVA_OPTIONS=" + xmx + " ...)";
        if (words(dlTrainJavaOpts).contains(set))
            return "DL_TRAIN_JAVA_OPTS=" + xmx + " ./dl-train ... (its " + set + " sets the heap now; JDK_JAVA_OPTIONS does not override it)";
        return "run java with " + xmx + " in place of its " + set + " (JDK_JAVA_OPTIONS does not override it)";
    }

    /** {@link #heapCommand} with JAVA_TOOL_OPTIONS and _JAVA_OPTIONS unset. */
    static String heapCommand(List<String> jvmArgs, String jdkJavaOptions, String dlTrainJavaOpts, String xmx) {
        return heapCommand(jvmArgs, null, jdkJavaOptions, null, dlTrainJavaOpts, xmx);
    }

    /** The last heap size option (-Xmx..., -XX:MaxHeapSize=...) among args[from, to), or null. */
    private static String heapOption(List<String> args, int from, int to) {
        String set = null;
        for (int i = from; i < to; i++)
            if (args.get(i).startsWith("-Xmx") || args.get(i).startsWith("-XX:MaxHeapSize=")) set = args.get(i);
        return set;
    }

    /** The whitespace-separated words of an environment variable (none where it is unset or blank), as the launcher's shell splits DL_TRAIN_JAVA_OPTS. */
    private static List<String> words(String variable) {
        return variable == null || variable.isBlank() ? List.of() : List.of(variable.trim().split("\\s+"));
    }

    /**
     * The JVM's arguments from JAVA_TOOL_OPTIONS, JDK_JAVA_OPTIONS or _JAVA_OPTIONS, split as the JVM splits them: at
     * whitespace outside quotes, single or double quotes grouping what they enclose (spaces too) and dropped; none
     * where the variable is unset or blank. ('-Dapp.name="my app" -Xmx1g' is two arguments, not three.)
     */
    static List<String> jvmWords(String variable) {
        if (variable == null) return List.of();
        List<String> out = new java.util.ArrayList<>();
        int i = 0, n = variable.length();
        while (i < n) {
            while (i < n && space(variable.charAt(i))) i++;
            if (i == n) break;
            StringBuilder w = new StringBuilder();
            while (i < n && !space(variable.charAt(i))) {
                char c = variable.charAt(i++);
                if (c == '"' || c == '\'') {
                    int close = variable.indexOf(c, i);
                    if (close < 0) close = n; // the JVM refuses an unmatched quote: it does not start
                    w.append(variable, i, close);
                    i = Math.min(n, close + 1);
                } else {
                    w.append(c);
                }
            }
            out.add(w.toString());
        }
        return out;
    }

    /** C's isspace, as the JVM splits its variables (and as \s matches). */
    private static boolean space(char c) { return " \t\n\u000B\f\r".indexOf(c) >= 0; }

    /** "6.0 GiB", or "48 MiB" below a GiB. */
    private static String size(long bytes) {
        return bytes < 1L << 30 ? (bytes >> 20) + " MiB" : String.format(java.util.Locale.ROOT, "%.1f GiB", bytes / (double) (1L << 30));
    }

    /** Physical memory in bytes, or 0 where the JVM does not say. */
    private static long physicalMemory() {
        return java.lang.management.ManagementFactory.getOperatingSystemMXBean() instanceof com.sun.management.OperatingSystemMXBean os
                ? os.getTotalMemorySize() : 0;
    }

    /** A usage error found after parsing (bad value, missing data...): exit code 2, no usage dump. */
    static class UsageError extends CommandLine.ParameterException {
        UsageError(CommandLine cl, String message) { super(cl, message); }
    }

    /**
     * A --device this machine cannot use (no driver, no such GPU): exit code 2 like a usage error, the spec of `info
     * --device`'s readiness check and what train, eval, predict and bench do, but the command was given right, so
     * without the "Try '... --help'" line, whose help would not help; the message says what to do.
     */
    static final class Unusable extends UsageError {
        Unusable(CommandLine cl, String message) { super(cl, message); }
    }
}
