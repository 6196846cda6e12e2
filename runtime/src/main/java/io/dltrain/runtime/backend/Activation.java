package io.dltrain.runtime.backend;

/**
 * A point-wise activation and its parameter (alpha: the negative slope of LeakyReLU, the alpha of ELU,
 * the beta of Softplus; unused by the others). Formulas match PyTorch's modules of the same name;
 * GELU is the exact erf form (PyTorch's default, approximate='none').
 */
public record Activation(Kind kind, float alpha) {
    public enum Kind { RELU, LEAKY_RELU, ELU, SIGMOID, TANH, SOFTPLUS, GELU }

    public static final Activation RELU = new Activation(Kind.RELU, 0f);
    public static final Activation SIGMOID = new Activation(Kind.SIGMOID, 0f);
    public static final Activation TANH = new Activation(Kind.TANH, 0f);
    public static final Activation GELU = new Activation(Kind.GELU, 0f);

    public static Activation leakyRelu(float slope) { return new Activation(Kind.LEAKY_RELU, slope); }
    public static Activation elu(float alpha) { return new Activation(Kind.ELU, alpha); }
    public static Activation softplus(float beta) { return new Activation(Kind.SOFTPLUS, beta); }
}
