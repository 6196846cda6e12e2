package io.dltrain.cli;

import com.fasterxml.jackson.core.JsonProcessingException;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dltrain.datasets.DatasetException;
import io.dltrain.datasets.DatasetRegistry;
import io.dltrain.models.ModelRegistry;
import io.dltrain.models.ModelSpec;
import io.dltrain.runtime.Names;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.BackendUnavailableException;
import io.dltrain.runtime.backend.Backends;
import io.dltrain.runtime.backend.CountingBackend;
import io.dltrain.runtime.backend.cuda.CudaBackend;
import io.dltrain.runtime.backend.cuda.CudnnOps;
import io.dltrain.runtime.checkpoint.Checkpoint;
import io.dltrain.runtime.data.Batch;
import io.dltrain.runtime.data.DataLoader;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.loss.CrossEntropyLoss;
import io.dltrain.runtime.nn.loss.Loss;
import io.dltrain.runtime.nn.loss.MSELoss;
import io.dltrain.runtime.optim.SGD;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import picocli.CommandLine.Command;
import picocli.CommandLine.Model.CommandSpec;
import picocli.CommandLine.Option;
import picocli.CommandLine.Spec;

import java.io.PrintWriter;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.concurrent.Callable;

/**
 * `dl-train bench`: training-step throughput of one model at one batch size, the measurement behind the GPU-speed
 * comparison with PyTorch ({@code benchmarks/pytorch/bench_torch.py} is its peer and prints the same JSON keys).
 *
 * <p>A step is what PyTorch's loop does: forward, cross-entropy loss (for the autoencoders: the MSE against the input,
 * their training loss), zero_grad, backward, SGD (momentum 0.9, lr 0.01) step. After the warm-up steps, K windows of N steps are timed end to end (one synchronize at each window
 * end, none inside), giving images/s per window; the median, min and max are reported. The per-phase breakdown
 * (forward / backward / optimiser / data wait) needs a synchronize after every phase, which removes the overlap of
 * host and device work, so it is measured in one extra window after the timed ones and never mixed into images/s.
 *
 * <p>The backend is wrapped in a {@link CountingBackend} and the model is built on it, so every op of a step is
 * counted: "backend ops per step" (on CUDA, the kernel launches a step pays for). Counting costs one counter
 * increment per op.
 */
@Command(name = "bench", mixinStandardHelpOptions = true, versionProvider = VersionProvider.class,
        description = {"Measures training-step throughput (images/s) of a model: forward, loss, backward, SGD step.",
                "Synthetic data (one random batch on the device) unless --data is given."},
        footer = {"", "Examples:",
                "  dl-train bench --model lenet5 --batch-size 128",
                "  dl-train bench --model mlp --batch-size 128 --json",
                "  dl-train bench --model lenet5 --batch-size 256 --data fashion-mnist --steps 20"})
public final class BenchCommand implements Callable<Integer> {
    /** What --precision runs: fp32 on every backend, tf32 on the CUDA backend only (its TF32 switch). */
    static final List<String> PRECISIONS = List.of("fp32", "tf32");
    /**
     * bf16, which the PyTorch peer measures (autocast), is implemented by no backend: it needs mixed-precision tensors
     * (autocast, fp32 master weights) that the backends do not have yet. Refused with that reason, on every backend,
     * rather than measuring fp32 under a bf16 label.
     */
    static final String BF16_NOT_IMPLEMENTED = "bf16 is not implemented yet, on any backend (it needs mixed-precision training:"
            + " bf16 autocast with fp32 master weights)";
    /** The optimiser of the PyTorch peer script: torch.optim.SGD(params, lr=0.01, momentum=0.9). */
    static final double LR = 0.01, MOMENTUM = 0.9;
    private static final long SEED = 42;

    @Spec CommandSpec spec;

    @Option(names = {"-m", "--model"}, paramLabel = "NAME", description = "Model from the registry (see `dl-train models`). Required.")
    String model;

    @Option(names = {"-b", "--batch-size"}, paramLabel = "N", description = "Samples per step. Required.")
    Integer batchSize;

