package io.dltrain.runtime.checkpoint;

import com.fasterxml.jackson.core.JacksonException;
import com.fasterxml.jackson.core.JsonGenerator;
import com.fasterxml.jackson.core.StreamReadFeature;
import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import com.fasterxml.jackson.databind.json.JsonMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import io.dltrain.runtime.BuildInfo;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.optim.Optimizer;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Tensor;

import java.io.IOException;
import java.nio.file.FileVisitResult;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.SimpleFileVisitor;
import java.nio.file.StandardCopyOption;
import java.nio.file.attribute.BasicFileAttributes;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import java.util.stream.Stream;

/**
 * Saving and restoring a training run. A checkpoint is a directory {@code <runDir>/ckpt-<step>/} holding
 * <ul>
 *   <li>{@value #MODEL_FILE}: {@link Module#stateDict()} under PyTorch's state_dict names, loadable by
 *       {@code safetensors.torch.load_file} + {@code model.load_state_dict} (metadata {"format": "pt"}, and
 *       {@link #writtenBy}'s format_version, dl_train_version and dl_train_build, as strings);</li>
 *   <li>{@value #OPTIMIZER_FILE} (when an optimiser is saved): {@link Optimizer#state()} ("fc.weight.exp_avg", ...)
 *       with the optimiser's class, learning rate, step counters and other hyper-parameters
 *       ({@link Optimizer#settings()}: "betas", "eps", "weight_decay", ..., torch.optim's param_groups keys) in the
 *       metadata, after {@link #writtenBy}'s keys (as strings; since format_version 2);</li>
 *   <li>{@value #STATE_FILE}: the {@link TrainingState} (epoch, step, names, seeds, config, metrics), after
 *       {@link #writtenBy}'s format_version, dl_train_version and dl_train_build.</li>
 * </ul>
 *
 * <p>Crash safety: the files are written (each fsynced) into {@code ckpt-<step>.tmp/}, which is then renamed to
 * {@code ckpt-<step>/} and the run directory fsynced; so a checkpoint directory is either complete or absent, and
 * the previous checkpoints are only pruned (keep the last N) after the new one is in place. A stale
 * {@code .tmp} directory left by a crash, and what remains of a checkpoint whose pruning a crash cut short, are deleted
 * by the next save. One process writes to a run directory at a time.
 *
 * <p>Loading validates everything (names, shapes, dtypes, optimiser class and settings, step counters) before the
 * first tensor is modified, so a failed load leaves the model's and optimiser's values as they were. One trace remains
 * of an optimiser file refused for its tensors' names or shapes: comparing them creates the optimiser's state (zero
 * buffers, as {@link Optimizer#state()} does), after which its settings other than the learning rate can no longer
 * be changed; build a new optimiser to try other settings.
 */
public final class Checkpoint {
    private Checkpoint() {}

    public static final String MODEL_FILE = "model.safetensors";
    public static final String OPTIMIZER_FILE = "optimizer.safetensors";
    public static final String STATE_FILE = "state.json";
    /**
     * The version of the files dl-train writes for another dl-train to read: state.json, model.safetensors' and
     * optimizer.safetensors' metadata here, the CLI's model.json, summary.json and each line of metrics.jsonl
     * ("format_version", beside "dl_train_version" and "dl_train_build", the {@link BuildInfo} of the writer), and the
     * JSON reports users parse (eval.json, bench --json, info --json). Raised when a file's content changes so that an
     * older reader would misread it; each reader checks it ({@link #checkFormat}), refusing a newer version
     * ({@link #refuseNewer}) and reading older ones, or none, as before. 1: the first (state.json only); 2 (2026-12-07):
     * a csv's labels that are numbers are numbered by value, no longer as text, and state.json's config records the
     * classes in order ("model_meta"); optimizer.safetensors, metrics.jsonl and the reports record it since 2026-12-08,
     * with no change of content.
     */
    public static final int FORMAT_VERSION = 2;
    /** The keys that say which format a file follows and which dl-train wrote it (safetensors metadata: as strings). */
    public static final String FORMAT_KEY = "format_version", VERSION_KEY = "dl_train_version", BUILD_KEY = "dl_train_build";

    private static final Pattern DIR = Pattern.compile("ckpt-(\\d{1,18})(\\.old)?");
    private static final Pattern TMP_DIR = Pattern.compile("ckpt-\\d{1,18}\\.tmp");
    /** Keys of optimizer.safetensors' metadata. */
    static final String META_CLASS = "optimizer_class", META_LR = "lr", META_STEPS = "step_count", META_PARAM_STEP = "step.";

