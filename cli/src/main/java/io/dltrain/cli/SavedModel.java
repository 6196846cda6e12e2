package io.dltrain.cli;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.SerializationFeature;
import io.dltrain.datasets.CifarDataset;
import io.dltrain.datasets.CsvDataset;
import io.dltrain.datasets.DatasetException;
import io.dltrain.datasets.DatasetRegistry;
import io.dltrain.datasets.IdxDataset;
import io.dltrain.datasets.transform.Normalize;
import io.dltrain.datasets.transform.Transform;
import io.dltrain.models.ModelSpec;
import io.dltrain.runtime.checkpoint.AtomicFiles;
import io.dltrain.runtime.checkpoint.Checkpoint;
import io.dltrain.runtime.checkpoint.CheckpointException;
import io.dltrain.runtime.checkpoint.TrainingState;
import io.dltrain.runtime.data.Dataset;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.train.Task;

import java.io.IOException;
import java.io.UncheckedIOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;

/**
 * A trained model on disk, as {@code eval} and {@code predict} read it: {@value Checkpoint#MODEL_FILE} (the
 * state_dict) plus what is needed to rebuild and feed the model. Training writes {@code <out>/model/} with
 * {@value #META_FILE} ({@link Checkpoint#writtenBy}'s format_version, dl_train_version and dl_train_build, then model
 * and dataset names, {@link ModelSpec}, class names, for IDX and CIFAR datasets the input normalisation mean/std, for CSV
 * datasets the feature columns and their standardisation; one of a newer format_version is refused, one without, written
 * before 2026-12-07, is read as before). A periodic checkpoint
 * {@code ckpt-<step>/} has only {@value Checkpoint#STATE_FILE}, whose config holds the same ({@value #STATE_KEY}); in
 * one written before that was recorded (model and dataset names alone) the spec and class names come from the dataset
 * itself.
 *
 * @param mean per-channel normalisation mean of pixels in [0, 1], or null when unknown (no normalisation)
 * @param std  per-channel standard deviation, or null
 * @param task what the run trained it for (model.json's "task"; classification when absent). A regression model
 *             has one output ({@code spec.numClasses() == 1}) and its class name is the target column's
 */
