package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.backend.PoolParams;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.bytedeco.cuda.cudnn.cudnnConvolutionBwdDataAlgoPerf_t;
import org.bytedeco.cuda.cudnn.cudnnConvolutionBwdFilterAlgoPerf_t;
import org.bytedeco.cuda.cudnn.cudnnConvolutionFwdAlgoPerf_t;
import org.bytedeco.javacpp.Loader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.lang.foreign.Arena;
import java.lang.foreign.FunctionDescriptor;
import java.lang.foreign.Linker;
import java.lang.foreign.SymbolLookup;
import java.lang.foreign.ValueLayout;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Random;

import static io.dltrain.runtime.backend.cuda.CudaBackendStandInTest.randoms;
import static org.bytedeco.cuda.global.cudnn.*;
import static org.junit.jupiter.api.Assertions.*;

/**
 * The REAL {@link CudaBackend}'s cuDNN ops ({@link CudnnOps}: convolution forward / backward-data / backward-filter
 * with bias and groups, ReLU, softmax and log-softmax, max pooling, ceil-mode pooling's explicit padding, batch norm) without a GPU:
 * {@link CudaBackendStandInTest}'s stand-ins (host memory as device memory) plus gcc-built cuDNN 9 stand-ins,
 * {@code libcudnn_ops.so.9} (tensor / filter / pooling / activation descriptors; add tensor, activation, softmax,
 * pooling, set and transform tensor) and {@code libcudnn_cnn.so.9} (convolution descriptors, algorithm and workspace
 * queries, the three convolutions), each symbol in the library whose version node the presets' JNI wrapper imports it
 * from. There are no cuDNN headers here: the stand-ins declare descriptors as opaque pointers and enums as ints with
 * cuDNN 9's values, and the algorithm-perf struct as cudnn_cnn.h lays it out (checked against the presets' layout).
 * Descriptor setters store their arguments and log them; the ops COMPUTE on the host from the stored descriptors
 * (NCHW FP32, honouring the strides), checking handles, descriptors and that every byte range lies in device memory.
 *
 * <p>A child JVM runs {@link #runOps} on a CudaBackend and prints the results; this test runs the same method (same
 * seeded inputs) on the {@link CpuBackend} and compares, to 1e-5 relative (floor 1: the stand-in sums in another
 * order than the CPU), and asserts on what cuDNN was told: dims and strides, pads / strides / dilations, groups,
 * cross-correlation mode, FMA math (DEFAULT_MATH only with the backend's TF32 switch on), algorithm-count requests,
 * one algorithm query and one set of descriptors per shape (a second pass creates and asks nothing, same results), the workspace the allocator handed over,
 * activation / softmax / pooling modes and NaN propagation, and that close() destroyed every descriptor created.
 * Batch norm (training, inference, backward with accumulated dgamma / dbeta; SPATIAL, and PER_ACTIVATION inference) is computed
 * too, as are ReLU / softmax / log-softmax backward and max / average pooling forward and backward (ceil mode's padded
 * gradient included), and sigmoid / tanh / ELU forward and backward. A newly chosen convolution algorithm that the
 * stand-in refuses to run gives way to the next ({@link #retries}). Batches whose tensors exceed what one cuDNN call
 * takes go in slices ({@link #slices}, with the 2^31-1 element limit lowered in the backend and the stand-in). With {@value CudnnOps#SEARCH_SWITCH}=measured,
 * the algorithms come from cudnnFind*AlgorithmEx ({@link #measuredSearchChoosesTheFastestAlgorithmAndLeavesResultsAlone}).
 * Not covered: anything about real cuDNN numerics or speed (CudaVsCpuTest, on a GPU).
 * Skips as CudaBackendStandInTest does (no gcc or CUDA headers, or a real driver present).
 */
class CudnnOpsStandInTest {

    /** The ops under test on any backend, with seeded inputs; results by name, in order. */
    static Map<String, float[]> runOps(Backend be) {
        Random rnd = new Random(11);
        Map<String, float[]> out = new LinkedHashMap<>();
        List<Tensor> all = new ArrayList<>();
        try {
            // Padding, stride 1, bias.
            conv(be, all, out, rnd, "conv-pad-bias", 2, 3, 7, 6, 4, 3, 3, ConvParams.of(1, 1), true, false, false);
            // Two groups, stride (2, 1), pad (1, 0), dilation (2, 1), bias; backward (dw overwritten).
            conv(be, all, out, rnd, "conv-groups-dilation", 2, 4, 9, 8, 6, 3, 2, new ConvParams(2, 1, 1, 0, 2, 1, 2), true, true, false);
            // Depthwise (groups = channels), stride 2; backward with dw accumulated.
            conv(be, all, out, rnd, "conv-depthwise", 1, 4, 5, 5, 4, 3, 3, new ConvParams(2, 2, 1, 1, 1, 1, 4), false, true, true);

            Tensor x = input(be, all, rnd, 3, 5, 7), y = track(all, be.empty(Shape.of(3, 5, 7), DType.FP32));
            be.activationForward(Activation.RELU, x, y);
            out.put("relu", read(be, y));
            Tensor rdy = input(be, all, rnd, 3, 5, 7), rdx = track(all, be.empty(Shape.of(3, 5, 7), DType.FP32));
            activationBackward(be, Activation.RELU, x, y, rdy, rdx);
            out.put("relu-backward", read(be, rdx));

            activations(be, out, x, y, rdy, rdx, Activation.SIGMOID, Activation.TANH, Activation.elu(0.7f));

            Tensor s = input(be, all, rnd, 6, 10), sy = track(all, be.empty(Shape.of(6, 10), DType.FP32));
            Tensor sdy = input(be, all, rnd, 6, 10), sdx = track(all, be.empty(Shape.of(6, 10), DType.FP32));
            softmaxes(be, out, s, sy, sdy, sdx);
            Tensor s3 = input(be, all, rnd, 2, 3, 5), s3y = track(all, be.empty(Shape.of(2, 3, 5), DType.FP32));
            be.softmaxForward(s3, s3y, false);
            out.put("softmax-3d", read(be, s3y));

            pool(be, all, out, rnd, "maxpool-pad", PoolParams.max(3, 2, 1), 2, 3, 7, 7);
            pool(be, all, out, rnd, "maxpool-ceil", new PoolParams(PoolParams.Kind.MAX, 3, 3, 2, 2, 0, 0, true, true), 1, 2, 8, 8);
            pool(be, all, out, rnd, "avgpool-include-pad", PoolParams.avg(3, 2, 1), 2, 3, 7, 7);
            pool(be, all, out, rnd, "avgpool-exclude-pad", new PoolParams(PoolParams.Kind.AVG, 3, 3, 2, 2, 1, 1, false, false), 2, 3, 7, 7);

            batchNorm(be, all, out, rnd, "bn-spatial", true, true, 4, 3, 5, 5);   // SPATIAL: per channel over N, H, W
            // [N, C]: PER_ACTIVATION, inference only (training runs on CudaBackend's kernels, norm.cu, as PyTorch's on its own).
            batchNorm(be, all, out, rnd, "bn-1d", false, false, 6, 4);
        } finally {
            for (Tensor t : all) t.close();
        }
        return out;
    }

    /** The element limit the sliced-ops test lowers {@link CudnnOps#elementsPerCall} and the stand-in to. */
    static final long SLICE_ELEMENTS = 300;

    /**
     * Ops on batches that exceed {@link #SLICE_ELEMENTS} elements per tensor but not per sample, so that with the
     * limit lowered every one goes to cuDNN in slices (the comments give them); batch-norm training is left out,
     * since it cannot be split. Results by name, in order.
     */
    static Map<String, float[]> runSlicedOps(Backend be) {
        Random rnd = new Random(12);
        Map<String, float[]> out = new LinkedHashMap<>();
        List<Tensor> all = new ArrayList<>();
        try {
            // x [5, 3, 6, 6] (108 a sample), y [5, 4, 6, 6] (144): slices of 2, 2 and 1 samples; dw sums over all three.
            conv(be, all, out, rnd, "conv", 5, 3, 6, 6, 4, 3, 3, ConvParams.of(1, 1), true, true, false);
            conv(be, all, out, rnd, "conv-accumulate", 5, 3, 6, 6, 4, 3, 3, ConvParams.of(1, 1), true, true, true);
            // [9, 40]: slices of 7 and 2 rows.
            Tensor x = input(be, all, rnd, 9, 40), y = track(all, be.empty(Shape.of(9, 40), DType.FP32));
            Tensor dy = input(be, all, rnd, 9, 40), dx = track(all, be.empty(Shape.of(9, 40), DType.FP32));
            activations(be, out, x, y, dy, dx, Activation.RELU, Activation.TANH);
            // [40, 9]: slices of 33 and 7 rows.
            Tensor s = input(be, all, rnd, 40, 9), sy = track(all, be.empty(Shape.of(40, 9), DType.FP32));
            Tensor sdy = input(be, all, rnd, 40, 9), sdx = track(all, be.empty(Shape.of(40, 9), DType.FP32));
            softmaxes(be, out, s, sy, sdy, sdx);
            // Ceil mode's padded copy of x has 2 x 9 x 9 = 162 elements a sample: one sample a call. Average: 147, two.
            pool(be, all, out, rnd, "maxpool-ceil", new PoolParams(PoolParams.Kind.MAX, 3, 3, 2, 2, 0, 0, true, true), 5, 2, 8, 8);
            pool(be, all, out, rnd, "avgpool", PoolParams.avg(3, 2, 1), 4, 3, 7, 7);
            // Inference with running statistics, [5, 3, 5, 5] (75 a sample): slices of 4 and 1.
            Tensor bx = input(be, all, rnd, 5, 3, 5, 5), by = track(all, be.empty(Shape.of(5, 3, 5, 5), DType.FP32));
            Tensor gamma = input(be, all, rnd, 3), beta = input(be, all, rnd, 3), mean = input(be, all, rnd, 3);
            Tensor var = track(all, be.empty(Shape.of(3), DType.FP32));
            be.copyFromHost(new float[] {0.5f, 1.25f, 2f}, 0, var);
            be.batchNormForwardInference(bx, gamma, beta, mean, var, 1e-3f, by);
            out.put("bn-inference", read(be, by));
        } finally {
            for (Tensor t : all) t.close();
        }
        return out;
    }

    /** Each activation forward on x into y, then backward with dy into dx; results named after the activation. */
    private static void activations(Backend be, Map<String, float[]> out, Tensor x, Tensor y, Tensor dy, Tensor dx, Activation... acts) {
        for (Activation a : acts) {
            String n = a.kind().toString().toLowerCase();
            be.activationForward(a, x, y);
            out.put(n, read(be, y));
            activationBackward(be, a, x, y, dy, dx);
            out.put(n + "-backward", read(be, dx));
        }
    }

    /**
     * The activation's backward on {@code be}; on the CUDA backend always cuDNN's (CudnnOps), also for ReLU and ELU,
     * whose backward CudaBackend runs on its own kernel ({@link CudnnShapes#backwardOnCudnn}), which these stand-ins
     * do not execute.
     */
    private static void activationBackward(Backend be, Activation a, Tensor x, Tensor y, Tensor dy, Tensor dx) {
        if (be instanceof CudaBackend cuda && !CudnnShapes.backwardOnCudnn(a)) cuda.cudnnOps().activationBackward(a, x, y, dy, dx);
        else be.activationBackward(a, x, y, dy, dx);
    }

    /** Softmax and log-softmax of s into sy, then backward with sdy into sdx. */
    private static void softmaxes(Backend be, Map<String, float[]> out, Tensor s, Tensor sy, Tensor sdy, Tensor sdx) {
        for (boolean log : new boolean[] {false, true}) {
            String n = log ? "log-softmax" : "softmax";
            be.softmaxForward(s, sy, log);
            out.put(n, read(be, sy));
            be.softmaxBackward(sy, sdy, sdx, log);
            out.put(n + "-backward", read(be, sdx));
        }
    }

    private static void conv(Backend be, List<Tensor> all, Map<String, float[]> out, Random rnd, String name, int N, int C, int H, int W,
                             int K, int R, int S, ConvParams p, boolean bias, boolean backward, boolean accumulate) {
        int P = (H + 2 * p.padH() - p.dilationH() * (R - 1) - 1) / p.strideH() + 1, Q = (W + 2 * p.padW() - p.dilationW() * (S - 1) - 1) / p.strideW() + 1;
        Tensor x = input(be, all, rnd, N, C, H, W), w = input(be, all, rnd, K, C / p.groups(), R, S), b = bias ? input(be, all, rnd, K) : null;
        Tensor y = track(all, be.empty(Shape.of(N, K, P, Q), DType.FP32));
        be.convForward(x, w, b, y, p);
        out.put(name + "-forward", read(be, y));
        if (!backward) return;
        Tensor dy = input(be, all, rnd, N, K, P, Q), dx = track(all, be.empty(Shape.of(N, C, H, W), DType.FP32));
        be.convBackwardData(dy, w, dx, p);
        out.put(name + "-backward-data", read(be, dx));
        Tensor dw = accumulate ? input(be, all, rnd, K, C / p.groups(), R, S) : track(all, be.empty(Shape.of(K, C / p.groups(), R, S), DType.FP32));
        be.convBackwardFilter(x, dy, dw, p, accumulate);
        out.put(name + "-backward-filter", read(be, dw));
    }

    /**
     * Training forward (momentum 0.1, eps 1e-3) when asked, then inference with the (updated) running statistics and,
     * when asked, backward.
     */
    private static void batchNorm(Backend be, List<Tensor> all, Map<String, float[]> out, Random rnd, String name, boolean training,
                                  boolean backward, int... dims) {
        int C = dims[1];
        Tensor x = input(be, all, rnd, dims), gamma = input(be, all, rnd, C), beta = input(be, all, rnd, C), rm = input(be, all, rnd, C);
        Tensor rv = track(all, be.empty(Shape.of(C), DType.FP32));
        float[] var = randoms(rnd, C);
        for (int i = 0; i < C; i++) var[i] = Math.abs(var[i]) + 0.5f;
        be.copyFromHost(var, 0, rv);
        Tensor y = track(all, be.empty(Shape.of(dims), DType.FP32)), mean = track(all, be.empty(Shape.of(C), DType.FP32)),
                invStd = track(all, be.empty(Shape.of(C), DType.FP32));
        if (training) {
            be.batchNormForwardTraining(x, gamma, beta, rm, rv, 0.1f, 1e-3f, y, mean, invStd);
            out.put(name + "-training-y", read(be, y));
            out.put(name + "-save-mean", read(be, mean));
            out.put(name + "-save-invstd", read(be, invStd));
            out.put(name + "-running-mean", read(be, rm));
            out.put(name + "-running-var", read(be, rv));
        }
        Tensor yi = track(all, be.empty(Shape.of(dims), DType.FP32));
        be.batchNormForwardInference(x, gamma, beta, rm, rv, 1e-3f, yi);
        out.put(name + "-inference-y", read(be, yi));
        if (!backward) return;
        // dgamma / dbeta accumulate onto what they held.
        Tensor dy = input(be, all, rnd, dims), dx = track(all, be.empty(Shape.of(dims), DType.FP32)),
                dgamma = input(be, all, rnd, C), dbeta = input(be, all, rnd, C);
        be.batchNormBackward(x, dy, gamma, mean, invStd, dx, dgamma, dbeta, true);
        out.put(name + "-backward-dx", read(be, dx));
        out.put(name + "-backward-dgamma", read(be, dgamma));
        out.put(name + "-backward-dbeta", read(be, dbeta));
    }

