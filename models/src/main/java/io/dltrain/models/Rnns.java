package io.dltrain.models;

import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.LSTM;
import io.dltrain.runtime.nn.Linear;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.ops.Basic;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

import java.util.List;

/**
 * Recurrent models of the zoo. {@code lstm} reads an image [N, C, H, W] as a sequence of C*H time steps (its rows,
 * channel after channel) of W features, the classic "pixel rows as a sequence" MNIST/Fashion-MNIST RNN benchmark:
 * a stacked {@link LSTM}, then a Linear head on the last step's hidden state. State dict keys are those of the
 * equivalent PyTorch module {@code lstm = nn.LSTM(W, H, L, batch_first=True); fc = nn.Linear(H, classes)}:
 * lstm.weight_ih_l0, ..., fc.weight, fc.bias. A sequence dataset's samples [T, F] are built for as one channel of T
 * rows of F ({@link ModelSpec#of}): T steps of F features.
 */
public final class Rnns {
    private Rnns() {}

    /** Defaults of the registry's {@code lstm} entry. */
    public static final int DEFAULT_HIDDEN = 128, DEFAULT_LAYERS = 2;

    static Module lstm(Context ctx, ModelSpec s) { return lstm(ctx, s, DEFAULT_HIDDEN, DEFAULT_LAYERS); }

    /** The sequence classifier with the given hidden size and number of stacked layers. */
    public static Module lstm(Context ctx, ModelSpec s, int hidden, int layers) {
        return new LstmClassifier(ctx, s.inChannels() * s.height(), s.width(), hidden, layers, s.numClasses());
    }

    /** Image rows as time steps -> stacked LSTM -> last hidden state -> Linear. */
    public static final class LstmClassifier extends Module {
        private final int steps, features;
        private final LSTM lstm;
        private final Linear fc;

        LstmClassifier(Context ctx, int steps, int features, int hidden, int layers, int classes) {
            this.steps = steps;
            this.features = features;
            this.lstm = addModule("lstm", new LSTM(ctx, features, hidden, layers));
            this.fc = addModule("fc", new Linear(ctx, hidden, classes));
        }

        @Override
        public Tensor forward(Tensor x) {
            if (x.numel() != (long) x.dim(0) * steps * features)
                throw refused(new IllegalArgumentException("lstm: input " + x.shape() + " does not hold " + steps + " steps of " + features
                        + " features per example (build the model for this image size)")); // named by its place inside another model
            List<Tensor> hs = lstm.forwardSteps(Basic.reshape(x, Shape.of(x.dim(0), steps, features)));
            return fc.forward(hs.getLast());
        }

        @Override public String toString() { return "LstmClassifier(" + steps + " steps x " + features + " features, " + lstm + ", " + fc + ")"; }
    }
}
