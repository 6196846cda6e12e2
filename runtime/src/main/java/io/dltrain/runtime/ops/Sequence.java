package io.dltrain.runtime.ops;

import io.dltrain.runtime.autograd.Autograd;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.Checks;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

import java.util.List;

/**
 * Differentiable ops that recurrent layers are composed from: element-wise product, a slice along the last
 * dimension, selecting / stacking time steps of a batch-first sequence [N, T, F], and the LSTM cell's element-wise
 * step. The first four are one or two generic Backend calls ({@code mul}, {@code copyBlocks}, {@code fill}); the cell
 * has backend calls of its own ({@code lstmCellForward / BackwardC / BackwardH}), one where it would take a dozen
 * generic ones. Backpropagation through time is plain autograd.
 */
public final class Sequence {
    private Sequence() {}

    /** a * b element by element (torch.mul), same shapes. */
    public static Tensor mul(Tensor a, Tensor b) {
        if (!a.shape().equals(b.shape())) throw new IllegalArgumentException("mul: shapes differ: " + a.shape() + " vs " + b.shape());
        Backend be = a.backend();
        Tensor y = be.empty(a.shape());
        be.mul(a, b, y);
        return Autograd.record("mul", y, new Tensor[] {a, b}, (dy, needs) -> {
            Tensor da = null, db = null;
            if (needs[0]) { da = be.empty(a.shape()); be.mul(dy, b, da); }
            if (needs[1]) { db = be.empty(b.shape()); be.mul(dy, a, db); }
            return new Tensor[] {da, db};
        });
    }

    /** The new cell and hidden state of one LSTM step. */
    public record LstmState(Tensor c, Tensor h) {}

    /**
     * The element-wise part of one LSTM step (PyTorch's gate order): gates [N, 4H] are the pre-activations i, f, g, o,
     * cPrev [N, H]; c = sigmoid(f) * cPrev + sigmoid(i) * tanh(g), h = sigmoid(o) * tanh(c). One backend call
     * ({@code lstmCellForward}) computes both; autograd sees two ops, c of (gates, cPrev) and h of (gates, c), whose
     * backward calls are {@code lstmCellBackwardC} and {@code lstmCellBackwardH} (each fills its own quarters of the
     * gates' gradient and zeros the others; autograd adds the two).
     */
    public static LstmState lstmCell(Tensor gates, Tensor cPrev) {
        Backend be = gates.backend();
        int[] nh = Checks.lstmCell("lstmCell", gates, cPrev);
        Shape hs = Shape.of(nh[0], nh[1]);
        Tensor c = be.empty(hs), h = be.empty(hs);
        be.lstmCellForward(gates, cPrev, c, h);
        Tensor cOut = Autograd.record("lstm_cell_c", c, new Tensor[] {gates, cPrev}, (dc, needs) -> {
            Tensor dgates = be.empty(gates.shape()), dcPrev = needs[1] ? be.empty(hs) : null;
            be.lstmCellBackwardC(gates, cPrev, dc, dgates, dcPrev);
            return new Tensor[] {needs[0] ? dgates : null, dcPrev};
        });
        Tensor hOut = Autograd.record("lstm_cell_h", h, new Tensor[] {gates, cOut}, (dh, needs) -> {
            Tensor dgates = be.empty(gates.shape()), dc = be.empty(hs);
            be.lstmCellBackwardH(gates, cOut, dh, dgates, dc);
            return new Tensor[] {needs[0] ? dgates : null, needs[1] ? dc : null};
        });
        return new LstmState(cOut, hOut);
    }

    /** x[..., start : start + length] (x.narrow(-1, start, length)), copied into a new tensor. */
    public static Tensor sliceLast(Tensor x, int start, int length) {
        int d = x.dim(x.rank() - 1);
        if (start < 0 || length < 1 || start + length > d)
            throw new IllegalArgumentException("sliceLast: [" + start + ", " + (start + length) + ") is outside the last dimension of " + x.shape());
        Backend be = x.backend();
        long allRows = x.numel() / d;
        if (allRows > Integer.MAX_VALUE)   // Backend.copyBlocks counts its blocks with an int
            throw new IllegalArgumentException("sliceLast: " + x.shape() + " has " + allRows + " rows of its last dimension, more than the"
                    + " 2^31-1 one strided copy takes; slice a smaller batch");
        int rows = (int) allRows;
        Tensor y = be.empty(x.shape().withDim(x.rank() - 1, length));
        be.copyBlocks(x, start, d, y, 0, length, length, rows);
        return Autograd.record("slice", y, new Tensor[] {x}, (dy, needs) -> {
            Tensor dx = be.zeros(x.shape());
            be.copyBlocks(dy, 0, length, dx, start, d, length, rows);
            return new Tensor[] {dx};
        });
    }

    /** x[:, t, ...] of x [N, T, ...] (x.select(1, t)): [N, ...]. */
    public static Tensor selectStep(Tensor x, int t) {
        if (x.rank() < 3) throw new IllegalArgumentException("selectStep: expected a batch-first sequence [N, T, F], got " + x.shape());
        int steps = x.dim(1);
        if (t < 0 || t >= steps) throw new IllegalArgumentException("selectStep: step " + t + " is outside [0, " + steps + ") of " + x.shape());
        Backend be = x.backend();
        int n = x.dim(0);
        long inner = x.shape().sizeFrom(2);
        int[] dims = new int[x.rank() - 1];
        dims[0] = n;
        for (int i = 2; i < x.rank(); i++) dims[i - 1] = x.dim(i);
        Tensor y = be.empty(Shape.of(dims));
        be.copyBlocks(x, t * inner, steps * inner, y, 0, inner, inner, n);
        return Autograd.record("select", y, new Tensor[] {x}, (dy, needs) -> {
            Tensor dx = be.zeros(x.shape());
            be.copyBlocks(dy, 0, inner, dx, t * inner, steps * inner, inner, n);
            return new Tensor[] {dx};
        });
    }

    /** torch.stack(xs, dim=1): T tensors [N, ...] of one shape to [N, T, ...]. */
    public static Tensor stackSteps(List<Tensor> xs) {
        if (xs.isEmpty()) throw new IllegalArgumentException("stackSteps: no inputs");
        Tensor first = xs.getFirst();
        for (Tensor t : xs)
            if (!t.shape().equals(first.shape())) throw new IllegalArgumentException("stackSteps: " + t.shape() + " differs from " + first.shape());
        Backend be = first.backend();
        int n = first.dim(0), steps = xs.size();
        long inner = first.shape().sizeFrom(1);
        int[] dims = new int[first.rank() + 1];
        dims[0] = n;
        dims[1] = steps;
        for (int i = 1; i < first.rank(); i++) dims[i + 1] = first.dim(i);
        Tensor y = be.empty(Shape.of(dims));
        for (int t = 0; t < steps; t++) be.copyBlocks(xs.get(t), 0, inner, y, t * inner, steps * inner, inner, n);
        Tensor[] inputs = xs.toArray(new Tensor[0]);
        return Autograd.record("stack", y, inputs, (dy, needs) -> {
            Tensor[] g = new Tensor[steps];
            for (int t = 0; t < steps; t++) {
                if (!needs[t]) continue;
                g[t] = be.empty(first.shape());
                be.copyBlocks(dy, t * inner, steps * inner, g[t], 0, inner, inner, n);
            }
            return g;
        });
    }
}