    private static void pool(Backend be, List<Tensor> all, Map<String, float[]> out, Random rnd, String name, PoolParams p, int N, int C, int H, int W) {
        Tensor x = input(be, all, rnd, N, C, H, W), y = track(all, be.empty(Shape.of(N, C, p.outH(H), p.outW(W)), DType.FP32));
        be.poolForward(x, y, p);
        out.put(name, read(be, y));
        Tensor dy = input(be, all, rnd, N, C, p.outH(H), p.outW(W)), dx = track(all, be.empty(Shape.of(N, C, H, W), DType.FP32));
        be.poolBackward(x, y, dy, dx, p);
        out.put(name + "-backward", read(be, dx));
    }

    private static Tensor input(Backend be, List<Tensor> all, Random rnd, int... dims) {
        Tensor t = track(all, be.empty(Shape.of(dims), DType.FP32));
        be.copyFromHost(randoms(rnd, (int) t.numel()), 0, t);
        return t;
    }

    private static Tensor track(List<Tensor> all, Tensor t) { all.add(t); return t; }

    private static float[] read(Backend be, Tensor t) {
        float[] v = new float[(int) t.numel()];
        be.toHost(t, v);
        return v;
    }

    // ------------------------------------------------------------------ the child JVM

    /** Runs in the child JVM against the stand-ins: prints the perf-struct layout, each result, then the live counts. */
    public static void main(String[] args) throws Throwable {
        System.load(Path.of(args[0], "libcudart.so.13").toString());   // the stand-in, before JavaCPP finds the toolkit's
        if (args.length > 1 && args[1].equals("fail")) {
            failures();
            return;
        }
        if (args.length > 1 && args[1].equals("retry")) {
            try (CudaBackend be = new CudaBackend(0, false)) {
                retries(be, ConvParams.of(1, 1));
            }
            System.out.println("java-closed");
            CudaBackendStandInTest.report();
            CudaBackendStandInTest.call("libcudnn_ops.so.9", "standin_cudnn_ops_report");
            return;
        }
        if (args.length > 1 && args[1].equals("slices")) {
            slices();
            return;
        }
        boolean tf32 = args.length > 1 && args[1].equals("tf32");
        if (args.length > 1 && args[1].equals("measured")) System.setProperty(CudnnOps.SEARCH_SWITCH, "measured");
        Map<String, float[]> results, again;
        try (CudaBackend be = new CudaBackend(0, tf32)) {
            System.out.println("java-conv-algorithms " + be.describe().get("conv_algorithms"));
            // The presets register the cuDNN structs' layouts when the backend has loaded cuDNN.
            System.out.println("java-perf sizeof=" + Loader.sizeof(cudnnConvolutionFwdAlgoPerf_t.class)
                    + " algo=" + Loader.offsetof(cudnnConvolutionFwdAlgoPerf_t.class, "algo")
                    + " status=" + Loader.offsetof(cudnnConvolutionFwdAlgoPerf_t.class, "status")
                    + " memory=" + Loader.offsetof(cudnnConvolutionFwdAlgoPerf_t.class, "memory")
                    + " determinism=" + Loader.offsetof(cudnnConvolutionFwdAlgoPerf_t.class, "determinism")
                    + " mathType=" + Loader.offsetof(cudnnConvolutionFwdAlgoPerf_t.class, "mathType"));
            System.out.println("java-perf-sizes " + Loader.sizeof(cudnnConvolutionFwdAlgoPerf_t.class) + " "
                    + Loader.sizeof(cudnnConvolutionBwdDataAlgoPerf_t.class) + " " + Loader.sizeof(cudnnConvolutionBwdFilterAlgoPerf_t.class));
            results = runOps(be);
            // A steady state: the same shapes again create no descriptor and ask cuDNN for no algorithm.
            CudaBackendStandInTest.call("libcudnn_ops.so.9", "standin_cudnn_ops_report");
            again = runOps(be);
            CudaBackendStandInTest.call("libcudnn_ops.so.9", "standin_cudnn_ops_report");
        }
        boolean same = results.keySet().equals(again.keySet());
        for (String k : results.keySet()) same &= again.containsKey(k) && Arrays.equals(results.get(k), again.get(k));
        System.out.println("java-repeat-same " + same);
        print(results);
        System.out.println("java-closed");
        CudaBackendStandInTest.report();
        CudaBackendStandInTest.call("libcudnn_ops.so.9", "standin_cudnn_ops_report");
        CudaBackendStandInTest.call("libcudnn_cnn.so.9", "standin_cudnn_cnn_report");
    }

    /**
     * Child: {@link #runSlicedOps} with the element limit lowered to {@link #SLICE_ELEMENTS} in the backend and in the
     * stand-in (which then refuses larger tensor descriptors, as cuDNN refuses more than 2^31-1 elements); then a
     * batch-norm training call beyond the limit, which cannot be split, and one sample beyond it.
     */
    private static void slices() throws Throwable {
        CudnnOps.elementsPerCall = SLICE_ELEMENTS;
        Linker.nativeLinker().downcallHandle(SymbolLookup.libraryLookup("libcudnn_ops.so.9", Arena.global()).find("standin_set_max_elements").orElseThrow(),
                FunctionDescriptor.ofVoid(ValueLayout.JAVA_LONG)).invokeExact(SLICE_ELEMENTS);
        Map<String, float[]> results;
        try (CudaBackend be = new CudaBackend(0, false)) {
            results = runSlicedOps(be);
            // Batch-norm training cannot be split: beyond the limit it runs on CudaBackend's own kernel (norm.cu).
            try (Tensor x = ones(be, 5, 3, 5, 5); Tensor y = be.empty(Shape.of(5, 3, 5, 5), DType.FP32); Tensor g = ones(be, 3);
                 Tensor b = ones(be, 3); Tensor rm = ones(be, 3); Tensor rv = ones(be, 3); Tensor m = ones(be, 3); Tensor is = ones(be, 3)) {
                System.out.println("java-mark bn-training");
                be.batchNormForwardTraining(x, g, b, rm, rv, 0.1f, 1e-3f, y, m, is);
                System.out.println("java-mark end-bn-training");
            }
            try (Tensor x = ones(be, 2, 1, 20, 20); Tensor y = be.empty(Shape.of(2, 1, 20, 20), DType.FP32)) {
                be.activationForward(Activation.RELU, x, y);
                System.out.println("java-no-exception");
            } catch (IllegalArgumentException e) {
                System.out.println("java-sample-refused " + e.getMessage());
            }
        }
        print(results);
        System.out.println("java-closed");
        CudaBackendStandInTest.report();
        CudaBackendStandInTest.call("libcudnn_ops.so.9", "standin_cudnn_ops_report");
    }

    private static void print(Map<String, float[]> results) {
        for (Map.Entry<String, float[]> e : results.entrySet()) {
            StringBuilder sb = new StringBuilder("java-out ").append(e.getKey());
            for (float v : e.getValue()) sb.append(' ').append(Float.floatToRawIntBits(v));
            System.out.println(sb);
        }
    }

    /** Child: a failing descriptor set and a failing convolution throw CudnnException and leak nothing. */
    private static void failures() throws Throwable {
        try (CudaBackend be = new CudaBackend(0, false)) {
            try (Tensor x = be.empty(Shape.of(4, 5), DType.FP32); Tensor y = be.empty(Shape.of(4, 5), DType.FP32)) {
                be.fill(x, -1.5f);
                CudaBackendStandInTest.call("libcudnn_ops.so.9", "standin_fail_next_tensor_set");
                try {
                    be.activationForward(Activation.RELU, x, y);
                    System.out.println("java-no-exception");
                } catch (CudnnOps.CudnnException e) {
                    System.out.println("java-failed " + e.status() + " " + e.getMessage());
                }
                // Nothing half-made was cached: the same op now creates and sets its descriptor and runs.
                be.fill(y, 7f);
                be.activationForward(Activation.RELU, x, y);
                System.out.println("java-retry " + Arrays.toString(read(be, y)));
            }
            ConvParams p = ConvParams.of(1, 1);
            try (Tensor x = be.empty(Shape.of(1, 2, 5, 5), DType.FP32); Tensor w = be.empty(Shape.of(3, 2, 3, 3), DType.FP32);
                 Tensor y = be.empty(Shape.of(1, 3, 5, 5), DType.FP32)) {
                be.fill(x, 1f);
                be.fill(w, 1f);
                long before = be.memoryStats().inUseBytes();
                CudaBackendStandInTest.call("libcudnn_cnn.so.9", "standin_fail_next_convolution");
                try {
                    be.convForward(x, w, null, y, p);
                    System.out.println("java-no-exception");
                } catch (CudnnOps.CudnnException e) {
                    System.out.println("java-failed " + e.status() + " " + e.getMessage());
                }
                System.out.println("java-expect-failure cudnnConvolutionForward failed: stand-in cuDNN status (cudnnStatus_t 5000) for x "
                        + x.shape() + ", w " + w.shape() + ", y " + y.shape() + ", " + p + " (algorithm 1, FMA math); cuDNN's ranking has"
                        + " no other acceptable algorithm within a " + CudaLibraries.human(CudnnOps.WORKSPACE_LIMIT) + " workspace");
                // The workspace went back to the allocator.
                System.out.println("java-in-use-unchanged " + (be.memoryStats().inUseBytes() == before));
            }
            // cuDNN refuses the workspace query of the algorithm its ranking put first: the next one runs (a new shape,
            // so nothing is cached).
            try (Tensor x = be.empty(Shape.of(1, 2, 6, 6), DType.FP32); Tensor w = be.empty(Shape.of(3, 2, 3, 3), DType.FP32);
                 Tensor y = be.empty(Shape.of(1, 3, 6, 6), DType.FP32)) {
                be.fill(x, 1f);
                be.fill(w, 1f);
                CudaBackendStandInTest.call("libcudnn_cnn.so.9", "standin_refuse_workspace_of_algo1");
                be.convForward(x, w, null, y, p);
                float[] got = read(be, y);
                System.out.println("java-refused-algo-skipped " + got[7] + " " + got[0]);   // an inner pixel sums 2 x 9 ones; a corner 2 x 4
            }
        }
        System.out.println("java-closed");
        CudaBackendStandInTest.report();
        CudaBackendStandInTest.call("libcudnn_ops.so.9", "standin_cudnn_ops_report");
    }

    /**
     * Child: convolutions whose newly chosen algorithm cuDNN fails to run. All ones in, so the sums are counts: x
     * [1, 2, H, W] and w [3, 2, 3, 3] with padding 1 give y's inner pixels 2 x 9 = 18 and its corners 2 x 4 = 8; dy of
     * ones gives dx's inner pixels 3 x 9 = 27 and, on a 4 x 4 image, dw's centre tap 16 and corner taps 9.
     */
    private static void retries(CudaBackend be, ConvParams p) throws Throwable {
        // Refused (NOT_SUPPORTED) in every direction: the second-ranked algorithm runs, accumulating backward-filter too.
        try (Tensor x = ones(be, 1, 2, 4, 4); Tensor w = ones(be, 3, 2, 3, 3); Tensor y = be.empty(Shape.of(1, 3, 4, 4), DType.FP32);
             Tensor dy = ones(be, 1, 3, 4, 4); Tensor dx = be.empty(Shape.of(1, 2, 4, 4), DType.FP32); Tensor dw = ones(be, 3, 2, 3, 3)) {
            CudaBackendStandInTest.call("libcudnn_cnn.so.9", "standin_refuse_runs_of_algo1");
            be.convForward(x, w, null, y, p);
            be.convBackwardData(dy, w, dx, p);
            be.convBackwardFilter(x, dy, dw, p, true);
            System.out.println("java-refused-runs " + read(be, y)[5] + " " + read(be, y)[0] + " " + read(be, dx)[5] + " "
                    + read(be, dw)[4] + " " + read(be, dw)[0]);   // onto dw's ones: 17 and 10
            // The algorithm that ran is cached: the same shapes ask nothing and run it at once.
            CudaBackendStandInTest.call("libcudnn_cnn.so.9", "standin_reset_algorithms");
            System.out.println("java-mark cached");
            be.convForward(x, w, null, y, p);
            be.convBackwardFilter(x, dy, dw, p, false);
            System.out.println("java-cached-runs " + read(be, y)[5] + " " + read(be, dw)[4]);
            System.out.println("java-mark end-cached");
        }
        // EXECUTION_FAILED: overwriting calls move on; an accumulating one does not (its dw may hold part of a sum).
        try (Tensor x = ones(be, 1, 2, 3, 3); Tensor w = ones(be, 3, 2, 3, 3); Tensor y = be.empty(Shape.of(1, 3, 3, 3), DType.FP32);
             Tensor dy = ones(be, 1, 3, 3, 3); Tensor dw = ones(be, 3, 2, 3, 3)) {
            CudaBackendStandInTest.call("libcudnn_cnn.so.9", "standin_fail_runs_of_algo1");
            be.convForward(x, w, null, y, p);
            System.out.println("java-failed-run-moved-on " + read(be, y)[4]);   // the centre of a 3 x 3 image: 18
            printFailure("java-accumulate-not-retried", () -> be.convBackwardFilter(x, dy, dw, p, true));
            // Nothing was cached for the shape that never ran: allowed again, it chooses afresh and runs algorithm 1.
            CudaBackendStandInTest.call("libcudnn_cnn.so.9", "standin_reset_algorithms");
            System.out.println("java-mark rechoose");
            be.convBackwardFilter(x, dy, dw, p, true);
            System.out.println("java-rechosen " + read(be, dw)[4]);   // the centre tap of a 3 x 3 image: 1 + 9
            System.out.println("java-mark end-rechoose");
        }
        // An algorithm that has run for a shape before is not second-guessed; nor, when every algorithm fails, is any cached.
        try (Tensor x = ones(be, 1, 2, 7, 7); Tensor w = ones(be, 3, 2, 3, 3); Tensor y = be.empty(Shape.of(1, 3, 7, 7), DType.FP32);
             Tensor x2 = ones(be, 1, 2, 8, 8); Tensor y2 = be.empty(Shape.of(1, 3, 8, 8), DType.FP32)) {
            be.convForward(x, w, null, y, p);
            CudaBackendStandInTest.call("libcudnn_cnn.so.9", "standin_fail_runs_of_algo1");
            printFailure("java-ran-before", () -> be.convForward(x, w, null, y, p));
            CudaBackendStandInTest.call("libcudnn_cnn.so.9", "standin_refuse_all_runs");
            printFailure("java-all-failed", () -> be.convForward(x2, w, null, y2, p));
            CudaBackendStandInTest.call("libcudnn_cnn.so.9", "standin_reset_algorithms");
            be.convForward(x2, w, null, y2, p);
            System.out.println("java-after-all-failed " + read(be, y2)[9]);   // an inner pixel: 18
        }
        // Asking cuDNN for the other algorithms fails too (as after a fault in earlier work): this call's failure comes first.
        try (Tensor x = ones(be, 1, 2, 6, 6); Tensor w = ones(be, 3, 2, 3, 3); Tensor y = be.empty(Shape.of(1, 3, 6, 6), DType.FP32)) {
            CudaBackendStandInTest.call("libcudnn_cnn.so.9", "standin_fail_runs_of_algo1");
            CudaBackendStandInTest.call("libcudnn_cnn.so.9", "standin_fail_query_after_refused_run");
            printFailure("java-query-failed-too", () -> be.convForward(x, w, null, y, p));
            CudaBackendStandInTest.call("libcudnn_cnn.so.9", "standin_reset_algorithms");
        }
        // A sticky error left by earlier work (a kernel's illegal address), which a real cuDNN reports as its own execution
        // failure: the message names the CUDA error and the earlier work, and no other algorithm is tried (all would fail).
        try (Tensor x = ones(be, 1, 2, 5, 5); Tensor w = ones(be, 3, 2, 3, 3); Tensor y = be.empty(Shape.of(1, 3, 5, 5), DType.FP32)) {
            CudaBackendStandInTest.call("libcudnn_cnn.so.9", "standin_fail_runs_of_algo1");
            CudaBackendStandInTest.call("libcudart.so.13", "standin_poison_illegal_address");
            System.out.println("java-mark poisoned");
            printFailure("java-earlier-fault", () -> be.convForward(x, w, null, y, p));
            System.out.println("java-mark end-poisoned");
            CudaBackendStandInTest.call("libcudart.so.13", "standin_unpoison");
            CudaBackendStandInTest.call("libcudnn_cnn.so.9", "standin_reset_algorithms");
        }
    }