    @Option(names = "--image-size", paramLabel = "S", description = "Input height = width (default: the model's listed input size).")
    Integer imageSize;

    @Option(names = "--precision", defaultValue = "fp32", paramLabel = "P",
            description = "fp32 (every backend) or tf32 (the CUDA backend only: cuBLAS/cuDNN TF32 tensor-core math); bf16 is not"
                    + " implemented yet, on any backend (default: ${DEFAULT-VALUE}).")
    String precision;

    @Option(names = "--device", defaultValue = "auto", paramLabel = "DEVICE", description = "auto, cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--cudnn-search", paramLabel = "S",
            description = "How the CUDA backend picks convolution algorithms: heuristic (cuDNN's ranking, as training does) or"
                    + " measured (each shape's algorithms timed on its first call, as torch.backends.cudnn.benchmark = True,"
                    + " the PyTorch peer's setting; the CUDA backend only) (default: -D" + CudnnOps.SEARCH_SWITCH + ", else heuristic).")
    String cudnnSearch;

    @Option(names = "--synthetic", description = "One random batch made once on the device (the default when --data is not given).")
    boolean synthetic;

    @Option(names = {"-d", "--data"}, paramLabel = "NAME", description = "Read batches from this dataset (see `dl-train datasets`) instead of synthetic data.")
    String data;

    @Option(names = "--data-dir", paramLabel = "DIR", description = "Where --data's files are (default: the dataset's default directory).")
    Path dataDir;

    @Option(names = "--warmup", defaultValue = "10", paramLabel = "N", description = "Untimed steps first (default: ${DEFAULT-VALUE}).")
    int warmup;

    @Option(names = "--steps", defaultValue = "50", paramLabel = "N", description = "Timed steps per window (default: ${DEFAULT-VALUE}).")
    int steps;

    @Option(names = "--windows", defaultValue = "5", paramLabel = "K", description = "Timed windows; images/s is the median over them (default: ${DEFAULT-VALUE}).")
    int windows;

    @Option(names = "--threads", defaultValue = "0", paramLabel = "N", description = "CPU compute threads; 0 uses every core (default: ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = "--workers", paramLabel = "N|auto",
            description = "With --data: data-loading threads, as for training (default: auto: one per core but one when a GPU reads image files, else 1).")
    String workers;

    /** With --data: the loader's threads, as resolved (null for synthetic data). */
    private Integer loaderWorkers;

    @Option(names = "--json", description = "Print one JSON object instead of the text report.")
    boolean json;

    /** The model is an autoencoder: its step's loss is the MSE against its input (set in call, from the registry). */
    private boolean reconstruct;

    private Main.UsageError usage(String message) { return new Main.UsageError(spec.commandLine(), message); }

