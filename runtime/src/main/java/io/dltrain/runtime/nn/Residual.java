package io.dltrain.runtime.nn;

import io.dltrain.runtime.ops.Basic;
import io.dltrain.runtime.tensor.Tensor;

/**
 * A residual connection: body(x) + shortcut(x), with the identity as the default shortcut, optionally followed by
 * a post-activation (ResNet's block ends in ReLU after the add). The children are named "body", "shortcut" and
 * "post" (state_dict names such as body.0.weight); the model zoo's ResNets use their own blocks, with torchvision's
 * names ("conv1", "bn1", ..., "downsample").
 */
public class Residual extends Module {
    private final Module body, shortcut, post;

    public Residual(Module body) { this(body, null, null); }

    /** shortcut and post may be null (identity / none). */
    public Residual(Module body, Module shortcut, Module post) {
        this.body = addModule("body", body);
        this.shortcut = shortcut == null ? null : addModule("shortcut", shortcut);
        this.post = post == null ? null : addModule("post", post);
    }

    @Override
    public Tensor forward(Tensor x) {
        Tensor b = body.forward(x), sc = shortcut == null ? x : shortcut.forward(x);
        if (!b.shape().equals(sc.shape()))
            throw refused(new IllegalArgumentException("Residual: the body's output " + b.shape() + " and the shortcut's " + sc.shape()
                    + (shortcut == null ? " (the input itself: no shortcut module)" : "") + " differ in shape, so they cannot be added; give a"
                    + " shortcut module that maps the input to " + b.shape() + " (a Linear, or a 1x1 Conv2d with the stride of the body), or a"
                    + " body that keeps the input's shape"));
        Tensor y = Basic.add(b, sc);
        return post == null ? y : post.forward(y);
    }
}
