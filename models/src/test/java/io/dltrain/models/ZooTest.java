package io.dltrain.models;

import io.dltrain.runtime.autograd.GradMode;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.backend.meta.MetaBackend;
import io.dltrain.runtime.nn.BatchNorm;
import io.dltrain.runtime.nn.BatchNorm2d;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.nn.Sequential;
import io.dltrain.runtime.ops.Losses;
import io.dltrain.runtime.optim.Adam;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import org.junit.jupiter.api.AfterAll;
import org.junit.jupiter.api.Test;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.function.Function;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The ImageNet/CIFAR zoo against torchvision: exact parameter counts (counted on the meta backend), state_dict keys
 * and shapes (resnet18 in full, from a list written by hand from torchvision's source), real forward and backward
 * passes on the CPU at small inputs, block-level gradients against finite differences, and a training smoke test.
 */
class ZooTest {
    static final CpuBackend cpu = new CpuBackend(2);

    @AfterAll static void close() { cpu.close(); }

    private static long count(String name) {
        ModelRegistry.Entry e = ModelRegistry.get(name);
        return e.parameterCount(e.defaultSpec());
    }

    private static Module meta(String name, ModelSpec spec) {
        return Scope.outside(() -> ModelRegistry.get(name).build(new Context(new MetaBackend(), 0), spec));
    }

    /** torchvision.models.{name}() parameter counts: sum(p.numel() for p in model.parameters()). */
    @Test
    void parameterCountsEqualTorchvision() {
        Map<String, Long> expected = new LinkedHashMap<>();
        expected.put("resnet18", 11_689_512L);
        expected.put("resnet34", 21_797_672L);
        expected.put("resnet50", 25_557_032L);
        expected.put("resnet101", 44_549_160L);
        expected.put("resnet152", 60_192_808L);
        expected.put("vgg11", 132_863_336L);
        expected.put("vgg13", 133_047_848L);
        expected.put("vgg16", 138_357_544L);
        expected.put("vgg19", 143_667_240L);
        expected.put("vgg11_bn", 132_868_840L);
        expected.put("vgg13_bn", 133_053_736L);
        expected.put("vgg16_bn", 138_365_992L);
        expected.put("vgg19_bn", 143_678_248L);
        expected.put("alexnet", 61_100_840L);
        expected.put("googlenet", 6_624_904L);   // aux_logits=False
        expected.put("densenet121", 7_978_856L);
        long t0 = System.nanoTime();
        for (var e : expected.entrySet()) assertEquals(e.getValue(), count(e.getKey()), e.getKey());
        // All sixteen, 1.6 billion parameters in all, on the meta backend: no memory, so well under the 10 s allowed.
        assertTrue(System.nanoTime() - t0 < 10_000_000_000L, "meta-backend counting took " + (System.nanoTime() - t0) / 1e9 + " s");
    }

    @Test
    void specDecidesStemAndClassifier() {
        // resnet18-cifar: resnet18 with the 7x7 stem (64*3*49) replaced by a 3x3 one (64*3*9) and fc 512->10 instead
        // of 512->1000: 11,689,512 - 9,408 + 1,728 - 513,000 + 5,130 = 11,173,962.
        assertEquals(11_173_962L, count("resnet18-cifar"));
        // resnet18-cifar-narrow: the same layout at widths 16-32-64-128. Stem 3*16*9 + BN 32 = 464; layer1 2 * (2 * 16*16*9
        // + 2 * 32) = 9,344; layer2 (16*32*9 + 32*32*9 + 16*32 + 3 * 64) + (2 * 32*32*9 + 2 * 64) = 14,528 + 18,560;
        // layer3 (32*64*9 + 64*64*9 + 32*64 + 3 * 128) + (2 * 64*64*9 + 2 * 128) = 57,728 + 73,984; layer4
        // (64*128*9 + 128*128*9 + 64*128 + 3 * 256) + (2 * 128*128*9 + 2 * 256) = 230,144 + 295,424; fc 128*10 + 10 = 1,290.
        assertEquals(464L + 9_344 + 14_528 + 18_560 + 57_728 + 73_984 + 230_144 + 295_424 + 1_290, count("resnet18-cifar-narrow"));
        // resnet18 on 1-channel input with 10 classes: the stem loses 64*2*49 weights, fc as above.
        assertEquals(11_689_512L - 64 * 2 * 49 - 513_000 + 5_130, ModelRegistry.get("resnet18").parameterCount(new ModelSpec(1, 64, 64, 10)));
        // vgg16 with 100 classes: the last Linear is 4096*100 + 100 instead of 4096*1000 + 1000. The input size does not
        // change the count (adaptive pool).
        assertEquals(138_357_544L - 4_097_000 + 409_700, ModelRegistry.get("vgg16").parameterCount(new ModelSpec(3, 32, 32, 100)));
        // densenet121 on 2 channels: conv0 loses 64*1*49 weights.
        assertEquals(7_978_856L - 64 * 49, ModelRegistry.get("densenet121").parameterCount(new ModelSpec(2, 224, 224, 1000)));
    }

    @Test
    void tooSmallInputsAreRejectedWithTheMinimum() {
        // The smallest sizes each family can take (derived in the builders' javadoc): one less fails, the minimum builds.
        for (var c : List.of(new Object[] {"vgg11", 32}, new Object[] {"alexnet", 63}, new Object[] {"googlenet", 31}, new Object[] {"densenet121", 29})) {
            String name = (String) c[0];
            int min = (Integer) c[1];
            var e = assertThrows(IllegalArgumentException.class, () -> meta(name, new ModelSpec(3, min - 1, min, 10)));
            assertTrue(e.getMessage().contains(min + "x" + min), e.getMessage());
            try (Module m = meta(name, new ModelSpec(3, min, min, 10))) { assertTrue(m.parameterCount() > 0); }
        }
    }

    /** The hand-written resource: "key (d0, d1, ...)" per line, '#' comments. */
    private static List<String> expectedResnet18() throws IOException {
        List<String> lines = new ArrayList<>();
        try (var in = ZooTest.class.getResourceAsStream("resnet18-state-dict.txt")) {
            assertNotNull(in, "test resource resnet18-state-dict.txt");
            var r = new BufferedReader(new InputStreamReader(in, StandardCharsets.UTF_8));
            for (String l; (l = r.readLine()) != null; ) if (!l.isBlank() && !l.startsWith("#")) lines.add(l.strip());
        }
        return lines;
    }

    /** Python's tuple(shape): "()", "(64,)", "(64, 3, 7, 7)". */
    private static String pyShape(Shape s) {
        if (s.rank() == 1) return "(" + s.dim(0) + ",)";
        StringBuilder b = new StringBuilder("(");
        for (int i = 0; i < s.rank(); i++) b.append(i == 0 ? "" : ", ").append(s.dim(i));
        return b.append(')').toString();
    }

    @Test
    void resnet18StateDictEqualsTorchvisions() throws IOException {
        List<String> expected = expectedResnet18();
        assertEquals(122, expected.size());
        // The file is self-consistent: its non-buffer entries add up to torchvision's parameter count.
        long params = 0;
        for (String l : expected) {
            if (l.contains("running_") || l.contains("num_batches_tracked")) continue;
            long n = 1;
            for (String d : l.substring(l.indexOf('(') + 1, l.indexOf(')')).split(",")) if (!d.isBlank()) n *= Long.parseLong(d.strip());
            params += n;
        }
        assertEquals(11_689_512L, params);

        try (Module m = meta("resnet18", ModelRegistry.IMAGENET)) {
            List<String> actual = new ArrayList<>();
            m.stateDict().forEach((k, t) -> actual.add(k + " " + pyShape(t.shape())));
            assertEquals(String.join("\n", expected), String.join("\n", actual));
            assertEquals(DType.INT32, m.stateDict().get("layer2.0.downsample.1.num_batches_tracked").dtype());
        }
    }

    private static void assertShapes(Module m, Map<String, Shape> expected) {
        Map<String, Tensor> sd = m.stateDict();
        for (var e : expected.entrySet()) {
            assertTrue(sd.containsKey(e.getKey()), "missing state_dict key " + e.getKey());
            assertEquals(e.getValue(), sd.get(e.getKey()).shape(), e.getKey());
        }
    }

    @Test
    void otherFamiliesUseTorchvisionsKeys() {
        try (Module vgg = meta("vgg16", ModelRegistry.IMAGENET); Module vggBn = meta("vgg16_bn", ModelRegistry.IMAGENET);
             Module alex = meta("alexnet", ModelRegistry.IMAGENET); Module r50 = meta("resnet50", ModelRegistry.IMAGENET);
             Module g = meta("googlenet", ModelRegistry.IMAGENET); Module d = meta("densenet121", ModelRegistry.IMAGENET)) {
            // VGG-16: 13 convs at features.{0,2,5,7,10,12,14,17,19,21,24,26,28}, classifier.{0,3,6}; 32 keys.
            assertShapes(vgg, Map.of("features.0.weight", Shape.of(64, 3, 3, 3), "features.28.bias", Shape.of(512),
                    "classifier.0.weight", Shape.of(4096, 25088), "classifier.3.weight", Shape.of(4096, 4096),
                    "classifier.6.bias", Shape.of(1000)));
            assertEquals(32, vgg.stateDict().size());
            // VGG-16-BN: conv, BN, ReLU per layer; the last conv is features.40, its BN features.41.
            assertShapes(vggBn, Map.of("features.1.running_mean", Shape.of(64), "features.40.weight", Shape.of(512, 512, 3, 3),
                    "features.41.num_batches_tracked", Shape.SCALAR, "classifier.6.weight", Shape.of(1000, 4096)));
            assertEquals(26 + 13 * 5 + 6, vggBn.stateDict().size());
            assertShapes(alex, Map.of("features.0.weight", Shape.of(64, 3, 11, 11), "features.10.weight", Shape.of(256, 256, 3, 3),
                    "classifier.1.weight", Shape.of(4096, 9216), "classifier.4.bias", Shape.of(4096), "classifier.6.weight", Shape.of(1000, 4096)));
            assertEquals(16, alex.stateDict().size());
            // ResNet-50: bottleneck widths, the layer1 projection (64 -> 256), v1.5's stride on conv2 (shape-invisible).
            assertShapes(r50, Map.of("layer1.0.conv1.weight", Shape.of(64, 64, 1, 1), "layer1.0.conv3.weight", Shape.of(256, 64, 1, 1),
                    "layer1.0.downsample.0.weight", Shape.of(256, 64, 1, 1), "layer3.5.bn3.running_var", Shape.of(1024),
                    "layer4.0.downsample.0.weight", Shape.of(2048, 1024, 1, 1), "fc.weight", Shape.of(1000, 2048)));
            // ResNet-50: 53 convs, 53 BNs (5 entries each), fc: 53 + 265 + 2 = 320 keys.
            assertEquals(320, r50.stateDict().size());
            // GoogLeNet: BasicConv2d = conv (no bias) + bn; branch3 is 3x3 (torchvision), branch4.0 is the pool.
            assertShapes(g, Map.of("conv1.conv.weight", Shape.of(64, 3, 7, 7), "conv1.bn.running_var", Shape.of(64),
                    "inception3a.branch1.conv.weight", Shape.of(64, 192, 1, 1), "inception3a.branch3.1.conv.weight", Shape.of(32, 16, 3, 3),
                    "inception4e.branch4.1.conv.weight", Shape.of(128, 528, 1, 1), "inception5b.branch2.1.bn.weight", Shape.of(384),
                    "fc.weight", Shape.of(1000, 1024)));
            assertFalse(g.stateDict().containsKey("conv1.conv.bias"));
            assertFalse(g.stateDict().keySet().stream().anyMatch(k -> k.startsWith("aux")), "aux_logits=False has no aux heads");
            // 3 stem + 9 * 6 = 57 BasicConv2d, 6 entries each, plus fc.
            assertEquals(57 * 6 + 2, g.stateDict().size());
            for (Tensor t : g.stateDict().values()) assertNotNull(t);
            assertShapes(d, Map.of("features.conv0.weight", Shape.of(64, 3, 7, 7), "features.norm0.running_mean", Shape.of(64),
                    "features.denseblock1.denselayer1.norm1.weight", Shape.of(64), "features.denseblock1.denselayer1.conv1.weight", Shape.of(128, 64, 1, 1),
                    "features.denseblock1.denselayer6.conv2.weight", Shape.of(32, 128, 3, 3), "features.transition1.conv.weight", Shape.of(128, 256, 1, 1),
                    "features.denseblock4.denselayer16.norm1.weight", Shape.of(992), "features.norm5.weight", Shape.of(1024),
                    "classifier.weight", Shape.of(1000, 1024)));
            // 58 layers (2 convs, 2 BNs each), 3 transitions (conv + BN), conv0, norm0, norm5, classifier:
            // convs 116 + 3 + 1 = 120, BNs (116 + 3 + 2) * 5 = 605, classifier 2: 727 keys.
            assertEquals(727, d.stateDict().size());
        }
        // GoogLeNet's batch norms use eps 0.001; ResNet's PyTorch's default 1e-5.
        try (Module g = meta("googlenet", ModelRegistry.IMAGENET); Module r = meta("resnet18", ModelRegistry.IMAGENET)) {
            for (Module m : ModuleTree.modules(g)) if (m instanceof BatchNorm b) assertEquals(0.001f, b.eps());
            for (Module m : ModuleTree.modules(r)) if (m instanceof BatchNorm b) assertEquals(1e-5f, b.eps());
        }
    }

    // ------------------------------------------------------------------------------------------ real passes on the CPU

    private static Tensor randomImages(int n, int c, int h, int w, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        float[] v = new float[n * c * h * w];
        for (int i = 0; i < v.length; i++) v[i] = (float) r.nextGaussian();
        return cpu.fromHost(v, Shape.of(n, c, h, w));
    }

    private static Tensor labels(int n, int classes, long seed) {
        SplittableRandom r = new SplittableRandom(seed);
        int[] v = new int[n];
        for (int i = 0; i < n; i++) v[i] = r.nextInt(classes);
        return cpu.fromHost(v, Shape.of(n));
    }

    /** One training-mode forward and backward; checks the output shape and that every parameter got a finite gradient. */
    private static void forwardBackward(String name, ModelSpec spec, int batch) {
        try (Module m = Scope.outside(() -> ModelRegistry.get(name).build(new Context(cpu, 7), spec)); Scope s = Scope.open()) {
            Tensor y = m.forward(randomImages(batch, spec.inChannels(), spec.height(), spec.width(), 11));
            assertEquals(Shape.of(batch, spec.numClasses()), y.shape(), name);
            for (float v : y.toFloatArray()) assertTrue(Float.isFinite(v), name + ": non-finite output");
            Tensor loss = Losses.crossEntropy(y, labels(batch, spec.numClasses(), 13), 0f);
            assertTrue(Float.isFinite(loss.item()), name + ": loss " + loss.item());
            loss.backward();
            int nonZero = 0;
            for (var e : m.namedParameters().entrySet()) {
                Tensor g = e.getValue().grad();
                assertNotNull(g, name + ": no gradient for " + e.getKey());
                assertEquals(e.getValue().shape(), g.shape(), e.getKey());
                boolean any = false;
                for (float v : g.toFloatArray()) { assertTrue(Float.isFinite(v), name + ": non-finite gradient in " + e.getKey()); any |= v != 0f; }
                if (any) nonZero++;
            }
            // Every weight influences the loss, so (barring exact cancellation) every gradient has a non-zero entry.
            assertEquals(m.namedParameters().size(), nonZero, name + ": parameters with an all-zero gradient");
        }
    }

    @Test
    void resnet18CifarForwardBackward() { forwardBackward("resnet18-cifar", ModelRegistry.CIFAR10, 2); }

    @Test
    void resnet18ForwardBackwardAt64() { forwardBackward("resnet18", new ModelSpec(3, 64, 64, 1000), 1); }

    /**
     * Batch 2: at 64x64 inception5a/5b run at 2x2, where branch4's 3x3 stride-1 max-pool sees the whole map from
     * every position, so with one image its output is constant per channel, training-mode batch norm maps it to 0,
     * the ReLU passes no gradient, and branch4's parameters get exactly zero gradient (as they would in PyTorch).
     */
    @Test
    void googlenetForwardBackwardAt64() { forwardBackward("googlenet", new ModelSpec(3, 64, 64, 1000), 2); }

    @Test
    void densenet121ForwardBackwardAt64() { forwardBackward("densenet121", new ModelSpec(3, 64, 64, 1000), 1); }

    /**
     * A layer of a zoo model that refuses its input is named by its state_dict place and by itself, though the model's
     * top is not a Sequential: resnet18 (built for 3 channels) fed a 1-channel batch said only "conv2d: input [2, 1, 32,
     * 32] has 1 channels but weight [64, 3, 7, 7] ...", not which layer (conv1); the conv autoencoder, a named sequence of
     * Sequentials, named the place in its encoder only ("layer 0 of the Sequential"); an input too small for a DenseNet
     * said only "pool2d: kernel 2x2 is larger than the padded input 1x1 ...", not which of its pools.
     */
    @Test
    void aLayerThatRefusesItsInputIsNamedByItsPlaceInTheZoosModels() {
        try (Module m = meta("resnet18", ModelRegistry.IMAGENET); Scope s = Scope.open()) {
            Tensor x = m.parameters().getFirst().backend().zeros(Shape.of(2, 1, 32, 32));
            var e = assertThrows(IllegalArgumentException.class, () -> m.forward(x));
            String place = "layer conv1 of the ResNet, Conv2d(3 -> 64, k7, s2, p3, no bias), refused its input: ";
            assertTrue(e.getMessage().startsWith(place + "conv2d: input [2, 1, 32, 32] has 1 channels but weight [64, 3, 7, 7]"), e.getMessage());
            assertEquals(place + e.getCause().getMessage(), e.getMessage(), "the op's own exception is the cause");
        }
        try (Module m = meta("conv-autoencoder", ModelRegistry.get("conv-autoencoder").defaultSpec()); Scope s = Scope.open()) {
            Tensor x = m.parameters().getFirst().backend().zeros(Shape.of(2, 3, 28, 28));
            var e = assertThrows(IllegalArgumentException.class, () -> m.forward(x));
            assertTrue(e.getMessage().startsWith("layer encoder.0 of the NamedSequential, Conv2d(1 -> "), e.getMessage());
            assertTrue(e.getMessage().endsWith(", refused its input: " + e.getCause().getMessage()), e.getMessage());
        }
        // an inner layer: torchvision's DenseNet classes at a small width (fast), fed 8x8, which its second transition's pool cannot take
        try (Module m = Scope.outside(() -> new DenseNets.DenseNet(new Context(cpu, 7), ModelRegistry.IMAGENET, 4, new int[] {2, 2, 2, 2}, 8, 2));
             Scope s = Scope.open()) {
            m.eval();
            var e = assertThrows(IllegalArgumentException.class, () -> m.forward(randomImages(1, 3, 8, 8, 3)));
            assertTrue(e.getMessage().startsWith("layer features.transition2.pool of the DenseNet, AvgPool2d(k2, s2, p0), refused its input: pool2d:"),
                    e.getMessage());
            assertTrue(e.getMessage().endsWith(", refused its input: " + e.getCause().getMessage()), e.getMessage());
        }
    }

    // ------------------------------------------------------------------------------------------ blocks

    @Test
    void zeroInitResidualMakesIdentityBlocks() {
        // With gamma = 0 on each block's last BN (and beta = 0, running stats 0/1 in eval mode) the residual branch
        // outputs 0, so a block without projection computes relu(0 + x) = x for x >= 0.
        try (Module m = Scope.outside(() -> ResNets.resnet(new Context(cpu, 3), new ModelSpec(3, 32, 32, 10), 50, true)); Scope s = Scope.open()) {
            for (Module b : ModuleTree.modules(m)) if (b instanceof ResNets.Block blk) assertArrayEquals(new float[blk.lastNorm().features()], blk.lastNorm().weight().toFloatArray());
            m.eval();
            float[] x = randomImages(1, 256, 4, 4, 5).toFloatArray();
            for (int i = 0; i < x.length; i++) x[i] = Math.abs(x[i]);
            Module block = ((Sequential) m.children().get("layer1")).layers().get(1);
            try (GradMode.Guard g = GradMode.noGrad()) {
                assertArrayEquals(x, block.forward(cpu.fromHost(x, Shape.of(1, 256, 4, 4))).toFloatArray(), 0f);
            }
        }
        // Without the option the last BN starts at gamma = 1, as torchvision.
        try (Module m = Scope.outside(() -> ResNets.resnet(new Context(cpu, 3), new ModelSpec(3, 32, 32, 10), 18, false))) {
            var bn2 = ((ResNets.BasicBlock) ((Sequential) m.children().get("layer1")).layers().get(0)).lastNorm();
            for (float v : bn2.weight().toFloatArray()) assertEquals(1f, v);
        }
    }

    /** Root mean square of a weight (its sample std about the known mean 0) and 5 standard errors of it (std / sqrt(2n)). */
    private static void assertStd(String what, Tensor w, double expected) {
        float[] v = w.toFloatArray();
        double ss = 0;
        for (float x : v) ss += (double) x * x;
        assertEquals(expected, Math.sqrt(ss / v.length), 5 * expected / Math.sqrt(2.0 * v.length), what);
    }

    @Test
    void weightsUseTorchvisionsInitialisation() {
        // ResNet: kaiming_normal_(fan_out, relu), std = sqrt(2 / fan_out). layer4.0.conv1 is [512, 256, 3, 3], so
        // fan_out (4608) differs from fan_in (2304) and from PyTorch's default (std 1/sqrt(3 fan_in) = 0.012).
        try (Module m = Scope.outside(() -> ModelRegistry.get("resnet18").build(new Context(cpu, 9), ModelRegistry.CIFAR10))) {
            assertStd("resnet18 layer4.0.conv1", m.stateDict().get("layer4.0.conv1.weight"), Math.sqrt(2.0 / (512 * 9)));
        }
        // DenseNet: kaiming_normal_ with its defaults (fan_in, gain sqrt 2): conv0 [64, 3, 7, 7] has fan_in 147; the
        // classifier bias is zeroed.
        try (Module m = Scope.outside(() -> ModelRegistry.get("densenet121").build(new Context(cpu, 9), new ModelSpec(3, 64, 64, 10)))) {
            assertStd("densenet121 features.conv0", m.stateDict().get("features.conv0.weight"), Math.sqrt(2.0 / 147));
            assertArrayEquals(new float[10], m.stateDict().get("classifier.bias").toFloatArray());
        }
        // GoogLeNet: trunc_normal_(std 0.01, a=-2, b=2) for convolutions and the Linear (the truncation at 200 sigma
        // does not change the std); batch norms at weight 1.
        try (Module m = Scope.outside(() -> ModelRegistry.get("googlenet").build(new Context(cpu, 9), new ModelSpec(3, 64, 64, 10)))) {
            assertStd("googlenet conv1.conv", m.stateDict().get("conv1.conv.weight"), 0.01);
            assertStd("googlenet fc", m.stateDict().get("fc.weight"), 0.01);
            for (float v : m.stateDict().get("inception4a.branch2.1.bn.weight").toFloatArray()) assertEquals(1f, v);
        }
    }

    /**
     * d(loss)/d(input) of a block through autograd against central differences of the same loss computed on the host
     * in double. In eval mode every block here is piecewise linear (convolutions, affine batch norm, ReLU, max-pool,
     * concatenation, adds) and the MSE loss quadratic, so the central difference is exact up to float rounding of
     * the block's output unless a ReLU or max-pool kink lies within eps of the point; eps = 1e-3 keeps clear of them
     * for these seeds (at 1e-2 a max-pool window of the Inception block switches its maximum). Rounding then costs
     * about 1e-7 / eps relative; tolerance: |fd - autograd| <= 2e-3 * max|autograd|.
     */
    private static void checkInputGradient(String what, Module block, Shape in, Shape out) {
        block.eval();
        float[] x = randomImages(1, 1, 1, (int) in.numel(), 17).toFloatArray();
        float[] target = randomImages(1, 1, 1, (int) out.numel(), 19).toFloatArray();
        try (Scope s = Scope.open()) {
            Tensor xt = cpu.fromHost(x, in).requiresGrad(true);
            Tensor y = block.forward(xt);
            assertEquals(out, y.shape(), what);
            Losses.mse(y, cpu.fromHost(target, out)).backward();
            float[] g = xt.grad().toFloatArray();
            Function<float[], Double> loss = v -> {
                try (Scope inner = Scope.open(); GradMode.Guard ng = GradMode.noGrad()) {
                    float[] yv = block.forward(cpu.fromHost(v, in)).toFloatArray();
                    double sum = 0;
                    for (int i = 0; i < yv.length; i++) sum += ((double) yv[i] - target[i]) * ((double) yv[i] - target[i]);
                    return sum / yv.length;
                }
            };
            double maxG = 0;
            for (float v : g) maxG = Math.max(maxG, Math.abs(v));
            assertTrue(maxG > 0, what + ": zero input gradient");
            double eps = 1e-3;
            for (int i = 0; i < x.length; i += Math.max(1, x.length / 40)) {
                float[] p = x.clone(), m = x.clone();
                p[i] += (float) eps;
                m[i] -= (float) eps;
                double fd = (loss.apply(p) - loss.apply(m)) / ((double) p[i] - m[i]);
                assertEquals(fd, g[i], 2e-3 * maxG, what + ": d loss / d x[" + i + "]");
            }
        }
    }

    @Test
    void blockGradientsMatchFiniteDifferences() {
        Context ctx = new Context(cpu, 21);
        try (Module bottleneck = Scope.outside(() -> new ResNets.Bottleneck(ctx, 8, 4, 2,
                     new Sequential(ResNets.conv1x1(ctx, 8, 16, 2), new BatchNorm2d(ctx, 16))));
             Module inception = Scope.outside(() -> new GoogLeNet.Inception(ctx, 6, 2, 3, 4, 2, 3, 2));
             Module dense = Scope.outside(() -> new DenseNets.DenseBlock(ctx, 3, 4, 2, 3))) {
            checkInputGradient("Bottleneck with projection", bottleneck, Shape.of(1, 8, 6, 6), Shape.of(1, 16, 3, 3));
            checkInputGradient("Inception", inception, Shape.of(1, 6, 5, 5), Shape.of(1, 2 + 4 + 3 + 2, 5, 5));
            checkInputGradient("DenseBlock", dense, Shape.of(1, 4, 5, 5), Shape.of(1, 4 + 3 * 3, 5, 5));
        }
    }

    @Test
    void denseBlockConcatenatesInputAndLayerOutputs() {
        Context ctx = new Context(cpu, 23);
        try (DenseNets.DenseBlock block = Scope.outside(() -> new DenseNets.DenseBlock(ctx, 2, 4, 2, 3)); Scope s = Scope.open();
             GradMode.Guard g = GradMode.noGrad()) {
            block.eval();
            Tensor x = randomImages(2, 4, 3, 3, 29);
            float[] y = block.forward(x).toFloatArray(), xv = x.toFloatArray();
            float[] l1 = block.children().get("denselayer1").forward(x).toFloatArray();
            int hw = 9, c = 4 + 2 * 3;
            for (int n = 0; n < 2; n++) {
                for (int i = 0; i < 4 * hw; i++) assertEquals(xv[n * 4 * hw + i], y[n * c * hw + i], "input channels pass through");
                for (int i = 0; i < 3 * hw; i++) assertEquals(l1[n * 3 * hw + i], y[n * c * hw + 4 * hw + i], "then denselayer1's output");
            }
        }
    }

    // ------------------------------------------------------------------------------------------ training

    /**
     * resnet18-cifar memorises 64 random images with random labels: full-batch Adam (lr 1e-3), three steps; the
     * training-mode loss must fall at every step and end below half of where it started (~ln 10). The images are
     * 3x16x16 rather than 32x32 to keep the test to a few seconds on two cores (the model takes any size; layer4
     * then runs at 2x2).
     */
    @Test
    void resnet18CifarTrainingReducesTheLoss() {
        int n = 64, size = 16;
        ModelSpec spec = new ModelSpec(3, size, size, 10);
        try (Module m = Scope.outside(() -> ModelRegistry.get("resnet18-cifar").build(new Context(cpu, 31), spec));
             Adam opt = new Adam(m.namedParameters(), 1e-3);
             Scope s = Scope.open()) {
            Tensor x = randomImages(n, 3, size, size, 37), y = labels(n, 10, 41);
            List<Double> losses = new ArrayList<>();
            for (int step = 0; step < 3; step++) {
                try (Scope st = Scope.open()) {
                    opt.zeroGrad();
                    Tensor loss = Losses.crossEntropy(m.forward(x), y, 0f);
                    losses.add((double) loss.item());
                    loss.backward();
                    opt.step();
                }
            }
            try (Scope st = Scope.open(); GradMode.Guard g = GradMode.noGrad()) {
                losses.add((double) Losses.crossEntropy(m.forward(x), y, 0f).item());
            }
            for (int i = 1; i < losses.size(); i++) {
                assertTrue(Double.isFinite(losses.get(i)) && losses.get(i) < losses.get(i - 1), "losses per step " + losses);
            }
            assertTrue(losses.getLast() < 0.5 * losses.getFirst(), "losses per step " + losses);
        }
    }
}
