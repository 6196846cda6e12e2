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
        Tensor y = Basic.add(body.forward(x), shortcut == null ? x : shortcut.forward(x));
        return post == null ? y : post.forward(y);
    }
}