    private static final ObjectMapper JSON = JsonMapper.builder()
            .enable(StreamReadFeature.STRICT_DUPLICATE_DETECTION)
            .enable(SerializationFeature.INDENT_OUTPUT)
            .disable(JsonGenerator.Feature.AUTO_CLOSE_TARGET)
            .build();

    // ------------------------------------------------------------------------------------------------ saving

    /**
     * Saves a checkpoint as {@code runDir/ckpt-<state.step>/} (replacing one of the same step), then deletes older
     * checkpoints so that the new one and the {@code keepLast - 1} others with the highest steps remain.
     *
     * @param optimizer null to save the model and state only
     * @return the checkpoint directory
     */
    public static Path save(Path runDir, Module model, Optimizer optimizer, TrainingState state, int keepLast) {
        if (keepLast < 1) throw new IllegalArgumentException("keepLast must be >= 1, got " + keepLast);
        String name = "ckpt-" + state.step();
        Path dir = runDir.toAbsolutePath().resolve(name);
        Path tmp = dir.resolveSibling(name + ".tmp"), old = dir.resolveSibling(name + ".old");
        boolean placed = false;
        try {
            Files.createDirectories(dir.getParent());
            deleteStaleTemps(dir.getParent());
            Files.createDirectory(tmp);
            SafeTensors.write(tmp.resolve(MODEL_FILE), model.stateDict(), modelMetadata());
            if (optimizer != null) SafeTensors.write(tmp.resolve(OPTIMIZER_FILE), optimizer.state(), optimizerMetadata(optimizer));
            ObjectNode json = stateJson(state, optimizer != null);
            AtomicFiles.write(tmp.resolve(STATE_FILE), out -> JSON.writeValue(out, json));
            AtomicFiles.syncDirectory(tmp);
            if (Files.exists(dir)) {
                // rename(2) cannot replace a non-empty directory: move the old one aside first. latest() still
                // finds ckpt-<step>.old should the process die before the next rename.
                deleteRecursively(old);
                Files.move(dir, old, StandardCopyOption.ATOMIC_MOVE);
            }
            Files.move(tmp, dir, StandardCopyOption.ATOMIC_MOVE);
            placed = true;
        } catch (IOException e) {
            throw new CheckpointException("could not save checkpoint " + dir + ": " + AtomicFiles.describe(e)
                    + "; " + earlier(dir.getParent()) + ". Check free disk space and permissions", e);
        } catch (CheckpointException e) {
            throw new CheckpointException("could not save checkpoint " + dir + " (" + earlier(dir.getParent()) + "): "
                    + e.getMessage(), e);
        } finally {
            if (!placed) {
                try { deleteRecursively(tmp); } catch (IOException ignored) { /* the next save deletes it */ }
            }
        }
        try {
            AtomicFiles.syncDirectory(dir.getParent());
            deleteRecursively(old);
            prune(dir.getParent(), dir, keepLast);
        } catch (IOException e) {
            throw new CheckpointException("saved checkpoint " + dir + ", but could not finish: " + AtomicFiles.describe(e)
                    + " (syncing " + dir.getParent() + " or deleting older checkpoints); check the disk", e);
        }
        return dir;
    }

    /** Exports a model's state_dict alone (for PyTorch or for transfer learning), atomically. */
    public static void saveModel(Path file, Module model) {
        SafeTensors.write(file, model.stateDict(), modelMetadata());
    }

    /** model.safetensors' metadata: PyTorch's "format", and the format and build that wrote it (all strings, as safetensors needs). */
    private static Map<String, String> modelMetadata() {
        Map<String, String> m = new LinkedHashMap<>();
        m.put("format", "pt");
        for (Map.Entry<String, Object> e : writtenBy().entrySet()) m.put(e.getKey(), e.getValue().toString());
        return m;
    }

    /** {@value #FORMAT_KEY}, {@value #VERSION_KEY} and {@value #BUILD_KEY} of a file this dl-train writes, in that order. */
    public static Map<String, Object> writtenBy() {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put(FORMAT_KEY, FORMAT_VERSION);
        m.put(VERSION_KEY, BuildInfo.version());
        m.put(BUILD_KEY, BuildInfo.build());
        return m;
    }

