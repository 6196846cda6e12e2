package io.dltrain.cli;

import picocli.CommandLine.Option;

import java.nio.file.Path;

/** The training options, shared by `dl-train` and `dl-train train`. Defaults are the default recipe (README). */
public final class TrainOptions {
    // Read by Main before parsing (ConfigFile supplies the file's values as defaults); declared here for help and parsing.
    @Option(names = "--config", paramLabel = "FILE",
            description = "Read option values from a YAML (.yaml, .yml) or JSON (.json) file; keys are the long option names"
                    + " without dashes (epochs, batch-size, lr, ...). Options on the command line override the file.")
    Path config;

    @Option(names = {"-m", "--model"}, paramLabel = "NAME", description = "Model from the registry (see `dl-train models`). Required for training.")
    String model;

    @Option(names = {"-d", "--data"}, paramLabel = "NAME", description = "Dataset from the registry (see `dl-train datasets`). Required for training.")
    String data;

    @Option(names = "--data-dir", paramLabel = "DIR", description = "Where the dataset's files are (default: the dataset's default directory).")
    Path dataDir;

    @Option(names = {"-e", "--epochs"}, defaultValue = "10", description = "Passes over the training set, >= 1 (default: ${DEFAULT-VALUE}).")
    int epochs;

    @Option(names = {"-b", "--batch-size"}, defaultValue = "128", description = "Samples per step, >= 1 (default: ${DEFAULT-VALUE}).")
    int batchSize;

    /** Null until resolved: the optimiser's default (Optimizers.defaultLr) when neither given, configured nor resumed. */
    @Option(names = "--lr", description = "Base learning rate (default: the optimiser's: 0.05 for sgd and sgd-nesterov, "
            + "0.001 for adam and adamw, 0.01 for adagrad and rmsprop, 1.0 for adadelta).")
    Double lr;

    /** Null until resolved: sgd-nesterov, or adam for reconstruction models, when neither given, configured nor resumed. */
    @Option(names = "--optimizer", paramLabel = "NAME",
            description = "sgd, sgd-nesterov, adagrad, adadelta, rmsprop, adam, adamw (default: sgd-nesterov; adam for the autoencoders).")
    String optimizer;

    /** Null until resolved: Optimizers.defaultMomentum when neither given, configured nor resumed. */
    @Option(names = "--momentum", description = "Momentum for sgd, sgd-nesterov and rmsprop (default: the optimiser's: 0.9 for "
            + "sgd and sgd-nesterov, 0 for rmsprop, as in PyTorch).")
    Double momentum;

    /** Null until resolved: Optimizers.defaultWeightDecay when neither given, configured nor resumed. */
    @Option(names = "--weight-decay", description = "Weight decay; decoupled for adamw, an L2 term for the others (default: "
            + "the optimiser's: 0.0005 for sgd and sgd-nesterov, 0.01 for adamw, 0 for adam, adagrad, adadelta and rmsprop, as in PyTorch).")
    Double weightDecay;

    @Option(names = "--schedule", defaultValue = "cosine", paramLabel = "SPEC",
            description = "LR schedule: constant, step:EPOCHS:GAMMA, cosine[:MIN_LR], warmup:STEPS,<schedule>, plateau[:FACTOR[:PATIENCE[:MIN_LR]]] (reduce on a validation-loss plateau) (default: ${DEFAULT-VALUE}).")
    String schedule;

    @Option(names = "--label-smoothing", defaultValue = "0", description = "Cross-entropy label smoothing in [0, 1) (default: ${DEFAULT-VALUE}).")
    float labelSmoothing;

    @Option(names = "--clip-norm", defaultValue = "0", description = "Clip gradients to this global norm; 0 is off (default: ${DEFAULT-VALUE}).")
    float clipNorm;

    @Option(names = "--seed", defaultValue = "42", description = "Seed for initialisation, data order and dropout (default: ${DEFAULT-VALUE}).")
    long seed;