    /** Runs the call, which should throw: prints "TAG status message", or java-no-exception (which the test rejects). */
    private static void printFailure(String tag, Runnable call) {
        try {
            call.run();
            System.out.println("java-no-exception");
        } catch (CudnnOps.CudnnException e) {
            System.out.println(tag + " " + e.status() + " " + e.getMessage());
        }
    }

    private static Tensor ones(Backend be, int... dims) {
        Tensor t = be.empty(Shape.of(dims), DType.FP32);
        be.fill(t, 1f);
        return t;
    }

    // ------------------------------------------------------------------ the test

    @Test
    void failedCudnnCallsThrowAndLeakNothing(@TempDir Path dir) throws Exception {
        String out = CudaBackendStandInTest.runChild(dir, CudnnOpsStandInTest.class, CudaBackendStandInTest.STUB_CUDNN, STUB_CUDNN_OPS, STUB_CUDNN_CNN, "fail");
        assertTrue(out.contains("java-closed\n") && !out.contains("java-no-exception"), out);
        assertEquals(List.of(), CublasLtStubTest.lines(out, "c-error"), "the stand-ins saw a wrong call:\n" + out);
        assertEquals(List.of("c-cudnn-injected-failure cudnnSetTensorNdDescriptor", "c-cudnn-injected-failure cudnnConvolutionForward"),
                CublasLtStubTest.lines(out, "c-cudnn-injected-failure"), out);
        List<String> failed = CublasLtStubTest.lines(out, "java-failed ");
        assertEquals(2, failed.size(), out);
        // The status and cudnnGetErrorString's text, the call and what it described.
        assertEquals("java-failed 3000 cudnnSetTensorNdDescriptor failed: stand-in cuDNN status (cudnnStatus_t 3000) for dims [4, 5, 1, 1], strides [5, 1, 1, 1]",
                failed.get(0), out);
        assertEquals("java-failed 5000 " + CublasLtStubTest.lines(out, "java-expect-failure ").get(0).substring("java-expect-failure ".length()), failed.get(1), out);
        float[] zeros = new float[20];
        assertEquals("java-retry " + Arrays.toString(zeros), CublasLtStubTest.lines(out, "java-retry ").get(0), out);
        assertTrue(out.contains("java-in-use-unchanged true\n"), out);
        // A refused workspace query passes its algorithm over: the second-ranked one (0) runs, and gives the sums.
        assertTrue(out.contains("c-cudnn-workspace-refused forward algo=1\n"), out);
        assertTrue(out.contains("c-cudnn-convolution forward algo=0 "), out);
        assertTrue(out.contains("java-refused-algo-skipped 18.0 8.0\n"), out);
        // The failed set's descriptor was destroyed at once; the others at close().
        String live = CublasLtStubTest.lines(out, "c-live cudnn descriptors ").get(0);
        assertTrue(live.startsWith("c-live cudnn descriptors tensor=0 filter=0 convolution=0 pooling=0 activation=0 created=") && live.endsWith(" errors=0"), out);
        assertTrue(out.contains("c-live cudnn handles=0 errors=0\n"), out);
        assertTrue(out.contains("c-live cudart streams=0 events=0 device=0 pinned=0 device_bytes=0 errors=0\n"), out);
    }

    /** A newly chosen convolution algorithm that cuDNN fails to run gives way to the next of its ranking; see {@link #retries}. */
    @Test
    void convolutionAlgorithmsThatFailToRunGiveWayToTheNext(@TempDir Path dir) throws Exception {
        String out = CudaBackendStandInTest.runChild(dir, CudnnOpsStandInTest.class, CudaBackendStandInTest.STUB_CUDNN, STUB_CUDNN_OPS, STUB_CUDNN_CNN, "retry");
        assertTrue(out.contains("java-closed\n") && !out.contains("java-no-exception"), out);
        assertEquals(List.of(), CublasLtStubTest.lines(out, "c-error"), "the stand-ins saw a wrong call:\n" + out);
        String p = ConvParams.of(1, 1).toString();

        // Refused in each direction: algorithm 0 ran and gave the sums (backward-filter adding onto dw's ones), one line each on stderr.
        String refusedPart = out.substring(0, out.indexOf("java-mark cached"));
        for (String d : List.of("forward", "backward-data", "backward-filter"))
            assertEquals(1, count(refusedPart, "c-cudnn-run-refused " + d + " algo=1 status=3000"), out);
        assertTrue(out.contains("java-refused-runs 18.0 8.0 27.0 17.0 10.0\n"), out);
        List<String> notes = CublasLtStubTest.lines(out, "cuDNN: ");
        assertEquals(4, notes.size(), out);
        assertEquals("cuDNN: cudnnConvolutionForward failed: stand-in cuDNN status (cudnnStatus_t 3000) for x [1, 2, 4, 4], w [3, 2, 3, 3],"
                + " y [1, 3, 4, 4], " + p + " (algorithm 1, FMA math); algorithm 0, FMA math ran instead and runs this shape from now on", notes.get(0));
        assertTrue(notes.get(1).startsWith("cuDNN: cudnnConvolutionBackwardData failed: stand-in cuDNN status (cudnnStatus_t 3000) for dy [1, 3, 4, 4]"), out);
        assertTrue(notes.get(2).startsWith("cuDNN: cudnnConvolutionBackwardFilter failed: stand-in cuDNN status (cudnnStatus_t 3000) for x [1, 2, 4, 4]")
                && notes.get(2).endsWith(", accumulate (algorithm 1, FMA math); algorithm 0, FMA math ran instead and runs this shape from now on"), out);
        // The algorithm that ran was cached: the same shapes ask cuDNN nothing and run it straight away.
        String cached = between(out, "java-mark cached\n", "java-mark end-cached\n");
        assertFalse(cached.contains("c-cudnn-algo-query") || cached.contains("c-cudnn-workspace-query"), cached);
        assertEquals(List.of("c-cudnn-convolution forward algo=0 math=" + CUDNN_FMA_MATH + " workspace_bytes=0 workspace=null",
                "c-cudnn-convolution backward-filter algo=0 math=" + CUDNN_FMA_MATH + " workspace_bytes=0 workspace=null"),
                CublasLtStubTest.lines(cached, "c-cudnn-convolution "), cached);
        assertTrue(out.contains("java-cached-runs 18.0 16.0\n"), out);

        // EXECUTION_FAILED: the forward moved on; the accumulating backward-filter did not (no third algorithm-0 run of it).
        assertTrue(out.contains("java-failed-run-moved-on 18.0\n"), out);
        assertTrue(notes.get(3).startsWith("cuDNN: cudnnConvolutionForward failed: stand-in cuDNN status (cudnnStatus_t 5000) for x [1, 2, 3, 3]"), out);
        assertEquals("java-accumulate-not-retried 5000 cudnnConvolutionBackwardFilter failed: stand-in cuDNN status (cudnnStatus_t 5000) for"
                + " x [1, 2, 3, 3], dy [1, 3, 3, 3], dw [3, 2, 3, 3], " + p + ", accumulate (algorithm 1, FMA math); no other algorithm tried:"
                + " the call adds onto its output, which the failed one may have partly written",
                CublasLtStubTest.lines(out, "java-accumulate-not-retried ").get(0), out);
        assertEquals(2, out.lines().filter(l -> l.startsWith("c-cudnn-convolution backward-filter algo=0 ")).count(), out);
        // Nothing was cached for that shape: allowed again, it asks cuDNN afresh and runs algorithm 1 onto the untouched dw.
        String rechoose = between(out, "java-mark rechoose\n", "java-mark end-rechoose\n");
        assertEquals(1, CublasLtStubTest.lines(rechoose, "c-cudnn-algo-query backward-filter ").size(), rechoose);
        assertEquals(List.of("c-cudnn-convolution backward-filter algo=1 math=" + CUDNN_FMA_MATH + " workspace_bytes=7000 workspace=device"),
                CublasLtStubTest.lines(rechoose, "c-cudnn-convolution "), rechoose);
        assertTrue(out.contains("java-rechosen 10.0\n"), out);

        // An algorithm that ran before for the shape: thrown, not replaced. Every algorithm failing: the first failure, and each.
        assertTrue(CublasLtStubTest.lines(out, "java-ran-before ").get(0).endsWith(" for x [1, 2, 7, 7], w [3, 2, 3, 3], y [1, 3, 7, 7], " + p
                + " (algorithm 1, FMA math); that algorithm has run for this shape before"), out);
        assertTrue(CublasLtStubTest.lines(out, "java-ran-before ").get(0).startsWith("java-ran-before 5000 "), out);
        assertEquals("java-all-failed 3000 cudnnConvolutionForward failed: stand-in cuDNN status (cudnnStatus_t 3000) for x [1, 2, 8, 8],"
                + " w [3, 2, 3, 3], y [1, 3, 8, 8], " + p + " (algorithm 1, FMA math); no other algorithm ran either: algorithm 0, FMA math:"
                + " stand-in cuDNN status (cudnnStatus_t 3000)", CublasLtStubTest.lines(out, "java-all-failed ").get(0), out);
        assertTrue(out.contains("java-after-all-failed 18.0\n"), out);
        assertEquals("java-query-failed-too 5000 cudnnConvolutionForward failed: stand-in cuDNN status (cudnnStatus_t 5000) for x [1, 2, 6, 6],"
                + " w [3, 2, 3, 3], y [1, 3, 6, 6], " + p + " (algorithm 1, FMA math); looking for another algorithm failed too:"
                + " cudnnGetConvolutionForwardAlgorithm_v7 failed: stand-in cuDNN status (cudnnStatus_t 4000) for x [1, 2, 6, 6], w [3, 2, 3, 3],"
                + " y [1, 3, 6, 6], " + p, CublasLtStubTest.lines(out, "java-query-failed-too ").get(0), out);

        // A failure caused by an earlier kernel's sticky error: named as such, and no second algorithm ran.
        String poisoned = between(out, "java-mark poisoned\n", "java-mark end-poisoned\n");
        assertEquals(List.of("c-cudnn-convolution forward algo=1 math=" + CUDNN_FMA_MATH + " workspace_bytes=5000 workspace=device"),
                CublasLtStubTest.lines(poisoned, "c-cudnn-convolution "), poisoned);
        String fault = CublasLtStubTest.lines(out, "java-earlier-fault ").get(0);
        assertTrue(fault.startsWith("java-earlier-fault 5000 cudnnConvolutionForward failed: stand-in cuDNN status (cudnnStatus_t 5000) for"
                + " x [1, 2, 5, 5], w [3, 2, 3, 3], y [1, 3, 5, 5], " + p + " (algorithm 1, FMA math); the CUDA context reports"
                + " cudaErrorStandIn (") && fault.contains(". This error comes from an EARLIER kernel or copy") && fault.contains("CUDA_LAUNCH_BLOCKING=1"), out);

        // Every workspace went back; nothing leaked.
        assertTrue(out.contains("c-live cudart streams=0 events=0 device=0 pinned=0 device_bytes=0 errors=0\n"), out);
        assertTrue(out.contains("c-live cudnn handles=0 errors=0\n"), out);
    }

    /** The lines of out after the first {@code from} and before the following {@code to}. */
    private static String between(String out, String from, String to) {
        int a = out.indexOf(from);
        assertTrue(a >= 0, "no \"" + from.strip() + "\" in:\n" + out);
        int b = out.indexOf(to, a);
        assertTrue(b >= 0, "no \"" + to.strip() + "\" in:\n" + out);
        return out.substring(a + from.length(), b);
    }

    /**
     * Batches whose tensors exceed what one cuDNN call takes (2^31-1 elements; {@link #SLICE_ELEMENTS} here, in the
     * backend and the stand-in) go in slices, and give the CPU's results; batch-norm training, which cannot be split,
     * and a single sample over the limit are refused with the reason. See {@link #slices}.
     */
    @Test
    void batchesBeyondCudnnsElementLimitGoInSlices(@TempDir Path dir) throws Exception {
        String out = CudaBackendStandInTest.runChild(dir, CudnnOpsStandInTest.class, CudaBackendStandInTest.STUB_CUDNN, STUB_CUDNN_OPS, STUB_CUDNN_CNN, "slices");
        assertTrue(out.contains("java-closed\n") && !out.contains("java-no-exception"), out);
        assertEquals(List.of(), CublasLtStubTest.lines(out, "c-error"), "the stand-ins saw a wrong call:\n" + out);
        Map<String, float[]> want;
        try (CpuBackend cpu = new CpuBackend(1)) {
            want = runSlicedOps(cpu);
        }
        sameAsCpu(out, want);

        // The slices cuDNN was given (the comments in runSlicedOps), and no tensor beyond the limit.
        for (String line : List.of(
                "c-cudnn-tensor dt=" + CUDNN_DATA_FLOAT + " nb=4 dims=2,3,6,6 strides=108,36,6,1",
                "c-cudnn-tensor dt=" + CUDNN_DATA_FLOAT + " nb=4 dims=1,3,6,6 strides=108,36,6,1",
                "c-cudnn-tensor dt=" + CUDNN_DATA_FLOAT + " nb=4 dims=2,4,6,6 strides=144,36,6,1",
                "c-cudnn-tensor dt=" + CUDNN_DATA_FLOAT + " nb=4 dims=1,4,6,6 strides=144,36,6,1",
                "c-cudnn-add a=1,4,1,1 c=2,4,6,6 alpha=1 beta=1", "c-cudnn-add a=1,4,1,1 c=1,4,6,6 alpha=1 beta=1",
                "c-cudnn-activation-forward mode=" + CUDNN_ACTIVATION_RELU + " dims=7,40,1,1",
                "c-cudnn-activation-forward mode=" + CUDNN_ACTIVATION_RELU + " dims=2,40,1,1",
                "c-cudnn-activation-backward mode=" + CUDNN_ACTIVATION_TANH + " dims=2,40,1,1",
                "c-cudnn-softmax algo=" + CUDNN_SOFTMAX_ACCURATE + " mode=" + CUDNN_SOFTMAX_MODE_INSTANCE + " dims=33,9,1,1",
                "c-cudnn-softmax-backward algo=" + CUDNN_SOFTMAX_LOG + " mode=" + CUDNN_SOFTMAX_MODE_INSTANCE + " dims=7,9,1,1",
                "c-cudnn-pool-forward mode=" + CUDNN_POOLING_MAX_DETERMINISTIC + " x=1,2,9,9 y=1,2,4,4",
                "c-cudnn-pool-backward mode=" + CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING + " x=2,3,7,7 y=2,3,4,4",
                "c-cudnn-bn-inference mode=" + CUDNN_BATCHNORM_SPATIAL + " x=4,3,5,5 eps_e9=" + e9(1e-3f),
                "c-cudnn-bn-inference mode=" + CUDNN_BATCHNORM_SPATIAL + " x=1,3,5,5 eps_e9=" + e9(1e-3f)))
            assertTrue(out.lines().anyMatch(line::equals), "no C-side line \"" + line + "\":\n" + out);
        // Two convolutions of three slices each.
        assertEquals(6, count(out, "c-cudnn-convolution forward algo=1 math=" + CUDNN_FMA_MATH + " workspace_bytes=5000 workspace=device"), out);
        for (String l : CublasLtStubTest.lines(out, "c-cudnn-tensor ")) {
            long n = 1;
            for (String d : l.replaceAll(".* dims=([0-9,]+) .*", "$1").split(",")) n *= Long.parseLong(d);
            assertTrue(n <= SLICE_ELEMENTS, l);
        }

        // Batch-norm training beyond the limit: not cuDNN but our kernel, one block per channel.
        String bn = between(out, "java-mark bn-training\n", "java-mark end-bn-training\n");
        assertFalse(bn.contains("c-cudnn-bn-training"), bn);
        assertEquals(1, CublasLtStubTest.lines(bn, "c-launch batch_norm_training_f32 grid=3,1,1 block=256,1,1 ").size(), bn);
        assertEquals("java-sample-refused activationForward RELU: one sample of [2, 1, 20, 20] has 400 elements, more than the 300"
                + " cuDNN takes per tensor (its legacy API counts elements in 32 bits), so the batch cannot be split small enough;"
                + " make the samples smaller (image size, channels)", CublasLtStubTest.lines(out, "java-sample-refused ").get(0), out);
        assertTrue(out.contains("c-live cudnn handles=0 errors=0\n"), out);
        assertTrue(out.contains("c-live cudart streams=0 events=0 device=0 pinned=0 device_bytes=0 errors=0\n"), out);
    }