    /**
     * Refuses {@code file} when its format {@code version} is newer than {@link #FORMAT_VERSION}: its content may mean what
     * this dl-train cannot know. {@code writerVersion} and {@code writerBuild} (the file's {@value #VERSION_KEY} and
     * {@value #BUILD_KEY}, null when absent) name the dl-train that wrote it. An older version passes.
     *
     * @throws CheckpointException naming the file, both versions and what to do
     */
    public static void refuseNewer(Path file, long version, String writerVersion, String writerBuild) {
        if (version <= FORMAT_VERSION) return;
        String writer = writerVersion == null ? "a newer dl-train"
                : "dl-train " + writerVersion + (writerBuild == null ? "" : " (build " + writerBuild + ")");
        throw new NewerFormatException(file + " has format_version " + version + ", written by " + writer + ", but this dl-train "
                + BuildInfo.version() + " (build " + BuildInfo.build() + ") reads format_version " + FORMAT_VERSION + " and older:"
                + " its content may mean what this version cannot know. Use the dl-train that wrote it, or a newer one");
    }

    /**
     * Checks the {@value #FORMAT_KEY} at the top of a JSON file (or of one line of metrics.jsonl) that dl-train reads back:
     * none passes (written before that file recorded one: read as before), a value that is not an integer, or is below 1, is damage,
     * and a newer version is refused ({@link #refuseNewer}, with the file's {@value #VERSION_KEY} and {@value #BUILD_KEY}).
     *
     * @throws CheckpointException naming the file and what is wrong with it
     */
    public static void checkFormat(Path file, JsonNode root) {
        JsonNode v = root == null ? null : root.get(FORMAT_KEY);
        if (v == null) return;
        if (!v.isIntegralNumber() || !v.canConvertToLong())
            throw new CheckpointException(file + ": \"" + FORMAT_KEY + "\" is " + v + ", not an integer; the file is damaged");
        if (v.longValue() < 1) throw belowOne(file, "\"" + FORMAT_KEY + "\" is " + v.longValue());
        refuseNewer(file, v.longValue(), root.path(VERSION_KEY).textValue(), root.path(BUILD_KEY).textValue());
    }

    /** {@link #checkFormat(Path, JsonNode)} for a safetensors file's metadata, where the version is a string. */
    public static void checkFormat(Path file, Map<String, String> metadata) {
        String v = metadata.get(FORMAT_KEY);
        if (v == null) return;
        if (!v.matches("\\d{1,9}"))
            throw new CheckpointException(file + ": metadata \"" + FORMAT_KEY + "\" is '" + v + "', not an integer; the file is damaged");
        if (Long.parseLong(v) < 1) throw belowOne(file, "metadata \"" + FORMAT_KEY + "\" is '" + v + "'");
        refuseNewer(file, Long.parseLong(v), metadata.get(VERSION_KEY), metadata.get(BUILD_KEY));
    }

    /** A format_version below 1 (the first): no dl-train wrote it, and reading the file as an old one would hide the damage. */
    private static CheckpointException belowOne(Path file, String found) {
        return new CheckpointException(file + ": " + found + ", but format versions start at 1 (this dl-train reads 1 to "
                + FORMAT_VERSION + "); the file is damaged");
    }

    private static Map<String, String> optimizerMetadata(Optimizer opt) {
        Map<String, String> m = new LinkedHashMap<>();
        for (Map.Entry<String, Object> e : writtenBy().entrySet()) m.put(e.getKey(), e.getValue().toString());
        m.put(META_CLASS, opt.getClass().getName());
        m.put(META_LR, Double.toString(opt.lr()));
        m.put(META_STEPS, Long.toString(opt.stepCount()));
        for (String p : opt.parameters().keySet()) m.put(META_PARAM_STEP + p, Long.toString(opt.stepCount(p)));
        m.putAll(opt.settings());   // keys as torch.optim's param_groups; none of them starts with "step."
        return m;
    }

    private static ObjectNode stateJson(TrainingState s, boolean hasOptimizer) {
        ObjectNode o = JSON.createObjectNode();
        o.setAll((ObjectNode) JSON.valueToTree(writtenBy())); // format_version, dl_train_version, dl_train_build first
        o.put("epoch", s.epoch());
        o.put("step", s.step());
        o.put("model", s.model());
        o.put("dataset", s.dataset());
        o.set("seeds", JSON.valueToTree(s.seeds()));
        try {
            o.set("config", JSON.valueToTree(s.config()));
        } catch (IllegalArgumentException e) {
            throw new CheckpointException("the run's config cannot be written as JSON (" + e.getMessage()
                    + "); keep only strings, numbers, booleans, lists and maps in it", e);
        }
        o.put("optimizer", s.optimizer());
        o.put("lr", s.lr());
        o.set("metrics", JSON.valueToTree(s.metrics()));
        o.put("has_optimizer_state", hasOptimizer);
        return o;
    }

