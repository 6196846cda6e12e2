package io.dltrain.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dltrain.runtime.backend.cuda.CudaLibraries;
import io.dltrain.runtime.checkpoint.Checkpoint;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.ByteArrayOutputStream;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.OutputStream;
import java.io.PrintWriter;
import java.io.StringWriter;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.zip.GZIPInputStream;
import java.util.zip.GZIPOutputStream;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertNull;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The command line end to end: training on a small real subset of Fashion-MNIST (the installed Debian package, or
 * the bundled sample where it is absent), determinism, and every usage error the foundation issue names.
 */
class CliTest {
    static final Path INSTALLED = Path.of("/usr/share/datasets/fashion-mnist");
    static final ObjectMapper JSON = new ObjectMapper();

    @TempDir static Path shared;
    static Path subset;

    record Result(int code, String out, String err) {}

    static Result run(String... args) {
        StringWriter o = new StringWriter(), e = new StringWriter();
        int code = Main.run(args, new PrintWriter(o, true), new PrintWriter(e, true));
        return new Result(code, o.toString(), e.toString());
    }

    /** Runs the CLI with stdout and stderr into one writer, in the order they were written (as `2>&1` shows them): out and err alike. */
    static Result runMerged(String... args) {
        StringWriter both = new StringWriter();
        int code = Main.run(args, new PrintWriter(both, true), new PrintWriter(both, true));
        return new Result(code, both.toString(), both.toString());
    }

    /** Writes the first n records of a real IDX file (gzip) as a new gzip IDX file. */
    static void subsetIdx(InputStream source, Path target, int n) throws IOException {
        try (DataInputStream in = new DataInputStream(new GZIPInputStream(source));
             DataOutputStream out = new DataOutputStream(new GZIPOutputStream(Files.newOutputStream(target)))) {
            int magic = in.readInt();
            int dims = magic & 0xff;
            int[] shape = new int[dims];
            for (int i = 0; i < dims; i++) shape[i] = in.readInt();
            long per = 1;
            for (int i = 1; i < dims; i++) per *= shape[i];
            out.writeInt(magic);
            out.writeInt(n);
            for (int i = 1; i < dims; i++) out.writeInt(shape[i]);
            out.write(in.readNBytes((int) (n * per)));
        }
    }

    /** A real Fashion-MNIST subset in dir (created): the first train training and the first test test records. */
    static Path fashionSubset(Path dir, int train, int test) throws IOException {
        Files.createDirectories(dir);
        for (String f : List.of("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")) subsetIdx(source(f), dir.resolve(f), train);
        for (String f : List.of("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")) subsetIdx(source(f), dir.resolve(f), test);
        return dir;
    }

    static InputStream source(String file) throws IOException {
        Path p = INSTALLED.resolve(file);
        if (Files.exists(p)) return Files.newInputStream(p);
        InputStream in = CliTest.class.getResourceAsStream("/io/dltrain/datasets/sample/fashion-mnist/" + file);
        if (in == null) throw new IllegalStateException("neither " + p + " nor the bundled sample has " + file);
        return in;
    }

    @BeforeAll
    static void makeSubset() throws IOException {
        subset = fashionSubset(shared.resolve("fmnist-subset"), 4000, 1000);
    }

    static String[] train(Path out, String model, int epochs, String... extra) {
        List<String> a = new java.util.ArrayList<>(List.of("--model", model, "--data", "fashion-mnist", "--data-dir", subset.toString(),
                "--epochs", Integer.toString(epochs), "--threads", "2", "--progress", "none", "--out", out.toString()));
        a.addAll(List.of(extra));
        return a.toArray(new String[0]);
    }

    /** --workers: a number >= 1 or auto (DataLoader.autoWorkers, tested in DataLoaderTest); the notice when auto picks more than one. */
    @Test
    void workersOption() {
        assertEquals(null, DataWorkers.parse("auto"));
        assertEquals(null, DataWorkers.parse("AUTO"));
        assertEquals(4, DataWorkers.parse("4"));
        for (String bad : new String[] {"0", "-2", "two", ""})
            assertThrows(IllegalArgumentException.class, () -> DataWorkers.parse(bad), bad);
        assertNull(DataWorkers.notice(null, 1));
        assertNull(DataWorkers.notice(4, 4), "asked for: nothing to explain");
        assertTrue(DataWorkers.notice(null, 15).startsWith("15 data-loading workers (--workers auto"), DataWorkers.notice(null, 15));
        Result r = run("--model", "mlp", "--data", "synthetic:1x8x8,classes=2,train=64,test=16", "--workers", "0", "--device", "cpu",
                "--out", shared.resolve("w0").toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("--workers must be a whole number >= 1 or auto, got '0'"), r.err());
    }

    /** Out-of-memory advice: found through wrappers (a worker thread's error), heap advice only where the heap ran out. */
    @Test
    void outOfMemoryMessagesSayWhatToDo() {
        OutOfMemoryError heap = new OutOfMemoryError("Java heap space");
        assertSame(heap, Main.outOfMemory(new java.util.concurrent.ExecutionException(new RuntimeException(heap))));
        assertNull(Main.outOfMemory(new IllegalStateException("no")));
        String advice = Main.outOfMemoryAdvice(heap);
        assertTrue(advice.startsWith("out of memory (Java heap space): the model, one batch and its activations do not fit."
                + " Use a smaller --batch-size, or give Java a larger heap than its "), advice);
        // how to raise it depends on how this JVM's heap was set (surefire: -Xmx on the command line): theHeapAdviceNamesTheOptionThatSetTheHeap
        assertTrue(advice.endsWith(": " + Main.heapCommand(java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments(),
                System.getenv("JAVA_TOOL_OPTIONS"), System.getenv("JDK_JAVA_OPTIONS"), System.getenv("_JAVA_OPTIONS"), System.getenv("DL_TRAIN_JAVA_OPTS"),
                advice.replaceAll(".*?(-Xmx\\d+g).*", "$1")) + "."), advice);
        // Memory outside the heap: a larger -Xmx would not help.
        String direct = Main.outOfMemoryAdvice(new OutOfMemoryError("Direct buffer memory"));
        assertEquals("out of memory (Direct buffer memory): the model, one batch and its activations do not fit. Use a smaller --batch-size.", direct);
    }

    /**
     * resnet50 at the default batch (128) ran out of a 6 GiB heap on a 24 GiB machine after a minute, advising
     * -Xmx18g: its step needs about 20 GiB of tensors, so that run failed again minutes later, and then advised the
     * heap it had, -Xmx18g. What is known at the failure is said: the tensors in use (a lower bound), a smaller batch
     * to try first and the quick bench that says whether it fits; a larger heap only where the machine has more to give.
     */
    @Test
    void outOfMemoryInAStepSaysWhatIsKnownAndDoesNotAdviseTheHeapItHas() {
        OutOfMemoryError heap = new OutOfMemoryError("Java heap space");
        long gib = 1L << 30, ram = 24 * gib;
        Main.Step step = new Main.Step("resnet50", 128, (long) (5.8 * gib));
        String first = Main.outOfMemoryAdvice(heap, "training resnet50 at --batch-size 128", null, null, step, 6 * gib, ram);
        assertTrue(first.startsWith("out of memory (Java heap space) training resnet50 at --batch-size 128: the model, one batch and its"
                + " activations do not fit: 5.8 GiB of tensors were in use and the step needed more (how much more is not known:"
                + " a larger heap may not be enough either). Use a smaller --batch-size, e.g. 64 (dl-train bench --model resnet50"
                + " --batch-size 64 --steps 1 --warmup 1 --windows 1 says within 3 steps whether it fits, and its peak memory),"
                + " or give Java a larger heap than its 6.0 GiB (this machine has 24.0 GiB): "), first);
        assertTrue(first.contains("-Xmx18g"), first);
        // that heap given, the step ran out again: no heap advice, as the heap is already about all the machine can give
        step = new Main.Step("resnet50", 128, (long) (17.5 * gib));
        String again = Main.outOfMemoryAdvice(heap, "training resnet50 at --batch-size 128", null, null, step, 18 * gib, ram);
        assertEquals("out of memory (Java heap space) training resnet50 at --batch-size 128: the model, one batch and its activations do"
                + " not fit: 17.5 GiB of tensors were in use and the step needed more. Use a smaller --batch-size, e.g. 64 (dl-train"
                + " bench --model resnet50 --batch-size 64 --steps 1 --warmup 1 --windows 1 says within 3 steps whether it fits, and its"
                + " peak memory); Java's heap, 18.0 GiB, is already about the most this machine's 24.0 GiB can give.", again);
        // the same without a step: reading the data in the largest heap there is
        String reading = Main.outOfMemoryAdvice(heap, "reading csv in /d", TrainRun.DATA_DOES_NOT_FIT, null, null, 18 * gib, ram);
        assertEquals("out of memory (Java heap space) reading csv in /d: " + TrainRun.DATA_DOES_NOT_FIT + "; Java's heap, 18.0 GiB,"
                + " is already about the most this machine's 24.0 GiB can give.", reading);
        // a batch of one has no smaller batch to try; memory outside the heap has no heap advice
        String one = Main.outOfMemoryAdvice(heap, "training vgg16 at --batch-size 1", null, null, new Main.Step("vgg16", 1, 3 * gib), 6 * gib, ram);
        assertFalse(one.contains("--batch-size,") || one.contains("bench"), one);
        assertTrue(one.contains(": 3.0 GiB of tensors were in use and the step needed more (how much more is not known: a larger heap may"
                + " not be enough either). Give Java a larger heap than its 6.0 GiB"), one);
        String device = Main.outOfMemoryAdvice(new OutOfMemoryError("CUDA out of memory"), "training resnet50 at --batch-size 128", null, null,
                new Main.Step("resnet50", 128, 70 * gib), 6 * gib, ram);
        assertEquals("out of memory (CUDA out of memory) training resnet50 at --batch-size 128: the model, one batch and its activations do"
                + " not fit: 70.0 GiB of tensors were in use and the step needed more. Use a smaller --batch-size, e.g. 64 (dl-train bench"
                + " --model resnet50 --batch-size 64 --steps 1 --warmup 1 --windows 1 says within 3 steps whether it fits, and its peak"
                + " memory).", device);
    }

    /**
     * A dataset too large for the heap (a csv of 150,000 rows x 10 features in a child JVM with 16 MiB) said "the model,
     * one batch and its activations do not fit. Use a smaller --batch-size": nothing was set for the reading, and a smaller
     * batch does not help. It now says it ran out reading the data and to give Java a larger heap, for train and eval.
     * (predict, which read a file's rows whole, now reads them a batch at a time: {@link #predictReadsACsvFileLargerThanTheHeapABatchAtATime}.)
     */
    @Test
    void outOfMemoryReadingTheDataSaysSoAndNotTheBatchSize(@TempDir Path tmp) throws Exception {
        Path data = Files.createDirectories(tmp.resolve("data"));
        String header = "x0,x1,x2,x3,x4,x5,x6,x7,x8,x9,label\n";
        try (var w = Files.newBufferedWriter(data.resolve("train.csv"))) {
            w.write(header);
            for (int i = 0; i < 150_000; i++) w.write((i % 10) + ",1,2,3,4,5,6,7,8,9," + (i % 2) + "\n");
        }
        Files.copy(data.resolve("train.csv"), data.resolve("test.csv"));
        Result r = childJvm(tmp, "csv", "-Xmx16m", "--model", "mlp", "--data", "csv", "--data-dir", data.toString(), "--threads", "1",
                "--progress", "none", "--out", tmp.resolve("run").toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("dl-train: error: out of memory (Java heap space) reading csv in " + data + ": the dataset, which is held"
                + " in memory, does not fit. Give Java a larger heap than its "), r.err());
        assertFalse(r.err().contains("--batch-size"), r.err());
        Path tiny = Files.createDirectories(tmp.resolve("tiny")), run = tmp.resolve("tiny-run");
        Files.writeString(tiny.resolve("train.csv"), header + "0,1,2,3,4,5,6,7,8,9,0\n9,1,2,3,4,5,6,7,8,9,1\n".repeat(5));
        Files.copy(tiny.resolve("train.csv"), tiny.resolve("test.csv"));
        Result trained = run("--model", "mlp", "--data", "csv", "--data-dir", tiny.toString(), "--epochs", "1", "--threads", "1",
                "--progress", "none", "--out", run.toString());
        assertEquals(0, trained.code(), trained.err());
        r = childJvm(tmp, "csv-eval", "-Xmx16m", "eval", "--checkpoint", run.toString(), "--data", "csv", "--data-dir", data.toString(),
                "--threads", "1", "--out", tmp.resolve("eval").toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("dl-train: error: out of memory (Java heap space) reading csv in " + data + ": the dataset, which is held"
                + " in memory, does not fit. Give Java a larger heap than its "), r.err());
    }

    /**
     * predict read a CSV file's rows whole (one object per row) and, with --json, kept every result until the end: a
     * file of 1,000,000 rows x 30 needed a heap of 384 MiB (1.3 GB resident with the default heap; with --json 3 GiB
     * and 3.7 GB resident), and the 20,000 rows x 100 features here ran out of 16 MiB. Rows are now read, predicted and
     * printed a batch at a time (the JSON array's elements too: PredictCsvTest.theJsonArrayWrittenABatchAtATimeIsTheWholeArraysText):
     * this file predicts in 16 MiB, every row's result in order. (One child JVM: --json's the same in 16 MiB took twice
     * as long.)
     */
    @Test
    void predictReadsACsvFileLargerThanTheHeapABatchAtATime(@TempDir Path tmp) throws Exception {
        int f = 100, n = 20_000;
        StringBuilder header = new StringBuilder(), ones = new StringBuilder();
        for (int j = 0; j < f; j++) header.append('x').append(j).append(',');
        for (int j = 1; j < f; j++) ones.append(",1");
        header.append("label\n");
        Path tiny = Files.createDirectories(tmp.resolve("tiny")), run = tmp.resolve("tiny-run"), rows = tmp.resolve("rows.csv");
        Files.writeString(tiny.resolve("train.csv"), header + ("0" + ones + ",0\n9" + ones + ",1\n").repeat(5));
        Files.copy(tiny.resolve("train.csv"), tiny.resolve("test.csv"));
        Result trained = run("--model", "mlp", "--data", "csv", "--data-dir", tiny.toString(), "--epochs", "1", "--threads", "1",
                "--progress", "none", "--out", run.toString());
        assertEquals(0, trained.code(), trained.err());
        try (var w = Files.newBufferedWriter(rows)) {
            w.write(header.toString());
            for (int i = 0; i < n; i++) w.write(i % 10 + ones.toString() + "," + i % 2 + "\n");
        }
        Result r = childJvm(tmp, "csv-predict", "-Xmx16m", "predict", "--checkpoint", run.toString(), "--threads", "1", rows.toString());
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals(n, lines.size());
        assertTrue(lines.getFirst().startsWith(rows + "[0] (line 2): "), lines.getFirst());
        assertTrue(lines.getLast().startsWith(rows + "[" + (n - 1) + "] (line " + (n + 1) + "): "), lines.getLast());
        // rows 0 and 10 hold the same features: the same result
        assertEquals(lines.get(0).substring(lines.get(0).indexOf("): ")), lines.get(10).substring(lines.get(10).indexOf("): ")));
    }