    @Test
    void cudnnOpsOfTheRealBackendMatchTheCpuBackend(@TempDir Path dir) throws Exception {
        check(CudaBackendStandInTest.runChild(dir, CudnnOpsStandInTest.class, CudaBackendStandInTest.STUB_CUDNN, STUB_CUDNN_OPS, STUB_CUDNN_CNN), false, false);
    }

    /** With the backend's TF32 switch on, convolutions are queried and run with DEFAULT_MATH (tensor ops allowed). */
    @Test
    void tf32SwitchLetsConvolutionsUseDefaultMath(@TempDir Path dir) throws Exception {
        check(CudaBackendStandInTest.runChild(dir, CudnnOpsStandInTest.class, CudaBackendStandInTest.STUB_CUDNN, STUB_CUDNN_OPS, STUB_CUDNN_CNN, "tf32"), true, false);
    }

    /**
     * With {@value CudnnOps#SEARCH_SWITCH}=measured, each convolution shape's algorithm comes from one
     * cudnnFind*AlgorithmEx per direction (the stand-in times algorithm 0 fastest, so it runs instead of the heuristics'
     * algorithm 1), given the search workspace; the search's output (NaN in the stand-in) never reaches a result: y and
     * dx are overwritten by the real call, and the accumulating backward-filter searched into a scratch buffer, not dw.
     */
    @Test
    void measuredSearchChoosesTheFastestAlgorithmAndLeavesResultsAlone(@TempDir Path dir) throws Exception {
        check(CudaBackendStandInTest.runChild(dir, CudnnOpsStandInTest.class, CudaBackendStandInTest.STUB_CUDNN, STUB_CUDNN_OPS, STUB_CUDNN_CNN, "measured"), false, true);
    }

    /** The child's java-out results against {@code want} (the CPU backend's), name by name. */
    private static void sameAsCpu(String out, Map<String, float[]> want) {
        Map<String, float[]> got = new LinkedHashMap<>();
        for (String l : CublasLtStubTest.lines(out, "java-out ")) {
            String[] f = l.split(" ");
            float[] v = new float[f.length - 2];
            for (int i = 0; i < v.length; i++) v[i] = Float.intBitsToFloat(Integer.parseInt(f[i + 2]));
            got.put(f[1], v);
        }
        assertEquals(List.copyOf(want.keySet()), List.copyOf(got.keySet()), out);
        for (String name : want.keySet()) {
            float[] g = got.get(name), w = want.get(name);
            assertEquals(w.length, g.length, name);
            for (int i = 0; i < w.length; i++) {
                // 1e-5 relative, floor 1: the stand-in accumulates in another order than the CPU backend.
                assertTrue(Math.abs(g[i] - w[i]) <= 1e-5 * Math.max(1, Math.abs(w[i])),
                        name + "[" + i + "]: CUDA backend (stand-in cuDNN) " + g[i] + ", CPU " + w[i] + "\n" + Arrays.toString(g) + "\n" + Arrays.toString(w));
            }
        }
    }

    private static void check(String out, boolean tf32, boolean measured) {
        int math = tf32 ? CUDNN_DEFAULT_MATH : CUDNN_FMA_MATH;
        assertTrue(out.contains("java-closed\n"), out);
        assertTrue(out.contains("java-conv-algorithms " + (measured ? "measured (cudnnFind*AlgorithmEx, once per shape)" : "cuDNN heuristics") + "\n"), out);
        assertTrue(out.contains("java-repeat-same true\n"), "a second pass over the same inputs gave other results:\n" + out);
        assertEquals(List.of(), CublasLtStubTest.lines(out, "c-error"), "the stand-ins saw a wrong call:\n" + out);

        // Results against the CPU backend on the same inputs.
        Map<String, float[]> want;
        try (CpuBackend cpu = new CpuBackend(1)) {
            want = runOps(cpu);
        }
        sameAsCpu(out, want);

        // The perf struct the stand-in fills is laid out as the presets read it.
        String cPerf = CublasLtStubTest.lines(out, "c-perf ").get(0).substring("c-perf ".length());
        assertEquals(cPerf, CublasLtStubTest.lines(out, "java-perf ").get(0).substring("java-perf ".length()), out);
        String size = cPerf.split(" ")[0].substring("sizeof=".length());
        assertEquals("java-perf-sizes " + size + " " + size + " " + size, CublasLtStubTest.lines(out, "java-perf-sizes ").get(0), out);

        // What cuDNN was told. Descriptors: packed NCHW FP32 tensors, KCRS filters.
        for (String line : List.of(
                "c-cudnn-tensor dt=" + CUDNN_DATA_FLOAT + " nb=4 dims=2,3,7,6 strides=126,42,6,1",
                "c-cudnn-tensor dt=" + CUDNN_DATA_FLOAT + " nb=4 dims=2,6,4,7 strides=168,28,7,1",
                "c-cudnn-filter dt=" + CUDNN_DATA_FLOAT + " format=" + CUDNN_TENSOR_NCHW + " dims=4,3,3,3",
                "c-cudnn-filter dt=" + CUDNN_DATA_FLOAT + " format=" + CUDNN_TENSOR_NCHW + " dims=6,2,3,2",
                "c-cudnn-filter dt=" + CUDNN_DATA_FLOAT + " format=" + CUDNN_TENSOR_NCHW + " dims=4,1,3,3",
                // Cross-correlation (PyTorch's conv2d), FP32 compute; pads, strides, dilations in cuDNN's order.
                "c-cudnn-conv pad=1,1 stride=1,1 dilation=1,1 mode=" + CUDNN_CROSS_CORRELATION + " dt=" + CUDNN_DATA_FLOAT,
                "c-cudnn-conv pad=1,0 stride=2,1 dilation=2,1 mode=" + CUDNN_CROSS_CORRELATION + " dt=" + CUDNN_DATA_FLOAT,
                "c-cudnn-conv pad=1,1 stride=2,2 dilation=1,1 mode=" + CUDNN_CROSS_CORRELATION + " dt=" + CUDNN_DATA_FLOAT,
                "c-cudnn-conv-groups 2", "c-cudnn-conv-groups 4",
                // The bias: [1, K, 1, 1] added onto y with alpha = beta = 1.
                "c-cudnn-add a=1,4,1,1 c=2,4,7,6 alpha=1 beta=1", "c-cudnn-add a=1,6,1,1 c=2,6,4,7 alpha=1 beta=1",
                // Point-wise ops see [batch, the rest, 1, 1] (x is [3, 5, 7]); softmax [rows, last dim, 1, 1] per instance.
                "c-cudnn-activation mode=" + CUDNN_ACTIVATION_RELU + " nan=" + CUDNN_PROPAGATE_NAN + " coef=1.79769e+308",
                "c-cudnn-activation-forward mode=" + CUDNN_ACTIVATION_RELU + " dims=3,35,1,1",
                "c-cudnn-softmax algo=" + CUDNN_SOFTMAX_ACCURATE + " mode=" + CUDNN_SOFTMAX_MODE_INSTANCE + " dims=6,10,1,1",
                "c-cudnn-softmax algo=" + CUDNN_SOFTMAX_LOG + " mode=" + CUDNN_SOFTMAX_MODE_INSTANCE + " dims=6,10,1,1",
                "c-cudnn-softmax algo=" + CUDNN_SOFTMAX_ACCURATE + " mode=" + CUDNN_SOFTMAX_MODE_INSTANCE + " dims=6,5,1,1",
                // Deterministic max pooling, NaN propagated; ceil mode pads x explicitly (-inf, then x into the interior).
                "c-cudnn-pool mode=" + CUDNN_POOLING_MAX_DETERMINISTIC + " nan=" + CUDNN_PROPAGATE_NAN + " window=3,3 pad=1,1 stride=2,2",
                "c-cudnn-pool mode=" + CUDNN_POOLING_MAX_DETERMINISTIC + " nan=" + CUDNN_PROPAGATE_NAN + " window=3,3 pad=0,0 stride=2,2",
                "c-cudnn-pool-forward mode=" + CUDNN_POOLING_MAX_DETERMINISTIC + " x=2,3,7,7 y=2,3,4,4",
                "c-cudnn-set-tensor dims=1,2,9,9 value=-inf",
                "c-cudnn-transform dims=1,2,8,8 xstrides=128,64,8,1 ystrides=162,81,9,1",
                "c-cudnn-pool-forward mode=" + CUDNN_POOLING_MAX_DETERMINISTIC + " x=1,2,9,9 y=1,2,4,4",
                "c-cudnn-activation-backward mode=" + CUDNN_ACTIVATION_RELU + " dims=3,35,1,1",
                "c-cudnn-activation mode=" + CUDNN_ACTIVATION_SIGMOID + " nan=" + CUDNN_PROPAGATE_NAN + " coef_e9=0",
                "c-cudnn-activation mode=" + CUDNN_ACTIVATION_TANH + " nan=" + CUDNN_PROPAGATE_NAN + " coef_e9=0",
                "c-cudnn-activation mode=" + CUDNN_ACTIVATION_ELU + " nan=" + CUDNN_PROPAGATE_NAN + " coef_e9=" + e9(0.7f),
                "c-cudnn-softmax-backward algo=" + CUDNN_SOFTMAX_ACCURATE + " mode=" + CUDNN_SOFTMAX_MODE_INSTANCE + " dims=6,10,1,1",
                "c-cudnn-softmax-backward algo=" + CUDNN_SOFTMAX_LOG + " mode=" + CUDNN_SOFTMAX_MODE_INSTANCE + " dims=6,10,1,1",
                "c-cudnn-pool-backward mode=" + CUDNN_POOLING_MAX_DETERMINISTIC + " x=2,3,7,7 y=2,3,4,4",
                // Ceil mode's gradient: computed on the padded input, its interior copied out (strided view to packed dx).
                "c-cudnn-pool-backward mode=" + CUDNN_POOLING_MAX_DETERMINISTIC + " x=1,2,9,9 y=1,2,4,4",
                "c-cudnn-transform dims=1,2,8,8 xstrides=162,81,9,1 ystrides=128,64,8,1",
                // count_include_pad maps onto INCLUDE / EXCLUDE_PADDING.
                "c-cudnn-pool mode=" + CUDNN_POOLING_AVERAGE_COUNT_INCLUDE_PADDING + " nan=" + CUDNN_PROPAGATE_NAN + " window=3,3 pad=1,1 stride=2,2",
                "c-cudnn-pool mode=" + CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING + " nan=" + CUDNN_PROPAGATE_NAN + " window=3,3 pad=1,1 stride=2,2",
                "c-cudnn-pool-backward mode=" + CUDNN_POOLING_AVERAGE_COUNT_EXCLUDE_PADDING + " x=2,3,7,7 y=2,3,4,4",
                // Batch norm: PyTorch's momentum as the average factor, the forward's eps reaching the backward too.
                "c-cudnn-bn-training mode=" + CUDNN_BATCHNORM_SPATIAL + " x=4,3,5,5 param=1,3,1,1 factor_e9=" + e9(0.1f) + " eps_e9=" + e9(1e-3f)
                        + " save=yes alpha=1 beta=0",
                "c-cudnn-bn-inference mode=" + CUDNN_BATCHNORM_SPATIAL + " x=4,3,5,5 eps_e9=" + e9(1e-3f),
                "c-cudnn-bn-backward mode=" + CUDNN_BATCHNORM_SPATIAL + " x=4,3,5,5 eps_e9=" + e9(1e-3f)
                        + " saved=yes alpha_data=1 beta_data=0 alpha_param=1 beta_param=1",
                "c-cudnn-bn-inference mode=" + CUDNN_BATCHNORM_PER_ACTIVATION + " x=6,4,1,1 eps_e9=" + e9(1e-3f)))
            assertTrue(out.lines().anyMatch(line::equals), "no C-side line \"" + line + "\":\n" + out);

        // FMA math only (no TF32) on every convolution descriptor, for queries and runs alike; DEFAULT with the switch on.
        List<String> maths = CublasLtStubTest.lines(out, "c-cudnn-conv-math ");
        assertFalse(maths.isEmpty(), out);
        assertEquals(List.of("c-cudnn-conv-math " + math), maths.stream().distinct().toList(), out);
        // One query per direction and shape (cached: two passes, still one), asking for every algorithm cuDNN has: the
        // heuristic ranking, or with the measured search cudnnFind*AlgorithmEx, given the search workspace in device memory.
        String query = measured ? "c-cudnn-find " : "c-cudnn-algo-query ";
        String searchWs = measured ? " workspace_bytes=" + CudnnOps.SEARCH_WORKSPACE + " workspace=device" : "";
        assertEquals(3, count(out, query + "forward requested=" + CUDNN_CONVOLUTION_FWD_ALGO_COUNT + " math=" + math + searchWs), out);
        assertEquals(2, count(out, query + "backward-data requested=" + CUDNN_CONVOLUTION_BWD_DATA_ALGO_COUNT + " math=" + math + searchWs), out);
        assertEquals(2, count(out, query + "backward-filter requested=" + CUDNN_CONVOLUTION_BWD_FILTER_ALGO_COUNT + " math=" + math + searchWs), out);
        assertEquals(7, CublasLtStubTest.lines(out, "c-cudnn-algo-query ").size() + CublasLtStubTest.lines(out, "c-cudnn-find ").size(), out);
        // The heuristics rank algorithm 1 first, the stand-in's measured search algorithm 0 (no workspace).
        int algo = measured ? 0 : 1;
        assertEquals(3, count(out, "c-cudnn-workspace-query forward algo=" + algo + " math=" + math), out);
        assertEquals(2, count(out, "c-cudnn-workspace-query backward-data algo=" + algo + " math=" + math), out);
        assertEquals(2, count(out, "c-cudnn-workspace-query backward-filter algo=" + algo + " math=" + math), out);
        // Each run (two passes) gets the chosen algorithm and exactly the workspace size cuDNN asked for, in device memory.
        String[] ws = measured ? new String[] {"0 workspace=null", "0 workspace=null", "0 workspace=null"}
                : new String[] {"5000 workspace=device", "6000 workspace=device", "7000 workspace=device"};
        assertEquals(6, count(out, "c-cudnn-convolution forward algo=" + algo + " math=" + math + " workspace_bytes=" + ws[0]), out);
        assertEquals(4, count(out, "c-cudnn-convolution backward-data algo=" + algo + " math=" + math + " workspace_bytes=" + ws[1]), out);
        assertEquals(4, count(out, "c-cudnn-convolution backward-filter algo=" + algo + " math=" + math + " workspace_bytes=" + ws[2]), out);

        // Descriptors: all created in the first pass and cached (live), none in the second; close() destroyed every one.
        List<String> live = CublasLtStubTest.lines(out, "c-live cudnn descriptors ");
        assertEquals(3, live.size(), out);
        String created = live.get(0).substring(live.get(0).indexOf(" created="));
        assertTrue(created.endsWith(" errors=0") && !created.startsWith(" created=0 "), out);
        assertEquals(live.get(0), live.get(1), "the second pass created descriptors:\n" + out);
        assertEquals("c-live cudnn descriptors tensor=0 filter=0 convolution=0 pooling=0 activation=0" + created, live.get(2), out);
        assertTrue(out.contains("c-live cudnn handles=0 errors=0\n"), out);
        assertTrue(out.contains("c-live cudart streams=0 events=0 device=0 pinned=0 device_bytes=0 errors=0\n"), out);
    }