    // ------------------------------------------------------------------------------------------------ finding

    /**
     * The checkpoint with the highest step in {@code runDir}, if any: a {@code ckpt-<step>} directory with its
     * state and model files ({@code .tmp} directories are incomplete by construction and never returned).
     */
    public static Optional<Path> latest(Path runDir) {
        List<Found> all = list(runDir);
        return all.isEmpty() ? Optional.empty() : Optional.of(all.getLast().dir);
    }

    /**
     * The {@code ckpt-<step>} directories in runDir, at {@code fromStep} or above, that {@link #latest} passes over for
     * lacking {@value #STATE_FILE} or {@value #MODEL_FILE}, by step: with {@code fromStep} the latest checkpoint's, what
     * a resume should mention rather than silently fall back to an older checkpoint. {@link #save} leaves none of those
     * (it renames a finished directory into place; what an interrupted prune leaves, part of an older one, the next save
     * deletes), so one is damage from outside: a file deleted, a copy cut short. {@code .tmp} and {@code .old} directories,
     * leftovers of an interrupted save, are not listed.
     */
    public static List<Path> incomplete(Path runDir, long fromStep) {
        return scan(runDir).stream().filter(f -> !f.complete && !f.old && f.step >= fromStep)
                .sorted(Comparator.comparingLong(Found::step)).map(Found::dir).toList();
    }

    /**
     * The step in a checkpoint directory's name (120 for {@code ckpt-120} and {@code ckpt-120.old}), or -1 for any other
     * name (a run's {@code model/}, {@code best/}): with {@link #incomplete}, which checkpoints {@link #latest} passed over.
     */
    public static long step(Path checkpointDir) {
        Path name = checkpointDir.getFileName();
        Matcher m = name == null ? null : DIR.matcher(name.toString());
        return m != null && m.matches() ? Long.parseLong(m.group(1)) : -1;
    }

    /** A ckpt-N or ckpt-N.old directory; complete when it holds its state and model files. */
    private record Found(long step, boolean old, Path dir, boolean complete) {}

    /** Every ckpt-N and ckpt-N.old directory in runDir, complete or not, in no particular order. */
    private static List<Found> scan(Path runDir) {
        if (!Files.isDirectory(runDir)) return List.of();
        List<Found> out = new ArrayList<>();
        try (Stream<Path> s = Files.list(runDir)) {
            for (Iterator<Path> it = s.iterator(); it.hasNext(); ) {
                Path p = it.next();
                Matcher m = DIR.matcher(p.getFileName().toString());
                if (!m.matches() || !Files.isDirectory(p)) continue;
                boolean complete = Files.isRegularFile(p.resolve(STATE_FILE)) && Files.isRegularFile(p.resolve(MODEL_FILE));
                out.add(new Found(Long.parseLong(m.group(1)), m.group(2) != null, p.toAbsolutePath(), complete));
            }
        } catch (IOException e) {
            throw new CheckpointException("cannot list checkpoints in " + runDir.toAbsolutePath() + ": " + AtomicFiles.describe(e), e);
        }
        return out;
    }

    /** Complete checkpoints, by step, a ckpt-N before a ckpt-N.old of the same step. */
    private static List<Found> list(Path runDir) {
        List<Found> out = new ArrayList<>(scan(runDir));
        out.removeIf(f -> !f.complete);
        // Highest step last; for one step, the .old copy sorts before the finished one.
        out.sort(Comparator.comparingLong(Found::step).thenComparing(f -> !f.old));
        List<Found> dedup = new ArrayList<>();
        for (Found f : out) {
            if (!dedup.isEmpty() && dedup.getLast().step == f.step) dedup.removeLast();
            dedup.add(f);
        }
        return dedup;
    }