    @Override
    public Integer call() throws JsonProcessingException {
        PrintWriter out = spec.commandLine().getOut();
        // Notices (e.g. auto falling back to the CPU) on stderr: stdout holds the report or the one JSON object alone.
        PrintWriter notices = spec.commandLine().getErr();

        // 1. Options and names; nothing is built yet.
        if (model == null) throw usage("Missing required option: --model NAME (one of: " + String.join(", ", ModelRegistry.names()) + ")");
        if (batchSize == null) throw usage("Missing required option: --batch-size N");
        if (batchSize < 1) throw usage("--batch-size must be >= 1, got " + batchSize);
        if (imageSize != null && imageSize < 1) throw usage("--image-size must be >= 1, got " + imageSize);
        if (warmup < 0) throw usage("--warmup must be >= 0, got " + warmup);
        if (steps < 1) throw usage("--steps must be >= 1, got " + steps);
        if (windows < 1) throw usage("--windows must be >= 1, got " + windows);
        if (threads < 0) throw usage("--threads must be >= 0 (0 uses every core), got " + threads);
        String prec = precision.trim().toLowerCase(Locale.ROOT);
        if (prec.equals("bf16")) throw usage("--precision " + BF16_NOT_IMPLEMENTED + "; use --precision fp32, or tf32 on the CUDA backend");
        if (!PRECISIONS.contains(prec))
            throw usage("unknown --precision '" + precision + "'" + Names.didYouMean(prec, PRECISIONS) + ": use fp32, or tf32 on the CUDA backend (bf16 is not implemented yet)");
        Boolean measuredAsked = null;
        if (cudnnSearch != null) {
            String v = cudnnSearch.trim().toLowerCase(Locale.ROOT);
            if (!v.equals("heuristic") && !v.equals("measured"))
                throw usage("unknown --cudnn-search '" + cudnnSearch + "'" + Names.didYouMean(v, List.of("heuristic", "measured")) + ": use heuristic (cuDNN's ranking) or measured (time the algorithms once per shape)");
            measuredAsked = v.equals("measured");
        }
        if (synthetic && data != null) throw usage("--synthetic and --data exclude each other: pick one");
        if (dataDir != null && data == null) throw usage("--data-dir needs --data NAME");
        if (workers != null && data == null) throw usage("--workers needs --data NAME (synthetic data is one batch made once on the device)");
        Integer workersAsked;
        try {
            workersAsked = DataWorkers.parse(workers);
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
        ModelRegistry.Entry entry;
        try {
            entry = ModelRegistry.get(model);
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
        // classifiers train with cross-entropy on the labels; the autoencoders with the MSE against their input
        reconstruct = entry.task() == io.dltrain.runtime.train.Task.RECONSTRUCTION;

        // 2. Data (when asked for) fixes the input shape; otherwise the model's listed spec, resized by --image-size.
        ModelSpec spec0 = entry.defaultSpec();
        Dataset dataset = null;
        String dataName = "synthetic";
        if (data != null) {
            try {
                DatasetRegistry.Entry de = DatasetRegistry.get(data);
                DatasetRegistry.Splits splits = de.load(dataDir, "--data-dir");
                if (splits.hasNotice()) notices.println("dl-train: notice: " + splits.notice());
                dataset = splits.train();
                dataName = de.name();
            } catch (DatasetException e) {
                throw usage(e.getMessage());
            }
            if (!reconstruct && (dataset.task() == io.dltrain.runtime.train.Task.REGRESSION || dataset.numClasses() < 2))
                throw usage("bench times classification steps (cross-entropy on labels); " + data + " is "
                        + (dataset.task() == io.dltrain.runtime.train.Task.REGRESSION ? "a regression dataset" : "a dataset with " + Words.count(dataset.numClasses(), "class", "classes"))
                        + ": time it with `dl-train --model " + entry.name() + " --data " + data + " ...` and its epoch times instead");
            ModelSpec fromData;
            try {
                fromData = ModelSpec.of(dataset.sampleShape(), dataset.numClasses());
            } catch (IllegalArgumentException e) {
                throw usage(dataset.name() + ": " + e.getMessage());
            }
            int h = fromData.height(), w = fromData.width();
            if (imageSize != null && (imageSize != h || imageSize != w))
                throw usage("--image-size " + imageSize + " does not match " + dataset.name() + "'s " + h + "x" + w
                        + " images (bench does not resize): drop --image-size or use synthetic data");
            if (batchSize > dataset.size())
                throw usage("--batch-size " + batchSize + " is larger than " + dataset.name() + " (" + Words.count(dataset.size(), "sample") + ")");
            spec0 = fromData;
        } else if (imageSize != null) {
            spec0 = new ModelSpec(spec0.inChannels(), imageSize, imageSize, spec0.numClasses());
        }
        ModelSpec mspec = spec0;
        long sampleValues = (long) mspec.inChannels() * mspec.height() * mspec.width();
        if (sampleValues > BatchLimit.MAX_VALUES) // only --image-size makes one: a dataset's samples are arrays already
            throw usage(String.format(Locale.ROOT, "--image-size %d is too large: one %dx%dx%d sample is %,d values, more than a batch"
                    + " can hold (%,d, the largest Java array)", imageSize, mspec.inChannels(), imageSize, imageSize, sampleValues, BatchLimit.MAX_VALUES));
        String tooLarge = BatchLimit.problem(batchSize, sampleValues, (dataset != null ? dataset.name() + "'s " : entry.name() + "'s input ")
                + "[" + mspec.inChannels() + ", " + mspec.height() + ", " + mspec.width() + "]" + (dataset != null ? " samples" : ""));
        if (tooLarge != null) throw usage(tooLarge);

        // 3. Device and precision.
        Backend real;
        try {
            real = Backends.create(device, threads, msg -> notices.println("dl-train: notice: " + msg));
        } catch (BackendUnavailableException e) {
            throw new Main.Unusable(spec.commandLine(), e.commandLineMessage());
        } catch (IllegalArgumentException e) {
            throw usage(e.getMessage());
        }
        boolean tf32 = prec.equals("tf32");
        if (!(real instanceof CudaBackend cuda)) {
            String name = real.name().toUpperCase(Locale.ROOT);
            if (tf32) {
                real.close();
                throw usage("--precision tf32 needs the CUDA backend (TF32 is a GPU tensor-core format); the " + name + " backend"
                        + " computes in fp32 only: use --precision fp32, or --device cuda on a machine with an NVIDIA GPU");
            }
            if (Boolean.TRUE.equals(measuredAsked)) {
                real.close();
                throw usage("--cudnn-search measured needs the CUDA backend (it times cuDNN's convolution algorithms); the " + name
                        + " backend has one way to convolve: leave the option out, or use --device cuda on a machine with an NVIDIA GPU");
            }
        } else {
            boolean measured = measuredAsked != null ? measuredAsked : cuda.measuredSearch();
            if (cuda.tf32() != tf32 || cuda.measuredSearch() != measured) {
                // TF32 (cuBLAS math mode, cuDNN tensor-op convolutions) and the algorithm search are switches of the
                // CUDA backend: open it again with them set
                int index = real.device().index();
                real.close();
                real = new CudaBackend(index, tf32, measured);
            }
        }
        notices.flush();

        try (CountingBackend be = new CountingBackend(real)) {
            Module net;
            try {
                net = Scope.outside(() -> entry.build(new Context(be, SEED), mspec));
            } catch (IllegalArgumentException e) {
                throw usage("cannot build " + entry.name() + " for input " + mspec + ": " + e.getMessage());
            } catch (OutOfMemoryError e) {
                long parameters = entry.parameterCount(mspec);
                throw new Main.OutOfMemoryWhile(String.format(Locale.ROOT, "building %s (%,d parameters, %,d MiB)", entry.name(), parameters,
                        parameters * Float.BYTES >> 20), "the model alone does not fit", null, e);
            }
            Report r;
            try (Module m = net;
                 SGD opt = new SGD(m.namedParameters(), LR).momentum(MOMENTUM);
                 Input input = dataset == null ? new SyntheticInput(be, mspec, batchSize)
                         : new LoaderInput(be, dataset, batchSize, loaderWorkers = DataWorkers.resolve(workersAsked, dataset, real, batchSize))) {
                r = measure(be, m, opt, input, mspec, prec, dataName, notices);
            } catch (OutOfMemoryError e) {
                throw new Main.OutOfMemoryWhile("timing " + entry.name() + " at --batch-size " + batchSize,
                        new Main.Step(entry.name(), batchSize, be.memoryStats().peakBytes(), stepOptions()), e);
            }
            if (json) out.println(new ObjectMapper().writeValueAsString(r.json));
            else printText(out, r);
            out.flush();
            return 0;
        }
    }

    /** This bench's options that shape a step besides the model and batch, for the shorter bench an out-of-memory step advises (Main.Step). */
    private String stepOptions() {
        return (imageSize != null ? " --image-size " + imageSize : "")
                + (precision.trim().equalsIgnoreCase("fp32") ? "" : " --precision " + ShellWords.quote(precision.trim()))
                + (data != null ? " --data " + ShellWords.quote(data) : "") + (dataDir != null ? " --data-dir " + ShellWords.quote(dataDir) : "")
                + (device == null || device.equals("auto") ? "" : " --device " + ShellWords.quote(device));
    }

    /**
     * After the first step, or with two or more warm-up steps the second (the first allocates the step's arrays and runs
     * cold: vgg16 at batch 8 on 2 cores took 14.7 s, then 11.2 s), begun at {@code t0}: says how long the rest will take at
     * that pace, where that is long ({@link #slowNotice}). {@code taken}: the first step's seconds when this is the second.
     */
    private void stepTimed(CountingBackend be, long t0, double[] taken, PrintWriter notices) {
        be.synchronize();
        double seconds = (System.nanoTime() - t0) / 1e9;
        taken = taken == null ? new double[] {seconds} : new double[] {taken[0], seconds};
        String slow = slowNotice(model.toLowerCase(Locale.ROOT), batchSize, taken, warmup, steps, windows,
                Double.parseDouble(System.getProperty("dltrain.benchNoticeSeconds", "60")));
        if (slow == null) return;
        notices.println("dl-train: notice: " + slow);
        notices.flush();
    }

    /** The steps of the shorter run slowNotice suggests: --warmup 1 --steps 3 --windows 1 (and its breakdown window of 3). */
    private static final int SHORT_RUN_STEPS = 1 + 3 + 3;

    /**
     * What a bench whose first step (or first two) took {@code taken} seconds has ahead, when its other steps take over
     * {@code thresholdSeconds} at the last one's pace (null otherwise): "bench's first two steps of vgg16 at batch 16
     * took 60.2 s and 30.5 s: its other 308 steps (of 310: ...) will take about 2.6 h at the second's pace; for a
     * shorter run, e.g. --warmup 1 --steps 3 --windows 1" (where the bench has more steps than that run: the 3 of the
     * quick bench out-of-memory advice gives were told to run 7).
     */
    static String slowNotice(String model, int batch, double[] taken, int warmup, int steps, int windows, double thresholdSeconds) {
        long total = warmup + (long) windows * steps + steps, others = total - taken.length; // the warm-up, the windows, the breakdown window
        double pace = taken[taken.length - 1], left = others * pace;
        if (!(left > thresholdSeconds)) return null;
        String time = left < 120 ? String.format(Locale.ROOT, "%d s", Math.round(left))
                : left < 120 * 60 ? String.format(Locale.ROOT, "%d min", Math.round(left / 60))
                : String.format(Locale.ROOT, "%.1f h", left / 3600);
        String took = taken.length == 1 ? String.format(Locale.ROOT, "first step of %s at batch %d took %.1f s", model, batch, pace)
                : String.format(Locale.ROOT, "first two steps of %s at batch %d took %.1f s and %.1f s", model, batch, taken[0], pace);
        return String.format(Locale.ROOT, "bench's %s: its other %d %s (of %d: %d warm-up, %s of %d and a breakdown window of %d)"
                        + " will take about %s at the %s pace%s",
                took, others, Words.noun(others, "step"), total, warmup, Words.count(windows, "window"), steps, steps, time,
                taken.length == 1 ? "first's" : "second's",
                total > SHORT_RUN_STEPS ? "; for a shorter run, e.g. --warmup 1 --steps 3 --windows 1" : ""); // (not a longer one)
    }

    // ---------------------------------------------------------------- inputs

    /** Where each step's (x, labels) come from. {@link #next} returns device tensors valid until the step's scope closes. */
    private interface Input extends AutoCloseable {
        Tensor[] next();

        @Override void close();
    }

    /** One random batch, made once (outside every scope) and reused by every step: no data cost at all. */
    private static final class SyntheticInput implements Input {
        private final Tensor x, y;

        SyntheticInput(Backend be, ModelSpec s, int n) {
            SplittableRandom rng = new SplittableRandom(SEED + 1);
            float[] xs = new float[Math.toIntExact((long) n * s.inChannels() * s.height() * s.width())];
            for (int i = 0; i < xs.length; i++) xs[i] = (float) gaussian(rng); // torch.randn
            int[] ys = new int[n];
            for (int i = 0; i < n; i++) ys[i] = rng.nextInt(s.numClasses()); // torch.randint(0, classes)
            x = Scope.outside(() -> be.fromHost(xs, Shape.of(n, s.inChannels(), s.height(), s.width())));
            y = Scope.outside(() -> be.fromHost(ys, Shape.of(n)));
        }

        private static double gaussian(SplittableRandom r) { // Box-Muller; SplittableRandom has no nextGaussian
            double u = 1.0 - r.nextDouble(), v = r.nextDouble();
            return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
        }

        @Override public Tensor[] next() { return new Tensor[] {x, y}; }

        @Override public void close() { x.close(); y.close(); }
    }

    /** Batches from a DataLoader (shuffled, full batches only, {@code workers} loader threads), epoch after epoch. */
    private static final class LoaderInput implements Input {
        private final Backend be;
        private final DataLoader loader;
        private final Shape sample;
        private Iterator<Batch> it;
        private int epoch;

        LoaderInput(Backend be, Dataset ds, int n, int workers) {
            this.be = be;
            this.loader = new DataLoader(ds, null, n, true, true, SEED, workers, 4);
            this.sample = ds.sampleShape();
        }

        @Override
        public Tensor[] next() {
            if (it == null || !it.hasNext()) it = loader.epoch(epoch++);
            Batch b = it.next();
            int[] dims = new int[sample.rank() + 1];
            dims[0] = b.size();
            for (int i = 0; i < sample.rank(); i++) dims[i + 1] = sample.dim(i);
            Tensor x = be.empty(Shape.of(dims));
            be.copyFromHost(b.x, 0, x);
            Tensor y = be.empty(Shape.of(b.size()), DType.INT32);
            be.copyFromHost(b.y, 0, y);
            b.release();
            return new Tensor[] {x, y};
        }

        @Override public void close() { loader.close(); }
    }

    // ---------------------------------------------------------------- measuring

    /** {@code threads}: "2 threads" or "8 threads on 2 cores" (TrainRun.threads), null off the CPU. */
    private record Report(Map<String, Object> json, List<Map.Entry<String, Long>> topOps, String threads) {}

    /** Nanoseconds spent in each phase over a window. */
    private static final class Phases { long data, forward, backward, optimizer; }

    /**
     * One training step, as the PyTorch peer does it. With {@code phases} non-null, synchronises after each phase
     * and adds its time there; otherwise runs without any synchronisation.
     */
    private void step(Backend be, Module m, SGD opt, Loss lossFn, Input input, Phases phases) {
        try (Scope s = Scope.open()) {
            long t0 = System.nanoTime();
            Tensor[] xy = input.next();
            long t1 = t0;
            if (phases != null) { be.synchronize(); t1 = System.nanoTime(); phases.data += t1 - t0; }
            Tensor loss = lossFn.compute(m.forward(xy[0]), reconstruct ? xy[0] : xy[1]);
            long t2 = t1;
            if (phases != null) { be.synchronize(); t2 = System.nanoTime(); phases.forward += t2 - t1; }
            opt.zeroGrad();
            loss.backward();
            long t3 = t2;
            if (phases != null) { be.synchronize(); t3 = System.nanoTime(); phases.backward += t3 - t2; }
            opt.step();
            if (phases != null) { be.synchronize(); phases.optimizer += System.nanoTime() - t3; }
        }
    }

    private Report measure(CountingBackend be, Module m, SGD opt, Input input, ModelSpec s, String prec, String dataName,
                           PrintWriter notices) {
        Loss lossFn = reconstruct ? new MSELoss() : new CrossEntropyLoss(0f);
        m.train(true);
        // the first step is timed: a large model on the CPU takes seconds a step, and the defaults' 310 steps then take
        // an hour, said after it rather than left silent (with no warm-up, it is the first timed window's first step)
        double[] first = null;
        for (int i = 0; i < warmup; i++) {
            long t0 = System.nanoTime();
            step(be, m, opt, lossFn, input, null);
            if (i == 0 && warmup >= 2) { // the second step's pace is said (see stepTimed)
                be.synchronize();
                first = new double[] {(System.nanoTime() - t0) / 1e9};
            } else if (i <= 1) stepTimed(be, t0, first, notices);
        }
        be.synchronize();

        double[] ips = new double[windows], stepMs = new double[windows], opsPerStep = new double[windows];
        Map<String, Long> lastByOp = Map.of();
        long lastAllocs = 0, lastTransfers = 0;
        for (int w = 0; w < windows; w++) {
            be.reset();
            long t0 = System.nanoTime();
            for (int i = 0; i < steps; i++) {
                long t1 = System.nanoTime();
                step(be, m, opt, lossFn, input, null);
                if (warmup == 0 && w == 0 && i == 0) stepTimed(be, t1, null, notices);
            }
            be.synchronize();
            double sec = (System.nanoTime() - t0) / 1e9;
            ips[w] = (double) steps * batchSize / sec;
            stepMs[w] = sec * 1e3 / steps;
            opsPerStep[w] = (double) be.computeOps() / steps;
            lastByOp = be.countsByOp();
            lastAllocs = be.count(CountingBackend.Kind.ALLOC);
            lastTransfers = be.count(CountingBackend.Kind.TRANSFER);
        }
        // The breakdown window: a synchronize after every phase (see the class comment).
        Phases ph = new Phases();
        for (int i = 0; i < steps; i++) step(be, m, opt, lossFn, input, ph);
        be.synchronize();

        Map<String, Object> bd = new LinkedHashMap<>();
        bd.put("total", median(stepMs));
        bd.put("forward", ph.forward / 1e6 / steps);
        bd.put("backward", ph.backward / 1e6 / steps);
        bd.put("optimizer", ph.optimizer / 1e6 / steps);
        bd.put("data_wait", ph.data / 1e6 / steps);
        bd.put("breakdown_total", (ph.data + ph.forward + ph.backward + ph.optimizer) / 1e6 / steps);

        Map<String, Object> describe = be.describe();
        Object peak = describe.get("memory_peak_bytes");
        Map<String, Object> j = Checkpoint.writtenBy(); // format_version, dl_train_version, dl_train_build first
        j.put("framework", "dl-train");
        j.put("variant", "default");
        j.put("model", model.toLowerCase(Locale.ROOT));
        j.put("batch_size", batchSize);
        j.put("image_size", s.height());
        j.put("input_shape", List.of(s.inChannels(), s.height(), s.width()));
        j.put("num_classes", s.numClasses());
        j.put("loss", reconstruct ? "mse" : "cross_entropy");
        j.put("precision", prec);
        j.put("device", be.name());
        j.put("conv_algorithms", describe.get("conv_algorithms"));   // the CUDA backend's; null elsewhere
        j.put("threads", describe.get("threads"));
        j.put("data", dataName);
        j.put("workers", loaderWorkers);
        j.put("warmup", warmup);
        j.put("steps", steps);
        j.put("windows", windows);
        j.put("images_per_sec_median", median(ips));
        j.put("images_per_sec_min", Arrays.stream(ips).min().orElseThrow());
        j.put("images_per_sec_max", Arrays.stream(ips).max().orElseThrow());
        j.put("images_per_sec_windows", toList(ips));
        j.put("step_ms", bd);
        j.put("breakdown_note", "step_ms.total is the median over the timed windows (no synchronisation inside a window); the per-phase times come from one extra window with a synchronize after every phase, which adds synchronisation");
        j.put("peak_memory_bytes", peak instanceof Number n ? n.longValue() : null);
        // The allocator's arrays at the end, in use or kept free for reuse (the CPU pool keeps freed arrays by exact
        // length, so a step of many shapes holds more than its peak in use; all of it is heap, hence RSS)
        Object reserved = describe.get("memory_reserved_bytes");
        j.put("reserved_memory_bytes", reserved instanceof Number n ? n.longValue() : null);
        j.put("backend_ops_per_step", median(opsPerStep));
        j.put("backend_ops_per_step_windows", toList(opsPerStep));
        j.put("backend_allocs_per_step", (double) lastAllocs / steps);
        j.put("backend_transfers_per_step", (double) lastTransfers / steps);
        Map<String, Double> perOp = new LinkedHashMap<>();
        lastByOp.forEach((k, v) -> perOp.put(k, (double) v / steps));
        j.put("backend_calls_per_step_by_op", perOp);
        j.put("java_version", System.getProperty("java.version"));
        List<Map.Entry<String, Long>> top = new ArrayList<>(lastByOp.entrySet());
        top.removeIf(e -> e.getKey().equals("empty") || e.getKey().equals("copyFromHost") || e.getKey().equals("toHost") || e.getKey().equals("item"));
        top.sort(Map.Entry.<String, Long>comparingByValue().reversed());
        return new Report(j, top, describe.containsKey("threads") ? TrainRun.threads(describe) : null);
    }

    @SuppressWarnings("unchecked")
    private void printText(PrintWriter out, Report r) {
        Map<String, Object> j = r.json;
        Map<String, Object> bd = (Map<String, Object>) j.get("step_ms");
        List<Integer> shape = (List<Integer>) j.get("input_shape");
        out.printf(Locale.ROOT, "dl-train bench: %s, batch %d, input %dx%dx%d, %s, device %s%s, %s data%n",
                j.get("model"), batchSize, shape.get(0), shape.get(1), shape.get(2), j.get("precision"), j.get("device"),
                (r.threads() != null ? " (" + r.threads() + ")" : "") + (j.get("conv_algorithms") != null ? " (convolution algorithms: " + j.get("conv_algorithms") + ")" : ""),
                j.get("data") + (j.get("workers") != null ? " (" + j.get("workers") + " loader worker" + ((Integer) j.get("workers") == 1 ? "" : "s") + ")" : ""));
        out.printf(Locale.ROOT, "  %d warm-up %s, then %d %s of %d %s; %s loss, SGD momentum %.1f, lr %.2f%n",
                warmup, Words.noun(warmup, "step"), windows, Words.noun(windows, "window"), steps, Words.noun(steps, "step"), reconstruct ? "MSE (against the input)" : "cross-entropy", MOMENTUM, LR);
        out.printf(Locale.ROOT, "images/s:    median %,.1f  (min %,.1f, max %,.1f)%n",
                j.get("images_per_sec_median"), j.get("images_per_sec_min"), j.get("images_per_sec_max"));
        out.printf(Locale.ROOT, "step:        %.3f ms (median window)%n", bd.get("total"));
        out.printf(Locale.ROOT, "breakdown:   forward %.3f ms, backward %.3f ms, optimiser %.3f ms, data wait %.3f ms (sum %.3f ms)%n",
                bd.get("forward"), bd.get("backward"), bd.get("optimizer"), bd.get("data_wait"), bd.get("breakdown_total"));
        out.println("             (measured in one extra window with a synchronize after every phase: the breakdown adds"
                + " synchronisation, so its sum can exceed the step time above)");
        Object peak = j.get("peak_memory_bytes");
        out.println("peak memory: " + (peak instanceof Long p ? String.format(Locale.ROOT, "%,.1f MiB", p / 1048576.0)
                + " (the most tensor memory the backend's allocator had in use at once, as torch.cuda.max_memory_allocated;"
                + " not the process's memory)" : "unknown (the backend does not report it)"));
        StringBuilder ops = new StringBuilder();
        for (int i = 0; i < Math.min(6, r.topOps.size()); i++) {
            var e = r.topOps.get(i);
            ops.append(i == 0 ? "" : ", ").append(e.getKey()).append(' ').append(fmt((double) e.getValue() / steps));
        }
        out.printf(Locale.ROOT, "backend ops per step: %s compute (%s%s), %s allocations, %s host transfers%n",
                fmt((Double) j.get("backend_ops_per_step")), ops, r.topOps.size() > 6 ? ", ..." : "",
                fmt((Double) j.get("backend_allocs_per_step")), fmt((Double) j.get("backend_transfers_per_step")));
    }

    private static String fmt(double v) {
        return v == Math.rint(v) ? String.valueOf((long) v) : String.format(Locale.ROOT, "%.2f", v);
    }

    private static List<Double> toList(double[] a) { return Arrays.stream(a).boxed().toList(); }

    /** The median (the mean of the two middle values for an even count). */
    static double median(double[] values) {
        double[] s = values.clone();
        Arrays.sort(s);
        int n = s.length;
        return n % 2 == 1 ? s[n / 2] : (s[n / 2 - 1] + s[n / 2]) / 2;
    }
}