    @Option(names = "--val-fraction", defaultValue = "0.1", description = "Fraction of the training set held out for validation, in [0, 1); 0 holds out none (default: ${DEFAULT-VALUE}).")
    double valFraction;

    @Option(names = "--patience", defaultValue = "0", description = "Early stopping: epochs without validation-loss improvement; 0 is off (default: ${DEFAULT-VALUE}).")
    int patience;

    @Option(names = "--min-delta", defaultValue = "0", description = "Early stopping: the smallest improvement that counts, >= 0 (default: ${DEFAULT-VALUE}).")
    double minDelta;

    @Option(names = "--device", defaultValue = "auto", paramLabel = "DEVICE", description = "auto, cpu, cuda or cuda:N (default: ${DEFAULT-VALUE}).")
    String device;

    @Option(names = "--threads", defaultValue = "0", description = "CPU compute threads; 0 uses every core (default: ${DEFAULT-VALUE}).")
    int threads;

    @Option(names = "--workers", defaultValue = "auto", paramLabel = "N|auto",
            description = "Data-loading threads, each loading whole batches (and holding a batch buffer); auto: one per core but one when "
                    + "a GPU trains on image files (imagefolder, imagenet-subset), else 1 (default: ${DEFAULT-VALUE}).")
    String workers;

    @Option(names = {"-o", "--out"}, paramLabel = "DIR", description = "Run directory for metrics.jsonl and summary.json (default: runs/<model>-<data>-<time>, with -2, -3, ... for runs started in the same second).")
    Path out;

    @Option(names = "--checkpoint-every", defaultValue = "1e", paramLabel = "SPEC",
            description = "Save a checkpoint into <out>/checkpoints every N epochs (Ne) or N steps (Ns), or 'off' (default: ${DEFAULT-VALUE}).")
    String checkpointEvery;

    @Option(names = "--keep", defaultValue = "3", description = "Checkpoints to keep besides the best one, >= 1 (default: ${DEFAULT-VALUE}).")
    int keep;

    @Option(names = "--resume", paramLabel = "DIR",
            description = "Continue the run in DIR from its latest checkpoint; --epochs is the total. Settings not given are the run's.")
    Path resume;

    @Option(names = "--resume-or-start",
            description = "For a command that may simply run again (a restarted pod): if --out DIR holds a checkpoint, resume it as "
                    + "--resume DIR would (its settings; conflicting ones refused; a finished run says so and exits 0), else start the run there.")
    boolean resumeOrStart;

    @Option(names = "--allow-data-change",
            description = "With --resume: go on where the training data is other samples than the run's (a few samples' fingerprint"
                    + " differs), e.g. the same files read otherwise after an upgrade; refused without it.")
    boolean allowDataChange;

    @Option(names = "--max-steps", paramLabel = "N",
            description = "Stop (with a checkpoint) after N optimiser steps in total; for testing and benchmarking.")
    Long maxSteps;

    @Option(names = "--init-from", paramLabel = "FILE",
            description = "Transfer learning: before training, load the tensors that match (name and shape) from a model.safetensors, "
                    + "or a run or checkpoint directory holding one; the rest keep their initial values. A report lists both.")
    Path initFrom;

    @Option(names = "--freeze", paramLabel = "PREFIX", split = ",",
            description = "Do not train parameters whose name (as in state_dict, e.g. 1.weight) starts with PREFIX; repeatable or a comma list.")
    java.util.List<String> freeze = new java.util.ArrayList<>();

    @Option(names = "--skip-nonfinite",
            description = "Skip an optimiser step whose loss is NaN or infinite (and count it) instead of stopping the run; go on, with a"
                    + " notice, past a NaN or infinite validation sample.")
    boolean skipNonfinite;

    @Option(names = "--progress", defaultValue = "auto", paramLabel = "MODE",
            description = "auto (a bar when stderr, where it is drawn, is a terminal; plain lines otherwise), bar, plain, or none (no bar or epoch lines; notices such as early stopping still print) (default: ${DEFAULT-VALUE}).")
    String progress;
}
