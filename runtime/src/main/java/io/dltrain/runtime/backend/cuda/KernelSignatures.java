package io.dltrain.runtime.backend.cuda;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * The parameter list of every kernel in kernels/src/main/cuda (kernels/README.md). The launcher checks
 * the boxed Java arguments against this table before every launch (a wrong argument to cuLaunchKernel is a silent
 * memory corruption, not an error), and a test checks the table against the {@code .entry} parameter lists of the
 * committed PTX, so the Java side and the CUDA side cannot drift apart unnoticed.
 */
public final class KernelSignatures {
    private KernelSignatures() {}

    /** A kernel parameter type: its Java box and the PTX parameter types it may compile to. */
    public enum Param {
        /** A device pointer: Long (an address), PTX .u64. */
        PTR(Long.class, "u64"),
        /** long long / unsigned long long: Long, PTX .u64 (or .s64). */
        I64(Long.class, "u64", "s64"),
        /** int: Integer, PTX .u32 or .s32. */
        I32(Integer.class, "u32", "s32"),
        /** float: Float, PTX .f32. */
        F32(Float.class, "f32");

        final Class<?> box;
        final List<String> ptx;

        Param(Class<?> box, String... ptx) {
            this.box = box;
            this.ptx = List.of(ptx);
        }

        public boolean acceptsPtx(String ptxType) { return ptx.contains(ptxType); }

        /** Bytes the value occupies in the kernel's parameter buffer. */
        public int bytes() { return box == Long.class ? 8 : 4; }
    }

    private static final Param P = Param.PTR, L = Param.I64, I = Param.I32, F = Param.F32;

    /** kernel name -> parameter types, in the contract's order. */
    public static final Map<String, List<Param>> TABLE;

    static {
        Map<String, List<Param>> t = new LinkedHashMap<>();
        // elementwise.cu
        t.put("fill_f32", List.of(P, F, L));
        t.put("fill_i32", List.of(P, I, L));
        t.put("add_f32", List.of(P, P, P, L));
        t.put("mul_f32", List.of(P, P, P, L));
        t.put("scale_f32", List.of(P, F, P, L));
        t.put("axpy_f32", List.of(F, P, P, L));
        t.put("pow_f32", List.of(P, F, P, L));
        t.put("pow_backward_f32", List.of(P, F, P, P, L));
        t.put("add_bias_f32", List.of(P, P, L, I, L));
        t.put("bias_grad_f32", List.of(P, P, I, I, L, I));
        t.put("sum_f32", List.of(P, L, F, P));
        t.put("sum_squares_f32", List.of(P, L, P, I));
        t.put("clip_by_norm_f32", List.of(P, L, P, F));
        t.put("check_finite_f32", List.of(P, L, P));
        // activation.cu
        t.put("activation_forward_f32", List.of(I, F, P, P, L));
        t.put("activation_backward_f32", List.of(I, F, P, P, P, P, L));
        // pool.cu
        t.put("adaptive_avg_pool_forward_f32", List.of(P, P, I, I, I, I, I));
        t.put("adaptive_avg_pool_backward_f32", List.of(P, P, I, I, I, I, I));
        t.put("avg_pool_forward_f32", List.of(P, P, I, I, I, I, I, I, I, I, I, I, I, I));
        t.put("avg_pool_backward_f32", List.of(P, P, I, I, I, I, I, I, I, I, I, I, I, I));
        // lstm.cu
        t.put("lstm_cell_forward_f32", List.of(P, P, P, P, L, I));
        t.put("lstm_cell_backward_c_f32", List.of(P, P, P, P, P, L, I));
        t.put("lstm_cell_backward_h_f32", List.of(P, P, P, P, P, L, I));
        // norm.cu
        t.put("batch_norm_training_f32", List.of(P, P, P, P, P, P, P, P, I, I, L, F, F));
        t.put("batch_norm_backward_f32", List.of(P, P, P, P, P, P, P, P, I, I, L, I));
        // loss.cu
        t.put("cross_entropy_forward_f32", List.of(P, P, I, I, F, P, P));
        t.put("cross_entropy_backward_f32", List.of(P, P, I, I, F, P, P));
        t.put("loss_forward_f32", List.of(I, P, P, P, L));
        t.put("loss_backward_f32", List.of(I, P, P, P, P, L));
        t.put("count_topk_f32", List.of(P, P, I, I, I, P));
        t.put("one_hot_f32", List.of(P, I, I, P));
        // dropout.cu
        t.put("dropout_forward_f32", List.of(P, P, P, F, F, L, L));
        // optim.cu
        t.put("sgd_step_f32", List.of(P, P, P, L, F, F, F, F, F, I, I));
        t.put("adagrad_step_f32", List.of(P, P, P, L, F, F, F, F, F, I));
        t.put("adadelta_step_f32", List.of(P, P, P, P, L, F, F, F, F, F, F));
        t.put("rmsprop_step_f32", List.of(P, P, P, P, P, L, F, F, F, F, F, F, F, I));
        t.put("adam_step_f32", List.of(P, P, P, P, L, F, F, F, F, F, F, F, F, F));
        t.put("sgd_multi_f32", List.of(P, I, F, F, F, F, F, I, I));
        t.put("adagrad_multi_f32", List.of(P, I, F, F, F, F, F, I));
        t.put("adadelta_multi_f32", List.of(P, I, F, F, F, F, F, F));
        t.put("rmsprop_multi_f32", List.of(P, I, F, F, F, F, F, F, F, I));
        t.put("adam_multi_f32", List.of(P, I, F, F, F, F, F, F, F, F, F));
        TABLE = java.util.Collections.unmodifiableMap(t);
    }