record SavedModel(Path dir, String model, String dataset, ModelSpec spec, List<String> classNames, float[] mean, float[] std,
                  Task task, Features features) {
    /**
     * A tabular model's input: the feature columns' names in order and the training split's per-column mean and std
     * ({@link CsvDataset}'s standardisation), which predict applies to new rows (model.json's "features",
     * "feature_mean", "feature_std").
     */
    record Features(List<String> names, float[] mean, float[] std) {
        static Features of(Dataset d) {
            return d instanceof CsvDataset c ? new Features(c.featureNames(), c.featureMean(), c.featureStd()) : null;
        }
    }

    static final String DIR = "model";
    static final String META_FILE = "model.json";
    private static final ObjectMapper JSON = new ObjectMapper();

    Path weights() { return dir.resolve(Checkpoint.MODEL_FILE); }

    // ------------------------------------------------------------------------------------------------ writing

    /**
     * Writes {@code runDir/model/}: the model's weights and model.json, each atomically (temporary file + rename) and
     * fsynced, as checkpoints are: after a power loss model.json is not found empty beside the weights, and no resume
     * writes it again (the run is complete). A failure (a full disk) is an UncheckedIOException naming the cause.
     */
    static Path write(Path runDir, String modelName, String datasetName, ModelSpec spec, Dataset train, Module model) {
        return write(runDir, modelName, datasetName, spec, train, model, Task.CLASSIFICATION);
    }

    /** As above, recording the model's task ("classification", "reconstruction", ...) in model.json. */
    static Path write(Path runDir, String modelName, String datasetName, ModelSpec spec, Dataset train, Module model,
                      Task task) {
        Path dir = runDir.resolve(DIR);
        try {
            Files.createDirectories(dir);
            deleteStaleTemporaries(dir);
            Checkpoint.saveModel(dir.resolve(Checkpoint.MODEL_FILE), model);
            Map<String, Object> m = Checkpoint.writtenBy(); // format_version, dl_train_version, dl_train_build first
            m.putAll(meta(modelName, datasetName, spec, train, task));
            byte[] meta = (JSON.copy().enable(SerializationFeature.INDENT_OUTPUT).writeValueAsString(m) + "\n").getBytes(java.nio.charset.StandardCharsets.UTF_8);
            AtomicFiles.write(dir.resolve(META_FILE), dir.resolve(META_FILE + ".tmp"), out -> out.write(meta));
            return dir;
        } catch (IOException e) {
            throw new UncheckedIOException("cannot write the final model to " + dir + ": " + e.getMessage(), e);
        } catch (CheckpointException e) {
            // AtomicFiles' failures (model.safetensors on a full disk): said as the others, so that the caller adds how to recover
            IOException io = e.getCause() instanceof IOException c ? c : new IOException(e.getMessage(), e);
            throw new UncheckedIOException("cannot write the final model to " + dir + ": " + e.getMessage(), io);
        }
    }

    /**
     * What model.json holds: the model and dataset names, the task, the spec, the class names, and what predict needs
     * to feed new inputs (normalisation, an image folder's pipeline, a csv's columns and their statistics). Each
     * checkpoint's state.json holds it too (config's {@value #STATE_KEY}), so that eval and predict of a checkpoint need
     * not read the run's training data to learn it.
     */
    static Map<String, Object> meta(String modelName, String datasetName, ModelSpec spec, Dataset train, Task task) {
        Map<String, Object> m = new LinkedHashMap<>();
        m.put("model", modelName);
        m.put("dataset", datasetName);
        m.put("task", task.label());
        m.put("channels", spec.inChannels());
        m.put("height", spec.height());
        m.put("width", spec.width());
        m.put("classes", spec.numClasses());
        m.put("class_names", train.classNames());
        // The input pipeline predict must reproduce: its per-channel mean and std (inputNormalisation), and for image
        // folders their validation pipeline (resize, crop, normalisation), for the model's PyTorch users; predict
        // applies the pipeline itself (evalTransform)
        float[][] norm = inputNormalisation(train, datasetName, spec);
        if (norm != null) {
            m.put("mean", norm[0]);
            m.put("std", norm[1]);
        }
        evalTransform(datasetName, spec).ifPresent(t -> m.put("transform", t.toString()));
        // CSV datasets: the feature columns by name and their standardisation, for predict on new rows
        if (train instanceof CsvDataset csv) {
            m.put("features", csv.featureNames());
            m.put("feature_mean", csv.featureMean());
            m.put("feature_std", csv.featureStd());
        }
        return m;
    }

    /** The key of a checkpoint's config (state.json) that holds {@link #meta}. */
    static final String STATE_KEY = "model_meta";

    /**
     * The per-channel {mean, std} a dataset's pixels in [0, 1] were normalised with, as (x - mean) / std: IDX datasets'
     * one channel, CIFAR's R, G, B statistics, an image folder's Normalize (0 and 1 where its pipeline does not
     * normalise); null for datasets whose inputs are not pixels normalised so (synthetic, csv). Written to model.json, and
     * what a reconstruction model's target undoes (TrainRun), so that a Sigmoid output can reach it.
     */
    static float[][] inputNormalisation(Dataset train, String datasetName, ModelSpec spec) {
        if (train instanceof IdxDataset idx) return new float[][] {{idx.mean()}, {idx.std()}};
        if (train instanceof CifarDataset cifar) return new float[][] {cifar.kind().mean(), cifar.kind().std()};
        Optional<Transform> eval = evalTransform(datasetName, spec);
        if (eval.isEmpty()) return null;
        Normalize n = normalizeIn(eval.get());
        float[] mean = new float[spec.inChannels()], std = new float[spec.inChannels()];
        java.util.Arrays.fill(std, 1f);
        return n != null ? new float[][] {n.mean(), n.std()} : new float[][] {mean, std};
    }

    /** An image folder's validation pipeline at the model's input size; empty for the other datasets. */
    private static Optional<Transform> evalTransform(String datasetName, ModelSpec spec) {
        try {
            return DatasetRegistry.get(datasetName).evalTransform(spec.height(), spec.width());
        } catch (DatasetException e) {
            return Optional.empty();
        }
    }

    /** The Normalize step of a pipeline, or null. */
    private static Normalize normalizeIn(Transform t) {
        if (t instanceof Normalize n) return n;
        if (t instanceof Transform.Compose c)
            for (Transform step : c.steps()) {
                Normalize n = normalizeIn(step);
                if (n != null) return n;
            }
        return null;
    }

    /**
     * Deletes the temporary files of an earlier write of model/ that a kill cut short (".model.safetensors.&lt;random&gt;.tmp",
     * AtomicFiles' names): nothing else would, and each is the size of the model. Only the run that holds the run
     * directory's lock writes here, so none of them is another writer's.
     */
    private static void deleteStaleTemporaries(Path dir) throws IOException {
        try (var files = Files.list(dir)) {
            for (Path f : files.toList()) {
                String name = f.getFileName().toString();
                if (name.startsWith(".") && name.endsWith(".tmp") && Files.isRegularFile(f)) Files.deleteIfExists(f);
            }
        }
    }

    // ------------------------------------------------------------------------------------------------ reading

    /**
     * The model directory DIR stands for: DIR/model/ of a run directory, DIR itself when it holds
     * model.safetensors, else the latest checkpoint under DIR/checkpoints/ or DIR. Empty when there is none.
     */
    static Optional<Path> locate(Path dir) {
        if (Files.isRegularFile(dir.resolve(DIR).resolve(Checkpoint.MODEL_FILE))) return Optional.of(dir.resolve(DIR));
        if (Files.isRegularFile(dir.resolve(Checkpoint.MODEL_FILE))) return Optional.of(dir);
        Optional<Path> c = Checkpoint.latest(dir.resolve("checkpoints"));
        return c.isPresent() ? c : Checkpoint.latest(dir);
    }

    /**
     * Reads the description of the model in {@code dir} (a located directory). With model.json everything is there;
     * with only a checkpoint's state.json the spec is taken from {@code data} (the dataset's train split), which
     * must then be given.
     *
     * @throws IllegalArgumentException with a message for the user when the files are missing or malformed
     */
    static SavedModel read(Path dir, Dataset data) {
        Path meta = dir.resolve(META_FILE);
        if (Files.isRegularFile(meta)) {
            JsonNode n;
            try {
                n = JSON.readTree(meta.toFile());
            } catch (IOException e) {
                throw new IllegalArgumentException(meta + " is not readable JSON (" + e.getMessage() + "); the model directory is damaged");
            }
            // recorded since 2026-12-07; an older model.json has none and is read as before
            try {
                Checkpoint.checkFormat(meta.toAbsolutePath(), n);
            } catch (CheckpointException e) {
                throw new IllegalArgumentException(e.getMessage());
            }
            return fromMeta(dir, n, meta);
        }
        if (!Files.isRegularFile(dir.resolve(Checkpoint.STATE_FILE)))
            throw new IllegalArgumentException(dir + " has " + Checkpoint.MODEL_FILE + " but neither " + META_FILE + " nor "
                    + Checkpoint.STATE_FILE + ", so which model it is (architecture, input shape, classes, normalisation) is unknown."
                    + " For weights from elsewhere (a PyTorch state_dict saved with safetensors), copy " + META_FILE + " from the model/"
                    + " of a dl-train run of the same model on the same data into " + dir);
        TrainingState s;
        try {
            s = Checkpoint.readState(dir);
        } catch (CheckpointException e) {
            throw new IllegalArgumentException(e.getMessage());
        }
        if (s.model() == null || s.dataset() == null)
            throw new IllegalArgumentException(dir.resolve(Checkpoint.STATE_FILE) + " does not name its model and dataset");
        // since model_meta is recorded, as in model.json; a checkpoint written before takes them from the run's training data
        if (s.config() != null && s.config().get(STATE_KEY) instanceof Map<?, ?> m)
            return fromMeta(dir, JSON.valueToTree(m), Path.of(dir.resolve(Checkpoint.STATE_FILE) + "'s " + STATE_KEY));
        if (data == null) { // the run's training split, read where the run read it (--data-dir, absolute in state.json)
            Path dataDir = s.config() != null && s.config().get("data_dir") instanceof String d ? Path.of(d) : null;
            try {
                data = DatasetRegistry.get(s.dataset()).load(dataDir, "--data-dir").train();
            } catch (CsvDataset.NewRunRefusal e) { // the run's own data, which a dl-train before 2026-12-07 trained on
                data = e.splits().train();
            } catch (DatasetException e) {
                if (dataDir != null) throw e;
                // not recorded: the run read the default directory, or it was written before state.json recorded --data-dir
                throw new IllegalArgumentException(dir.resolve(Checkpoint.STATE_FILE) + " does not record the directory of the run's"
                        + " training data (no \"data_dir\": the run read " + s.dataset() + "'s default directory, or a dl-train before"
                        + " 2026-12-06 wrote it), which is read to rebuild the model's classes and input, and the default directory does"
                        + " not hold it (" + e.getMessage() + "). Use the run's model/ if it finished, or score the checkpoint with"
                        + " `dl-train eval --checkpoint " + ShellWords.quote(dir) + " --data " + ShellWords.quote(s.dataset()) + " --data-dir DIR`");
            }
        }
        if (classOrderUnknown(data))
            throw new IllegalArgumentException(unknownClassOrder(dir.resolve(Checkpoint.STATE_FILE), s.dataset(), (CsvDataset) data)
                    + ". Use the run's model/ if it finished (its model.json names the classes in order), or the dl-train that wrote"
                    + " the checkpoint");
        ModelSpec spec = ModelSpec.of(data.sampleShape(), data.numClasses());
        float[] mean = data instanceof IdxDataset idx ? new float[] {idx.mean()} : data instanceof CifarDataset c ? c.kind().mean() : null;
        float[] std = data instanceof IdxDataset idx ? new float[] {idx.std()} : data instanceof CifarDataset c ? c.kind().std() : null;
        // a checkpoint does not record the task: a regression dataset means a regression model
        return new SavedModel(dir, s.model(), s.dataset(), spec, data.classNames(), mean, std,
                data.task() == Task.REGRESSION ? Task.REGRESSION : Task.CLASSIFICATION, Features.of(data));
    }

    /**
     * Whether a checkpoint that does not record its classes (no {@value #STATE_KEY}: written before 2026-12-07) of a run on
     * {@code train} cannot be told their order: a csv's labels that are numbers but not all integers, which dl-train
     * numbered as text until 2026-12-07 and by value since, a change nothing in state.json shows.
     */
    static boolean classOrderUnknown(Dataset train) {
        return train instanceof CsvDataset csv && csv.task() == Task.CLASSIFICATION && !csv.earlierClassOrder().equals(csv.classNames());
    }

    /** What {@link #classOrderUnknown} means, for stateFile's checkpoint of a run on dataset. */
    static String unknownClassOrder(Path stateFile, String dataset, CsvDataset train) {
        return stateFile + " does not record the order of the model's classes (no \"" + STATE_KEY + "\": written by a dl-train before"
                + " 2026-12-07), and " + dataset + "'s labels are numbers but not all integers, which dl-train numbered as text until"
                + " 2026-12-07 (" + train.earlierClassOrder() + ") and by value since (" + train.classNames() + "): which output is which"
                + " class is unknown";
    }

    /**
     * The class names, in output order, that the {@value #META_FILE} beside {@code modelFile} records (a run's model/),
     * or null where there is none or it cannot be read: what --init-from compares with the new run's classes.
     */
    static List<String> classNamesBeside(Path modelFile) {
        Path meta = modelFile.toAbsolutePath().resolveSibling(META_FILE);
        if (!Files.isRegularFile(meta)) return null;
        try {
            JsonNode names = JSON.readTree(meta.toFile()).get("class_names");
            if (names == null || !names.isArray()) return null;
            List<String> out = new ArrayList<>();
            for (JsonNode c : names) out.add(c.asText());
            return out;
        } catch (IOException | RuntimeException e) {
            return null;   // a model.json that cannot be read says nothing here; eval and predict report it
        }
    }

    /** A model described by {@link #meta}'s fields in {@code n}, read from {@code meta} (model.json, or a checkpoint's state.json). */
    private static SavedModel fromMeta(Path dir, JsonNode n, Path meta) {
        try {
            ModelSpec spec = new ModelSpec(req(n, "channels", meta).asInt(), req(n, "height", meta).asInt(),
                    req(n, "width", meta).asInt(), req(n, "classes", meta).asInt());
            List<String> names = new ArrayList<>();
            for (JsonNode c : req(n, "class_names", meta)) names.add(c.asText());
            if (names.size() != spec.numClasses())
                throw new IllegalArgumentException(meta + ": " + Words.count(names.size(), "class name") + " for "
                        + Words.count(spec.numClasses(), "class", "classes"));
            Task task = task(n.get("task"), meta);
            if (task == Task.CLASSIFICATION && spec.numClasses() < 2)
                throw new IllegalArgumentException(meta + ": a classification model with "
                        + Words.count(spec.numClasses(), "class", "classes") + "; it needs at least 2");
            String dataset = req(n, "dataset", meta).asText();
            float[] mean = floats(n.get("mean")), std = floats(n.get("std"));
            if (mean == null && std == null) { // model.json of a cifar model saved before 2026-12-07: not recorded, but used
                float[][] cifar = cifarNormalisation(dataset);
                if (cifar != null) {
                    mean = cifar[0];
                    std = cifar[1];
                }
            }
            return new SavedModel(dir, req(n, "model", meta).asText(), dataset, spec, names, mean, std, task, features(n, meta));
        } catch (IllegalArgumentException e) {
            throw new IllegalArgumentException(e.getMessage().startsWith(meta.toString()) ? e.getMessage() : meta + ": " + e.getMessage());
        }
    }

    /**
     * CIFAR's per-channel {mean, std} for a model of dataset cifar10 or cifar100 (with or without options), else null. A
     * dl-train before 2026-12-07 recorded the normalisation in model.json for IDX datasets only, though its CIFAR datasets
     * normalised with these same statistics (CifarDataset.Kind's, unchanged since), so such a model.json needs them.
     */
    static float[][] cifarNormalisation(String dataset) {
        String base = dataset.indexOf(':') < 0 ? dataset : dataset.substring(0, dataset.indexOf(':'));
        CifarDataset.Kind kind = switch (base) {
            case "cifar10" -> CifarDataset.Kind.CIFAR10;
            case "cifar100" -> CifarDataset.Kind.CIFAR100;
            default -> null;
        };
        return kind == null ? null : new float[][] {kind.mean(), kind.std()};
    }

    /** model.json's "task" ("classification", "reconstruction", "regression"); classification when absent (older files). */
    private static Task task(JsonNode t, Path meta) {
        if (t == null || t.isNull()) return Task.CLASSIFICATION;
        for (Task k : Task.values()) if (k.label().equals(t.asText())) return k;
        throw new IllegalArgumentException(meta + ": unknown \"task\" '" + t.asText() + "'; expected classification, reconstruction or regression");
    }

    /** model.json's "features" with their mean and std, or null for a model not trained on a CSV dataset. */
    private static Features features(JsonNode n, Path meta) {
        JsonNode f = n.get("features");
        if (f == null || f.isNull()) return null;
        List<String> names = new ArrayList<>();
        for (JsonNode c : f) names.add(c.asText());
        float[] mean = floats(n.get("feature_mean")), std = floats(n.get("feature_std"));
        if (mean == null || std == null || mean.length != names.size() || std.length != names.size())
            throw new IllegalArgumentException(meta + ": \"feature_mean\" and \"feature_std\" must hold one number per feature ("
                    + names.size() + ": " + names + ")");
        return new Features(names, mean, std);
    }

    private static JsonNode req(JsonNode n, String key, Path f) {
        JsonNode v = n.get(key);
        if (v == null || v.isNull()) throw new IllegalArgumentException(f + ": \"" + key + "\" is missing");
        return v;
    }

    private static float[] floats(JsonNode a) {
        if (a == null || !a.isArray()) return null;
        float[] f = new float[a.size()];
        for (int i = 0; i < f.length; i++) f[i] = (float) a.get(i).asDouble();
        return f;
    }
}