    /**
     * Deletes the complete checkpoints beyond the newest {@code keepLast - 1} others, then every checkpoint directory
     * below the oldest one kept: what an interrupted prune left (deleting a checkpoint is one file at a time, and a
     * process killed part-way leaves a directory without its state file, but still holding the model and the
     * optimiser's files), or a .old copy of a checkpoint pruned since. {@link #latest} passes those over and nothing
     * else deletes them, so a run killed now and then (preempted, out of memory) would pile them up.
     */
    private static void prune(Path runDir, Path keep, int keepLast) throws IOException {
        List<Found> others = new ArrayList<>(list(runDir));
        others.removeIf(f -> f.dir.equals(keep));
        int drop = Math.max(0, others.size() - (keepLast - 1));
        for (int i = 0; i < drop; i++) deleteRecursively(others.get(i).dir);
        long oldestKept = drop < others.size() ? Math.min(step(keep), others.get(drop).step) : step(keep);
        for (Found f : scan(runDir)) if (f.step < oldestKept) deleteRecursively(f.dir);
    }

    private static void deleteStaleTemps(Path runDir) throws IOException {
        try (Stream<Path> s = Files.list(runDir)) {
            for (Iterator<Path> it = s.iterator(); it.hasNext(); ) {
                Path p = it.next();
                if (TMP_DIR.matcher(p.getFileName().toString()).matches()) deleteRecursively(p);
            }
        }
    }

    /** Deletes a file tree without following symbolic links; absent is fine. */
    static void deleteRecursively(Path root) throws IOException {
        if (!Files.exists(root, java.nio.file.LinkOption.NOFOLLOW_LINKS)) return;
        Files.walkFileTree(root, new SimpleFileVisitor<>() {
            @Override public FileVisitResult visitFile(Path f, BasicFileAttributes a) throws IOException {
                Files.delete(f);
                return FileVisitResult.CONTINUE;
            }

            @Override public FileVisitResult postVisitDirectory(Path d, IOException e) throws IOException {
                if (e != null) throw e;
                Files.delete(d);
                return FileVisitResult.CONTINUE;
            }
        });
    }

    // ------------------------------------------------------------------------------------------------ loading

    /**
     * Restores a run: the model strictly from {@value #MODEL_FILE}, the optimiser (state tensors, step counters,
     * learning rate) from {@value #OPTIMIZER_FILE} when {@code optimizer} is not null, and returns the state.
     * Everything is checked before anything is modified.
     */
    public static TrainingState load(Path checkpointDir, Module model, Optimizer optimizer) {
        TrainingState state = readState(checkpointDir);
        Plan m = planModel(model, checkpointDir.resolve(MODEL_FILE), true);
        Runnable o = null;
        if (optimizer != null) {
            Path f = checkpointDir.resolve(OPTIMIZER_FILE);
            if (!Files.exists(f))
                throw new CheckpointException("checkpoint " + checkpointDir.toAbsolutePath() + " has no " + OPTIMIZER_FILE
                        + " (it was saved without optimiser state); resume without an optimiser (load the model with "
                        + "loadInto) or from a checkpoint that has one");
            o = planOptimizer(optimizer, f);
        }
        m.apply.run();
        if (o != null) o.run();
        return state;
    }

    /** What a failed save leaves in runDir: the earlier checkpoints, intact, or none (a first save that failed). */
    static String earlier(Path runDir) {
        boolean any;
        try {
            any = !list(runDir).isEmpty();
        } catch (RuntimeException e) {
            any = false;   // runDir cannot be listed (not a directory, ...): nothing was saved there
        }
        return any ? "the earlier checkpoints in " + runDir + " are intact" : "there is no earlier checkpoint in " + runDir;
    }