    /** A float argument as the stand-in prints a double: rounded, times 1e9. */
    private static long e9(float v) { return Math.round((double) v * 1e9); }

    private static long count(String out, String line) { return out.lines().filter(line::equals).count(); }

    // ------------------------------------------------------------------ the cuDNN stand-ins

    /** libcudnn_ops.so.9: the descriptor table and the tensor / filter / pooling / activation descriptors and ops. */
    static final String STUB_CUDNN_OPS = """
            /* libcudnn_ops.so.9 stand-in: the descriptor table (all kinds, cnn's convolution descriptors too), tensor / filter /
               pooling / activation descriptors, and the ops computed on the host over the descriptors' dims and strides. */
            #include <stdio.h>
            #include <stdlib.h>
            #include <string.h>
            #include <math.h>
            #include <stdarg.h>
            #define LOG(...) do { printf(__VA_ARGS__); fflush(stdout); } while (0)
            #define ERR(...) do { errors++; printf("c-error " __VA_ARGS__); fflush(stdout); } while (0)
            #define BAD 2000   /* CUDNN_STATUS_BAD_PARAM */
            int standin_device_range(const void *p, size_t n);
            enum { TENSOR = 1, FILTER, CONV, POOL, ACT, KINDS };
            typedef struct { int magic, kind, set; int v[16]; double coef; } Desc;
            static Desc *table[4096];
            static int ntable, created[KINDS], errors;
            static const char *names[KINDS] = {"", "tensor", "filter", "convolution", "pooling", "activation"};
            void standin_dnn_error(void) { errors++; }
            void standin_cudnn_ops_report(void) {
              int live[KINDS] = {0}, total = 0;
              for (int i = 0; i < ntable; i++) live[table[i]->kind]++;
              for (int k = 1; k < KINDS; k++) total += created[k];
              LOG("c-live cudnn descriptors tensor=%d filter=%d convolution=%d pooling=%d activation=%d created=%d errors=%d\\n",
                  live[TENSOR], live[FILTER], live[CONV], live[POOL], live[ACT], total, errors);
            }
            int standin_handle_ok(const void *h) {
              if (h && *(const int *) h == 0xD1) return 1;
              ERR("cuDNN: bad handle %p\\n", h); return 0;
            }
            int standin_desc_new(void **out, int kind) {
              if (!out) { ERR("create %s descriptor: NULL out pointer\\n", names[kind]); return BAD; }
              Desc *d = calloc(1, sizeof *d); d->magic = 0xDE5C; d->kind = kind;
              table[ntable++] = d; created[kind]++; *out = d; return 0;
            }
            int standin_desc_free(void *p, int kind) {
              for (int i = 0; i < ntable; i++)
                if (table[i] == p) {
                  if (table[i]->kind != kind) { ERR("destroy %s descriptor: it is a %s descriptor\\n", names[kind], names[table[i]->kind]); return BAD; }
                  table[i]->magic = 0; free(table[i]); table[i] = table[--ntable]; return 0;
                }
              ERR("destroy %s descriptor %p: not a live descriptor\\n", names[kind], p); return BAD;
            }
            /* The live, set descriptor of this kind at p, or NULL (and a c-error). */
            Desc *standin_desc(const void *p, int kind) {
              for (int i = 0; i < ntable; i++)
                if (table[i] == p) {
                  if (table[i]->kind != kind || !table[i]->set) { ERR("%s descriptor %p: wrong kind or never set\\n", names[kind], p); return NULL; }
                  return table[i];
                }
              ERR("%s descriptor %p: not a live descriptor\\n", names[kind], p); return NULL;
            }
            /* Tensor v: dt, nb, dims[4], strides[4]. Elements spanned: 1 + sum (dim - 1) * stride. */
            size_t standin_extent(const Desc *t) {
              size_t e = 1;
              for (int i = 0; i < 4; i++) e += (size_t) (t->v[2 + i] - 1) * t->v[6 + i];
              return e;
            }
            long standin_at(const Desc *t, int n, int c, int h, int w) {
              return (long) n * t->v[6] + (long) c * t->v[7] + (long) h * t->v[8] + (long) w * t->v[9];
            }
            /* The tensor's data inside device memory (a c-error otherwise). */
            int standin_tensor_data(const Desc *t, const void *p, const char *what) {
              if (!t) return 0;
              if (!standin_device_range(p, 4 * standin_extent(t))) { ERR("%s: data %p not inside device memory\\n", what, p); return 0; }
              return 1;
            }
            static void put(float *y, long i, float r, float alpha, float beta) { y[i] = beta == 0 ? alpha * r : alpha * r + beta * y[i]; }

            int cudnnCreateTensorDescriptor(void **d) { return standin_desc_new(d, TENSOR); }
            int cudnnDestroyTensorDescriptor(void *d) { return standin_desc_free(d, TENSOR); }
            int cudnnCreateFilterDescriptor(void **d) { return standin_desc_new(d, FILTER); }
            int cudnnDestroyFilterDescriptor(void *d) { return standin_desc_free(d, FILTER); }
            int cudnnCreatePoolingDescriptor(void **d) { return standin_desc_new(d, POOL); }
            int cudnnDestroyPoolingDescriptor(void *d) { return standin_desc_free(d, POOL); }
            int cudnnCreateActivationDescriptor(void **d) { return standin_desc_new(d, ACT); }
            int cudnnDestroyActivationDescriptor(void *d) { return standin_desc_free(d, ACT); }

            static Desc *unset(void *p, int kind) {
              for (int i = 0; i < ntable; i++) if (table[i] == p && table[i]->kind == kind) return table[i];
              ERR("set %s descriptor %p: not a live descriptor of that kind\\n", names[kind], p); return NULL;
            }
            /* For the cnn stand-in: its convolution descriptor at p, set or not (NULL and a c-error when not one). */
            Desc *standin_conv_unset(void *p) { return unset(p, CONV); }
            /* Called by the child (Foreign Function API): the next tensor-descriptor set fails, as cuDNN would for an
               unsupported description. */
            static int fail_tensor_set;
            void standin_fail_next_tensor_set(void) { fail_tensor_set = 1; }
            /* cuDNN refuses tensor descriptors of more than 2^31-1 elements with NOT_SUPPORTED (its legacy API counts
               elements in 32 bits; microsoft/onnxruntime#15715); the sliced-ops test lowers the bound. */
            static long long max_elements = 2147483647LL;
            void standin_set_max_elements(long long n) { max_elements = n; }
            int cudnnSetTensorNdDescriptor(void *p, int dt, int nb, const int *dims, const int *strides) {
              if (fail_tensor_set) { fail_tensor_set = 0; LOG("c-cudnn-injected-failure cudnnSetTensorNdDescriptor\\n"); return 3000; }
              LOG("c-cudnn-tensor dt=%d nb=%d dims=%d,%d,%d,%d strides=%d,%d,%d,%d\\n", dt, nb, dims[0], dims[1], nb > 2 ? dims[2] : -1,
                  nb > 3 ? dims[3] : -1, strides[0], strides[1], nb > 2 ? strides[2] : -1, nb > 3 ? strides[3] : -1);
              Desc *d = unset(p, TENSOR);
              if (!d) return BAD;
              if (nb != 4) { ERR("cudnnSetTensorNdDescriptor: the stand-in takes 4 dims, got %d\\n", nb); return BAD; }
              for (int i = 0; i < 4; i++) if (dims[i] < 1 || strides[i] < 1) { ERR("cudnnSetTensorNdDescriptor: dim or stride < 1\\n"); return BAD; }
              if ((long long) dims[0] * dims[1] * dims[2] * dims[3] > max_elements) {
                ERR("cudnnSetTensorNdDescriptor: dims %d,%d,%d,%d are more than %lld elements\\n", dims[0], dims[1], dims[2], dims[3], max_elements);
                return 3000;
              }
              d->v[0] = dt; d->v[1] = nb;
              for (int i = 0; i < 4; i++) { d->v[2 + i] = dims[i]; d->v[6 + i] = strides[i]; }
              d->set = 1; return 0;
            }
            int cudnnSetFilter4dDescriptor(void *p, int dt, int format, int k, int c, int h, int w) {
              LOG("c-cudnn-filter dt=%d format=%d dims=%d,%d,%d,%d\\n", dt, format, k, c, h, w);
              Desc *d = unset(p, FILTER);
              if (!d) return BAD;
              d->v[0] = dt; d->v[1] = format; d->v[2] = k; d->v[3] = c; d->v[4] = h; d->v[5] = w;
              d->set = 1; return 0;
            }
            int cudnnSetPooling2dDescriptor(void *p, int mode, int nan, int wh, int ww, int padh, int padw, int sh, int sw) {
              LOG("c-cudnn-pool mode=%d nan=%d window=%d,%d pad=%d,%d stride=%d,%d\\n", mode, nan, wh, ww, padh, padw, sh, sw);
              Desc *d = unset(p, POOL);
              if (!d) return BAD;
              int v[8] = {mode, nan, wh, ww, padh, padw, sh, sw};
              memcpy(d->v, v, sizeof v);
              d->set = 1; return 0;
            }
            int cudnnSetActivationDescriptor(void *p, int mode, int nan, double coef) {
              if (coef > 1e18) LOG("c-cudnn-activation mode=%d nan=%d coef=%g\\n", mode, nan, coef);
              else LOG("c-cudnn-activation mode=%d nan=%d coef_e9=%lld\\n", mode, nan, llround(coef * 1e9));
              Desc *d = unset(p, ACT);
              if (!d) return BAD;
              d->v[0] = mode; d->v[1] = nan; d->coef = coef;
              d->set = 1; return 0;
            }

            static int same_dims(const Desc *a, const Desc *b, const char *what) {
              for (int i = 0; i < 4; i++) if (a->v[2 + i] != b->v[2 + i]) { ERR("%s: x and y dims differ\\n", what); return 0; }
              return 1;
            }
            #define D(t, i) ((t)->v[2 + (i)])
            #define EACH(t) for (int n = 0; n < D(t, 0); n++) for (int c = 0; c < D(t, 1); c++) for (int h = 0; h < D(t, 2); h++) for (int w = 0; w < D(t, 3); w++)

            /* C = alpha A + beta C, A broadcast over its dims of size 1 (the conv bias [1, K, 1, 1]). */
            int cudnnAddTensor(void *hd, const float *alpha, const void *ad, const float *A, const float *beta, const void *cd, float *C) {
              Desc *a = standin_desc(ad, TENSOR), *t = standin_desc(cd, TENSOR);
              if (!standin_handle_ok(hd) || !standin_tensor_data(a, A, "cudnnAddTensor A") || !standin_tensor_data(t, C, "cudnnAddTensor C")) return BAD;
              LOG("c-cudnn-add a=%d,%d,%d,%d c=%d,%d,%d,%d alpha=%g beta=%g\\n", D(a, 0), D(a, 1), D(a, 2), D(a, 3), D(t, 0), D(t, 1), D(t, 2), D(t, 3), *alpha, *beta);
              for (int i = 0; i < 4; i++) if (D(a, i) != 1 && D(a, i) != D(t, i)) { ERR("cudnnAddTensor: A does not broadcast to C\\n"); return BAD; }
              EACH(t) put(C, standin_at(t, n, c, h, w), A[standin_at(a, D(a, 0) == 1 ? 0 : n, D(a, 1) == 1 ? 0 : c, D(a, 2) == 1 ? 0 : h, D(a, 3) == 1 ? 0 : w)], *alpha, *beta);
              return 0;
            }
            /* SIGMOID 0, RELU 1 (coef = its upper bound, as cuDNN's API reference defines it), TANH 2, ELU 4 (coef = alpha);
               NaN passes through ReLU. */
            static float act_f(const Desc *a, float v) {
              switch (a->v[0]) {
                case 0: return (float) (1 / (1 + exp(-(double) v)));
                case 1: return (double) v > a->coef ? (float) a->coef : v > 0 || v != v ? v : 0;
                case 2: return tanhf(v);
                default: return v > 0 ? v : (float) (a->coef * expm1((double) v));
              }
            }
            /* the derivative at x (y = f(x)) */
            static float act_d(const Desc *a, float x, float y) {
              switch (a->v[0]) {
                case 0: return y * (1 - y);
                case 1: return x > 0 ? 1 : 0;
                case 2: return 1 - y * y;
                default: return x > 0 ? 1 : (float) (a->coef * exp((double) x));
              }
            }
            /* cuDNN has refused pooling (cuDNN 9.10.2, microsoft/onnxruntime#29819) and batch-norm inference (cuDNN 8,
               onnxruntime#7095) from N = 65536 on with NOT_SUPPORTED (3000), where N = 65535 worked: so does the stand-in,
               and for activations and softmax too, where no refusal is known, so that tests show the backend slices those
               as well (CudnnOps.MAX_N_PER_CALL). */
            static int big_n(Desc *X, const char *what) {
              if (D(X, 0) < 65536) return 0;
              ERR("%s: N = %d; cuDNN has refused N >= 65536 here with CUDNN_STATUS_NOT_SUPPORTED\\n", what, D(X, 0));
              return 1;
            }
            int cudnnActivationForward(void *hd, const void *ad, const float *alpha, const void *xd, const float *x, const float *beta, const void *yd, float *y) {
              Desc *act = standin_desc(ad, ACT), *X = standin_desc(xd, TENSOR), *Y = standin_desc(yd, TENSOR);
              if (!standin_handle_ok(hd) || !act || !standin_tensor_data(X, x, "cudnnActivationForward x") || !standin_tensor_data(Y, y, "cudnnActivationForward y")
                  || !same_dims(X, Y, "cudnnActivationForward")) return BAD;
              LOG("c-cudnn-activation-forward mode=%d dims=%d,%d,%d,%d\\n", act->v[0], D(X, 0), D(X, 1), D(X, 2), D(X, 3));
              if (act->v[0] != 0 && act->v[0] != 1 && act->v[0] != 2 && act->v[0] != 4) { ERR("cudnnActivationForward: mode %d\\n", act->v[0]); return 3000; }
              if (big_n(X, "cudnnActivationForward")) return 3000;
              EACH(X) put(y, standin_at(Y, n, c, h, w), act_f(act, x[standin_at(X, n, c, h, w)]), *alpha, *beta);
              return 0;
            }
            /* algo: FAST 0, ACCURATE 1, LOG 2; mode: INSTANCE 0 (over C, H, W per image), CHANNEL 1 (over C per pixel). */
            int cudnnSoftmaxForward(void *hd, int algo, int mode, const float *alpha, const void *xd, const float *x, const float *beta, const void *yd, float *y) {
              Desc *X = standin_desc(xd, TENSOR), *Y = standin_desc(yd, TENSOR);
              if (!standin_handle_ok(hd) || !standin_tensor_data(X, x, "cudnnSoftmaxForward x") || !standin_tensor_data(Y, y, "cudnnSoftmaxForward y")
                  || !same_dims(X, Y, "cudnnSoftmaxForward")) return BAD;
              LOG("c-cudnn-softmax algo=%d mode=%d dims=%d,%d,%d,%d\\n", algo, mode, D(X, 0), D(X, 1), D(X, 2), D(X, 3));
              if (mode != 0 || (algo != 1 && algo != 2)) { ERR("cudnnSoftmaxForward: the stand-in computes INSTANCE ACCURATE/LOG only\\n"); return 3000; }
              if (big_n(X, "cudnnSoftmaxForward")) return 3000;
              for (int n = 0; n < D(X, 0); n++) {
                float mx = -INFINITY, sum = 0;
                for (int c = 0; c < D(X, 1); c++) for (int h = 0; h < D(X, 2); h++) for (int w = 0; w < D(X, 3); w++) { float v = x[standin_at(X, n, c, h, w)]; if (v > mx) mx = v; }
                for (int c = 0; c < D(X, 1); c++) for (int h = 0; h < D(X, 2); h++) for (int w = 0; w < D(X, 3); w++) sum += expf(x[standin_at(X, n, c, h, w)] - mx);
                for (int c = 0; c < D(X, 1); c++) for (int h = 0; h < D(X, 2); h++) for (int w = 0; w < D(X, 3); w++) {
                  float v = x[standin_at(X, n, c, h, w)] - mx;
                  put(y, standin_at(Y, n, c, h, w), algo == 2 ? v - logf(sum) : expf(v) / sum, *alpha, *beta);
                }
              }
              return 0;
            }
            /* Max pooling (MAX 0, MAX_DETERMINISTIC 3): the window's largest element inside x (padding is never the max); NaN wins.
               Average pooling (1, 2) below. */
            int cudnnPoolingForward(void *hd, const void *pd, const float *alpha, const void *xd, const float *x, const float *beta, const void *yd, float *y) {
              Desc *pl = standin_desc(pd, POOL), *X = standin_desc(xd, TENSOR), *Y = standin_desc(yd, TENSOR);
              if (!standin_handle_ok(hd) || !pl || !standin_tensor_data(X, x, "cudnnPoolingForward x") || !standin_tensor_data(Y, y, "cudnnPoolingForward y")) return BAD;
              int mode = pl->v[0], kh = pl->v[2], kw = pl->v[3], ph = pl->v[4], pw = pl->v[5], sh = pl->v[6], sw = pl->v[7];
              LOG("c-cudnn-pool-forward mode=%d x=%d,%d,%d,%d y=%d,%d,%d,%d\\n", mode, D(X, 0), D(X, 1), D(X, 2), D(X, 3), D(Y, 0), D(Y, 1), D(Y, 2), D(Y, 3));
              if (mode < 0 || mode > 3) { ERR("cudnnPoolingForward: mode %d\\n", mode); return 3000; }
              if (big_n(X, "cudnnPoolingForward")) return 3000;
              /* cuDNN's output size: 1 + (H + 2 pad - window) / stride */
              if (D(Y, 0) != D(X, 0) || D(Y, 1) != D(X, 1) || D(Y, 2) != 1 + (D(X, 2) + 2 * ph - kh) / sh || D(Y, 3) != 1 + (D(X, 3) + 2 * pw - kw) / sw) {
                ERR("cudnnPoolingForward: y dims are not cuDNN's output dims for x and the descriptor\\n"); return BAD;
              }
              EACH(Y) {
                float m = -INFINITY;
                double sum = 0;
                int count = 0;
                for (int r = 0; r < kh; r++) for (int s = 0; s < kw; s++) {
                  int ih = h * sh - ph + r, iw = w * sw - pw + s;
                  if (ih < 0 || iw < 0 || ih >= D(X, 2) || iw >= D(X, 3)) continue;
                  float v = x[standin_at(X, n, c, ih, iw)];
                  count++; sum += v;
                  if (v > m || v != v) m = v;
                }
                /* average: INCLUDE_PADDING (1) divides by the window, EXCLUDE_PADDING (2) by the elements inside x */
                put(y, standin_at(Y, n, c, h, w), mode == 1 ? (float) (sum / (kh * kw)) : mode == 2 ? (float) (sum / count) : m, *alpha, *beta);
              }
              return 0;
            }
            int cudnnSetTensor(void *hd, const void *yd, float *y, const float *value) {
              Desc *Y = standin_desc(yd, TENSOR);
              if (!standin_handle_ok(hd) || !standin_tensor_data(Y, y, "cudnnSetTensor y")) return BAD;
              LOG("c-cudnn-set-tensor dims=%d,%d,%d,%d value=%g\\n", D(Y, 0), D(Y, 1), D(Y, 2), D(Y, 3), *value);
              EACH(Y) y[standin_at(Y, n, c, h, w)] = *value;
              return 0;
            }
            int cudnnTransformTensor(void *hd, const float *alpha, const void *xd, const float *x, const float *beta, const void *yd, float *y) {
              Desc *X = standin_desc(xd, TENSOR), *Y = standin_desc(yd, TENSOR);
              if (!standin_handle_ok(hd) || !standin_tensor_data(X, x, "cudnnTransformTensor x") || !standin_tensor_data(Y, y, "cudnnTransformTensor y")
                  || !same_dims(X, Y, "cudnnTransformTensor")) return BAD;
              LOG("c-cudnn-transform dims=%d,%d,%d,%d xstrides=%d,%d,%d,%d ystrides=%d,%d,%d,%d\\n", D(X, 0), D(X, 1), D(X, 2), D(X, 3),
                  X->v[6], X->v[7], X->v[8], X->v[9], Y->v[6], Y->v[7], Y->v[8], Y->v[9]);
              EACH(X) put(y, standin_at(Y, n, c, h, w), x[standin_at(X, n, c, h, w)], *alpha, *beta);
              return 0;
            }
            /* Batch norm. mode: PER_ACTIVATION 0 (statistics per (c, h, w) over N), SPATIAL 1 (per c over N, H, W); the
               per-channel tensors are packed [1, C, 1, 1] (SPATIAL) or [1, C, H, W]. Sums in double. */
            static int bn_geo(int mode, const Desc *X, const Desc *Pd, const char *what) {
              if (mode != 0 && mode != 1) { ERR("%s: mode %d\\n", what, mode); return 0; }
              if (D(Pd, 0) != 1 || D(Pd, 1) != D(X, 1) || D(Pd, 2) != (mode ? 1 : D(X, 2)) || D(Pd, 3) != (mode ? 1 : D(X, 3))) {
                ERR("%s: parameter descriptor %d,%d,%d,%d does not fit x %d,%d,%d,%d in mode %d\\n", what, D(Pd, 0), D(Pd, 1), D(Pd, 2), D(Pd, 3),
                    D(X, 0), D(X, 1), D(X, 2), D(X, 3), mode);
                return 0;
              }
              return 1;
            }
            static int bn_params(const Desc *Pd, const char *what, int count, ...) {
              va_list ap; va_start(ap, count);
              size_t n = (size_t) D(Pd, 1) * D(Pd, 2) * D(Pd, 3);
              for (int i = 0; i < count; i++) {
                const void *p = va_arg(ap, const void *);
                if (!standin_device_range(p, 4 * n)) { ERR("%s: per-channel argument %d (%p) not inside device memory\\n", what, i, p); va_end(ap); return 0; }
              }
              va_end(ap); return 1;
            }
            /* the statistic an element (n, c, h, w) belongs to, and how many elements each statistic has */
            #define STAT(mode, X, c, h, w) ((mode) ? (c) : ((c) * D(X, 2) + (h)) * D(X, 3) + (w))
            #define STATS(mode, X) ((mode) ? D(X, 1) : D(X, 1) * D(X, 2) * D(X, 3))
            #define PER(mode, X) ((mode) ? (long) D(X, 0) * D(X, 2) * D(X, 3) : (long) D(X, 0))
            static void bn_stats(int mode, const Desc *X, const float *x, double *mean, double *var) {
              int S = STATS(mode, X);
              for (int i = 0; i < S; i++) mean[i] = var[i] = 0;
              EACH(X) mean[STAT(mode, X, c, h, w)] += x[standin_at(X, n, c, h, w)];
              for (int i = 0; i < S; i++) mean[i] /= PER(mode, X);
              EACH(X) { double d = x[standin_at(X, n, c, h, w)] - mean[STAT(mode, X, c, h, w)]; var[STAT(mode, X, c, h, w)] += d * d; }
              for (int i = 0; i < S; i++) var[i] /= PER(mode, X);
            }
            /* Training that PyTorch never gives cuDNN (Normalization.cpp: 2-D inputs, N > 880,801) and CudaBackend runs on
               its own kernels (norm.cu) instead: refused, so that tests show the backend routes it there. */
            static int pytorch_native(int mode, const Desc *X, const char *what) {
              if (mode != 0 && D(X, 0) <= 880801) return 0;
              ERR("%s: mode %d, N = %d; CudaBackend runs batch-norm training of [N, C] and of N > 880,801 on norm.cu\\n", what, mode, D(X, 0));
              return 1;
            }
            int cudnnBatchNormalizationForwardTraining(void *hd, int mode, const float *alpha, const float *beta, const void *xd, const float *x,
                const void *yd, float *y, const void *pd, const float *scale, const float *bias, double factor, float *runMean, float *runVar,
                double eps, float *saveMean, float *saveInvVar) {
              Desc *X = standin_desc(xd, TENSOR), *Y = standin_desc(yd, TENSOR), *Pd = standin_desc(pd, TENSOR);
              const char *what = "cudnnBatchNormalizationForwardTraining";
              if (!standin_handle_ok(hd) || !standin_tensor_data(X, x, what) || !standin_tensor_data(Y, y, what) || !Pd || !same_dims(X, Y, what)
                  || !bn_geo(mode, X, Pd, what) || !bn_params(Pd, what, 4, scale, bias, runMean, runVar)) return BAD;
              if ((saveMean == NULL) != (saveInvVar == NULL) || (saveMean && !bn_params(Pd, what, 2, saveMean, saveInvVar))) { ERR("%s: saved statistics\\n", what); return BAD; }
              LOG("c-cudnn-bn-training mode=%d x=%d,%d,%d,%d param=%d,%d,%d,%d factor_e9=%lld eps_e9=%lld save=%s alpha=%g beta=%g\\n", mode,
                  D(X, 0), D(X, 1), D(X, 2), D(X, 3), D(Pd, 0), D(Pd, 1), D(Pd, 2), D(Pd, 3), llround(factor * 1e9), llround(eps * 1e9),
                  saveMean ? "yes" : "no", *alpha, *beta);
              if (pytorch_native(mode, X, what)) return 3000;
              int S = STATS(mode, X);
              long m = PER(mode, X);
              if (m < 2) { ERR("%s: one value per statistic\\n", what); return BAD; }
              double *mean = calloc(S, sizeof *mean), *var = calloc(S, sizeof *var);
              bn_stats(mode, X, x, mean, var);
              EACH(X) {
                int i = STAT(mode, X, c, h, w);
                float r = (float) (scale[i] * (x[standin_at(X, n, c, h, w)] - mean[i]) / sqrt(var[i] + eps) + bias[i]);
                put(y, standin_at(Y, n, c, h, w), r, *alpha, *beta);
              }
              for (int i = 0; i < S; i++) {
                runMean[i] = (float) ((1 - factor) * runMean[i] + factor * mean[i]);
                runVar[i] = (float) ((1 - factor) * runVar[i] + factor * var[i] * m / (m - 1));   /* unbiased, as cuDNN documents */
                if (saveMean) { saveMean[i] = (float) mean[i]; saveInvVar[i] = (float) (1 / sqrt(var[i] + eps)); }
              }
              free(mean); free(var);
              return 0;
            }
            int cudnnBatchNormalizationForwardInference(void *hd, int mode, const float *alpha, const float *beta, const void *xd, const float *x,
                const void *yd, float *y, const void *pd, const float *scale, const float *bias, const float *estMean, const float *estVar, double eps) {
              Desc *X = standin_desc(xd, TENSOR), *Y = standin_desc(yd, TENSOR), *Pd = standin_desc(pd, TENSOR);
              const char *what = "cudnnBatchNormalizationForwardInference";
              if (!standin_handle_ok(hd) || !standin_tensor_data(X, x, what) || !standin_tensor_data(Y, y, what) || !Pd || !same_dims(X, Y, what)
                  || !bn_geo(mode, X, Pd, what) || !bn_params(Pd, what, 4, scale, bias, estMean, estVar)) return BAD;
              LOG("c-cudnn-bn-inference mode=%d x=%d,%d,%d,%d eps_e9=%lld\\n", mode, D(X, 0), D(X, 1), D(X, 2), D(X, 3), llround(eps * 1e9));
              if (big_n(X, what)) return 3000;
              EACH(X) {
                int i = STAT(mode, X, c, h, w);
                put(y, standin_at(Y, n, c, h, w), (float) (scale[i] * (x[standin_at(X, n, c, h, w)] - (double) estMean[i]) / sqrt(estVar[i] + eps) + bias[i]), *alpha, *beta);
              }
              return 0;
            }
            /* dx = scale invstd / m (m dy - sum dy - xhat sum dy xhat); dScale, dBias = sum dy xhat, sum dy (scaled by the param alpha / beta). */
            int cudnnBatchNormalizationBackward(void *hd, int mode, const float *aData, const float *bData, const float *aParam, const float *bParam,
                const void *xd, const float *x, const void *dyd, const float *dy, const void *dxd, float *dx, const void *pd, const float *scale,
                float *dScale, float *dBias, double eps, const float *savedMean, const float *savedInvVar) {
              Desc *X = standin_desc(xd, TENSOR), *DY = standin_desc(dyd, TENSOR), *DX = standin_desc(dxd, TENSOR), *Pd = standin_desc(pd, TENSOR);
              const char *what = "cudnnBatchNormalizationBackward";
              if (!standin_handle_ok(hd) || !standin_tensor_data(X, x, what) || !standin_tensor_data(DY, dy, what) || !standin_tensor_data(DX, dx, what) || !Pd
                  || !same_dims(X, DY, what) || !same_dims(X, DX, what) || !bn_geo(mode, X, Pd, what) || !bn_params(Pd, what, 3, scale, dScale, dBias)) return BAD;
              if ((savedMean == NULL) != (savedInvVar == NULL) || (savedMean && !bn_params(Pd, what, 2, savedMean, savedInvVar))) { ERR("%s: saved statistics\\n", what); return BAD; }
              LOG("c-cudnn-bn-backward mode=%d x=%d,%d,%d,%d eps_e9=%lld saved=%s alpha_data=%g beta_data=%g alpha_param=%g beta_param=%g\\n", mode,
                  D(X, 0), D(X, 1), D(X, 2), D(X, 3), llround(eps * 1e9), savedMean ? "yes" : "no", *aData, *bData, *aParam, *bParam);
              if (pytorch_native(mode, X, what)) return 3000;
              int S = STATS(mode, X);
              long m = PER(mode, X);
              double *mean = calloc(S, sizeof *mean), *inv = calloc(S, sizeof *inv), *sdy = calloc(S, sizeof *sdy), *sdyx = calloc(S, sizeof *sdyx);
              if (savedMean) for (int i = 0; i < S; i++) { mean[i] = savedMean[i]; inv[i] = savedInvVar[i]; }
              else { bn_stats(mode, X, x, mean, inv); for (int i = 0; i < S; i++) inv[i] = 1 / sqrt(inv[i] + eps); }
              EACH(X) {
                int i = STAT(mode, X, c, h, w);
                double g = dy[standin_at(DY, n, c, h, w)];
                sdy[i] += g; sdyx[i] += g * (x[standin_at(X, n, c, h, w)] - mean[i]) * inv[i];
              }
              EACH(X) {
                int i = STAT(mode, X, c, h, w);
                double xhat = (x[standin_at(X, n, c, h, w)] - mean[i]) * inv[i];
                put(dx, standin_at(DX, n, c, h, w), (float) (scale[i] * inv[i] / m * (m * dy[standin_at(DY, n, c, h, w)] - sdy[i] - xhat * sdyx[i])), *aData, *bData);
              }
              for (int i = 0; i < S; i++) { put(dScale, i, (float) sdyx[i], *aParam, *bParam); put(dBias, i, (float) sdy[i], *aParam, *bParam); }
              free(mean); free(inv); free(sdy); free(sdyx);
              return 0;
            }
            /* dy times the activation's derivative. */
            int cudnnActivationBackward(void *hd, const void *ad, const float *alpha, const void *yd, const float *y, const void *dyd, const float *dy,
                                        const void *xd, const float *x, const float *beta, const void *dxd, float *dx) {
              Desc *act = standin_desc(ad, ACT), *Y = standin_desc(yd, TENSOR), *DY = standin_desc(dyd, TENSOR), *X = standin_desc(xd, TENSOR), *DX = standin_desc(dxd, TENSOR);
              const char *what = "cudnnActivationBackward";
              if (!standin_handle_ok(hd) || !act || !standin_tensor_data(Y, y, what) || !standin_tensor_data(DY, dy, what) || !standin_tensor_data(X, x, what)
                  || !standin_tensor_data(DX, dx, what) || !same_dims(X, Y, what) || !same_dims(X, DY, what) || !same_dims(X, DX, what)) return BAD;
              LOG("c-cudnn-activation-backward mode=%d dims=%d,%d,%d,%d\\n", act->v[0], D(X, 0), D(X, 1), D(X, 2), D(X, 3));
              if (act->v[0] != 0 && act->v[0] != 1 && act->v[0] != 2 && act->v[0] != 4) { ERR("%s: mode %d\\n", what, act->v[0]); return 3000; }
              if (big_n(X, what)) return 3000;
              EACH(X) put(dx, standin_at(DX, n, c, h, w), dy[standin_at(DY, n, c, h, w)] * act_d(act, x[standin_at(X, n, c, h, w)], y[standin_at(Y, n, c, h, w)]), *alpha, *beta);
              return 0;
            }
            /* ACCURATE: dx = y (dy - sum dy y); LOG: dx = dy - exp(y) sum dy; per instance. */
            int cudnnSoftmaxBackward(void *hd, int algo, int mode, const float *alpha, const void *yd, const float *y, const void *dyd, const float *dy,
                                     const float *beta, const void *dxd, float *dx) {
              Desc *Y = standin_desc(yd, TENSOR), *DY = standin_desc(dyd, TENSOR), *DX = standin_desc(dxd, TENSOR);
              const char *what = "cudnnSoftmaxBackward";
              if (!standin_handle_ok(hd) || !standin_tensor_data(Y, y, what) || !standin_tensor_data(DY, dy, what) || !standin_tensor_data(DX, dx, what)
                  || !same_dims(Y, DY, what) || !same_dims(Y, DX, what)) return BAD;
              LOG("c-cudnn-softmax-backward algo=%d mode=%d dims=%d,%d,%d,%d\\n", algo, mode, D(Y, 0), D(Y, 1), D(Y, 2), D(Y, 3));
              if (mode != 0 || (algo != 1 && algo != 2)) { ERR("%s: the stand-in computes INSTANCE ACCURATE/LOG only\\n", what); return 3000; }
              if (big_n(Y, what)) return 3000;
              for (int n = 0; n < D(Y, 0); n++) {
                double sum = 0;
                for (int c = 0; c < D(Y, 1); c++) for (int h = 0; h < D(Y, 2); h++) for (int w = 0; w < D(Y, 3); w++)
                  sum += algo == 2 ? dy[standin_at(DY, n, c, h, w)] : (double) dy[standin_at(DY, n, c, h, w)] * y[standin_at(Y, n, c, h, w)];
                for (int c = 0; c < D(Y, 1); c++) for (int h = 0; h < D(Y, 2); h++) for (int w = 0; w < D(Y, 3); w++) {
                  double g = dy[standin_at(DY, n, c, h, w)], v = y[standin_at(Y, n, c, h, w)];
                  put(dx, standin_at(DX, n, c, h, w), (float) (algo == 2 ? g - exp(v) * sum : v * (g - sum)), *alpha, *beta);
                }
              }
              return 0;
            }
            /* Max (0, 3): dy to the window's first largest x; average including padding (1): dy / window; excluding (2): dy / in-bounds count. */
            int cudnnPoolingBackward(void *hd, const void *pd, const float *alpha, const void *yd, const float *y, const void *dyd, const float *dy,
                                     const void *xd, const float *x, const float *beta, const void *dxd, float *dx) {
              Desc *pl = standin_desc(pd, POOL), *Y = standin_desc(yd, TENSOR), *DY = standin_desc(dyd, TENSOR), *X = standin_desc(xd, TENSOR), *DX = standin_desc(dxd, TENSOR);
              const char *what = "cudnnPoolingBackward";
              if (!standin_handle_ok(hd) || !pl || !standin_tensor_data(Y, y, what) || !standin_tensor_data(DY, dy, what) || !standin_tensor_data(X, x, what)
                  || !standin_tensor_data(DX, dx, what) || !same_dims(Y, DY, what) || !same_dims(X, DX, what)) return BAD;
              int mode = pl->v[0], kh = pl->v[2], kw = pl->v[3], ph = pl->v[4], pw = pl->v[5], sh = pl->v[6], sw = pl->v[7];
              LOG("c-cudnn-pool-backward mode=%d x=%d,%d,%d,%d y=%d,%d,%d,%d\\n", mode, D(X, 0), D(X, 1), D(X, 2), D(X, 3), D(Y, 0), D(Y, 1), D(Y, 2), D(Y, 3));
              if (big_n(X, what)) return 3000;
              if (D(Y, 2) != 1 + (D(X, 2) + 2 * ph - kh) / sh || D(Y, 3) != 1 + (D(X, 3) + 2 * pw - kw) / sw) { ERR("%s: y dims do not fit\\n", what); return BAD; }
              size_t nx = (size_t) D(X, 0) * D(X, 1) * D(X, 2) * D(X, 3);
              double *acc = calloc(nx, sizeof *acc);
            #define AT(n, c, h, w) ((((size_t) (n) * D(X, 1) + (c)) * D(X, 2) + (h)) * D(X, 3) + (w))
              EACH(Y) {
                double g = dy[standin_at(DY, n, c, h, w)];
                int count = 0, bh = -1, bw = -1;
                float m = -INFINITY;
                for (int r = 0; r < kh; r++) for (int s = 0; s < kw; s++) {
                  int ih = h * sh - ph + r, iw = w * sw - pw + s;
                  if (ih < 0 || iw < 0 || ih >= D(X, 2) || iw >= D(X, 3)) continue;
                  count++;
                  float v = x[standin_at(X, n, c, ih, iw)];
                  if (bh < 0 || v > m || (v != v && m == m)) { m = v; bh = ih; bw = iw; }
                }
                if (mode == 0 || mode == 3) { if (bh >= 0) acc[AT(n, c, bh, bw)] += g; continue; }
                for (int r = 0; r < kh; r++) for (int s = 0; s < kw; s++) {
                  int ih = h * sh - ph + r, iw = w * sw - pw + s;
                  if (ih < 0 || iw < 0 || ih >= D(X, 2) || iw >= D(X, 3)) continue;
                  acc[AT(n, c, ih, iw)] += g / (mode == 1 ? kh * kw : count);
                }
              }
              EACH(X) put(dx, standin_at(DX, n, c, h, w), (float) acc[AT(n, c, h, w)], *alpha, *beta);
            #undef AT
              free(acc);
              return 0;
            }
            """;