    /**
     * Out of memory says what was being done: building a model whose weights alone do not fit (a child JVM with a 64 MiB
     * heap building vgg11, 128.8 M parameters) is not helped by a smaller batch; training at a batch size is. It said
     * "the model, one batch and its activations do not fit. Use a smaller --batch-size" in both cases, naming neither; and
     * the data loaders' batch buffers (one per --workers and two more) are helped by fewer workers.
     */
    @Test
    void outOfMemorySaysWhatWasBeingDone(@TempDir Path tmp) throws Exception {
        Result r = childJvm(tmp, "vgg11", "-Xmx64m", "--model", "vgg11", "--data", "synthetic:3x32x32,classes=10,train=64,test=16", "--batch-size", "8",
                "--threads", "1", "--progress", "none", "--out", tmp.resolve("run").toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("dl-train: error: out of memory (Java heap space) building vgg11 (128,807,306 parameters, 491 MiB):"
                + " the model alone does not fit. Give Java a larger heap than its "), r.err());
        assertFalse(r.err().contains("--batch-size"), r.err());
        // the model fits, but not 64 workers' batch buffers (66 of 256 x 3x32x32 for training: 198 MiB)
        r = childJvm(tmp, "workers", "-Xmx64m", "--model", "mlp", "--data", "synthetic:3x32x32,classes=10,train=20000,test=16", "--batch-size", "256",
                "--workers", "64", "--threads", "1", "--progress", "none", "--out", tmp.resolve("run2").toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("dl-train: error: out of memory (Java heap space) making the data loaders (64 workers, --batch-size 256): their batch"
                + " buffers do not fit (up to 66 for each of training, validation and test: one per worker and two more, and at least 4)."
                + " Use fewer --workers or a smaller"
                + " --batch-size, or give Java a larger heap than its "), r.err());
        // bench: the same for its model and its steps
        r = childJvm(tmp, "bench-vgg11", "-Xmx64m", "bench", "--model", "vgg11", "--batch-size", "2", "--device", "cpu", "--threads", "1");
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().contains("dl-train: error: out of memory (Java heap space) building vgg11 (132,863,336 parameters, 506 MiB): the model alone"
                + " does not fit. Give Java a larger heap than its "), r.err());
        r = childJvm(tmp, "bench-mlp", "-Xmx64m", "bench", "--model", "mlp", "--batch-size", "20000", "--device", "cpu", "--threads", "1", "--image-size", "64");
        assertEquals(1, r.code(), r.err());
        // a step: the tensors it had in use (it needed more), half the batch and the bench that says whether that fits
        assertTrue(r.err().matches("(?s).*dl-train: error: out of memory \\(Java heap space\\) timing mlp at --batch-size 20000: the model, one"
                + " batch and its activations do not fit: \\d+ MiB of tensors were in use and the step needed more \\(how much more is not"
                + " known: a larger heap may not be enough either\\)\\. Use a smaller --batch-size, e\\.g\\. 10000 \\(dl-train bench --model mlp"
                + " --batch-size 10000 --image-size 64 --device cpu --steps 1 --warmup 1 --windows 1 says within 3 steps whether it fits, and its peak memory\\), or give"
                + " Java a larger heap than its .*"), r.err());
        // and train's step: lenet5 at batch 2048 (its activations, not its loaders' buffers, run out of 64 MiB)
        r = childJvm(tmp, "train-lenet5", "-Xmx64m", "--model", "lenet5", "--data", "synthetic:1x28x28,classes=10,train=2048,test=16", "--batch-size",
                "2048", "--workers", "1", "--threads", "1", "--progress", "none", "--out", tmp.resolve("run3").toString());
        assertEquals(1, r.code(), r.err());
        assertTrue(r.err().matches("(?s).*dl-train: error: out of memory \\(Java heap space\\) training lenet5 at --batch-size 2048: the model,"
                + " one batch and its activations do not fit: \\d+ MiB of tensors were in use and the step needed more .*Use a smaller"
                + " --batch-size, e\\.g\\. 1024 \\(dl-train bench --model lenet5 --batch-size 1024"
                + " --data synthetic:1x28x28,classes=10,train=2048,test=16 --steps 1 --warmup 1 --windows 1 .*"), r.err());
        OutOfMemoryError heap = new OutOfMemoryError("Java heap space");
        String training = Main.failure(new Main.OutOfMemoryWhile("training resnet50 at --batch-size 48", null, null, heap));
        assertTrue(training.startsWith("out of memory (Java heap space) training resnet50 at --batch-size 48: the model, one batch and its"
                + " activations do not fit. Use a smaller --batch-size, or give Java a larger heap than its "), training);
    }

    /**
     * Out of memory in the test pass, after the training (a child JVM with a 64 MiB heap: lenet5 trains on 7 samples, then
     * evaluates 4,000 in one batch): the error says the test pass ran out, that the training is complete and where its
     * model is, and how to evaluate it with a smaller batch. It said "training lenet5 at --batch-size 4000: the model, one
     * batch and its activations do not fit. Use a smaller --batch-size", as if the training had failed.
     */
    @Test
    void outOfMemoryInTheTestPassSaysTheTrainingIsComplete(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("run");
        Result r = childJvm(tmp, "train", "-Xmx64m", "--model", "lenet5", "--data", "synthetic:1x28x28,classes=10,train=8,test=4000", "--batch-size", "4000",
                "--epochs", "1", "--threads", "1", "--progress", "none", "--out", out.toString());
        String err = r.err();
        assertEquals(1, r.code(), err);
        assertTrue(err.contains("dl-train: error: out of memory (Java heap space) evaluating the trained lenet5 on the test split at --batch-size 4000:"
                + " the model, one batch and its activations do not fit; the training is complete (its model is in " + out.resolve("model") + ")."
                + " Evaluate it with a smaller --batch-size: dl-train eval --checkpoint " + out + " --data synthetic:1x28x28,classes=10,train=8,test=4000"
                + " --batch-size 2000, or give Java a larger heap than its "), err);
        assertTrue(Files.isRegularFile(out.resolve("model").resolve("model.safetensors")));
    }

    /**
     * Out of memory in {@code dl-train eval} says what ran out, as training does: evaluating the model at its --batch-size
     * (a child JVM with a 64 MiB heap, lenet5 on 4,000 test samples in one batch). It said only "out of memory (Java heap
     * space): the model, one batch and its activations do not fit", naming neither.
     */
    @Test
    void outOfMemoryInEvalSaysWhatWasBeingDone(@TempDir Path tmp) throws Exception {
        Path runDir = tmp.resolve("run");
        String data = "synthetic:1x28x28,classes=10,train=8,test=4000";
        assertEquals(0, run("--model", "lenet5", "--data", data, "--epochs", "1", "--batch-size", "8", "--threads", "1", "--progress", "none",
                "--out", runDir.toString()).code());
        Result r = childJvm(tmp, "eval", "-Xmx64m", "eval", "--checkpoint", runDir.toString(), "--data", data, "--batch-size", "4000", "--threads", "1",
                "--out", tmp.resolve("eval").toString());
        String err = r.err();
        assertEquals(1, r.code(), err);
        assertTrue(err.contains("dl-train: error: out of memory (Java heap space) evaluating lenet5 at --batch-size 4000: the model, one batch and"
                + " its activations do not fit. Use a smaller --batch-size, or give Java a larger heap than its "), err);
    }

    /**
     * A data-loading worker that ran out of memory reading a sample that is no oversized file (an IDX or synthetic sample
     * while training's activations fill the heap; the loader wraps every failure of a read in a DataLoadException): the
     * advice is the batch size or the heap, as for any out-of-memory error. It said "To read it, give Java a larger heap
     * ..., or make the file smaller." Only an image whose decoding ran out (ImageCodec's DatasetException) is about a file.
     */
    @Test
    void aWorkersOutOfMemoryThatIsNoFilesIsNotBlamedOnAFile() {
        OutOfMemoryError heap = new OutOfMemoryError("Java heap space");
        String worker = Main.failure(new io.dltrain.runtime.data.DataLoadException(
                "fashion-mnist: reading sample 7 failed (epoch 1, batch 3): java.lang.OutOfMemoryError: Java heap space", heap));
        assertTrue(worker.startsWith("out of memory (Java heap space): the model, one batch and its activations do not fit."
                + " Use a smaller --batch-size, or give Java a larger heap than its "), worker);
        assertFalse(worker.contains("file"), worker);
        String image = Main.failure(new io.dltrain.runtime.data.DataLoadException("imagefolder: reading sample 7 failed (epoch 1, batch 3):"
                + " /data/big.png: out of memory decoding a 12000x12000 image (1,647 MiB as float RGB) (Java heap space)",
                new io.dltrain.datasets.DatasetException("/data/big.png: out of memory decoding a 12000x12000 image (1,647 MiB as float RGB)"
                        + " (Java heap space)", heap)));
        assertTrue(image.startsWith("imagefolder: reading sample 7 failed (epoch 1, batch 3): /data/big.png: out of memory decoding"
                + " a 12000x12000 image (1,647 MiB as float RGB) (Java heap space). To read it, give Java a larger heap than its "), image);
    }

    /**
     * The heap advice names the option that set the heap: JDK_JAVA_OPTIONS comes before the command line, so with the
     * launcher's DL_TRAIN_JAVA_OPTS=-Xmx300m (or java -Xmx300m) the advised "JDK_JAVA_OPTIONS=-Xmx17g ./dl-train ..."
     * still ran with 300 MiB and failed the same way.
     */
    @Test
    void theHeapAdviceNamesTheOptionThatSetTheHeap() {
        String jdk = "JDK_JAVA_OPTIONS=-Xmx17g ./dl-train ... (in Docker: docker run -e JDK_JAVA_OPTIONS=-Xmx17g ...)";
        assertEquals(jdk, Main.heapCommand(List.of("--enable-native-access=ALL-UNNAMED", "-Xss4m"), null, null, "-Xmx17g"));
        assertEquals(jdk, Main.heapCommand(List.of("-Xmx2g", "-Dx=1", "-Xss4m"), "-Xmx2g -Dx=1", null, "-Xmx17g"), "set by JDK_JAVA_OPTIONS");
        assertEquals("DL_TRAIN_JAVA_OPTS=-Xmx17g ./dl-train ... (its -Xmx300m sets the heap now; JDK_JAVA_OPTIONS does not override it)",
                Main.heapCommand(List.of("-Xmx2g", "-Xss4m", "-Xmx300m", "-Dy=2"), "-Xmx2g", "-Xmx300m -Dy=2", "-Xmx17g"));
        assertEquals("run java with -Xmx17g in place of its -XX:MaxHeapSize=314572800 (JDK_JAVA_OPTIONS does not override it)",
                Main.heapCommand(List.of("-XX:MaxHeapSize=314572800", "-Xss4m"), null, null, "-Xmx17g"));
    }

    /**
     * A data loader keeps max(4, workers + 2) batch buffers (its prefetch of 4, or one per worker and two more): with
     * --workers 1 or 2 it keeps 4 either way, so the out-of-memory error's "Use fewer
     * --workers" for 2 workers could not help; from 3 workers on, fewer do.
     */
    @Test
    void fewerWorkersAreAdvisedOnlyWhereTheyMeanFewerBatchBuffers() {
        assertEquals("Use a smaller --batch-size", TrainRun.loaderOutOfMemoryAdvice(1));
        assertEquals("Use a smaller --batch-size", TrainRun.loaderOutOfMemoryAdvice(2));
        assertEquals("Use fewer --workers or a smaller --batch-size", TrainRun.loaderOutOfMemoryAdvice(3));
        assertEquals("Use fewer --workers or a smaller --batch-size", TrainRun.loaderOutOfMemoryAdvice(64));
    }

    /**
     * The JVM lists JAVA_TOOL_OPTIONS's words first among its input arguments (before JDK_JAVA_OPTIONS's) and
     * _JAVA_OPTIONS's last, and takes the last heap size: JAVA_TOOL_OPTIONS=-Xmx300m (as container images set it) is
     * raised by JDK_JAVA_OPTIONS, and _JAVA_OPTIONS overrides everything. The advice read the first as "run java with
     * -Xmx17g in place of its -Xmx300m (JDK_JAVA_OPTIONS does not override it)", false on both counts, and with
     * JDK_JAVA_OPTIONS=-Xmx400m as well said the same of JDK_JAVA_OPTIONS's own -Xmx400m. (Input arguments as
     * temurin 25's java -Xss4m printed them with these variables.)
     */
    @Test
    void theHeapAdviceKnowsJavaToolOptionsAndUnderscoreJavaOptions() {
        String jdk = "JDK_JAVA_OPTIONS=-Xmx17g ./dl-train ... (in Docker: docker run -e JDK_JAVA_OPTIONS=-Xmx17g ...)";
        assertEquals(jdk, Main.heapCommand(List.of("-Xmx300m", "-Xss4m"), "-Xmx300m", null, null, null, "-Xmx17g"));
        assertEquals(jdk, Main.heapCommand(List.of("-Xmx300m", "-Dx=1", "-Xmx400m", "-Xss4m"), "-Xmx300m -Dx=1", "-Xmx400m", null, null, "-Xmx17g"));
        assertEquals("_JAVA_OPTIONS=-Xmx17g ./dl-train ... (its -Xmx300m sets the heap now, over every other option)",
                Main.heapCommand(List.of("-Xmx400m", "-Xss4m", "-Xmx500m", "-Xmx300m"), null, "-Xmx400m", "-Xmx300m", null, "-Xmx17g"));
        // the command line's heap, with JAVA_TOOL_OPTIONS and _JAVA_OPTIONS (which sets no heap) around it
        assertEquals("run java with -Xmx17g in place of its -Xmx500m (JDK_JAVA_OPTIONS does not override it)",
                Main.heapCommand(List.of("-Dx=1", "-Xss4m", "-Xmx500m", "-Dy=2"), "-Dx=1", null, "-Dy=2", null, "-Xmx17g"));
    }

    /**
     * The JVM splits JDK_JAVA_OPTIONS, JAVA_TOOL_OPTIONS and _JAVA_OPTIONS into arguments at whitespace outside quotes,
     * and drops the quotes: JDK_JAVA_OPTIONS='-Dapp.name="my app" -Dx=1' java -Xmx300m gives the input arguments
     * [-Dapp.name=my app, -Dx=1, -Xmx300m] (temurin 25). Split at every space, it counted three words of
     * JDK_JAVA_OPTIONS, took the command line's -Xmx300m for one of them, and advised "JDK_JAVA_OPTIONS=-Xmx17g", which
     * the command line's heap overrides; likewise for _JAVA_OPTIONS="-Du='c d'", counted from the end.
     */
    @Test
    void theHeapAdviceSplitsTheJvmsVariablesAsTheJvmDoes() {
        String commandLine = "run java with -Xmx17g in place of its -Xmx300m (JDK_JAVA_OPTIONS does not override it)";
        assertEquals(commandLine, Main.heapCommand(List.of("-Dapp.name=my app", "-Dx=1", "-Xmx300m"), null, "-Dapp.name=\"my app\" -Dx=1",
                null, null, "-Xmx17g"));
        assertEquals(commandLine, Main.heapCommand(List.of("-Dt=a b", "-Xmx300m"), "-Dt='a b'", null, null, null, "-Xmx17g"));
        assertEquals(commandLine, Main.heapCommand(List.of("-Xmx300m", "-Du=c d"), null, null, "-Du='c d'", null, "-Xmx17g"));
        // a quote inside a word groups too, and its quotes are dropped; a heap in JDK_JAVA_OPTIONS is still raised by it
        assertEquals("JDK_JAVA_OPTIONS=-Xmx17g ./dl-train ... (in Docker: docker run -e JDK_JAVA_OPTIONS=-Xmx17g ...)",
                Main.heapCommand(List.of("-Da=x y z", "-Xmx300m", "-Xss4m"), null, "-Da=x' y 'z -Xmx300m", null, null, "-Xmx17g"));
    }

    /**
     * An image too large for the heap, mid-run (a child JVM with a 96 MiB heap; the PNG declares 12000x12000 pixels,
     * which ImageIO allocates before reading its data): the error names the file and its size, keeps the checkpoint and
     * the resume command, and says to raise the heap. It said only "out of memory (Java heap space): the model, one batch
     * and its activations do not fit. Use a smaller --batch-size, or give Java a larger heap ...", naming no file, and the
     * image decoder called it "corrupt or unsupported image (Caught exception during read: )".
     */
    @Test
    void anImageTooLargeForTheHeapIsNamed(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("run"), victim = treeWithAnImageTooLargeFor96MiB(tmp);
        Result r = trainMlpWithA96MiBHeap("imagefolder", tmp.resolve("tree"), out, tmp);
        String err = r.err();
        assertEquals(1, r.code(), err);
        assertTrue(err.contains(victim + ": out of memory decoding a 12000x12000 image (1,647 MiB as float RGB) (Java heap space)"), err);
        assertTrue(err.contains("resume with --resume " + out) && err.contains(". To read it, give Java a larger heap than its ")
                && err.contains("in place of its -Xmx96m"), err);
        assertFalse(err.contains("--batch-size") || err.contains("corrupt"), err);
    }

    /**
     * With imagefolder:skipbad=true, an image whose decoding ran out of memory is not a bad file: skipbad replaced it by
     * the next image for the rest of the run and listed it among the unreadable files, so a run whose heap was full (of
     * activations, or of an image too large for it) lost good images silently, depending on the heap's timing. It fails as
     * without skipbad, naming the file, with the checkpoint and the heap advice (a child JVM with a 96 MiB heap).
     */
    @Test
    void skipbadDoesNotSkipAnImageThatRanOutOfMemory(@TempDir Path tmp) throws Exception {
        Path out = tmp.resolve("run"), victim = treeWithAnImageTooLargeFor96MiB(tmp);
        Result r = trainMlpWithA96MiBHeap("imagefolder:skipbad=true", tmp.resolve("tree"), out, tmp);
        String err = r.err(), stdout = r.out();
        assertEquals(1, r.code(), stdout + err);
        assertTrue(err.contains(victim + ": out of memory decoding a 12000x12000 image (1,647 MiB as float RGB) (Java heap space)"), err);
        assertTrue(err.contains("resume with --resume " + out) && err.contains(". To read it, give Java a larger heap than its "), err);
        assertFalse(stdout.contains("unreadable"), stdout);
    }

    /**
     * A fashion-mnist subset prepared as an image tree under tmp/tree, one of its training PNGs replaced by a header declaring
     * 12000x12000 pixels (which ImageIO allocates before reading any data: more than a 96 MiB heap holds); returns that file.
     */
    private static Path treeWithAnImageTooLargeFor96MiB(Path tmp) throws IOException {
        Path tree = tmp.resolve("tree");
        assertEquals(0, run("datasets", "prepare", "--data", "fashion-mnist", "--data-dir", fashionSubset(tmp.resolve("fmnist"), 60, 20).toString(),
                "--out", tree.toString()).code());
        Path victim;
        try (var files = Files.walk(tree.resolve("train"))) {
            victim = files.filter(f -> f.toString().endsWith(".png")).sorted().skip(30).findFirst().orElseThrow();
        }
        Files.write(victim, pngHeader(12000, 12000));
        return victim;
    }

    /** One epoch of mlp on {@code data} from {@code tree} into {@code out}, in a child JVM with -Xmx96m, within 120 s. */
    private static Result trainMlpWithA96MiBHeap(String data, Path tree, Path out, Path tmp) throws Exception {
        return childJvm(tmp, "train", "-Xmx96m", "--model", "mlp", "--data", data, "--data-dir", tree.toString(), "--epochs", "1", "--batch-size", "8",
                "--threads", "1", "--workers", "2", "--progress", "none", "--out", out.toString());
    }

    /** {@code predict --checkpoint CKPT FILE} in a child JVM with a 96 MiB heap (-Xmx96m on its command line), within 120 s. */
    static Result predictWithA96MiBHeap(Path checkpoint, Path file, Path tmp) throws Exception {
        return childJvm(tmp, "predict", "-Xmx96m", "predict", "--checkpoint", checkpoint.toString(), file.toString());
    }

    /**
     * dl-train with {@code args} in a child JVM (this JVM's java and class path, plus {@code jvmOption}, e.g. a heap size,
     * unless null), its stdout and stderr in tmp/NAME-out.txt and tmp/NAME-err.txt; fails the test if it runs past 120 s.
     */
    static Result childJvm(Path tmp, String name, String jvmOption, String... args) throws Exception {
        List<String> cmd = new java.util.ArrayList<>(List.of(Path.of(System.getProperty("java.home"), "bin", "java").toString(),
                "--enable-native-access=ALL-UNNAMED"));
        if (jvmOption != null) cmd.add(jvmOption);
        cmd.addAll(List.of("-cp", System.getProperty("java.class.path"), Main.class.getName()));
        cmd.addAll(List.of(args));
        Path out = tmp.resolve(name + "-out.txt"), err = tmp.resolve(name + "-err.txt");
        Process p = new ProcessBuilder(cmd).redirectError(err.toFile()).redirectOutput(out.toFile()).start();
        if (!p.waitFor(120, java.util.concurrent.TimeUnit.SECONDS)) {
            p.destroyForcibly();
            throw new AssertionError("dl-train " + String.join(" ", args) + " did not end in 120 s");
        }
        return new Result(p.exitValue(), Files.readString(out), Files.readString(err));
    }

    /** A PNG of width x height RGB pixels whose image data is cut short: a decoder allocates the image before it notices. */
    static byte[] pngHeader(int width, int height) throws IOException {
        ByteArrayOutputStream b = new ByteArrayOutputStream();
        DataOutputStream o = new DataOutputStream(b);
        o.write(new byte[] {(byte) 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n'});
        ByteArrayOutputStream ihdr = new ByteArrayOutputStream();
        DataOutputStream h = new DataOutputStream(ihdr);
        h.writeInt(width);
        h.writeInt(height);
        h.write(new byte[] {8, 2, 0, 0, 0}); // 8 bits, RGB, deflate, no filter method, not interlaced
        ByteArrayOutputStream idat = new ByteArrayOutputStream();
        try (var z = new java.util.zip.DeflaterOutputStream(idat)) { z.write(new byte[100]); }
        for (Object[] c : new Object[][] {{"IHDR", ihdr.toByteArray()}, {"IDAT", idat.toByteArray()}, {"IEND", new byte[0]}}) {
            byte[] type = ((String) c[0]).getBytes(java.nio.charset.StandardCharsets.US_ASCII), data = (byte[]) c[1];
            java.util.zip.CRC32 crc = new java.util.zip.CRC32();
            crc.update(type);
            crc.update(data);
            o.writeInt(data.length);
            o.write(type);
            o.write(data);
            o.writeInt((int) crc.getValue());
        }
        return b.toByteArray();
    }

    @Test
    void mlpLearnsOnARealSubset(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("run");
        Result r = run(train(out, "mlp", 3));
        assertEquals(0, r.code(), r.err() + r.out());
        JsonNode summary = JSON.readTree(out.resolve("summary.json").toFile());
        assertEquals("mlp", summary.get("model").asText());
        assertEquals("fashion-mnist", summary.get("dataset").asText());
        assertEquals("cpu", summary.get("device").asText());
        assertEquals(235_146, summary.get("parameters").asLong());
        assertEquals(1000, summary.get("test_samples").asLong());
        // chance is 10%; 3 epochs on 3,600 images reach ~75-80%
        assertTrue(summary.get("test_acc").asDouble() > 0.70, "test accuracy " + summary.get("test_acc"));
        List<String> lines = Files.readAllLines(out.resolve("metrics.jsonl"));
        assertEquals(3, lines.size());
        for (int i = 0; i < 3; i++) {
            JsonNode m = JSON.readTree(lines.get(i));
            assertEquals(i + 1, m.get("epoch").asInt());
            for (String f : List.of("train_loss", "train_acc", "val_loss", "val_acc", "seconds", "images_per_sec"))
                assertTrue(m.get(f).isNumber(), f + " in " + lines.get(i));
        }
        assertTrue(JSON.readTree(lines.get(2)).get("train_loss").asDouble() < JSON.readTree(lines.get(0)).get("train_loss").asDouble());
        assertTrue(r.out().contains("test: loss"), r.out());
        // the training loader's own report: every training sample read once per epoch, by the 1 worker --workers auto
        // gives an in-memory dataset on the CPU; the data wait is the epochs' data_wait_seconds summed
        JsonNode loader = summary.get("loader");
        assertEquals(0, loader.get("this_process_from_step").asLong(), "a run not resumed: the loader's counts are the whole run's");
        assertEquals(1, loader.get("workers").asInt(), loader.toString());
        assertEquals(3 * summary.get("train_samples").asLong(), loader.get("samples_loaded").asLong(), loader.toString());
        double busy = loader.get("busy_seconds").asDouble();
        assertTrue(busy > 0, loader.toString());
        assertEquals(loader.get("samples_loaded").asDouble() / busy, loader.get("samples_per_second_per_worker").asDouble(), 1e-9 * loader.get("samples_per_second_per_worker").asDouble());
        double wait = 0;
        for (String l : lines) wait += JSON.readTree(l).get("data_wait_seconds").asDouble();
        assertEquals(wait, loader.get("data_wait_seconds").asDouble(), 1e-9, loader.toString());
    }

    @Test
    void theEpochLineShowsTheDataWaitOnlyWhenItMatters() {
        // 10 s epochs: 0.4 s of waiting (4%) is not shown, 2 s (20%) is
        assertEquals("", Progress.dataWait(new io.dltrain.runtime.train.EpochMetrics(1, 1, 0.5, 1, 0.5, 0.1, 10, 9, 100, 0.4)));
        assertEquals("  data wait 2.0s", Progress.dataWait(new io.dltrain.runtime.train.EpochMetrics(1, 1, 0.5, 1, 0.5, 0.1, 10, 9, 100, 2.0)));
        var waited = new io.dltrain.runtime.train.EpochMetrics(3, 1, 0.5, 1, 0.5, 0.1, 10, 9, 100, 2.0);
        assertEquals("the training loop waited 2.0 s for data in epoch 3 (20% of it): loading is the bottleneck; "
                + "try --workers 16 (one per core; each loads whole batches)", Progress.workersHint(waited, 1, 16));
        assertNull(Progress.workersHint(waited, 16, 16), "already one per core");
        assertNull(Progress.workersHint(new io.dltrain.runtime.train.EpochMetrics(1, 1, 0.5, 1, 0.5, 0.1, 10, 9, 100, 0.4), 1, 16));
        java.io.StringWriter sw = new java.io.StringWriter();
        new Progress(Progress.Mode.PLAIN, new java.io.PrintWriter(sw)).epochEnded(new io.dltrain.runtime.train.EpochMetrics(1, 1, 0.5, 1, 0.5, 0.1, 10, 9, 100, 2.0));
        assertTrue(sw.toString().strip().endsWith("100 img/s  data wait 2.0s"), sw.toString());
        // a short epoch: 0.006 s of a 0.1 s epoch is 6%, but no bottleneck worth a line or a notice
        var tiny = new io.dltrain.runtime.train.EpochMetrics(2, 1, 0.5, 1, 0.5, 0.1, 0.1, 0.09, 100, 0.006);
        assertEquals("", Progress.dataWait(tiny));
        assertNull(Progress.workersHint(tiny, 1, 16));
    }

    @Test
    void progressNoneStillPrintsWhatTheTrainerSays() {
        java.io.StringWriter sw = new java.io.StringWriter();
        Progress none = new Progress(Progress.Mode.NONE, new java.io.PrintWriter(sw));
        none.epochEnded(new io.dltrain.runtime.train.EpochMetrics(1, 1, 0.5, 1, 0.5, 0.1, 10, 9, 100, 0));
        assertEquals("", sw.toString(), "no epoch line with --progress none");
        none.info("early stopping: the validation loss has not improved for 1 epoch");
        assertEquals("early stopping: the validation loss has not improved for 1 epoch", sw.toString().strip());
    }

    @Test
    void anEpochThatTrainedNothingInThisProcessShowsNoThroughput() {
        // resumed after its last batch (its validation had failed): the epoch line has no "0 img/s"
        java.io.StringWriter sw = new java.io.StringWriter();
        new Progress(Progress.Mode.PLAIN, new java.io.PrintWriter(sw)).epochEnded(
                new io.dltrain.runtime.train.EpochMetrics(1, 0.55, 0.8, 0.38, 0.86, 0.025, 1.0, 0.001, Double.NaN, 0));
        assertEquals("epoch 1  train_loss 0.5500  train_acc 80.00%  val_loss 0.3800  val_acc 86.00%  lr 0.0250  1.0s",
                sw.toString().strip().replace(',', '.'));
    }

    /**
     * --progress bar (auto's choice on a terminal), end to end in a child JVM, as the progress bar library draws on file
     * descriptor 2 itself: the bar shows the epoch and its steps on stderr and is finished when the epoch ends; the
     * epoch's line follows it on stderr as in plain mode, and stdout has the results alone.
     */
    @Test
    void theBarModeDrawsEachEpochOnStderr(@TempDir Path tmp) throws Exception {
        Result r = childJvm(tmp, "bar", null, "--model", "mlp", "--data", "synthetic:1x8x8,classes=3,train=640,test=64", "--epochs", "2",
                "--batch-size", "32", "--threads", "1", "--progress", "bar", "--out", tmp.resolve("run").toString());
        String err = r.err(), out = r.out();
        assertEquals(0, r.code(), err + out);
        // 640 samples less the 10% held out for validation: 576, 18 steps of 32
        assertTrue(err.contains("epoch 1/2") && err.contains("epoch 2/2") && err.contains("18/18"), "the bar:\n" + err);
        // validation (64 held out) on the epoch's bar, and the test pass's own bar (64 samples, 2 batches)
        assertTrue(err.contains("validation 2/2") && err.contains("test 100%") && err.contains("2/2"), "the validation and test bars:\n" + err);
        assertTrue(err.contains("epoch 1  train_loss") && err.contains("epoch 2  train_loss"), err);
        assertTrue(out.startsWith("test: loss ") && !out.contains("epoch"), out);
    }

    /**
     * The validation pass at each epoch's end and the test pass after training were silent in plain mode (a pipe, a CI
     * log): on a large split, or a large model on the CPU, minutes without a line after the epoch's last step line. Now
     * a line as the training's, at most every 10 s (here every batch); none with --progress none.
     */
    @Test
    void validationAndTestPassesShowProgressInPlainMode(@TempDir Path tmp) {
        String[] args = {"--model", "mlp", "--data", "synthetic:1x8x8,classes=3,train=640,test=64", "--epochs", "1",
                "--batch-size", "32", "--threads", "1", "--checkpoint-every", "off"};
        System.setProperty("dltrain.plainProgressSeconds", "0");
        try {
            Result r = runMerged(concat(args, "--progress", "plain", "--out", tmp.resolve("plain").toString()));
            assertEquals(0, r.code(), r.out());
            String out = r.out(); // the progress (stderr) and the test's line (stdout) as they were written
            // 64 held out for validation and 64 test samples: 2 batches of 32 each
            int v1 = out.indexOf("epoch 1 validation batch 1/2\n"), v2 = out.indexOf("epoch 1 validation batch 2/2\n"),
                    epochLine = out.indexOf("epoch 1  train_loss"), t2 = out.indexOf("test batch 2/2\n"), test = out.indexOf("test: loss");
            assertTrue(v1 >= 0 && v2 > v1 && epochLine > v2, "validation lines before the epoch's line:\n" + out);
            assertTrue(out.indexOf("test batch 1/2\n") > epochLine && t2 > epochLine && test > t2, "test lines before the test's line:\n" + out);
            assertFalse(out.contains("\r"), "no carriage returns in plain mode");

            Result none = run(concat(args, "--progress", "none", "--out", tmp.resolve("none").toString()));
            assertEquals(0, none.code(), none.err() + none.out());
            assertFalse(none.err().contains("batch 1/2"), "--progress none shows no pass's progress:\n" + none.err());
        } finally {
            System.clearProperty("dltrain.plainProgressSeconds");
        }
    }

    /**
     * Reading the data before training showed nothing: listing and checking a 70,000-image JPEG tree took 2 to 4 s here,
     * so an ImageNet-size tree (1.28 million files) a minute. A line once it takes longer than 3 s (here at once), and
     * every 10 s after; none with --progress none.
     */
    @Test
    void readingTheDataIsSaidWhenItTakesLong(@TempDir Path tmp) {
        String[] args = {"--model", "mlp", "--data", "fashion-mnist", "--data-dir", subset.toString(), "--epochs", "1",
                "--max-steps", "1", "--threads", "1", "--checkpoint-every", "off"};
        System.setProperty("dltrain.slowPhaseSeconds", "0");
        try {
            Result r = run(concat(args, "--progress", "plain", "--out", tmp.resolve("plain").toString()));
            assertEquals(0, r.code(), r.err() + r.out());
            String line = "dl-train: still reading fashion-mnist in " + subset + " (0 s so far)\n";
            assertTrue(r.err().contains(line) && r.err().indexOf(line) < r.err().indexOf("dl-train: mlp ("), "before the run's first line:\n" + r.err());
            Result none = run(concat(args, "--progress", "none", "--out", tmp.resolve("none").toString()));
            assertEquals(0, none.code(), none.err() + none.out());
            assertFalse(none.err().contains("still "), none.err());
        } finally {
            System.clearProperty("dltrain.slowPhaseSeconds");
        }
    }

    /**
     * Building a large model, loading a checkpoint to resume and writing model/ were silent: vgg11 (129 million
     * parameters) took 8 s to build and 11 s to build and load its 983 MB checkpoint with --resume on this machine. A
     * line for each once it takes longer than 3 s (here at once).
     */
    @Test
    void buildingResumingAndWritingTheModelAreSaidWhenTheyTakeLong(@TempDir Path tmp) {
        Path out = tmp.resolve("run");
        System.setProperty("dltrain.slowPhaseSeconds", "0");
        try {
            Result first = run("--model", "mlp", "--data", "fashion-mnist", "--data-dir", subset.toString(), "--epochs", "1",
                    "--max-steps", "1", "--threads", "1", "--progress", "plain", "--out", out.toString());
            assertEquals(0, first.code(), first.err() + first.out());
            assertTrue(first.err().contains("dl-train: still building mlp (235,146 parameters) (0 s so far)\n".replace(",", java.text.DecimalFormatSymbols.getInstance().getGroupingSeparator() + "")),
                    first.err());
            // the stop's checkpoint, then (below) the epoch's, before the run's model/: written through the trainer's listener
            String ck = "dl-train: still writing a checkpoint in " + out.resolve("checkpoints") + " (0 s so far)\n";
            assertTrue(first.err().contains(ck) && first.err().indexOf(ck) < first.err().indexOf("dl-train: stopped after --max-steps"), first.err());
            Result resumed = run("--resume", out.toString(), "--data-dir", subset.toString(), "--threads", "1", "--progress", "plain");
            assertEquals(0, resumed.code(), resumed.err() + resumed.out());
            assertTrue(resumed.err().contains("dl-train: still loading " + out.resolve("checkpoints").resolve("ckpt-1") + " (0 s so far)\n"), resumed.err());
            assertTrue(resumed.err().contains("dl-train: still writing the trained model to " + out.resolve("model") + " (0 s so far)\n"), resumed.err());
            assertTrue(resumed.err().contains(ck) && resumed.err().indexOf(ck) < resumed.err().indexOf("dl-train: still writing the trained model"), resumed.err());
        } finally {
            System.clearProperty("dltrain.slowPhaseSeconds");
        }
    }

    /**
     * A checkpoint write was silent: a large model's checkpoint with its optimiser state (hundreds of MB) on a slow disk
     * left the run showing nothing after the epoch's line. A write that takes longer than the threshold (here 0.2 s, by
     * a write made slow on purpose) is said, as the other phases without steps are; one that ends sooner is not.
     */
    @Test
    void aSlowCheckpointWriteIsSaidAndAFastOneIsNot(@TempDir Path tmp) throws InterruptedException {
        System.setProperty("dltrain.slowPhaseSeconds", "0.2");
        try {
            java.io.StringWriter text = new java.io.StringWriter();
            Progress p = new Progress(Progress.Mode.PLAIN, new java.io.PrintWriter(text));
            p.checkpointWriting(tmp, false);
            p.checkpointWritten(tmp.resolve("ckpt-1"));
            Thread.sleep(300);
            assertEquals("", text.toString(), "a fast write says nothing");
            p.checkpointWriting(tmp.resolve("best"), true);
            // the slow write: it lasts until its line is said (a fixed 300 ms for the 0.2 s timer fails where a loaded
            // machine runs the timer's thread over 100 ms late: the write ends first, and nothing is said)
            long deadline = System.nanoTime() + 10_000_000_000L;
            while (text.toString().isEmpty() && System.nanoTime() < deadline) Thread.sleep(5);
            p.checkpointWritten(tmp.resolve("best").resolve("ckpt-2"));
            assertEquals("dl-train: still writing the best model's checkpoint in " + tmp.resolve("best") + " (0 s so far)\n", text.toString());
            Thread.sleep(300);
            assertEquals(1, text.toString().lines().count(), "nothing once written:\n" + text);
        } finally {
            System.clearProperty("dltrain.slowPhaseSeconds");
        }
    }

    static String[] concat(String[] a, String... b) {
        String[] r = java.util.Arrays.copyOf(a, a.length + b.length);
        System.arraycopy(b, 0, r, a.length, b.length);
        return r;
    }

    @Test
    void theBarShowsNoLossBeforeTheFirstIsRead() {
        // the trainer reads the loss a few times a second: the bar's first frames have none, and "loss NaN" would read
        // as a diverged run
        assertEquals(String.format("%,.0f img/s", 1363.0), Progress.barMessage(Double.NaN, 1363.0, "img/s"));
        assertEquals("loss 1.9732 | " + String.format("%,.0f img/s", 9670.0), Progress.barMessage(1.97321, 9670.0, "img/s"));
    }

    /**
     * The progress bar, the plain lines and the epoch line said "img/s" for every dataset (a csv's rows, synthetic data,
     * sequences), and "0 img/s" once a step took longer in seconds than its batch has samples (an lstm on T = 2000, 38 s
     * a step): the rate was rounded to a whole number. The unit is "img/s" for a dataset of images (its pixels are
     * normalised: fashion-mnist, cifar, image folders) and "samples/s" for the others; a rate under 100 keeps three
     * significant digits. summary.json and metrics.jsonl keep their images_per_sec key.
     */
    @Test
    void theThroughputIsInTheDatasUnitAndASlowStepIsNotZero(@TempDir Path tmp) throws IOException {
        assertEquals("0.421 samples/s", Progress.barMessage(Double.NaN, 16 / 38.0, "samples/s"), "16 samples in 38 s");
        assertEquals("loss 1.9732 | " + String.format("%,.0f img/s", 9670.0), Progress.barMessage(1.97321, 9670.0, "img/s"));
        assertEquals("0.0263", Progress.rate(1 / 38.0));
        assertEquals("1.68", Progress.rate(1.676));
        assertEquals("42.1", Progress.rate(42.13));
        assertEquals("100", Progress.rate(99.96));
        assertEquals(String.format("%,.0f", 1363.0), Progress.rate(1363.2));
        assertEquals("0", Progress.rate(0));
        java.io.StringWriter sw = new java.io.StringWriter();
        new Progress(Progress.Mode.PLAIN, new java.io.PrintWriter(sw), "samples/s").epochEnded(
                new io.dltrain.runtime.train.EpochMetrics(1, 0.5, Double.NaN, Double.NaN, Double.NaN, 0.1, 76, 76, 32 / 76.0, 0));
        assertTrue(sw.toString().strip().endsWith("  0.421 samples/s"), sw.toString());
        // end to end: synthetic data is not images, cifar10 is (the epoch line may end with a data wait on a loaded machine)
        Result synthetic = run("--model", "mlp", "--data", "synthetic:1x8x8,classes=3,train=64,test=16", "--epochs", "1", "--batch-size", "16",
                "--threads", "1", "--progress", "plain", "--checkpoint-every", "off", "--out", tmp.resolve("synthetic").toString());
        assertEquals(0, synthetic.code(), synthetic.err() + synthetic.out());
        assertTrue(synthetic.err().lines().anyMatch(l -> l.matches("epoch 1  train_loss .*  [0-9.,]+ samples/s(  data wait [0-9.]+s)?")), synthetic.err());
        assertFalse(synthetic.err().contains("img/s"), synthetic.err());
        Path cifar = EvalPredictTest.fakeCifar10(Files.createDirectories(tmp.resolve("cifar")), 16, 3);
        Result images = run("--model", "mlp", "--data", "cifar10", "--data-dir", cifar.toString(), "--epochs", "1", "--batch-size", "16",
                "--threads", "1", "--progress", "plain", "--checkpoint-every", "off", "--out", tmp.resolve("cifar-run").toString());
        assertEquals(0, images.code(), images.err() + images.out());
        assertTrue(images.err().lines().anyMatch(l -> l.matches("epoch 1  train_loss .*  [0-9.,]+ img/s(  data wait [0-9.]+s)?")), images.err());
    }

    /**
     * Without --lr each optimiser trains with its own default (Adam's 0.001, not SGD's 0.05); --lr and a config file's
     * lr still win, and a resumed run keeps the rate it was started with.
     */
    @Test
    void eachOptimiserGetsItsOwnDefaultLearningRate(@TempDir Path tmp) throws IOException {
        Path adam = tmp.resolve("adam");
        Result r = run(train(adam, "mlp", 1, "--optimizer", "adam", "--max-steps", "3"));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("adam lr 0.001 "), r.err());
        Result resumed = run("--resume", adam.toString(), "--data-dir", subset.toString(), "--epochs", "1", "--threads", "2", "--progress", "none");
        assertEquals(0, resumed.code(), resumed.err() + resumed.out());
        JsonNode cfg = JSON.readTree(adam.resolve("summary.json").toFile()).get("config");
        assertEquals("adam", cfg.get("optimizer").asText());
        assertEquals(0.001, cfg.get("lr").asDouble(), 0.0, cfg.toString());

        Result given = run(train(tmp.resolve("given"), "mlp", 1, "--optimizer", "adamw", "--lr", "0.003", "--max-steps", "1"));
        assertEquals(0, given.code(), given.err() + given.out());
        assertTrue(given.err().contains("adamw lr 0.003 "), given.err());
        Path yaml = Files.writeString(tmp.resolve("c.yaml"), "optimizer: rmsprop\nlr: 0.002\n");
        Result configured = run(train(tmp.resolve("configured"), "mlp", 1, "--config", yaml.toString(), "--max-steps", "1"));
        assertEquals(0, configured.code(), configured.err() + configured.out());
        assertTrue(configured.err().contains("rmsprop lr 0.002 "), configured.err());
        Result plain = run(train(tmp.resolve("plain"), "mlp", 1, "--max-steps", "1"));
        assertTrue(plain.err().contains("sgd-nesterov lr 0.05 (cosine), momentum 0.9, weight decay 0.0005,"), plain.err());
        String help = run("train", "--help").out().replaceAll("\\s+", " ");
        assertTrue(help.contains("0.001 for adam and adamw"), "--help states the defaults: " + help);
        assertTrue(help.contains("0 for rmsprop") && help.contains("0.01 for adamw"), "--help states the defaults: " + help);
    }

    /** Momentum and weight decay: PyTorch's defaults for the adaptive optimisers, the recipe's for sgd; given, configured or resumed values win. */
    @Test
    void eachOptimiserGetsItsOwnDefaultMomentumAndWeightDecay(@TempDir Path tmp) throws IOException {
        record Want(String optimizer, double momentum, double weightDecay) {}
        for (Want w : List.of(new Want("rmsprop", 0.0, 0.0), new Want("adamw", 0.0, 0.01), new Want("adam", 0.0, 0.0),
                new Want("sgd-nesterov", 0.9, 5e-4))) {
            Path dir = tmp.resolve(w.optimizer());
            Result r = run(train(dir, "mlp", 1, "--optimizer", w.optimizer()));
            assertEquals(0, r.code(), r.err() + r.out());
            JsonNode cfg = JSON.readTree(dir.resolve("summary.json").toFile()).get("config");
            assertEquals(w.momentum(), cfg.get("momentum").asDouble(), 0.0, w + ": " + cfg);
            assertEquals(w.weightDecay(), cfg.get("weight_decay").asDouble(), 0.0, w + ": " + cfg);
        }
        assertTrue(run(train(tmp.resolve("shown"), "mlp", 1, "--optimizer", "rmsprop", "--max-steps", "1")).err()
                .contains("rmsprop lr 0.01 (cosine), momentum 0, weight decay 0,"));
        Result ignored = run(train(tmp.resolve("ignored"), "mlp", 1, "--optimizer", "adam", "--momentum", "0.5", "--max-steps", "1"));
        assertEquals(0, ignored.code(), ignored.err() + ignored.out());
        assertTrue(ignored.err().contains("notice: --momentum 0.5 is ignored: adam has no momentum setting"), ignored.err());

        Path given = tmp.resolve("given");
        Result g = run(train(given, "mlp", 1, "--optimizer", "rmsprop", "--momentum", "0.5", "--weight-decay", "0.001", "--max-steps", "2"));
        assertEquals(0, g.code(), g.err() + g.out());
        // a resumed run keeps the saved values (not the defaults), and a different one given again is a usage error
        Result resumed = run("--resume", given.toString(), "--data-dir", subset.toString(), "--epochs", "1", "--threads", "2", "--progress", "none");
        assertEquals(0, resumed.code(), resumed.err() + resumed.out());
        JsonNode cfg = JSON.readTree(given.resolve("summary.json").toFile()).get("config");
        assertEquals(0.5, cfg.get("momentum").asDouble(), 0.0, cfg.toString());
        assertEquals(0.001, cfg.get("weight_decay").asDouble(), 0.0, cfg.toString());
        Result changed = run("--resume", given.toString(), "--data-dir", subset.toString(), "--momentum", "0.9", "--progress", "none");
        assertEquals(2, changed.code(), changed.out());
        assertTrue(changed.err().contains("--momentum 0.9 differs from the resumed run's 0.5"), changed.err());
    }

    @Test
    void lenet5TrainsAndRunsAreBitIdenticalForTheSameSeed(@TempDir Path tmp) throws IOException {
        Result a = run(train(tmp.resolve("a"), "lenet5", 2));
        Result b = run(train(tmp.resolve("b"), "lenet5", 2));
        assertEquals(0, a.code(), a.err());
        assertEquals(0, b.code(), b.err());
        List<String> la = Files.readAllLines(tmp.resolve("a/metrics.jsonl")), lb = Files.readAllLines(tmp.resolve("b/metrics.jsonl"));
        for (int i = 0; i < 2; i++) {
            for (String f : List.of("train_loss", "train_acc", "val_loss", "val_acc")) {
                assertEquals(JSON.readTree(la.get(i)).get(f).asDouble(), JSON.readTree(lb.get(i)).get(f).asDouble(), 0.0, f + " epoch " + (i + 1));
            }
        }
        JsonNode s = JSON.readTree(tmp.resolve("a/summary.json").toFile());
        assertEquals(JSON.readTree(tmp.resolve("b/summary.json").toFile()).get("test_loss").asDouble(), s.get("test_loss").asDouble(), 0.0);
        assertTrue(s.get("test_acc").asDouble() > 0.60, "lenet5 test accuracy " + s.get("test_acc"));
    }

    /**
     * datasets prepare said what it writes and, at the end, what it wrote: Fashion-MNIST as 70,000 JPEGs took 15 s on
     * this machine between the two (as PNGs about 30 s). Now a line after 3 s (here at once) and every 10 s.
     */
    @Test
    void datasetsPrepareSaysItGoesOn(@TempDir Path tmp) throws IOException {
        Path small = fashionSubset(tmp.resolve("fmnist"), 3, 2), tree = tmp.resolve("tree");
        System.setProperty("dltrain.slowPhaseSeconds", "0");
        try {
            Result r = runMerged("datasets", "prepare", "--data", "fashion-mnist", "--data-dir", small.toString(), "--out", tree.toString());
            assertEquals(0, r.code(), r.err());
            String line = "dl-train: still writing the images under " + tree + " (0 s so far)\n"; // stderr's, before stdout's result
            assertTrue(r.out().contains(line) && r.out().indexOf(line) < r.out().indexOf("wrote 3 training"), r.out());
        } finally {
            System.clearProperty("dltrain.slowPhaseSeconds");
        }
    }

    /**
     * stdout holds what datasets prepare wrote, alone: its notices, the "writing ..." line and its progress went to
     * stdout with it, so `dl-train datasets prepare ... > log` kept progress in the record. They go to stderr.
     */
    @Test
    void datasetsPreparePrintsItsSummaryAloneOnStdout(@TempDir Path tmp) throws IOException {
        Path small = fashionSubset(tmp.resolve("fmnist"), 3, 2), tree = tmp.resolve("tree");
        System.setProperty("dltrain.slowPhaseSeconds", "0"); // the progress line at once
        try {
            Result r = run("datasets", "prepare", "--data", "fashion-mnist", "--data-dir", small.toString(), "--out", tree.toString());
            assertEquals(0, r.code(), r.err());
            // its wrote line as train's and eval's: "dl-train: wrote ..."
            assertEquals("dl-train: wrote 3 training and 2 validation images in 3 class folders under " + tree + "\n", r.out());
            String writing = "dl-train: writing 3 training and 2 validation images (png) under " + tree + "\n",
                    still = "dl-train: still writing the images under " + tree + " (0 s so far)\n";
            assertTrue(r.err().startsWith(writing) && r.err().contains(still), r.err());
        } finally {
            System.clearProperty("dltrain.slowPhaseSeconds");
        }
    }

    /**
     * The folder count prepare prints is of the class folders it made: a class with no image in either split gets
     * none (3 train and 2 test images of Fashion-MNIST are of 3 classes), and it said "10 class folders".
     */
    @Test
    void datasetsPrepareCountsTheClassFoldersItMade(@TempDir Path tmp) throws IOException {
        Path small = fashionSubset(tmp.resolve("fmnist"), 3, 2), tree = tmp.resolve("tree");
        Result r = run("datasets", "prepare", "--data", "fashion-mnist", "--data-dir", small.toString(), "--out", tree.toString());
        assertEquals(0, r.code(), r.err());
        java.util.Set<String> made = new java.util.HashSet<>();
        for (String split : List.of("train", "val"))
            try (var dirs = Files.list(tree.resolve(split))) {
                dirs.forEach(d -> made.add(d.getFileName().toString()));
            }
        assertEquals(java.util.Set.of("Ankle boot", "T-shirt_top", "Pullover"), made);
        assertTrue(r.out().contains("wrote 3 training and 2 validation images in 3 class folders under " + tree), r.out());
    }

    /** {@code datasets prepare} writes a tree from an array dataset, and refuses with the reason what it cannot export. */
    @Test
    void datasetsPrepareWritesATreeAndRefusesWhatItCannotExport(@TempDir Path tmp) throws IOException {
        Path small = fashionSubset(tmp.resolve("fmnist"), 60, 20);
        Path tree = tmp.resolve("tree");
        Result r = run("datasets", "prepare", "--data", "fashion-mnist", "--data-dir", small.toString(), "--out", tree.toString());
        assertEquals(0, r.code(), r.err());
        assertTrue(r.err().contains("dl-train: writing 60 training and 20 validation images (png) under " + tree + "\n"), r.err());
        assertTrue(r.out().contains("wrote 60 training and 20 validation images in 10 class folders under " + tree), r.out());
        try (var files = Files.walk(tree)) {
            assertEquals(80, files.filter(f -> f.toString().endsWith(".png")).count());
        }
        for (String[] c : new String[][] {{"synthetic", "generated in memory"}, {"imagefolder", "an image-folder tree already"},
                {"imagenet-subset:size=64", "an image-folder tree already"}, {"csv", "table rows"}}) {
            Path out = tmp.resolve("never-" + c[0].replace(':', '_'));
            Result e = run("datasets", "prepare", "--data", c[0], "--data-dir", tree.toString(), "--out", out.toString());
            assertEquals(2, e.code(), e.err());
            assertTrue(e.err().contains("cannot export '" + c[0] + "': it") && e.err().contains(c[1])
                    && e.err().contains("exports fashion-mnist, mnist, cifar10 and cifar100"), e.err());
            assertFalse(e.err().contains("write(train"), "no Java signature in a user's error: " + e.err());
            assertFalse(Files.exists(out), out.toString());
        }
        // the tree read back with a size= whose 3 x size x size sample overflows an int: the dataset option is named, not
        // the model's resulting "Linear: features must be >= 1, got -65371069 -> 256"
        usageError(tmp.resolve("never"), new String[] {"--model", "mlp", "--data", "imagefolder:size=99999", "--data-dir", tree.toString(),
                "--out", tmp.resolve("never").toString()}, "'imagefolder:size=99999': size must be from 1 to 26754");
        // an --out that cannot be made: refused before the dataset is read, in words (not "java.nio.file.NoSuchFileException")
        Path aFile = Files.writeString(tmp.resolve("a-file"), "x");
        for (String[] c : new String[][] {{aFile.toString(), "exists and is not a directory"}, {aFile + "/sub", "is not a directory"},
                {"/proc/dl-train-prepare-test", "cannot be created"}}) {
            if (c[0].startsWith("/proc/") && !Files.isDirectory(Path.of("/proc/self"))) continue; // not Linux
            Result e = run("datasets", "prepare", "--data", "fashion-mnist", "--data-dir", small.toString(), "--out", c[0]);
            assertEquals(2, e.code(), e.err());
            assertTrue(e.err().contains("--out " + c[0]) && e.err().contains(c[1]), e.err());
            assertFalse(e.err().contains("Exception"), "words, not Java class names: " + e.err());
        }
        Result again = run("datasets", "prepare", "--data", "fashion-mnist", "--data-dir", small.toString(), "--out", tree.toString());
        assertEquals(2, again.code());
        assertTrue(again.err().contains("already exists and is not empty"), again.err());
    }

    /**
     * prepare loaded the whole dataset and printed "writing ..." before refusing an --out whose train/ was not empty (here
     * with a --data-dir that does not exist: the dataset's own error came first); it is now checked first. And --format
     * JPG was refused while --device CPU was taken: --format and --progress take any case, as the other choices do.
     */
    @Test
    void datasetsPrepareChecksOutFirstAndTakesAnyCase(@TempDir Path tmp) throws IOException {
        Path tree = tmp.resolve("tree");
        Files.createDirectories(tree.resolve("train/a"));
        Result r = run("datasets", "prepare", "--data", "fashion-mnist", "--data-dir", tmp.resolve("absent").toString(), "--out", tree.toString());
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains(tree.resolve("train") + ": already exists and is not empty"), r.err());
        assertFalse(r.err().contains("writing"), r.err());
        Path small = fashionSubset(tmp.resolve("fmnist"), 3, 2);
        Result jpg = run("datasets", "prepare", "--data", "fashion-mnist", "--data-dir", small.toString(), "--out", tmp.resolve("jpg").toString(),
                "--format", "JPG");
        assertEquals(0, jpg.code(), jpg.err());
        assertTrue(jpg.err().contains("images (jpeg) under"), jpg.err());
        Result plain = run("--model", "mlp", "--data", "synthetic:1x8x8,classes=2,train=64,test=16", "--device", "CPU", "--epochs", "1",
                "--progress", "None", "--checkpoint-every", "off", "--out", tmp.resolve("run").toString());
        assertEquals(0, plain.code(), plain.err());
        assertFalse(plain.err().contains("epoch 1"), "--progress None: no epoch lines: " + plain.err());
    }

    @Test
    void listsRegistriesAndHelp() {
        Result m = run("models");
        assertEquals(0, m.code());
        assertTrue(m.out().contains("lenet5") && m.out().contains("61,706") && m.out().contains("235,146"), m.out());
        // one column layout for every row, the longest name included: each parameter count ends where the header's does
        List<String> rows = m.out().lines().toList();
        int end = rows.getFirst().indexOf("PARAMETERS") + "PARAMETERS".length();
        for (String row : rows.subList(1, rows.size()))
            assertTrue(row.length() > end && Character.isDigit(row.charAt(end - 1)) && row.charAt(end) == ' ', "misaligned: " + row);
        Result d = run("datasets");
        assertEquals(0, d.code());
        assertTrue(d.out().contains("fashion-mnist") && d.out().contains("mnist"), d.out());
        // every dataset option is listed (they were only in error messages), and the columns line up
        for (String option : List.of("skipbad=false", "norm=none|imagenet", "standardize=true", "noise=1.0", "ignore=COLUMN"))
            assertTrue(d.out().contains(option), option + " missing from `datasets`:\n" + d.out());
        List<String> drows = d.out().lines().takeWhile(l -> !l.isEmpty()).toList();
        int descAt = drows.getFirst().indexOf("DESCRIPTION");
        for (String r : drows.subList(1, drows.size()))
            assertTrue(r.charAt(descAt - 1) == ' ' && r.charAt(descAt) != ' ', "misaligned: " + r);
        assertEquals(0, run("--help").code());
        assertEquals(0, run("models", "--help").code());
        // `dl-train help [COMMAND]`, as git and docker users type it
        Result h = run("help");
        assertEquals(0, h.code(), h.err());
        assertTrue(h.out().startsWith("Usage: dl-train ") && h.out().contains("predict"), h.out());
        Result he = run("help", "eval");
        assertEquals(0, he.code(), he.err());
        assertTrue(he.out().startsWith("Usage: dl-train eval "), he.out());
        // and under `datasets`, whose prepare has its own options ('datasets help prepare' was "Missing required options")
        Result hp = run("datasets", "help", "prepare");
        assertEquals(0, hp.code(), hp.err());
        assertTrue(hp.out().startsWith("Usage: dl-train datasets prepare ") && hp.out().contains("--format"), hp.out());
        Result hd = run("datasets", "help");
        assertEquals(0, hd.code(), hd.err());
        assertTrue(hd.out().startsWith("Usage: dl-train datasets ") && hd.out().contains("prepare"), hd.out());
        Result v = run("--version");
        assertEquals(0, v.code());
        assertTrue(v.out().startsWith("dl-train "), v.out());
        Result i = run("info");
        assertEquals(0, i.code());
        assertTrue(i.out().contains("cuda: unavailable:") || i.out().contains("cuda: available"), i.out());
        String why = io.dltrain.runtime.backend.Backends.cudaUnavailableReason();
        if (why != null) assertTrue(i.out().contains("cuda: unavailable: " + why), i.out());
        else assertTrue(i.out().contains("cuda:0: ") && i.out().contains("compute capability"), i.out());
    }

    /**
     * `info --json`, for an ops probe or a pipeline: one JSON object on stdout, nothing else there, saying whether CUDA
     * can be used and why not (the text report's lines, in fields); with --device, whether that device can be used
     * and why not, the exit status as without --json (2 with the reason on stderr where it cannot).
     */
    @Test
    void infoJsonSaysWhetherTheGpuCanBeUsedAndWhyNot() throws IOException {
        String why = io.dltrain.runtime.backend.Backends.cudaUnavailableReason();
        Result i = run("info", "--json");
        assertEquals(0, i.code(), i.err());
        JsonNode info = JSON.readTree(i.out());
        beginsWithFormatAndBuild(info);
        assertEquals(VersionProvider.version(), info.get("version").asText(), i.out());
        assertEquals(System.getProperty("java.version"), info.get("java").get("version").asText(), i.out());
        assertEquals(Runtime.getRuntime().maxMemory(), info.get("java").get("max_heap_bytes").asLong(), i.out());
        assertEquals(Runtime.getRuntime().availableProcessors(), info.get("os").get("cores").asInt(), i.out());
        assertTrue(info.get("cpu_backend").get("threads").asInt() > 0 && info.get("cpu_backend").get("gemm").isTextual(), i.out());
        JsonNode cuda = info.get("cuda");
        assertEquals(why == null, cuda.get("available").asBoolean(), i.out());
        if (why != null) assertEquals(why, cuda.get("reason").asText(), i.out());
        else assertTrue(cuda.get("reason").isNull() && cuda.get("devices").size() > 0, i.out());
        assertTrue(cuda.get("devices").isArray(), i.out());
        assertFalse(info.has("device"), i.out());

        Result ready = run("info", "--json", "--device", "cuda");
        assertEquals(why == null ? 0 : 2, ready.code(), ready.err());
        JsonNode device = JSON.readTree(ready.out()).get("device");
        assertEquals("cuda", device.get("name").asText(), ready.out());
        assertEquals(why == null, device.get("usable").asBoolean(), ready.out());
        if (why != null) {
            assertTrue(device.get("reason").asText().startsWith("--device cuda cannot be used: " + why), ready.out());
            assertTrue(ready.err().startsWith("dl-train: error: --device cuda cannot be used: " + why), ready.err());
        }
        Result cpu = run("info", "--json", "--device", "cpu");
        assertEquals(0, cpu.code(), cpu.err());
        JsonNode c = JSON.readTree(cpu.out()).get("device");
        assertTrue(c.get("usable").asBoolean() && c.get("reason").isNull(), cpu.out());
    }

    /**
     * `info --help` lists the keys `info --json` prints, for whoever writes a probe from it: it left out `version`, the
     * first key. Every key of the object (with --device) and, for each object value, every key of that, is in the help's
     * --json list, in order, and the list names nothing else.
     */
    @Test
    void infoHelpListsEveryKeyOfInfoJson() throws IOException {
        String help = run("info", "--help").out().replaceAll("\\s+", " ");
        String intro = "(for a probe or a pipeline): ";
        int from = help.indexOf(intro);
        assertTrue(from >= 0, help);
        String list = help.substring(from + intro.length(), help.indexOf(".", from)).replace(" and, with --device, ", ", ");
        java.util.Map<String, List<String>> said = new java.util.LinkedHashMap<>(); // key -> its keys in parentheses (null: none)
        java.util.regex.Matcher m = java.util.regex.Pattern.compile("(\\w+)(?: \\(([^)]*)\\))?(?:, |$)").matcher(list);
        int at = 0;
        while (m.find() && m.start() == at) {
            said.put(m.group(1), m.group(2) == null ? null : List.of(m.group(2).split(", ")));
            at = m.end();
        }
        assertEquals(list.length(), at, "the --json list could not be read past '" + list.substring(at) + "': " + list);
        Result r = run("info", "--json", "--device", "cpu");
        assertEquals(0, r.code(), r.err());
        java.util.Map<String, List<String>> printed = new java.util.LinkedHashMap<>();
        JSON.readTree(r.out()).properties().forEach(e -> printed.put(e.getKey(),
                e.getValue().isObject() ? e.getValue().properties().stream().map(java.util.Map.Entry::getKey).toList() : null));
        assertEquals(printed, said, "info --help's --json list against the keys of info --json --device cpu: " + list);
    }

    /**
     * A GPU present but failing (cuda:1 held by another process in exclusive-process mode, cudaSetDevice answering
     * cudaErrorDevicesUnavailable; or the only GPU with an uncorrectable ECC error): `info` exited 1 with the CUDA error
     * and `info --json` printed no object. Both now list the device with its problem (free memory unknown), and the
     * readiness check refuses that device with it, from the same probe (the one that read free memory).
     */
    @Test
    void infoListsAGpuThatFailsWithItsProblem() throws IOException {
        String busy = "cudaSetDevice(1) failed: cudaErrorDevicesUnavailable (CUDA-capable device(s) is/are busy or unavailable)";
        CudaLibraries.DeviceInfo ok = new CudaLibraries.DeviceInfo(0, "NVIDIA H100 80GB HBM3", 9, 0, 132, 80L << 30, 79L << 30);
        CudaLibraries.DeviceInfo held = new CudaLibraries.DeviceInfo(1, "NVIDIA H100 80GB HBM3", 9, 0, 132, 80L << 30, -1, busy);
        java.util.function.Supplier<CudaLibraries.Probe> real = InfoCommand.probe;
        InfoCommand.probe = () -> new CudaLibraries.Probe(true, null, "13.1", "13.1", "13.2.0", "9.19.0", List.of(ok, held));
        try {
            Result t = run("info");
            assertEquals(0, t.code(), t.err());
            assertTrue(t.out().contains("  cuda:0: NVIDIA H100 80GB HBM3, compute capability 9.0, 132 SMs, memory 79.00 GiB free of 80.00 GiB\n"), t.out());
            assertTrue(t.out().contains("  cuda:1: NVIDIA H100 80GB HBM3, compute capability 9.0, 132 SMs, memory unknown free of 80.00 GiB; "
                    + "does not answer: " + busy + "\n"), t.out());
            Result j = run("info", "--json");
            assertEquals(0, j.code(), j.err());
            JsonNode devices = JSON.readTree(j.out()).get("cuda").get("devices");
            assertEquals(2, devices.size(), j.out());
            assertTrue(devices.get(0).get("problem").isNull(), j.out());
            assertEquals(79L << 30, devices.get(0).get("free_bytes").asLong(), j.out());
            assertEquals(busy, devices.get(1).get("problem").asText(), j.out());
            assertTrue(devices.get(1).get("free_bytes").isNull(), j.out());
            assertEquals(80L << 30, devices.get(1).get("total_bytes").asLong(), j.out());
            Result ready = run("info", "--json", "--device", "cuda:1");
            assertEquals(2, ready.code(), ready.err());
            assertTrue(JSON.readTree(ready.out()).get("device").get("reason").asText().startsWith("--device cuda:1 cannot be used: cuda:1 (NVIDIA H100 80GB HBM3) does not answer: " + busy), ready.out());
            assertTrue(ready.err().startsWith("dl-train: error: --device cuda:1 cannot be used: cuda:1 (NVIDIA H100 80GB HBM3) does not answer: " + busy), ready.err());
            assertEquals(0, run("info", "--device", "cuda:0").code());

            // the only GPU fails: CUDA unavailable with its problem as the reason, the device still listed
            String ecc = "cudaGetDeviceProperties(0) failed: cudaErrorECCUncorrectable (uncorrectable ECC error encountered)";
            CudaLibraries.DeviceInfo broken = new CudaLibraries.DeviceInfo(0, "", -1, -1, -1, -1, -1, ecc);
            String why = broken.problemReason();
            InfoCommand.probe = () -> new CudaLibraries.Probe(false, why, "13.1", "13.1", "13.2.0", "9.19.0", List.of(broken));
            Result u = run("info", "--device", "cuda");
            assertEquals(2, u.code(), u.err());
            assertTrue(u.out().contains("cuda: unavailable: " + why + "\n"), u.out());
            assertTrue(u.out().contains("  cuda:0: unknown; does not answer: " + ecc + "\n"), u.out());
            assertTrue(u.err().startsWith("dl-train: error: --device cuda cannot be used: " + why), u.err());
            // the command was given right: the machine cannot do it, and its --help would not help
            assertFalse(u.err().contains("--help"), u.err());
            assertFalse(ready.err().contains("--help"), ready.err());
            Result uj = run("info", "--json");
            assertEquals(0, uj.code(), uj.err());
            JsonNode cuda = JSON.readTree(uj.out()).get("cuda");
            assertFalse(cuda.get("available").asBoolean(), uj.out());
            assertEquals(why, cuda.get("reason").asText(), uj.out());
            JsonNode d0 = cuda.get("devices").get(0);
            assertEquals(ecc, d0.get("problem").asText(), uj.out());
            assertTrue(d0.get("name").isNull() && d0.get("compute_capability").isNull() && d0.get("total_bytes").isNull(), uj.out());
        } finally {
            InfoCommand.probe = real;
        }
    }

    /**
     * Numbers on stdout do not depend on the machine's locale: with LANG=de_DE.UTF-8 (a German ops machine; Java's
     * default locale follows it) `models` printed 235.146 parameters, eval "test: loss 0,0047  top-1 100,00%" and a
     * regression predict "y = 3,42557", which a script reading the figure as a number misread or refused, and a log
     * differed from machine to machine. The formats are Locale.ROOT's, the README's: 235,146 and 0.0047.
     */
    @Test
    void numbersAreWrittenTheSameInEveryLocale() {
        java.util.Locale before = java.util.Locale.getDefault(), format = java.util.Locale.getDefault(java.util.Locale.Category.FORMAT);
        java.util.Locale.setDefault(java.util.Locale.GERMANY); // both categories, as LANG sets them
        try {
            Result m = run("models");
            assertEquals(0, m.code(), m.err());
            assertTrue(m.out().matches("(?s).*\\nmlp +235,146  1x28x28 -> 10 .*"), m.out());
            Result d = run("datasets");
            assertTrue(d.out().contains("60,000 train / 10,000 test"), d.out());
        } finally {
            java.util.Locale.setDefault(before);
            java.util.Locale.setDefault(java.util.Locale.Category.FORMAT, format);
        }
    }

    /** On a machine without the NVIDIA driver (the build machine): each command says exactly that. */
    @Test
    void withoutTheDriverEveryCommandSaysWhy(@TempDir Path tmp) throws IOException {
        String why = io.dltrain.runtime.backend.Backends.cudaUnavailableReason();
        org.junit.jupiter.api.Assumptions.assumeTrue(why != null && why.startsWith("no NVIDIA driver"),
                "this machine has the NVIDIA driver (" + why + ")");
        Result i = run("info");
        assertEquals(0, i.code());
        assertTrue(i.out().contains("cuda: unavailable: no NVIDIA driver found (libcuda.so.1"), i.out());
        // the readiness check: the report, then exit 2 with training's own refusal
        Result ready = run("info", "--device", "cuda");
        assertEquals(2, ready.code(), ready.err());
        assertTrue(ready.out().contains("cuda: unavailable: no NVIDIA driver found"), ready.out());
        assertTrue(ready.err().contains("dl-train: error: --device cuda cannot be used: no NVIDIA driver found"), ready.err());
        Result cpu = run("info", "--device", "cpu");
        assertEquals(0, cpu.code(), cpu.err());
        assertTrue(cpu.out().contains("dl-train: --device cpu can be used"), cpu.out());
        usageError(null, new String[] {"info", "--device", "gpu"}, "unknown device 'gpu' (an NVIDIA GPU is cuda or cuda:N): use auto, cpu, cuda or cuda:N");
        Path out = tmp.resolve("never");
        usageError(out, train(out, "mlp", 1, "--device", "cuda"), "--device cuda cannot be used: no NVIDIA driver found", "--device cpu");
        usageError(out, train(out, "mlp", 1, "--device", "cuda:1"), "--device cuda:1 cannot be used: no NVIDIA driver found");
        usageError(out, train(out, "mlp", 1, "--device", "cuda:0"), "--device cuda:0 cannot be used: no NVIDIA driver found"); // as given
        Result r = run(train(tmp.resolve("run"), "mlp", 1, "--device", "auto"));
        assertEquals(0, r.code(), r.err());
        List<String> notices = r.err().lines().filter(l -> l.contains("no usable GPU")).toList();
        assertEquals(List.of("dl-train: notice: no usable GPU: " + why + "; using the CPU"), notices, r.err());
        // every command that takes --device says the same, one line and exit 2, with no "Try 'dl-train ... --help'":
        // the command is right, the machine cannot do it (a misspelt device, a usage error, keeps the hint)
        String images = subset.resolve("t10k-images-idx3-ubyte.gz").toString(), run = tmp.resolve("run").toString();
        for (String[] args : List.of(new String[] {"info", "--device", "cuda"}, train(out, "mlp", 1, "--device", "cuda"),
                new String[] {"eval", "--checkpoint", run, "--data", "fashion-mnist", "--data-dir", subset.toString(), "--device", "cuda"},
                new String[] {"predict", "--checkpoint", run, images, "--device", "cuda"},
                new String[] {"bench", "--model", "mlp", "--batch-size", "8", "--synthetic", "--device", "cuda"})) {
            Result c = run(args);
            assertEquals(2, c.code(), args[0] + ": " + c.err());
            assertEquals(List.of("dl-train: error: --device cuda cannot be used: " + why + ". Use --device cpu, or --device auto to fall back to the CPU."),
                    c.err().lines().filter(l -> !l.startsWith("dl-train: notice: ")).toList(), String.join(" ", args));
        }
        Result gpu = run("info", "--device", "gpu");
        assertTrue(gpu.code() == 2 && gpu.err().contains("Try 'dl-train info --help' for more information."), gpu.err());
        JsonNode s = JSON.readTree(tmp.resolve("run/summary.json").toFile());
        assertEquals("cpu", s.get("device").asText());
        JsonNode mem = s.get("memory");
        assertTrue(mem != null && mem.get("peak_bytes").asLong() > 0, "summary.json memory: " + mem);
        assertTrue(mem.get("reserved_bytes").asLong() >= mem.get("in_use_bytes").asLong(), mem.toString());
    }

    /**
     * A JSON report users parse (eval.json and eval --json, bench --json, info --json, summary.json, a metrics.jsonl line)
     * begins with format_version, dl_train_version and dl_train_build, this build's (Checkpoint.writtenBy).
     */
    static void beginsWithFormatAndBuild(JsonNode j) {
        List<String> first = new ArrayList<>();
        j.fieldNames().forEachRemaining(first::add);
        assertEquals(List.of("format_version", "dl_train_version", "dl_train_build"), first.subList(0, Math.min(3, first.size())), j.toString());
        assertEquals(io.dltrain.runtime.checkpoint.Checkpoint.FORMAT_VERSION, j.get("format_version").intValue(), j.toString());
        assertEquals(io.dltrain.runtime.BuildInfo.version(), j.get("dl_train_version").textValue(), j.toString());
        assertEquals(io.dltrain.runtime.BuildInfo.build(), j.get("dl_train_build").textValue(), j.toString());
    }

    /** A usage error: exit 2, the message contains every expected fragment, and --out was not created. */
    static void usageError(Path out, String[] args, String... fragments) {
        Result r = run(args);
        assertEquals(2, r.code(), "exit code; stderr: " + r.err() + " stdout: " + r.out());
        for (String f : fragments) assertTrue(r.err().contains(f), "expected '" + f + "' in: " + r.err());
        if (out != null) assertFalse(Files.exists(out), "nothing may be written on bad input: " + out);
    }

    /**
     * A misspelt model, dataset or optimiser name is a usage error that names the one meant where that is clear, on
     * every path that resolves names: flags, a --config file and bench (eval and predict: EvalPredictTest).
     */
    @Test
    void aMisspeltNameSuggestsTheOneMeant(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("never");
        usageError(out, train(out, "resnet-18", 1), "unknown model 'resnet-18' (did you mean 'resnet18'?). Available models: mlp, lenet5");
        usageError(out, new String[] {"--model", "lenet", "--data", "fashion_mnist", "--out", out.toString()},
                "unknown model 'lenet' (did you mean 'lenet5'?)");
        usageError(out, new String[] {"--model", "LeNet5", "--data", "fashion_mnist", "--out", out.toString()},
                "unknown dataset 'fashion_mnist' (did you mean 'fashion-mnist'?); valid names: fashion-mnist, mnist");
        usageError(out, new String[] {"--model", "mlp", "--data", "Fashion-MNIST", "--out", out.toString()},
                "unknown dataset 'Fashion-MNIST' (did you mean 'fashion-mnist'?)");
        usageError(out, train(out, "mlp", 1, "--optimizer", "sgd_nesterov"), "unknown optimizer 'sgd_nesterov' (did you mean 'sgd-nesterov'?)");
        // none where no name, or more than one, is clearly meant
        Result r = run(train(out, "resnet", 1));
        assertEquals(2, r.code(), r.err());
        assertTrue(r.err().contains("unknown model 'resnet'. Available models: "), r.err());
        Path yaml = Files.writeString(tmp.resolve("run.yaml"), "model: mlp\ndata: mnsit\n");
        usageError(out, new String[] {"--config", yaml.toString(), "--out", out.toString()}, "unknown dataset 'mnsit' (did you mean 'mnist'?)");
        usageError(null, new String[] {"bench", "--model", "resnet_50", "--batch-size", "8", "--device", "cpu"},
                "unknown model 'resnet_50' (did you mean 'resnet50'?)");
        usageError(null, new String[] {"bench", "--model", "mlp", "--data", "cifar-100", "--batch-size", "8", "--device", "cpu"},
                "unknown dataset 'cifar-100' (did you mean 'cifar100'?)");
        usageError(null, new String[] {"datasets", "prepare", "--data", "fashionmnist", "--out", tmp.resolve("tree").toString()},
                "unknown dataset 'fashionmnist' (did you mean 'fashion-mnist'?)");
    }

    @Test
    void badNamesAndNumbersAreUsageErrors(@TempDir Path tmp) {
        Path out = tmp.resolve("never");
        usageError(out, new String[] {"--model", "nope", "--data", "fashion-mnist", "--out", out.toString()}, "unknown model 'nope'", "lenet5", "mlp");
        usageError(out, new String[] {"--model", "mlp", "--data", "cifar-9", "--out", out.toString()}, "cifar-9", "fashion-mnist");
        usageError(out, train(out, "mlp", 1, "--batch-size", "0"), "--batch-size must be >= 1, got 0");
        // a batch is one Java array (it said "batchSize 99999999 x sample shape ... does not fit", exit 1)
        usageError(out, train(out, "mlp", 1, "--batch-size", "99999999"), "--batch-size 99999999 is too large for fashion-mnist's"
                + " [1, 28, 28] samples", "use --batch-size 2739137 or less");
        usageError(out, train(out, "mlp", 0), "--epochs must be >= 1, got 0");
        usageError(out, train(out, "mlp", 1, "--lr", "-0.1"), "learning rate");
        usageError(out, train(out, "mlp", 1, "--optimizer", "sgdd"), "sgdd", "adamw");
        // optimiser settings: refused by the CLI, naming the option and the value as typed, before anything is written
        // (the optimiser itself refused them with exit 1, and 1e308, Infinity as a float, after making the run directory)
        usageError(out, train(out, "mlp", 1, "--momentum", "-1"), "--momentum -1 is negative; a momentum must be >= 0");
        usageError(out, train(out, "mlp", 1, "--optimizer", "sgd", "--momentum", "-1"), "--momentum -1 is negative");
        usageError(out, train(out, "mlp", 1, "--optimizer", "sgd-nesterov", "--momentum", "0"),
                "--optimizer sgd-nesterov needs a --momentum > 0, got 0", "--optimizer sgd");
        usageError(out, train(out, "mlp", 1, "--lr", "1e308"), "--lr 1e308 is too large", "float", "3.4028235E38");
        usageError(out, train(out, "mlp", 1, "--lr", "NaN"), "--lr NaN is not a number");
        usageError(out, train(out, "mlp", 1, "--weight-decay", "1e39"), "--weight-decay 1e39 is too large");
        usageError(out, train(out, "mlp", 1, "--weight-decay", "-0.5"), "--weight-decay -0.5 is negative");
        usageError(out, train(out, "mlp", 1, "--optimizer", "rmsprop", "--momentum", "1e39"), "--momentum 1e39 is too large");
        usageError(out, train(out, "mlp", 1, "--schedule", "step:0:0.1"), "invalid learning-rate schedule 'step:0:0.1'", "period");
        // a floor above the base rate: cosine would raise adam's 0.001 a hundredfold (a fraction was meant, likely)
        usageError(out, train(out, "mlp", 1, "--optimizer", "adam", "--schedule", "warmup:5,cosine:0.1"),
                "--schedule warmup:5,cosine:0.1: its minimum learning rate 0.1 is above the base learning rate 0.001 (adam)");
        usageError(out, train(out, "mlp", 1, "--lr", "0.01", "--schedule", "plateau:0.5:2:0.02"), "minimum learning rate 0.02");
        // what watches the validation loss needs some: refused before anything loads or is written
        usageError(out, train(out, "mlp", 1, "--val-fraction", "0", "--patience", "2"), "early stopping (--patience 2)",
                "no validation data", "drop --patience");
        usageError(out, train(out, "mlp", 1, "--val-fraction", "0", "--schedule", "plateau"), "plateau", "no validation data");
        usageError(out, train(out, "mlp", 1, "--clip-norm", "-1"), "--clip-norm must be a finite number >= 0 (0 is off), got -1");
        usageError(out, train(out, "mlp", 1, "--patience", "2", "--min-delta", "-1"), "--min-delta must be a finite number >= 0", "got -1");
        usageError(out, train(out, "vgg11", 1), "vgg11 needs inputs of at least 32x32", "got 28x28");
        usageError(out, new String[] {"--model", "mlp"}, "Missing required option");
    }

    /**
     * A training set of one sample holds out no validation sample whatever --val-fraction says: early stopping or the
     * plateau schedule is then a usage error too, before anything is written (it was exit 1 from inside the trainer,
     * with a hint about a stack trace, and left an empty run directory behind).
     */
    @Test
    void aTrainingSetTooSmallToHoldOutValidationIsAUsageErrorForWhatNeedsIt(@TempDir Path tmp) throws IOException {
        Path one = fashionSubset(tmp.resolve("one"), 1, 1), out = tmp.resolve("never");
        List<String> common = List.of("--model", "mlp", "--data", "fashion-mnist", "--data-dir", one.toString(), "--epochs", "2",
                "--threads", "2", "--progress", "none", "--out", out.toString());
        List<String> patience = new java.util.ArrayList<>(common), plateau = new java.util.ArrayList<>(common);
        patience.addAll(List.of("--patience", "1"));
        plateau.addAll(List.of("--schedule", "plateau"));
        usageError(out, patience.toArray(new String[0]), "early stopping (--patience 1)", "no validation data", "1 training sample");
        usageError(out, plateau.toArray(new String[0]), "plateau", "no validation data", "1 training sample");
        Result r = run(common.toArray(new String[0])); // without either, the one sample trains
        assertEquals(0, r.code(), r.err() + r.out());
    }

    /**
     * An empty path (`--out "$OUT"` with OUT unset) is a usage error, not the current directory: training, eval and
     * prepare wrote their files straight into wherever the command was run.
     */
    @Test
    void anEmptyPathIsAUsageError(@TempDir Path tmp) throws IOException {
        // each command fails on something else too, so that without the check it writes nothing here either
        usageError(null, new String[] {"--model", "nope", "--data", "fashion-mnist", "--out", ""}, "--out", "empty");
        usageError(null, new String[] {"--resume", ""}, "--resume", "empty");
        usageError(null, new String[] {"datasets", "prepare", "--data", "synthetic", "--out", ""}, "--out", "empty");
        usageError(null, new String[] {"eval", "--checkpoint", tmp.toString(), "--data", "fashion-mnist", "--out", ""}, "--out", "empty");
        usageError(null, new String[] {"predict", "--checkpoint", "", "x.png"}, "--checkpoint", "empty");
        Path yaml = Files.writeString(tmp.resolve("run.yaml"), "model: nope\ndata: fashion-mnist\nout: \"\"\n");
        usageError(null, new String[] {"--config", yaml.toString()}, yaml + ": key 'out'", "empty");
        usageError(null, new String[] {"--config", "", "--model", "nope"}, "--config", "empty");
        assertFalse(Files.exists(Path.of("checkpoints")) || Files.exists(Path.of("train")), "written into the current directory");
    }

    /** PyTorch allows a momentum of 1 or more, so dl-train does too, with a notice that SGD then usually diverges. */
    @Test
    void momentumAboveOneTrainsWithANotice(@TempDir Path tmp) throws IOException {
        Result r = run(train(tmp.resolve("m"), "mlp", 1, "--optimizer", "sgd", "--momentum", "1.5", "--max-steps", "1"));
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("dl-train: notice: --momentum 1.5: with a momentum of 1 or more the momentum buffer never decays,"
                + " so sgd usually diverges"), r.err());
        // a value from a config file is quoted as written there, with the file
        Path yaml = Files.writeString(tmp.resolve("c.yaml"), "lr: 1e39\n");
        Path out = tmp.resolve("never");
        usageError(out, train(out, "mlp", 1, "--config", yaml.toString()), "--lr 1e39 (in " + yaml + ") is too large");
    }

    /**
     * PyTorch allows a learning rate of 0 (every optimiser's step, weight decay included, is scaled by it), and so does
     * dl-train; it trained without a word, the weights never changing. It now says so in one notice line (no schedule
     * can help: each scales the base rate).
     */
    @Test
    void aLearningRateOfZeroTrainsWithANotice(@TempDir Path tmp) {
        String notice = "dl-train: notice: --lr 0: the weights will not change";
        Result r = run(train(tmp.resolve("z"), "mlp", 1, "--lr", "0", "--schedule", "warmup:2,cosine", "--max-steps", "1"));
        assertEquals(0, r.code(), r.err() + r.out());
        assertEquals(1, r.err().lines().filter(l -> l.startsWith(notice)).count(), r.err());
        Result a = run(train(tmp.resolve("a"), "mlp", 1, "--lr", "0.01", "--max-steps", "1"));
        assertEquals(0, a.code(), a.err() + a.out());
        assertFalse(a.err().contains("--lr 0"), a.err());
    }

    /**
     * A model trained on synthetic (seed=1) evaluated on synthetic with seed=2 scored near chance without a word: eval
     * compared the datasets' names alone. Options that differ (the registry's defaults filled in, numbers by value) now
     * get a notice naming both specs; the same options written otherwise get none.
     */
    @Test
    void evalOnTheSameDatasetWithOtherOptionsGetsANotice(@TempDir Path tmp) {
        String trained = "synthetic:1x8x8,classes=3,train=96,test=32,seed=1";
        Path run = tmp.resolve("run");
        Result t = run("--model", "mlp", "--data", trained, "--epochs", "1", "--threads", "2", "--progress", "none",
                "--checkpoint-every", "off", "--out", run.toString());
        assertEquals(0, t.code(), t.err() + t.out());
        String[][] cases = {
                {"synthetic:1x8x8,classes=3,train=96,test=32,seed=2", "seed: 2 here, 1 for the model"},
                {"synthetic:1x8x8,seed=1,test=32,classes=3,train=96,noise=1", null}, // noise=1 is the default 1.0
                {"synthetic:1x8x8,classes=3,train=96,test=32,seed=1,noise=0.5", "noise: 0.5 here, 1.0 for the model"}};
        for (int i = 0; i < cases.length; i++) {
            Result e = run("eval", "--checkpoint", run.toString(), "--data", cases[i][0], "--threads", "2", "--out", tmp.resolve("e" + i).toString());
            assertEquals(0, e.code(), e.err() + e.out());
            if (cases[i][1] == null) assertFalse(e.err().contains("options differ"), e.err());
            else assertTrue(e.err().contains("dl-train: notice: the model was trained on " + trained + " and is evaluated on " + cases[i][0]
                    + ", whose options differ (" + cases[i][1] + ")"), e.err());
        }
    }

    @Test
    void missingAndCorruptDataAreUsageErrorsNamingTheFile(@TempDir Path tmp) throws IOException {
        Path out = tmp.resolve("never");
        Path empty = Files.createDirectories(tmp.resolve("empty"));
        usageError(out, new String[] {"--model", "mlp", "--data", "fashion-mnist", "--data-dir", empty.toString(), "--out", out.toString()},
                empty.toString(), "apt-get install dataset-fashion-mnist");
        Path bad = Files.createDirectories(tmp.resolve("truncated"));
        for (String f : List.of("train-labels-idx1-ubyte.gz", "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"))
            Files.copy(subset.resolve(f), bad.resolve(f));
        byte[] whole = Files.readAllBytes(subset.resolve("train-images-idx3-ubyte.gz"));
        ByteArrayOutputStream raw = new ByteArrayOutputStream();
        try (InputStream in = new GZIPInputStream(new java.io.ByteArrayInputStream(whole))) { in.transferTo(raw); }
        try (OutputStream o = new GZIPOutputStream(Files.newOutputStream(bad.resolve("train-images-idx3-ubyte.gz")))) {
            o.write(raw.toByteArray(), 0, raw.size() / 2); // header says 4,000 images; half the pixels are there
        }
        usageError(out, new String[] {"--model", "mlp", "--data", "fashion-mnist", "--data-dir", bad.toString(), "--out", out.toString()},
                "train-images-idx3-ubyte.gz");
    }

    @Test
    void unusableOutputAndDeviceAreUsageErrors(@TempDir Path tmp) throws IOException {
        Path file = Files.writeString(tmp.resolve("a-file"), "x");
        usageError(null, train(file, "mlp", 1), "exists and is not a directory");
        Path under = file.resolve("sub");
        usageError(under, train(under, "mlp", 1), "not a directory");
        Path used = Files.createDirectories(tmp.resolve("used"));
        Files.writeString(used.resolve("metrics.jsonl"), "{\"epoch\":1}\n");
        usageError(null, train(used, "mlp", 1), "already holds a run");
        assertFalse(run(train(used, "mlp", 1)).err().contains("--resume"), "no checkpoints: nothing to resume");
        Files.createDirectories(used.resolve("checkpoints")); // without a checkpoint in it (ResumeTest.aRunWithoutACheckpointIsNotSentToResume)
        assertFalse(run(train(used, "mlp", 1)).err().contains("--resume"), "no checkpoint: nothing to resume");
        Path ckpt = Files.createDirectories(used.resolve("checkpoints/ckpt-3"));
        Files.writeString(ckpt.resolve(Checkpoint.STATE_FILE), "{}");
        Files.writeString(ckpt.resolve(Checkpoint.MODEL_FILE), "");
        usageError(null, train(used, "mlp", 1), "already holds a run", "or continue that run with --resume " + used);
        Path spaced = Files.createDirectories(tmp.resolve("used run/checkpoints/ckpt-3")).getParent().getParent();
        Files.writeString(spaced.resolve("checkpoints/ckpt-3").resolve(Checkpoint.STATE_FILE), "{}");
        Files.writeString(spaced.resolve("checkpoints/ckpt-3").resolve(Checkpoint.MODEL_FILE), "");
        Files.writeString(spaced.resolve("metrics.jsonl"), "{\"epoch\":1}\n");
        usageError(null, train(spaced, "mlp", 1), "or continue that run with --resume '" + spaced + "'"); // pastes into a shell
        assertEquals("{\"epoch\":1}\n", Files.readString(used.resolve("metrics.jsonl")), "an earlier run's metrics must be left alone");
        // permissions say root may write /proc, but nothing can be created there: found by trying, before any work
        if (Files.isDirectory(Path.of("/proc/self"))) {
            Path proc = Path.of("/proc/dl-train-test");
            usageError(proc, train(proc, "mlp", 1), "--out " + proc + " cannot be created");
            usageError(null, train(Path.of("/proc"), "mlp", 1), "--out /proc is not writable");
        }
        Path out = tmp.resolve("never");
        usageError(out, train(out, "mlp", 1, "--device", "cuda"), "--device cuda cannot be used");
        usageError(out, train(out, "mlp", 1, "--device", "tpu"), "unknown device 'tpu': use auto, cpu, cuda or cuda:N"); // not "did you mean 'cpu'"
    }

    /**
     * A file where the checkpoints (or the best checkpoint) go is found before the training: it made the first save fail
     * after an epoch's work, with exit 1, leaving a metrics.jsonl that then refused the directory to a new run.
     */
    @Test
    void aFileWhereTheCheckpointsGoIsAUsageError(@TempDir Path tmp) throws IOException {
        String data = "synthetic:1x8x8,classes=2,train=64,test=16";
        for (String blocked : new String[] {"checkpoints", "checkpoints/best"}) {
            Path out = Files.createDirectories(tmp.resolve(blocked.replace('/', '-')));
            Files.createDirectories(out.resolve(blocked).getParent());
            Files.writeString(out.resolve(blocked), "not a directory");
            usageError(null, new String[] {"--model", "mlp", "--data", data, "--epochs", "1", "--threads", "1", "--progress", "none",
                    "--device", "cpu", "--out", out.toString()}, out.resolve(blocked) + " exists and is not a directory");
            assertFalse(Files.exists(out.resolve("metrics.jsonl")), "nothing trained, nothing written: " + blocked);
            Result off = run("--model", "mlp", "--data", data, "--epochs", "1", "--threads", "1", "--progress", "none",
                    "--device", "cpu", "--checkpoint-every", "off", "--out", out.toString());
            assertEquals(0, off.code(), "without checkpoints the file is in no one's way: " + off.err());
        }
    }

    /** One of a thing is singular: "1 epoch", "1 thread", "1 window of 1 step" (the messages said "1 epochs", ...). */
    @Test
    void countsOfOneAreSingular(@TempDir Path tmp) {
        assertEquals("epoch", Words.noun(1, "epoch"));
        assertEquals("epochs", Words.noun(0, "epoch"));
        assertEquals("1 class", Words.count(1, "class", "classes"));
        assertEquals("2 classes", Words.count(2, "class", "classes"));
        assertEquals("1 thread", TrainRun.threads(java.util.Map.of("threads", 1, "cores_used", 1)));
        assertEquals("8 threads on 1 core", TrainRun.threads(java.util.Map.of("threads", 8, "cores_used", 1)));
        Result r = run("--model", "mlp", "--data", "fashion-mnist", "--data-dir", subset.toString(), "--epochs", "1", "--threads", "1",
                "--device", "cpu", "--progress", "none", "--max-steps", "1", "--out", tmp.resolve("one").toString());
        assertEquals(0, r.code(), r.err() + r.out());
        assertTrue(r.err().contains("dl-train: 1 epoch, batch 128,") && r.err().contains("device cpu (1 thread, "), r.err());
        Result b = run("bench", "--model", "mlp", "--batch-size", "2", "--device", "cpu", "--threads", "1", "--warmup", "0", "--steps", "1",
                "--windows", "1");
        assertEquals(0, b.code(), b.err());
        assertTrue(b.out().contains("(1 thread)") && b.out().contains("0 warm-up steps, then 1 window of 1 step;"), b.out());
    }

    @Test
    void autoDeviceFallsBackToTheCpuWithOneNotice(@TempDir Path tmp) throws IOException {
        Result r = run(train(tmp.resolve("run"), "mlp", 1, "--device", "auto"));
        assertEquals(0, r.code(), r.err());
        long notices = r.err().lines().filter(l -> l.contains("no usable GPU")).count();
        assertEquals(1, notices, r.err());
        assertEquals("cpu", JSON.readTree(tmp.resolve("run/summary.json").toFile()).get("device").asText());
    }

    /**
     * stdout holds a training run's results alone: its test scores and where it was written. The notices (--device
     * auto's fallback, an ignored option), the header and the epoch lines went there too, so a CI job keeping train's
     * stdout, or `dl-train ... > result.txt`, got them mixed with the result; they go to stderr, as predict's do.
     */
    @Test
    void trainPrintsItsResultsAloneOnStdout(@TempDir Path tmp) {
        Path out = tmp.resolve("run");
        Result r = run("--model", "mlp", "--data", "synthetic:1x28x28,classes=10,train=200,test=50", "--epochs", "2", "--threads", "2",
                "--optimizer", "adam", "--momentum", "0.5", "--device", "auto", "--progress", "plain", "--out", out.toString());
        assertEquals(0, r.code(), r.err());
        List<String> lines = r.out().lines().toList();
        assertEquals(2, lines.size(), r.out());
        assertTrue(lines.get(0).matches("test: loss \\d+\\.\\d{4}  top-1 \\d+\\.\\d\\d%  top-5 \\d+\\.\\d\\d%  \\(50 samples\\)  total \\d+\\.\\ds"),
                r.out());
        assertEquals("dl-train: wrote " + out.resolve("metrics.jsonl") + ", " + out.resolve("summary.json") + ", " + out.resolve("curves.png")
                + " and " + out.resolve("model") + "/", lines.get(1));
        String err = r.err();
        assertTrue(err.contains("dl-train: notice: --momentum 0.5 is ignored: adam has no momentum setting"), err);
        String why = io.dltrain.runtime.backend.Backends.cudaUnavailableReason();
        if (why != null) assertTrue(err.contains("dl-train: notice: no usable GPU: " + why + "; using the CPU\n"), err);
        assertTrue(err.contains("dl-train: mlp (235,146 parameters) on synthetic:1x28x28,classes=10,train=200,test=50 (180 train / 20 validation / 50 test samples)"), err);
        assertTrue(err.contains("dl-train: 2 epochs, batch 128, adam lr 0.001 (cosine)"), err);
        assertTrue(err.contains("\nepoch 1  train_loss ") && err.contains("\nepoch 2  train_loss "), err);
        assertFalse(err.contains("test: loss") || err.contains("dl-train: wrote"), "the results are on stdout only\n" + err);
    }
}
