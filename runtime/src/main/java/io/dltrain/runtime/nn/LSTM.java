package io.dltrain.runtime.nn;

import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.init.Init;
import io.dltrain.runtime.ops.Basic;
import io.dltrain.runtime.ops.Sequence;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

import java.util.ArrayList;
import java.util.List;

/**
 * PyTorch's nn.LSTM with batch_first=True: input [N, T, F], output [N, T, H] (the last layer's hidden state at every
 * step), zero initial states, num_layers stacked (layer k > 0 reads layer k-1's hidden states), no dropout, not
 * bidirectional. Per layer and step, with gates in PyTorch's order i, f, g, o:
 * <pre>
 *   [i f g o] = x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh
 *   c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
 *   h_t = sigmoid(o) * tanh(c_t)
 * </pre>
 * Parameters are named weight_ih_l{k} [4H, F_k], weight_hh_l{k} [4H, H], bias_ih_l{k} [4H], bias_hh_l{k} [4H] as in
 * PyTorch's state_dict, each initialised uniform(-1/sqrt(H), 1/sqrt(H)) in that order per layer.
 *
 * <p>A step is two linears, an add, and {@link Sequence#lstmCell} (one backend call, {@code lstmCellForward}, for
 * every gate activation and both state updates; CPU: CpuLstm, CUDA: lstm.cu), so backpropagation through time is
 * ordinary autograd over a handful of ops a step. Both GEMMs run per step, on each step's own input tensor (see
 * forwardSteps for why not one GEMM a layer).
 */
public class LSTM extends Module {
    private final int inputSize, hiddenSize, numLayers;
    private final Tensor[] wIh, wHh, bIh, bHh;

    public LSTM(Context ctx, int inputSize, int hiddenSize, int numLayers) {
        if (inputSize < 1 || hiddenSize < 1 || numLayers < 1)
            throw new IllegalArgumentException("LSTM: input size, hidden size and layers must be >= 1, got " + inputSize + ", " + hiddenSize + ", " + numLayers);
        this.inputSize = inputSize;
        this.hiddenSize = hiddenSize;
        this.numLayers = numLayers;
        wIh = new Tensor[numLayers];
        wHh = new Tensor[numLayers];
        bIh = new Tensor[numLayers];
        bHh = new Tensor[numLayers];
        Backend be = ctx.backend();
        double bound = 1.0 / Math.sqrt(hiddenSize);
        for (int k = 0; k < numLayers; k++) {
            int in = k == 0 ? inputSize : hiddenSize;
            // PyTorch's reset_parameters draws every weight in registration order from the same uniform range.
            wIh[k] = addParameter("weight_ih_l" + k, be.empty(Shape.of(4 * hiddenSize, in)));
            wHh[k] = addParameter("weight_hh_l" + k, be.empty(Shape.of(4 * hiddenSize, hiddenSize)));
            bIh[k] = addParameter("bias_ih_l" + k, be.empty(Shape.of(4 * hiddenSize)));
            bHh[k] = addParameter("bias_hh_l" + k, be.empty(Shape.of(4 * hiddenSize)));
            for (Tensor t : new Tensor[] {wIh[k], wHh[k], bIh[k], bHh[k]}) Init.uniform(t, -bound, bound, ctx.rng());
        }
    }

    public int inputSize() { return inputSize; }
    public int hiddenSize() { return hiddenSize; }
    public int numLayers() { return numLayers; }

    /** The last layer's hidden states for x [N, T, F]: [N, T, H]. */
    @Override
    public Tensor forward(Tensor x) { return Sequence.stackSteps(forwardSteps(x)); }

    /** The last layer's hidden state at each step, T tensors [N, H] (the last one is PyTorch's h_n[-1]). */
    public List<Tensor> forwardSteps(Tensor x) {
        if (x.rank() != 3 || x.dim(2) != inputSize)
            throw refused(new IllegalArgumentException("LSTM: input " + x.shape() + " is not [N, T, " + inputSize + "] (batch first: batch, time"
                    + " steps, features)"));
        int n = x.dim(0), steps = x.dim(1);
        Backend be = x.backend();
        // Each step's input is its own tensor: x[:, t] for the first layer, the previous layer's h_t after it. One
        // [N*T, F] GEMM for a whole layer's input projection, sliced per step, would cost the backward a zero-filled
        // [N, T, 4H] gradient per step (what a slice's backward is), T^2 work and memory: 8 MiB a sample at T = 28.
        List<Tensor> inputs = new ArrayList<>(steps);
        for (int t = 0; t < steps; t++) inputs.add(Sequence.selectStep(x, t));
        List<Tensor> outputs = null;
        for (int k = 0; k < numLayers; k++) {
            Tensor h = be.zeros(Shape.of(n, hiddenSize)), c = be.zeros(Shape.of(n, hiddenSize));
            outputs = new ArrayList<>(steps);
            for (int t = 0; t < steps; t++) {
                Tensor gates = Basic.add(Basic.linear(inputs.get(t), wIh[k], bIh[k]), Basic.linear(h, wHh[k], bHh[k]));
                Sequence.LstmState next = Sequence.lstmCell(gates, c);
                c = next.c();
                h = next.h();
                outputs.add(h);
            }
            inputs = outputs;
        }
        return outputs;
    }

    @Override
    public String toString() { return "LSTM(" + inputSize + ", " + hiddenSize + ", num_layers=" + numLayers + ", batch_first=True)"; }
}
