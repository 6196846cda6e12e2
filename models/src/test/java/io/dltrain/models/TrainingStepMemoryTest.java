package io.dltrain.models;

import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.ops.Losses;
import io.dltrain.runtime.optim.SGD;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.Test;

import java.util.SplittableRandom;

import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * The tensor memory of a training step, by the allocator's own figures. Backward kept every gradient it made until the
 * step's Scope closed: each layer's dx (as large as the layer's input) and each parameter's dW (as large as the
 * parameter, beside the copy of it in the parameter's grad()). A step's peak was then about the forward activations twice
 * over, plus the parameters once more; PyTorch frees a gradient once the op that consumes it has run. resnet18 at
 * 224x224, batch 16, peaked at 1,214 MiB of tensors.
 */
class TrainingStepMemoryTest {

    @Test
    void backwardFreesEachGradientOnceItIsPassedOn() {
        int n = 4;
        try (CpuBackend be = new CpuBackend(2);
             Module model = Scope.outside(() -> ModelRegistry.get("resnet18-cifar-narrow").build(new Context(be, 1), ModelRegistry.CIFAR10));
             SGD opt = new SGD(model.namedParameters(), 0.01).momentum(0.9)) {
            long largestParam = 0;
            for (Tensor p : model.parameters()) largestParam = Math.max(largestParam, 4 * p.numel());
            // the widest activation: the stem's and layer1's outputs, [n, 16, 32, 32] (layer2-4 halve the map, double the channels)
            long largestActivation = 4L * n * 16 * 32 * 32;
            float[] xs = new float[n * 3 * 32 * 32];
            SplittableRandom r = new SplittableRandom(7);
            for (int i = 0; i < xs.length; i++) xs[i] = (float) r.nextGaussian();
            int[] ys = new int[n];
            for (int i = 0; i < n; i++) ys[i] = i % 10;
            long base = 0, forward = 0;
            // the second step is the steady state: the parameters' gradients and momentum buffers, made by the first, are in base
            for (int step = 0; step < 2; step++) {
                base = be.memoryStats().inUseBytes();
                try (Scope s = Scope.open()) {
                    Tensor x = be.fromHost(xs, Shape.of(n, 3, 32, 32)), y = be.fromHost(ys, Shape.of(n));
                    Tensor loss = Losses.crossEntropy(model.forward(x), y, 0f);
                    forward = be.memoryStats().inUseBytes() - base; // the input, every activation and what backward reads
                    opt.zeroGrad();
                    loss.backward();
                    opt.step();
                }
            }
            long stepPeak = be.memoryStats().peakBytes() - base;
            // On top of the forward's tensors (kept until the step ends), backward needs at a time the gradient it is passing
            // back, the one it is making, a residual block's skip-path gradient waiting at the add and their sum there (at
            // most four of the widest activation), and one dW before it is added into its parameter's grad(). Kept to the
            // end, the gradients took about as much again as the forward: 2.39 x the forward here before, 1.13 x after.
            long bound = forward + 4 * largestActivation + largestParam;
            assertTrue(stepPeak <= bound, String.format("a training step peaked at %,d bytes of tensors over the model's; the forward"
                    + " holds %,d, and backward should need at most %,d more (4 x %,d for activation gradients, %,d for one dW)",
                    stepPeak, forward, bound - forward, largestActivation, largestParam));
        }
    }
}
