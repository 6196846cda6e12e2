package io.dltrain.runtime.autograd;

import io.dltrain.runtime.tensor.Tensor;

/**
 * One recorded op in the autograd graph: its inputs and a function from the output's gradient to the inputs'
 * gradients. Tensors the backward pass needs are captured by the function (they live in the step's scope).
 *
 * @param op     name of the op, for error messages ("conv2d", "linear", ...)
 * @param inputs the op's tensor inputs, in order
 * @param fn     the backward function
 */
public record Node(String op, Tensor[] inputs, BackwardFn fn) {

    /** Given d(loss)/d(output), returns d(loss)/d(input i) for each input whose {@code needsGrad[i]} is true (others null). */
    @FunctionalInterface
    public interface BackwardFn {
        Tensor[] apply(Tensor gradOutput, boolean[] needsGrad);
    }
}