    /** The parameter types of {@code kernel}; throws naming the known kernels when it is not in the table. */
    public static List<Param> of(String kernel) {
        List<Param> p = TABLE.get(kernel);
        if (p == null) throw new IllegalArgumentException("unknown kernel '" + kernel + "': not in KernelSignatures (known: " + TABLE.keySet() + ")");
        return p;
    }

    /** Checks boxed arguments against the table: count, then each position's Java type. */
    public static void validate(String kernel, Object... args) {
        List<Param> p = of(kernel);
        if (args.length != p.size()) {
            throw new IllegalArgumentException("kernel " + kernel + " takes " + p.size() + " arguments " + p + ", got "
                    + args.length + ": " + describe(args));
        }
        for (int i = 0; i < args.length; i++) {
            Object a = args[i];
            if (a == null || a.getClass() != p.get(i).box) {
                throw new IllegalArgumentException("kernel " + kernel + ": argument " + i + " must be " + p.get(i) + " ("
                        + p.get(i).box.getSimpleName() + "), got " + (a == null ? "null" : a.getClass().getSimpleName() + " " + a)
                        + "; arguments: " + describe(args));
            }
        }
    }

    /** "(Long 0x7f00..., Float 0.5, Long 1024)" for error messages. */
    public static String describe(Object... args) {
        StringBuilder sb = new StringBuilder("(");
        for (int i = 0; i < args.length; i++) {
            if (i > 0) sb.append(", ");
            Object a = args[i];
            if (a instanceof Long l && (l > 0xFFFFFFFFL || l < 0)) sb.append("0x").append(Long.toHexString(l));
            else sb.append(a);
        }
        return sb.append(')').toString();
    }

    private static final Pattern ENTRY = Pattern.compile("(?:\\.(?:visible|weak)\\s+)?\\.entry\\s+([A-Za-z_][A-Za-z0-9_$]*)\\s*\\(([^)]*)\\)", Pattern.DOTALL);
    private static final Pattern PARAM = Pattern.compile("\\.param\\s+\\.([a-z]\\d+)\\s+");

    /** Every {@code .entry} of a PTX text: kernel name -> PTX parameter types ("u64", "f32", ...), in order. */
    public static Map<String, List<String>> parsePtxEntries(String ptx) {
        Map<String, List<String>> out = new LinkedHashMap<>();
        Matcher m = ENTRY.matcher(ptx);
        while (m.find()) {
            List<String> types = new ArrayList<>();
            Matcher pm = PARAM.matcher(m.group(2));
            while (pm.find()) types.add(pm.group(1));
            out.put(m.group(1), types);
        }
        return out;
    }
}
