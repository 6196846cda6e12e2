package io.dltrain.runtime.testing;

import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;

/** For convolution tests that must not pass by reading a scratch array another call left zeroed. */
public final class ConvScratch {
    private ConvScratch() {}

    /**
     * One convolution of NaNs (N images of C channels, H x H, K filters of 3x3, params p): forward, backward data and
     * backward filter, so the scratch arrays of whichever path that geometry takes are left full of NaNs.
     */
    public static void convolveNaNs(Backend b, int N, int C, int H, int K, ConvParams p) {
        try (Scope s = Scope.open()) {
            int P = p.outH(H, 3);
            Tensor x = b.empty(Shape.of(N, C, H, H)), w = b.empty(Shape.of(K, C, 3, 3)), y = b.empty(Shape.of(N, K, P, P));
            Tensor dx = b.empty(x.shape()), dw = b.empty(w.shape());
            for (Tensor t : new Tensor[]{x, w, y}) b.fill(t, Float.NaN);
            b.convForward(x, w, null, y, p);
            b.convBackwardData(y, w, dx, p);
            b.convBackwardFilter(x, y, dw, p, false);
        }
    }
}