    /** libcudnn_cnn.so.9: convolution descriptors, algorithm and workspace queries, the three convolutions. */
    static final String STUB_CUDNN_CNN = """
            /* libcudnn_cnn.so.9 stand-in: convolution descriptors (in the ops stand-in's table), the algorithm and workspace
               queries (one plausible answer each, recorded) and the three convolutions computed on the host. */
            #include <stdio.h>
            #include <stdlib.h>
            #include <stddef.h>
            #include <math.h>
            #define LOG(...) do { printf(__VA_ARGS__); fflush(stdout); } while (0)
            #define ERR(...) do { standin_dnn_error(); printf("c-error " __VA_ARGS__); fflush(stdout); } while (0)
            #define BAD 2000
            int standin_device_range(const void *p, size_t n);
            enum { TENSOR = 1, FILTER, CONV, POOL, ACT, KINDS };
            typedef struct { int magic, kind, set; int v[16]; double coef; } Desc;
            void standin_dnn_error(void);
            int standin_handle_ok(const void *h);
            int standin_desc_new(void **out, int kind);
            int standin_desc_free(void *p, int kind);
            Desc *standin_desc(const void *p, int kind);
            Desc *standin_conv_unset(void *p);
            int standin_tensor_data(const Desc *t, const void *p, const char *what);
            /* The ops stand-in's standin_at, here so that the convolution loops inline it (a call into another library per
               element made these loops most of the emulated GPU suite's time). */
            static inline long elem(const Desc *t, int n, int c, int h, int w) {
              return (long) n * t->v[6] + (long) c * t->v[7] + (long) h * t->v[8] + (long) w * t->v[9];
            }
            /* cudnnConvolution{Fwd,BwdData,BwdFilter}AlgoPerf_t, as cuDNN 9's cudnn_cnn.h lays them out (all three alike). */
            typedef struct { int algo; int status; float time; size_t memory; int determinism; int mathType; int reserved[3]; } Perf;
            /* The workspace each direction's size query answers (odd sizes: the op must be handed exactly this many bytes). */
            static const size_t WS[3] = {5000, 6000, 7000};
            static const char *DIR[3] = {"forward", "backward-data", "backward-filter"};
            void standin_cudnn_cnn_report(void) {
              LOG("c-perf sizeof=%zu algo=%zu status=%zu memory=%zu determinism=%zu mathType=%zu\\n", sizeof(Perf), offsetof(Perf, algo),
                  offsetof(Perf, status), offsetof(Perf, memory), offsetof(Perf, determinism), offsetof(Perf, mathType));
            }
            int cudnnCreateConvolutionDescriptor(void **d) {
              int s = standin_desc_new(d, CONV);
              if (!s) { Desc *c = (Desc *) *d; c->v[8] = 1; c->v[9] = 0; }   /* cuDNN's defaults: one group, DEFAULT_MATH */
              return s;
            }
            int cudnnDestroyConvolutionDescriptor(void *d) { return standin_desc_free(d, CONV); }
            int cudnnSetConvolution2dDescriptor(void *p, int padh, int padw, int u, int v, int dh, int dw, int mode, int dt) {
              LOG("c-cudnn-conv pad=%d,%d stride=%d,%d dilation=%d,%d mode=%d dt=%d\\n", padh, padw, u, v, dh, dw, mode, dt);
              Desc *d = standin_conv_unset(p);
              if (!d) return BAD;
              d->set = 1;
              int a[8] = {padh, padw, u, v, dh, dw, mode, dt};
              for (int i = 0; i < 8; i++) d->v[i] = a[i];
              return 0;
            }
            int cudnnSetConvolutionGroupCount(void *p, int groups) {
              LOG("c-cudnn-conv-groups %d\\n", groups);
              Desc *d = standin_desc(p, CONV);
              if (!d) return BAD;
              d->v[8] = groups; return 0;
            }
            int cudnnSetConvolutionMathType(void *p, int math) {
              LOG("c-cudnn-conv-math %d\\n", math);
              Desc *d = standin_desc(p, CONV);
              if (!d) return BAD;
              d->v[9] = math; return 0;
            }
            /* The geometry of x (or dx) [N, C, H, W], w [K, C/G, R, S] and y (or dy), checked as cuDNN would. */
            typedef struct { Desc *x, *w, *c, *y; int N, C, H, W, K, Cg, R, S, P, Q, G, ph, pw, u, v, dh, dw, mode; } Geo;
            static int geo(Geo *g, const void *xd, const void *wd, const void *cd, const void *yd, const char *what) {
              g->x = standin_desc(xd, TENSOR); g->w = standin_desc(wd, FILTER); g->c = standin_desc(cd, CONV); g->y = standin_desc(yd, TENSOR);
              if (!g->x || !g->w || !g->c || !g->y) return 0;
              g->N = g->x->v[2]; g->C = g->x->v[3]; g->H = g->x->v[4]; g->W = g->x->v[5];
              g->K = g->w->v[2]; g->Cg = g->w->v[3]; g->R = g->w->v[4]; g->S = g->w->v[5];
              g->P = g->y->v[4]; g->Q = g->y->v[5];
              g->ph = g->c->v[0]; g->pw = g->c->v[1]; g->u = g->c->v[2]; g->v = g->c->v[3]; g->dh = g->c->v[4]; g->dw = g->c->v[5]; g->mode = g->c->v[6]; g->G = g->c->v[8];
              if (g->G < 1 || g->C != g->Cg * g->G || g->K % g->G || g->y->v[2] != g->N || g->y->v[3] != g->K
                  || g->P != (g->H + 2 * g->ph - g->dh * (g->R - 1) - 1) / g->u + 1 || g->Q != (g->W + 2 * g->pw - g->dw * (g->S - 1) - 1) / g->v + 1) {
                ERR("%s: x %d,%d,%d,%d, w %d,%d,%d,%d, groups %d and y %d,%d,%d,%d do not fit\\n", what, g->N, g->C, g->H, g->W, g->K, g->Cg, g->R, g->S,
                    g->G, g->y->v[2], g->y->v[3], g->P, g->Q);
                return 0;
              }
              return 1;
            }
            /* Algorithm 1's workspace query refused (NOT_SUPPORTED), as cuDNN may refuse an algorithm its ranking listed. */
            static int refuse_algo1 = 0;
            void standin_refuse_workspace_of_algo1(void) { refuse_algo1 = 1; }
            /* Runs of the algorithms in this bit mask fail (after their checks) with this status; while any do, the
               ranking lists algorithm 0 second, as cuDNN may list an algorithm it then fails to run. */
            static int run_refused_mask = 0, run_refused_status = 0;
            void standin_refuse_runs_of_algo1(void) { run_refused_mask = 2; run_refused_status = 3000; }     /* NOT_SUPPORTED */
            void standin_fail_runs_of_algo1(void) { run_refused_mask = 2; run_refused_status = 5000; }       /* EXECUTION_FAILED */
            void standin_refuse_all_runs(void) { run_refused_mask = 3; run_refused_status = 3000; }
            /* The first algorithm query after the next refused run fails (INTERNAL_ERROR). */
            static int query_fail_armed = 0;
            void standin_fail_query_after_refused_run(void) { query_fail_armed = 1; }
            void standin_reset_algorithms(void) { run_refused_mask = 0; run_refused_status = 0; refuse_algo1 = 0; }
            static int query(int dir, void *h, const void *xd, const void *wd, const void *cd, const void *yd, int req, int *ret, Perf *perf) {
              Geo g;
              if (!standin_handle_ok(h) || !geo(&g, xd, wd, cd, yd, DIR[dir])) return BAD;
              LOG("c-cudnn-algo-query %s requested=%d math=%d\\n", DIR[dir], req, g.c->v[9]);
              if (req < 1) { ERR("algorithm query: requested %d\\n", req); return BAD; }
              if (query_fail_armed == 2) { query_fail_armed = 0; LOG("c-cudnn-algo-query-failed\\n"); return 4000; }
              /* one answer: algorithm 1, success, deterministic (1), the descriptor's math type, 4 KiB; after
                 standin_refuse_workspace_of_algo1, algorithm 0 (no workspace) ranked second */
              perf[0] = (Perf) {1, 0, 0.5f, 4096, 1, g.c->v[9], {0, 0, 0}};
              *ret = 1;
              if ((refuse_algo1 || run_refused_mask) && req > 1) { perf[1] = (Perf) {0, 0, 0.7f, 0, 1, g.c->v[9], {0, 0, 0}}; *ret = 2; }
              return 0;
            }
            int cudnnGetConvolutionForwardAlgorithm_v7(void *h, const void *x, const void *w, const void *c, const void *y, int req, int *ret, Perf *p) {
              return query(0, h, x, w, c, y, req, ret, p);
            }
            int cudnnGetConvolutionBackwardDataAlgorithm_v7(void *h, const void *w, const void *dy, const void *c, const void *dx, int req, int *ret, Perf *p) {
              return query(1, h, dx, w, c, dy, req, ret, p);
            }
            int cudnnGetConvolutionBackwardFilterAlgorithm_v7(void *h, const void *x, const void *dy, const void *c, const void *dw, int req, int *ret, Perf *p) {
              return query(2, h, x, dw, c, dy, req, ret, p);
            }
            static int wssize(int dir, void *h, const void *xd, const void *wd, const void *cd, const void *yd, int algo, size_t *size) {
              Geo g;
              if (!standin_handle_ok(h) || !geo(&g, xd, wd, cd, yd, DIR[dir])) return BAD;
              LOG("c-cudnn-workspace-query %s algo=%d math=%d\\n", DIR[dir], algo, g.c->v[9]);
              if (refuse_algo1 && algo == 1) { LOG("c-cudnn-workspace-refused %s algo=1\\n", DIR[dir]); return 3000; }
              *size = algo == 0 ? 0 : WS[dir]; return 0;
            }
            int cudnnGetConvolutionForwardWorkspaceSize(void *h, const void *x, const void *w, const void *c, const void *y, int algo, size_t *s) { return wssize(0, h, x, w, c, y, algo, s); }
            int cudnnGetConvolutionBackwardDataWorkspaceSize(void *h, const void *w, const void *dy, const void *c, const void *dx, int algo, size_t *s) { return wssize(1, h, dx, w, c, dy, algo, s); }
            int cudnnGetConvolutionBackwardFilterWorkspaceSize(void *h, const void *x, const void *dy, const void *c, const void *dw, int algo, size_t *s) { return wssize(2, h, x, dw, c, dy, algo, s); }
            /* The measured search (cudnnFind*AlgorithmEx): the buffers checked as for a run; then the output holds what
               cuDNN's trial runs left there (NaN here: the real call must overwrite it, and an accumulating backward-filter
               must search into a scratch buffer, not dw); algorithm 0 (no workspace) is timed fastest, algorithm 1 second. */
            static int find(int dir, void *h, const void *xd, float *x, const void *wd, float *w, const void *cd, const void *yd, float *y,
                            int req, int *ret, Perf *perf, void *ws, size_t bytes) {
              Geo g;
              if (!standin_handle_ok(h) || !geo(&g, xd, wd, cd, yd, DIR[dir])) return BAD;
              LOG("c-cudnn-find %s requested=%d math=%d workspace_bytes=%zu workspace=%s\\n", DIR[dir], req, g.c->v[9], bytes,
                  ws == NULL ? "null" : standin_device_range(ws, bytes) ? "device" : "bad");
              if (req < 1) { ERR("find: requested %d\\n", req); return BAD; }
              if (bytes && !standin_device_range(ws, bytes)) { ERR("find %s: workspace %p of %zu bytes not in device memory\\n", DIR[dir], ws, bytes); return BAD; }
              if (!standin_tensor_data(g.x, x, "find x") || !standin_tensor_data(g.y, y, "find y")) return BAD;
              size_t wn = (size_t) g.K * g.Cg * g.R * g.S;
              if (!standin_device_range(w, 4 * wn)) { ERR("find w: %p not inside device memory\\n", w); return BAD; }
              if (dir == 0) for (int n = 0; n < g.N; n++) for (int k = 0; k < g.K; k++) for (int p = 0; p < g.P; p++) for (int q = 0; q < g.Q; q++) y[elem(g.y, n, k, p, q)] = NAN;
              if (dir == 1) for (int n = 0; n < g.N; n++) for (int c = 0; c < g.C; c++) for (int i = 0; i < g.H; i++) for (int j = 0; j < g.W; j++) x[elem(g.x, n, c, i, j)] = NAN;
              if (dir == 2) for (size_t i = 0; i < wn; i++) w[i] = NAN;
              perf[0] = (Perf) {0, 0, 0.2f, 0, 1, g.c->v[9], {0, 0, 0}};
              *ret = 1;
              if (req > 1) { perf[1] = (Perf) {1, 0, 0.5f, WS[dir], 1, g.c->v[9], {0, 0, 0}}; *ret = 2; }
              return 0;
            }
            int cudnnFindConvolutionForwardAlgorithmEx(void *h, const void *xd, const float *x, const void *wd, const float *w, const void *cd,
                                                       const void *yd, float *y, int req, int *ret, Perf *p, void *ws, size_t bytes) {
              return find(0, h, xd, (float *) x, wd, (float *) w, cd, yd, y, req, ret, p, ws, bytes);
            }
            int cudnnFindConvolutionBackwardDataAlgorithmEx(void *h, const void *wd, const float *w, const void *dyd, const float *dy, const void *cd,
                                                            const void *dxd, float *dx, int req, int *ret, Perf *p, void *ws, size_t bytes) {
              return find(1, h, dxd, dx, wd, (float *) w, cd, dyd, (float *) dy, req, ret, p, ws, bytes);
            }
            int cudnnFindConvolutionBackwardFilterAlgorithmEx(void *h, const void *xd, const float *x, const void *dyd, const float *dy, const void *cd,
                                                              const void *dwd, float *dw, int req, int *ret, Perf *p, void *ws, size_t bytes) {
              return find(2, h, xd, (float *) x, dwd, dw, cd, dyd, (float *) dy, req, ret, p, ws, bytes);
            }

            /* Shared by the three calls: the checks, then the input pixel (ih, iw) output (p, q) reads through filter tap (r, s). */
            static int start(int dir, Geo *g, void *h, const void *xd, const void *x, const void *wd, const void *w, const void *cd, const void *yd, const void *y,
                             int algo, void *ws, size_t bytes) {
              if (!standin_handle_ok(h) || !geo(g, xd, wd, cd, yd, DIR[dir])) return 0;
              LOG("c-cudnn-convolution %s algo=%d math=%d workspace_bytes=%zu workspace=%s\\n", DIR[dir], algo, g->c->v[9], bytes,
                  ws == NULL ? "null" : standin_device_range(ws, bytes) ? "device" : "bad");
              size_t asked = algo == 0 ? 0 : WS[dir];   /* what wssize answers */
              if (bytes < asked || (bytes && !standin_device_range(ws, bytes))) { ERR("%s: workspace %p of %zu bytes, cuDNN asked for %zu\\n", DIR[dir], ws, bytes, asked); return 0; }
              if (!standin_tensor_data(g->x, x, "convolution x") || !standin_tensor_data(g->y, y, "convolution y")) return 0;
              if (!standin_device_range(w, 4 * (size_t) g->K * g->Cg * g->R * g->S)) { ERR("convolution w: %p not inside device memory\\n", w); return 0; }
              if (g->mode != 0 && g->mode != 1) { ERR("convolution mode %d\\n", g->mode); return 0; }
              /* No refusal is known here, but pytorch/pytorch#4107 met NOT_SUPPORTED from convolutions over a batch of
                 131,072: the backend slices at CudnnOps.MAX_N_PER_CALL as a precaution, and the stand-in checks it does. */
              if (g->N >= 65536) { ERR("%s convolution: N = %d; the stand-in refuses N >= 65536\\n", DIR[dir], g->N); return 0; }
              return 1;
            }
            /* The status a run of this algorithm fails with (0: it runs). */
            static int run_refused(int dir, int algo) {
              if (!(run_refused_mask >> algo & 1)) return 0;
              LOG("c-cudnn-run-refused %s algo=%d status=%d\\n", DIR[dir], algo, run_refused_status);
              if (query_fail_armed) query_fail_armed = 2;
              return run_refused_status;
            }
            /* filter element of output channel k, group-local input channel c, tap (r, s); CONVOLUTION mode (0) flips the taps */
            static long widx(const Geo *g, int k, int c, int r, int s) {
              if (g->mode == 0) { r = g->R - 1 - r; s = g->S - 1 - s; }
              return (((long) k * g->Cg + c) * g->R + r) * g->S + s;
            }
            /* The output columns [*lo, *hi) whose input column q * v + off lies inside [0, W). The loops below run over them
               innermost, with the index work hoisted out, and add each output's terms in the order of one loop per output
               element over (c, r, s) (forward) or (n, p, q) (filter), skipping the taps in the padding. */
            static void cols(int off, int v, int W, int Q, int *lo, int *hi) {
              *lo = off >= 0 ? 0 : (-off + v - 1) / v;
              *hi = W - 1 - off < 0 ? 0 : (W - 1 - off) / v + 1;
              if (*hi > Q) *hi = Q;
              if (*lo > *hi) *lo = *hi;
            }
            /* Called by the child: the next forward convolution fails (after its checks), as on an execution failure. */
            static int fail_convolution;
            void standin_fail_next_convolution(void) { fail_convolution = 1; }
            int cudnnConvolutionForward(void *h, const float *alpha, const void *xd, const float *x, const void *wd, const float *w, const void *cd, int algo,
                                        void *ws, size_t bytes, const float *beta, const void *yd, float *y) {
              Geo g;
              if (fail_convolution) {
                fail_convolution = 0;
                if (!start(0, &g, h, xd, x, wd, w, cd, yd, y, algo, ws, bytes)) return BAD;
                LOG("c-cudnn-injected-failure cudnnConvolutionForward\\n");
                return 5000;   /* CUDNN_STATUS_EXECUTION_FAILED */
              }
              if (!start(0, &g, h, xd, x, wd, w, cd, yd, y, algo, ws, bytes)) return BAD;
              if (run_refused(0, algo)) return run_refused_status;
              int kg = g.K / g.G;
              long xs = g.x->v[9];
              float *acc = malloc((size_t) g.Q * sizeof *acc);
              for (int n = 0; n < g.N; n++) for (int k = 0; k < g.K; k++) for (int p = 0; p < g.P; p++) {
                for (int q = 0; q < g.Q; q++) acc[q] = 0;
                for (int c = 0; c < g.Cg; c++) for (int r = 0; r < g.R; r++) {
                  int ih = p * g.u - g.ph + r * g.dh;
                  if (ih < 0 || ih >= g.H) continue;
                  const float *xr = x + elem(g.x, n, (k / kg) * g.Cg + c, ih, 0);
                  for (int s = 0; s < g.S; s++) {
                    int off = s * g.dw - g.pw, lo, hi;
                    cols(off, g.v, g.W, g.Q, &lo, &hi);
                    float wv = w[widx(&g, k, c, r, s)];
                    for (int q = lo; q < hi; q++) acc[q] += xr[(q * g.v + off) * xs] * wv;
                  }
                }
                for (int q = 0; q < g.Q; q++) {
                  long at = elem(g.y, n, k, p, q);
                  y[at] = *beta == 0 ? *alpha * acc[q] : *alpha * acc[q] + *beta * y[at];
                }
              }
              free(acc);
              return 0;
            }
            int cudnnConvolutionBackwardData(void *h, const float *alpha, const void *wd, const float *w, const void *dyd, const float *dy, const void *cd, int algo,
                                             void *ws, size_t bytes, const float *beta, const void *dxd, float *dx) {
              Geo g;
              if (!start(1, &g, h, dxd, dx, wd, w, cd, dyd, dy, algo, ws, bytes)) return BAD;
              if (run_refused(1, algo)) return run_refused_status;
              int kg = g.K / g.G;
              float *acc = calloc((size_t) g.N * g.C * g.H * g.W, sizeof *acc);
              long ys = g.y->v[9];
              /* Each dx element's terms in the order of one loop over (k, p, q, r, s): for one (k, p) only one r reaches its
                 row, and of its (q, s) pairs q rises as s falls, so s runs down. */
              for (int n = 0; n < g.N; n++) for (int k = 0; k < g.K; k++) for (int p = 0; p < g.P; p++) {
                const float *dyr = dy + elem(g.y, n, k, p, 0);
                for (int c = 0; c < g.Cg; c++) for (int r = 0; r < g.R; r++) {
                  int ih = p * g.u - g.ph + r * g.dh;
                  if (ih < 0 || ih >= g.H) continue;
                  float *ar = acc + (((size_t) n * g.C + (k / kg) * g.Cg + c) * g.H + ih) * g.W;
                  for (int s = g.S - 1; s >= 0; s--) {
                    int off = s * g.dw - g.pw, lo, hi;
                    cols(off, g.v, g.W, g.Q, &lo, &hi);
                    float wv = w[widx(&g, k, c, r, s)];
                    for (int q = lo; q < hi; q++) ar[q * g.v + off] += dyr[q * ys] * wv;
                  }
                }
              }
              for (int n = 0; n < g.N; n++) for (int c = 0; c < g.C; c++) for (int ih = 0; ih < g.H; ih++) for (int iw = 0; iw < g.W; iw++) {
                long at = elem(g.x, n, c, ih, iw);
                float a = acc[(((size_t) n * g.C + c) * g.H + ih) * g.W + iw];
                dx[at] = *beta == 0 ? *alpha * a : *alpha * a + *beta * dx[at];
              }
              free(acc);
              return 0;
            }
            int cudnnConvolutionBackwardFilter(void *h, const float *alpha, const void *xd, const float *x, const void *dyd, const float *dy, const void *cd, int algo,
                                               void *ws, size_t bytes, const float *beta, const void *dwd, float *dw) {
              Geo g;
              if (!start(2, &g, h, xd, x, dwd, dw, cd, dyd, dy, algo, ws, bytes)) return BAD;
              if (run_refused(2, algo)) return run_refused_status;
              int kg = g.K / g.G;
              long xs = g.x->v[9], ys = g.y->v[9];
              for (int k = 0; k < g.K; k++) for (int c = 0; c < g.Cg; c++) for (int r = 0; r < g.R; r++) for (int s = 0; s < g.S; s++) {
                float acc = 0;
                int off = s * g.dw - g.pw, lo, hi;
                cols(off, g.v, g.W, g.Q, &lo, &hi);
                for (int n = 0; n < g.N; n++) for (int p = 0; p < g.P; p++) {
                  int ih = p * g.u - g.ph + r * g.dh;
                  if (ih < 0 || ih >= g.H) continue;
                  const float *dyr = dy + elem(g.y, n, k, p, 0), *xr = x + elem(g.x, n, (k / kg) * g.Cg + c, ih, 0);
                  for (int q = lo; q < hi; q++) acc += dyr[q * ys] * xr[(q * g.v + off) * xs];
                }
                long at = widx(&g, k, c, r, s);
                dw[at] = *beta == 0 ? *alpha * acc : *alpha * acc + *beta * dw[at];
              }
              return 0;
            }
            """;
}