    /** Reads a checkpoint directory's {@value #STATE_FILE}. */
    public static TrainingState readState(Path checkpointDir) {
        Path f = checkpointDir.resolve(STATE_FILE).toAbsolutePath();
        JsonNode root;
        try {
            root = JSON.readTree(f.toFile());
        } catch (JacksonException e) {
            throw new CheckpointException(f + " is not valid JSON (" + e.getOriginalMessage() + "); the checkpoint is damaged: "
                    + useAnEarlierOne(f.getParent()), e);
        } catch (IOException e) {
            throw new CheckpointException("cannot read " + f + ": " + AtomicFiles.describe(e)
                    + "; is " + checkpointDir + " a checkpoint directory (ckpt-<step>)?", e);
        }
        if (root == null || !root.isObject()) throw badState(f, "the top level is not a JSON object");
        JsonNode v = root.get("format_version");
        if (v == null || !v.canConvertToInt()) throw badState(f, "\"format_version\" is missing or not an integer");
        checkFormat(f, root);
        long epoch = integer(root, "epoch", f), step = integer(root, "step", f);
        if (epoch > Integer.MAX_VALUE) throw badState(f, "\"epoch\" is " + epoch + ", too large");
        Map<String, Long> seeds = new LinkedHashMap<>();
        JsonNode sn = object(root, "seeds", f);
        for (Map.Entry<String, JsonNode> e : sn.properties()) {
            if (!e.getValue().isIntegralNumber() || !e.getValue().canConvertToLong())
                throw badState(f, "seed \"" + e.getKey() + "\" is not an integer");
            seeds.put(e.getKey(), e.getValue().longValue());
        }
        Map<String, Double> metrics = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : object(root, "metrics", f).properties())
            metrics.put(e.getKey(), number(e.getValue(), "metric \"" + e.getKey() + "\"", f));
        Map<String, Object> config = new LinkedHashMap<>();
        for (Map.Entry<String, JsonNode> e : object(root, "config", f).properties())
            config.put(e.getKey(), JSON.convertValue(e.getValue(), Object.class));
        JsonNode lr = root.get("lr");
        return new TrainingState((int) epoch, step, text(root, "model", f), text(root, "dataset", f), seeds, config,
                text(root, "optimizer", f), lr == null || lr.isNull() ? Double.NaN : number(lr, "\"lr\"", f), metrics);
    }

    private static long integer(JsonNode root, String key, Path f) {
        JsonNode n = root.get(key);
        if (n == null || !n.isIntegralNumber() || !n.canConvertToLong() || n.longValue() < 0)
            throw badState(f, "\"" + key + "\" is missing or not a non-negative integer");
        return n.longValue();
    }

    private static JsonNode object(JsonNode root, String key, Path f) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) return JSON.createObjectNode();
        if (!n.isObject()) throw badState(f, "\"" + key + "\" is not an object");
        return n;
    }

    private static String text(JsonNode root, String key, Path f) {
        JsonNode n = root.get(key);
        if (n == null || n.isNull()) return null;
        if (!n.isTextual()) throw badState(f, "\"" + key + "\" is not a string");
        return n.textValue();
    }

    /** A number, or Jackson's "NaN" / "Infinity" / "-Infinity" strings for non-finite doubles. */
    private static double number(JsonNode n, String what, Path f) {
        if (n.isNumber()) return n.doubleValue();
        if (n.isTextual()) {
            switch (n.textValue()) {
                case "NaN": return Double.NaN;
                case "Infinity": return Double.POSITIVE_INFINITY;
                case "-Infinity": return Double.NEGATIVE_INFINITY;
                default: break;
            }
        }
        throw badState(f, what + " is not a number");
    }

    private static CheckpointException badState(Path f, String problem) {
        return new CheckpointException(f + ": " + problem + "; the checkpoint is damaged or was not written by dl-train: "
                + useAnEarlierOne(f.getParent()));
    }

    /**
     * How to go back to the checkpoint before a damaged one: a directory whose name is not ckpt-N is not a checkpoint,
     * so renaming it makes --resume, --init-from, eval and predict take the latest one left.
     */
    static String useAnEarlierOne(Path checkpointDir) {
        return "to use an earlier one, rename " + checkpointDir + " (e.g. to " + checkpointDir.getFileName() + ".damaged): the latest"
                + " checkpoint left is then taken";
    }

    /**
     * Loads a safetensors state_dict (dl-train's model.safetensors or PyTorch's) into {@code model}, checking each
     * tensor's shape and kind (float tensors into float parameters, integer ones into integer buffers).
     * Strict: any missing, unexpected or mismatched key is an error listing all of them, and nothing is loaded.
     * Non-strict: what matches is loaded, the rest reported (for transfer learning).
     */
    public static LoadReport loadInto(Module model, Path file, boolean strict) {
        Plan p = planModel(model, file, strict);
        p.apply.run();
        return p.report;
    }

    private record Plan(LoadReport report, Runnable apply) {}

    private static Plan planModel(Module model, Path file, boolean strict) {
        SafeTensors.Contents c = SafeTensors.read(file);
        // dl-train's own files record their format (PyTorch's and others' do not; a key of theirs that is no integer is not ours)
        String fv = c.metadata().get(FORMAT_KEY);
        if (fv == null || fv.matches("\\d{1,9}")) checkFormat(file.toAbsolutePath(), c.metadata());
        Map<String, Tensor> sd = model.stateDict();
        List<String> loaded = new ArrayList<>(), unexpected = new ArrayList<>(), rounded = new ArrayList<>();
        List<LoadReport.Skipped> skipped = new ArrayList<>();
        List<Runnable> copies = new ArrayList<>();
        for (Map.Entry<String, Tensor> e : sd.entrySet()) {
            String key = e.getKey();
            Tensor t = e.getValue();
            LoadedTensor lt = c.tensors().get(key);
            String mismatch = lt == null ? null : mismatch(lt, t);
            if (lt == null) skipped.add(new LoadReport.Skipped(key, LoadReport.Reason.MISSING, ""));
            else if (!Arrays.equals(lt.shape(), t.shape().dims()))
                skipped.add(new LoadReport.Skipped(key, LoadReport.Reason.SHAPE_MISMATCH, "file " + Arrays.toString(lt.shape()) + ", model " + t.shape()));
            else if (mismatch != null) skipped.add(new LoadReport.Skipped(key, LoadReport.Reason.DTYPE_MISMATCH, mismatch));
            else {
                loaded.add(key);
                if (lt.fileDtype().equals("F64")) rounded.add(key);
                copies.add(() -> upload(lt, t));
            }
        }
        for (String k : c.tensors().keySet()) if (!sd.containsKey(k)) unexpected.add(k);
        LoadReport report = new LoadReport(loaded, skipped, unexpected, rounded);
        if (strict && !report.complete()) {
            throw new CheckpointException(file.toAbsolutePath() + " does not match the model: "
                    + describeProblems(report) + ". Is it a checkpoint of another model or configuration? "
                    + "To load only the matching tensors (transfer learning), load it non-strictly");
        }
        return new Plan(report, () -> copies.forEach(Runnable::run));
    }

    /** Null if the file's values can go into t, else why not. */
    private static String mismatch(LoadedTensor lt, Tensor t) {
        if (t.dtype() == lt.dtype()) return null;
        return "file " + lt.fileDtype() + ", model " + t.dtype();
    }

    private static void upload(LoadedTensor lt, Tensor t) {
        if (lt.floats() != null) t.backend().copyFromHost(lt.floats(), 0, t);
        else t.backend().copyFromHost(lt.ints(), 0, t);
    }

    private static String describeProblems(LoadReport r) {
        List<String> parts = new ArrayList<>();
        List<String> missing = new ArrayList<>();
        List<String> mismatched = new ArrayList<>();
        for (LoadReport.Skipped s : r.skipped()) {
            if (s.reason() == LoadReport.Reason.MISSING) missing.add(s.key());
            else mismatched.add(s.toString());
        }
        if (!missing.isEmpty()) parts.add(missing.size() + " missing key(s) " + abbreviate(missing));
        if (!r.unexpected().isEmpty()) parts.add(r.unexpected().size() + " unexpected key(s) " + abbreviate(r.unexpected()));
        if (!mismatched.isEmpty()) parts.add(mismatched.size() + " mismatched tensor(s) " + abbreviate(mismatched));
        return String.join("; ", parts);
    }

    private static String abbreviate(List<String> keys) {
        int show = 20;
        if (keys.size() <= show) return keys.toString();
        return keys.subList(0, show) + " and " + (keys.size() - show) + " more";
    }

    /**
     * Loads an {@value #OPTIMIZER_FILE} into {@code optimizer}: every state tensor (strictly: same names and
     * shapes), the step counters and the learning rate. The optimiser must be of the class that saved it and have
     * its settings ({@link Optimizer#settings()}, compared exactly as written; a file written before they were
     * recorded is not checked).
     */
    public static void loadOptimizer(Optimizer optimizer, Path file) {
        planOptimizer(optimizer, file).run();
    }

    private static Runnable planOptimizer(Optimizer opt, Path file) {
        String f = file.toAbsolutePath().toString();
        SafeTensors.Contents c = SafeTensors.read(file);
        Map<String, String> meta = c.metadata();
        checkFormat(file.toAbsolutePath(), meta); // recorded since FORMAT_VERSION 2; an older file has none and is read as before
        String cls = meta.get(META_CLASS);
        if (cls == null)
            throw new CheckpointException(f + " has no \"" + META_CLASS + "\" metadata: it is not a dl-train optimizer file");
        if (!cls.equals(opt.getClass().getName()))
            throw new CheckpointException(f + " holds the state of " + simpleName(cls) + " but the optimiser to restore is "
                    + opt.getClass().getSimpleName() + "; resume with the same optimiser (" + simpleName(cls)
                    + "; --optimizer on the command line), or start it fresh and load only the model (Checkpoint.load with a null"
                    + " optimizer; --init-from on the command line)");
        checkSettings(opt, meta, f);
        long total = count(meta, META_STEPS, f);
        double lr;
        try {
            lr = Double.parseDouble(meta.getOrDefault(META_LR, ""));
        } catch (NumberFormatException e) {
            throw new CheckpointException(f + ": metadata \"" + META_LR + "\" is missing or not a number; the file is damaged", e);
        }
        if (!(lr >= 0) || Double.isInfinite(lr))
            throw new CheckpointException(f + ": metadata \"" + META_LR + "\" is " + lr + ", not a valid learning rate; the file is damaged");
        Map<String, Long> paramSteps = new LinkedHashMap<>();
        for (String p : opt.parameters().keySet()) paramSteps.put(p, count(meta, META_PARAM_STEP + p, f));

        Map<String, Tensor> state = opt.state();
        List<String> missing = new ArrayList<>(), unexpected = new ArrayList<>(), mismatched = new ArrayList<>();
        for (Map.Entry<String, Tensor> e : state.entrySet()) {
            LoadedTensor lt = c.tensors().get(e.getKey());
            Tensor t = e.getValue();
            if (lt == null) missing.add(e.getKey());
            else if (!Arrays.equals(lt.shape(), t.shape().dims()) || lt.dtype() != DType.FP32 || t.dtype() != DType.FP32)
                mismatched.add(e.getKey() + " (file " + lt.fileDtype() + " " + Arrays.toString(lt.shape()) + ", optimiser "
                        + t.dtype() + " " + t.shape() + ")");
        }
        for (String k : c.tensors().keySet()) if (!state.containsKey(k)) unexpected.add(k);
        if (!missing.isEmpty() || !unexpected.isEmpty() || !mismatched.isEmpty()) {
            List<String> parts = new ArrayList<>();
            if (!missing.isEmpty()) parts.add(missing.size() + " missing state tensor(s) " + abbreviate(missing));
            if (!unexpected.isEmpty()) parts.add(unexpected.size() + " unexpected state tensor(s) " + abbreviate(unexpected));
            if (!mismatched.isEmpty()) parts.add(mismatched.size() + " mismatched tensor(s) " + abbreviate(mismatched));
            throw new CheckpointException(f + " does not match the optimiser's parameters: " + String.join("; ", parts)
                    + ". Was it saved for another model, or with other settings (e.g. momentum on/off)?");
        }
        return () -> {
            for (Map.Entry<String, Tensor> e : state.entrySet()) upload(c.tensors().get(e.getKey()), e.getValue());
            opt.setStepCount(total);
            paramSteps.forEach(opt::setStepCount);
            opt.setLr(lr);
        };
    }

    /**
     * Refuses an optimiser built with other hyper-parameters than the one that saved the file: the run would go on
     * silently as another one. They are not restored from the file instead (as torch's load_state_dict does) because
     * they are the builder's, fixed before the first step, and some decide which state tensors exist. A setting the
     * file does not record (written before dl-train recorded them) is not checked.
     */
    private static void checkSettings(Optimizer opt, Map<String, String> meta, String f) {
        List<String> differ = new ArrayList<>();
        opt.settings().forEach((key, now) -> {
            String saved = meta.get(key);
            if (saved != null && !saved.equals(now)) differ.add(key + " (file " + saved + ", optimiser " + now + ")");
        });
        if (!differ.isEmpty())
            throw new CheckpointException(f + " was saved by " + opt.getClass().getSimpleName() + " with other settings than the "
                    + "optimiser to restore: " + String.join("; ", differ) + ". To continue that run, build the optimiser with "
                    + "the file's settings; to train on with these, start the optimiser fresh and load only the model");
    }

    private static long count(Map<String, String> meta, String key, String f) {
        String s = meta.get(key);
        try {
            long v = Long.parseLong(s == null ? "" : s);
            if (v >= 0) return v;
        } catch (NumberFormatException ignored) {
            // reported below
        }
        throw new CheckpointException(f + ": metadata \"" + key + "\" is " + (s == null ? "missing" : "'" + s + "'")
                + ", not a step count; was the file saved for another model, or is it damaged?");
    }

    private static String simpleName(String className) {
        return className.substring(className.lastIndexOf('.') + 1);
    }
}
