package io.dltrain.runtime.backend.cuda;

import io.dltrain.models.ModelRegistry;
import io.dltrain.models.ModelSpec;
import io.dltrain.runtime.autograd.GradMode;
import io.dltrain.runtime.backend.Activation;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.ConvParams;
import io.dltrain.runtime.backend.PoolParams;
import io.dltrain.runtime.nn.Context;
import io.dltrain.runtime.nn.Module;
import io.dltrain.runtime.tensor.DType;
import io.dltrain.runtime.tensor.Device;
import io.dltrain.runtime.tensor.Scope;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Storage;
import io.dltrain.runtime.tensor.Tensor;
import org.bytedeco.cuda.cublas.cublasLtMatmulDescOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatmulPreferenceOpaque_t;
import org.bytedeco.cuda.cublas.cublasLtMatrixLayoutOpaque_t;
import org.bytedeco.cuda.cudnn.cudnnActivationStruct;
import org.bytedeco.cuda.cudnn.cudnnConvolutionStruct;
import org.bytedeco.cuda.cudnn.cudnnFilterStruct;
import org.bytedeco.cuda.cudnn.cudnnPoolingStruct;
import org.bytedeco.cuda.cudnn.cudnnTensorStruct;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.javacpp.LongPointer;
import org.bytedeco.javacpp.Pointer;
import org.bytedeco.javacpp.PointerPointer;
import org.bytedeco.javacpp.SizeTPointer;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.io.IOException;
import java.io.InputStream;
import java.lang.reflect.InvocationHandler;
import java.lang.reflect.Method;
import java.lang.reflect.Proxy;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.StandardCopyOption;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.Comparator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.SplittableRandom;
import java.util.TreeSet;
import java.util.function.Supplier;
import java.util.regex.Pattern;
import java.util.stream.Stream;
import java.util.zip.ZipEntry;
import java.util.zip.ZipFile;

import static org.bytedeco.cuda.global.cublas.*;
import static org.bytedeco.cuda.global.cudnn.*;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Our CUDA code's host-side use of NVIDIA's REAL cuBLAS 13.1 / cuBLASLt and cuDNN 9, without a GPU. The stand-in tests
 * (CudnnOpsStandInTest, CublasLtStubTest, StubDriverLoadTest) check our calls against libraries we wrote from our own
 * reading of NVIDIA's headers; here the libraries are NVIDIA's, taken from their Python wheels
 * ({@code nvidia_cublas-13*.whl}, {@code nvidia_cudnn_cu13-9*.whl}), with only the driver a stand-in (built with gcc, as
 * StubDriverLoadTest does: it reports no device). cuDNN's and cuBLASLt's descriptor calls are host-only, so they
 * answer for real. A child JVM:
 * <ol>
 *   <li>runs the probe {@code dl-train info} uses and expects it to get past loading every JNI wrapper (so they bind
 *       against the real libraries) to "no CUDA device found", and prints the real libraries' versions;</li>
 *   <li>builds, through CudnnOps' own set* methods, the tensor, filter, convolution (every math type we may set),
 *       pooling and activation descriptors of every convolution, pooling, batch norm, activation and softmax the
 *       registry's models run (recorded from a forward pass of each on a shape-only backend), also at the largest batch
 *       slice CudnnOps sends (the 2^31-1 element boundary), and of random and edge geometries; asserts cuDNN accepts
 *       each, reads each back, and asserts cuDNN's own output sizes (cudnnGetConvolution2dForwardOutputDim,
 *       cudnnGetPooling2dForwardOutputDim) and batch-norm parameter shape (cudnnDeriveBNTensorDescriptor) equal ours;</li>
 *   <li>builds, through CublasLt's own static methods, the matmul descriptor, layouts, preference and bias pointer of
 *       every Linear of the models (and every transpose, TF32, epilogue and alignment combination), asserts cuBLASLt
 *       accepts every attribute, that each attribute's size is the size cuBLASLt stores, and reads each back.</li>
 * </ol>
 * What this cannot check: anything needing a handle (cudnnCreate and cublasLtCreate fail without a device), so no
 * algorithm heuristics and no computation; the GPU suite does those.
 *
 * <p>The needed libraries (about 840 MB unpacked) are extracted once into {@code target/real-cuda-libs} and reused.
 * Skips, saying why, without the wheels, gcc or a CUDA 13 runtime, or where a real driver is installed.
 */
class RealCudaLibrariesTest {

    static final String CUBLAS_WHEEL = "nvidia_cublas-13", CUDNN_WHEEL = "nvidia_cudnn_cu13-9", CUDART_WHEEL = "nvidia_cuda_runtime-13";
    static final List<String> CUBLAS_LIBS = List.of("libcublas.so.13", "libcublasLt.so.13");
    /** What libjnicudnn.so links (its NEEDED entries); the front library libcudnn.so.9 and the engines are not loaded. */
    static final List<String> CUDNN_LIBS = List.of("libcudnn_graph.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9", "libcudnn_adv.so.9");
    static final Path TOOLKIT_CUDART = StubDriverLoadTest.CUDART;

    // ================================================================== the test (parent JVM)

    @Test
    void ourDescriptorsAreAcceptedByTheRealCublasLtAndCudnn(@TempDir Path dir) throws Exception {
        long t0 = System.nanoTime();
        Assumptions.assumeTrue(!Files.exists(Path.of("/usr/lib/x86_64-linux-gnu/libcuda.so.1")) && !Files.exists(Path.of("/usr/lib64/libcuda.so.1")),
                "a real NVIDIA driver is installed here; the GPU suite tests the real libraries on the device");
        Path cublasWheel = wheel(CUBLAS_WHEEL), cudnnWheel = wheel(CUDNN_WHEEL);
        Assumptions.assumeTrue(cublasWheel != null && cudnnWheel != null, "NVIDIA's " + CUBLAS_WHEEL + "*.whl and " + CUDNN_WHEEL
                + "*.whl are not in " + wheelDirs() + " (found: cuBLAS " + cublasWheel + ", cuDNN " + cudnnWheel + ")");
        Path cudartDir;
        if (Files.exists(TOOLKIT_CUDART)) cudartDir = TOOLKIT_CUDART.getParent();
        else {
            Path w = wheel(CUDART_WHEEL);
            Assumptions.assumeTrue(w != null, "no CUDA 13 runtime: neither " + TOOLKIT_CUDART + " nor " + CUDART_WHEEL + "*.whl");
            cudartDir = extract(w, List.of("libcudart.so.13"));
        }
        Path stub = buildStubDriver(dir);

        long t1 = System.nanoTime();
        Path cublasDir = extract(cublasWheel, CUBLAS_LIBS), cudnnDir = extract(cudnnWheel, CUDNN_LIBS);
        long t2 = System.nanoTime();

        String java = Path.of(System.getProperty("java.home"), "bin", "java").toString();
        String path = stub + ":" + cublasDir + ":" + cudnnDir + ":" + cudartDir;
        StubDriverLoadTest.Result child = StubDriverLoadTest.run(List.of(java, "--enable-native-access=ALL-UNNAMED",
                "--sun-misc-unsafe-memory-access=allow", "-cp", System.getProperty("java.class.path"),
                RealCudaLibrariesTest.class.getName()), path);
        long t3 = System.nanoTime();
        String out = child.out();
        System.out.println(out);
        System.out.printf("RealCudaLibrariesTest: setup %.1f s, extraction %.1f s (cache %s), child JVM %.1f s%n",
                (t1 - t0) / 1e9, (t2 - t1) / 1e9, cublasDir.getParent(), (t3 - t2) / 1e9);
        assertEquals(0, child.exit(), "child JVM failed:\n" + out);

        // 1. every wrapper loaded against the real libraries, and the probe got as far as the device count
        assertTrue(out.contains("probe: no CUDA device found"), "the probe should get past every library load to 'no CUDA device':\n" + out);
        for (String lib : CUBLAS_LIBS) assertTrue(out.contains("mapped " + cublasDir.resolve(lib)), lib + " was not loaded from the wheel:\n" + out);
        for (String lib : List.of("libcudnn_graph.so.9", "libcudnn_ops.so.9", "libcudnn_cnn.so.9"))
            assertTrue(out.contains("mapped " + cudnnDir.resolve(lib)), lib + " was not loaded from the wheel:\n" + out);
        assertTrue(out.lines().anyMatch(l -> l.matches("cudnnGetVersion \\d+ \\(9\\.\\d+\\.\\d+\\).*")), "no cuDNN 9 version:\n" + out);
        assertTrue(out.lines().anyMatch(l -> l.matches("cublasLtGetVersion 13\\d+, .*cublasGetProperty 13\\.\\d+\\.\\d+")), "no cuBLAS 13 version:\n" + out);
        // the unusable probe still names the libraries it loaded, as dl-train info prints them: the same versions
        String cudnnV = out.lines().filter(l -> l.startsWith("cudnnGetVersion ")).findFirst().orElseThrow().replaceAll("^cudnnGetVersion \\d+ \\(([0-9.]+)\\).*", "$1");
        String cublasV = out.lines().filter(l -> l.startsWith("cublasLtGetVersion ")).findFirst().orElseThrow().replaceAll(".*cublasGetProperty ", "");
        assertTrue(out.lines().anyMatch(l -> l.matches("probe versions: runtime 13\\.\\d+, cuBLAS " + Pattern.quote(cublasV)
                        + ", cuDNN " + Pattern.quote(cudnnV))),
                "the probe should report the loaded libraries' versions (cuBLAS " + cublasV + ", cuDNN " + cudnnV + "):\n" + out);

        // informational: what eager binding (LD_BIND_NOW) would trip over in these releases
        for (String jni : List.of("libjnicublas.so", "libjnicudnn.so")) {
            Path wrapper = out.lines().filter(l -> l.startsWith("mapped ") && l.endsWith("/" + jni)).map(l -> Path.of(l.substring(7))).findFirst().orElse(null);
            List<Path> real = jni.equals("libjnicublas.so") ? CUBLAS_LIBS.stream().map(cublasDir::resolve).toList()
                    : CUDNN_LIBS.stream().map(cudnnDir::resolve).toList();
            System.out.println(wrapper == null ? jni + " was not mapped" : missingImports(wrapper, real));
        }

        // 2 and 3: no call refused, no size differing; and the checks did run on the models' layers
        List<String> failures = out.lines().filter(l -> l.startsWith("FAIL ")).toList();
        assertTrue(failures.isEmpty(), failures.size() + " checks failed against the real libraries; the first ones:\n"
                + String.join("\n", failures.subList(0, Math.min(30, failures.size()))));
        assertTrue(out.contains("summary failures 0"), "the child did not finish its checks:\n" + out);
        Map<String, Integer> counts = new LinkedHashMap<>();
        out.lines().filter(l -> l.startsWith("checked ")).forEach(l -> {
            String[] f = l.split(" ");
            counts.put(f[1], Integer.parseInt(f[2]));
        });
        // lower bounds far below what the registry gives (resnet152 alone has 155 convolutions), to catch a recorder that saw nothing
        for (var e : Map.of("model-conv", 100, "model-pool", 5, "model-batchnorm", 50, "model-activation", 20, "model-linear", 10,
                "random-conv", 500, "random-pool", 200, "linear-descriptor-sets", 500).entrySet())
            assertTrue(counts.getOrDefault(e.getKey(), 0) >= e.getValue(), "too few " + e.getKey() + " checked: " + counts + "\n" + out);
    }

    /**
     * The functions a JNI wrapper imports that none of the real libraries defines (nm -D): harmless with lazy binding
     * (dl-train calls none of them), fatal with LD_BIND_NOW (CudaLibraries then says to unset it). Informational.
     */
    static String missingImports(Path wrapper, List<Path> libs) {
        try {
            StubDriverLoadTest.Result imports = StubDriverLoadTest.run(List.of("nm", "-D", "--undefined-only", wrapper.toString()), null);
            List<String> cmd = new ArrayList<>(List.of("nm", "-D", "--defined-only"));
            libs.forEach(l -> cmd.add(l.toString()));
            StubDriverLoadTest.Result defined = StubDriverLoadTest.run(cmd, null);
            if (imports.exit() != 0 || defined.exit() != 0) return "nm failed on " + wrapper.getFileName();
            java.util.Set<String> have = new java.util.HashSet<>();
            defined.out().lines().map(l -> l.trim().split("\\s+")).filter(f -> f.length == 3).forEach(f -> have.add(f[2].replaceFirst("@.*", "")));
            List<String> missing = imports.out().lines().map(l -> l.trim().split("\\s+")).filter(f -> f.length == 2)
                    .map(f -> f[1].replaceFirst("@.*", "")).filter(n -> n.startsWith("cublas") || n.startsWith("cudnn"))
                    .filter(n -> !have.contains(n)).distinct().sorted().toList();
            return wrapper.getFileName() + " imports " + missing.size() + " functions the real libraries lack"
                    + (missing.isEmpty() ? "" : " (LD_BIND_NOW=1 would refuse to load it): " + String.join(", ", missing));
        } catch (IOException | InterruptedException e) {
            return "no nm to list " + wrapper.getFileName() + "'s imports: " + e.getMessage();
        }
    }

    /** The wheel whose file name starts with prefix in /opt/pypi*\/files or /opt/wheels (the newest name), or null. */
    static Path wheel(String prefix) throws IOException {
        List<Path> found = new ArrayList<>();
        for (Path d : wheelDirs()) {
            if (!Files.isDirectory(d)) continue;
            try (Stream<Path> s = Files.list(d)) {
                s.filter(p -> p.getFileName().toString().startsWith(prefix) && p.getFileName().toString().endsWith(".whl")).forEach(found::add);
            }
        }
        return found.stream().max(Comparator.comparing(p -> p.getFileName().toString())).orElse(null);
    }

    static List<Path> wheelDirs() throws IOException {
        List<Path> dirs = new ArrayList<>();
        Path opt = Path.of("/opt");
        if (Files.isDirectory(opt)) {
            try (Stream<Path> s = Files.list(opt)) {
                s.filter(p -> p.getFileName().toString().startsWith("pypi")).sorted().forEach(p -> dirs.add(p.resolve("files")));
            }
        }
        dirs.add(Path.of("/opt/wheels"));
        return dirs;
    }

    /**
     * The named libraries of a wheel, extracted (only they) into target/real-cuda-libs/[wheel name]/ and reused by
     * later runs: a library is extracted again only when its size differs from the wheel's entry. Written under a
     * temporary name and moved into place, so a run cut short leaves no truncated library behind.
     */
    static Path extract(Path wheel, List<String> libs) throws IOException {
        String name = wheel.getFileName().toString();
        Path out = Path.of(System.getProperty("basedir", ".")).resolve("target/real-cuda-libs").resolve(name.substring(0, name.length() - 4));
        Files.createDirectories(out);
        try (ZipFile zip = new ZipFile(wheel.toFile())) {
            for (String lib : libs) {
                ZipEntry e = zip.stream().filter(z -> z.getName().endsWith("/lib/" + lib)).findFirst()
                        .orElseThrow(() -> new IOException(wheel + " has no */lib/" + lib));
                Path target = out.resolve(lib);
                if (Files.exists(target) && Files.size(target) == e.getSize()) continue;
                Path tmp = out.resolve(lib + ".part");
                try (InputStream in = zip.getInputStream(e)) {
                    Files.copy(in, tmp, StandardCopyOption.REPLACE_EXISTING);
                }
                Files.move(tmp, target, StandardCopyOption.REPLACE_EXISTING, StandardCopyOption.ATOMIC_MOVE);
            }
        }
        return out;
    }

    /** StubDriverLoadTest's stand-in libcuda.so.1 (its driver reports no device); aborts the test without gcc. */
    static Path buildStubDriver(Path dir) throws Exception {
        Path src = dir.resolve("stub.c"), lib = dir.resolve("libcuda.so.1");
        Files.writeString(src, """
                int cuInit(unsigned flags) { (void)flags; return 100; }
                int cuDriverGetVersion(int *v) { if (v) *v = 13000; return 0; }
                int cuDeviceGetCount(int *n) { if (n) *n = 0; return 100; }
                """);
        StubDriverLoadTest.Result gcc;
        try {
            gcc = StubDriverLoadTest.run(List.of("gcc", "-shared", "-fPIC", "-Wl,-soname,libcuda.so.1", "-o", lib.toString(), src.toString()), null);
        } catch (IOException e) {
            Assumptions.abort("no gcc to build the stand-in driver: " + e.getMessage());
            return null;
        }
        assertEquals(0, gcc.exit(), "gcc failed:\n" + gcc.out());
        return dir;
    }

    // ================================================================== the child JVM

    /** Failed checks, printed as "FAIL ..." lines; the parent fails on any. */
    private static final List<String> failures = new ArrayList<>();

    public static void main(String[] args) throws Exception {
        CudaLibraries.Probe probe = CudaLibraries.probe();
        System.out.println("probe: " + (probe.usable() ? "usable" : probe.reason()));
        System.out.println("probe versions: runtime " + probe.runtimeVersion() + ", cuBLAS " + probe.cublasVersion() + ", cuDNN " + probe.cudnnVersion());
        if (CudaLibraries.load() != null) {
            System.out.println("FAIL the bindings did not load: " + CudaLibraries.load());
            return;
        }
        for (String line : Files.readAllLines(Path.of("/proc/self/maps"))) {
            int slash = line.indexOf('/');
            if (slash >= 0 && line.matches(".*/lib(cublas|cudnn|cudart|cuda|jnicu)[^/]*\\.so[.0-9]*$")) {
                String p = line.substring(slash);
                if (seenMaps.add(p)) System.out.println("mapped " + p);
            }
        }
        int[] maj = new int[1], min = new int[1], pat = new int[1];
        cublasGetProperty(cudart.MAJOR_VERSION, maj);
        cublasGetProperty(cudart.MINOR_VERSION, min);
        cublasGetProperty(cudart.PATCH_LEVEL, pat);
        System.out.println("cudnnGetVersion " + cudnnGetVersion() + " (" + CudaLibraries.cudnnVersion(cudnnGetVersion()) + "), built for CUDA runtime "
                + cudnnGetCudartVersion());
        System.out.println("cublasLtGetVersion " + cublasLtGetVersion() + ", built for CUDA runtime " + cublasLtGetCudartVersion()
                + "; cublasGetProperty " + maj[0] + "." + min[0] + "." + pat[0]);

        Recorded models = record();
        long t0 = System.nanoTime();
        int nConv = 0, nPool = 0, nBn = 0, nAct = 0, nSoft = 0;
        for (var e : models.convs.entrySet()) { checkConv(e.getKey(), e.getValue()); nConv++; }
        for (var e : models.pools.entrySet()) { if (checkPool(e.getKey(), e.getValue())) nPool++; }
        for (var e : models.batchNorms.entrySet()) { checkBatchNorm(e.getKey(), e.getValue()); nBn++; }
        for (var e : models.activations.entrySet()) { checkActivation(e.getKey().a(), e.getKey().x(), e.getValue()); nAct++; }
        for (var e : models.softmaxes.entrySet()) { checkSoftmax(e.getKey(), e.getValue()); nSoft++; }
        System.out.println("checked model-conv " + nConv + " geometries (each at the recorded batch and the largest slice of a 65536 batch)");
        System.out.println("checked model-pool " + nPool + " geometries on cuDNN (" + (models.pools.size() - nPool)
                + " average ceil-mode ones run on pool.cu instead)");
        System.out.println("checked model-batchnorm " + nBn + " input shapes");
        System.out.println("checked model-activation " + nAct + " activation/shape pairs");
        System.out.println("checked model-softmax " + nSoft + " shapes");

        int[] random = checkRandomAndEdgeGeometries();
        System.out.println("checked random-conv " + random[0] + " geometries");
        System.out.println("checked random-pool " + random[1] + " geometries on cuDNN");
        checkTensorLimits();
        for (Activation a : List.of(Activation.RELU, Activation.SIGMOID, Activation.TANH, Activation.elu(1f), Activation.elu(0.25f)))
            checkActivation(a, Shape.of(3, 5), "edge");
        for (Shape s : List.of(Shape.SCALAR, Shape.of(7), Shape.of(4, 1000), Shape.of(65536, 10), Shape.of(2, 3, 4, 5)))
            checkSoftmax(s, "edge");

        System.out.println("checked model-linear " + models.linears.size() + " Linear shapes");
        int sets = checkLinears(models);
        System.out.println("checked linear-descriptor-sets " + sets + " (matmul descriptor, 3 layouts, preference, bias pointer each)");
        System.out.printf("cuDNN and cuBLASLt checks took %.2f s%n", (System.nanoTime() - t0) / 1e9);
        for (String f : failures) System.out.println("FAIL " + f);
        System.out.println("summary failures " + failures.size());
    }

    private static final java.util.Set<String> seenMaps = new TreeSet<>();

    /** Runs a check; a thrown exception (our code's CudnnException / CublasException, or a mismatch) is a failure. */
    private static void check(Supplier<String> what, Runnable r) {
        try {
            r.run();
        } catch (RuntimeException | AssertionError e) {
            failures.add(what.get() + ": " + e.getMessage());
        }
    }

    private static void expect(boolean ok, Supplier<String> message) { if (!ok) throw new AssertionError(message.get()); }

    private static void ok(int cudnnStatus, String call) {
        if (cudnnStatus != CUDNN_STATUS_SUCCESS) throw new AssertionError(call + " returned " + CudnnOps.statusText(cudnnStatus));
    }

    // ------------------------------------------------------------------ cuDNN

    /** A tensor descriptor set through CudnnOps.setTensor (packed strides, as CudnnOps.tensor(int...) makes them), read back. */
    private static cudnnTensorStruct tensor(int[] dims) {
        int[] s = CudnnShapes.packedStrides(dims);
        return tensor(dims, s);
    }

    private static cudnnTensorStruct tensor(int[] dims, int[] strides) {
        cudnnTensorStruct d = new cudnnTensorStruct();
        ok(cudnnCreateTensorDescriptor(d), "cudnnCreateTensorDescriptor");
        try {
            CudnnOps.setTensor(d, dims[0], dims[1], dims[2], dims[3], strides[0], strides[1], strides[2], strides[3]);
            int[] type = new int[1], nb = new int[1], gotDims = new int[4], gotStrides = new int[4];
            ok(cudnnGetTensorNdDescriptor(d, 4, type, nb, gotDims, gotStrides), "cudnnGetTensorNdDescriptor");
            expect(type[0] == CUDNN_DATA_FLOAT && nb[0] == 4 && Arrays.equals(gotDims, dims) && Arrays.equals(gotStrides, strides),
                    () -> "tensor descriptor reads back as type " + type[0] + ", " + nb[0] + " dims " + Arrays.toString(gotDims)
                            + " strides " + Arrays.toString(gotStrides) + ", set as dims " + Arrays.toString(dims) + " strides " + Arrays.toString(strides));
        } catch (RuntimeException | AssertionError e) {
            cudnnDestroyTensorDescriptor(d);
            throw e;
        }
        return d;
    }

    private static final int[] MATH_TYPES = {CUDNN_FMA_MATH, CUDNN_DEFAULT_MATH, CUDNN_TENSOR_OP_MATH, CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION};

    /** One convolution (x [N, C, H, W], w, y, p as the op computed them), at its batch and at CudnnOps' largest slice of N = 65536. */
    static void checkConv(Conv c, String where) {
        CudnnShapes.Conv g;
        try {
            g = CudnnShapes.conv("conv", c.x(), c.w(), c.y(), c.p());
        } catch (RuntimeException e) {
            failures.add(where + ": our own checks refuse " + c + ": " + e.getMessage());
            return;
        }
        if (g.empty()) return;   // CudnnOps zero-fills instead of calling cuDNN
        int big = CudnnShapes.samplesPerCall("conv", c.x(), 65536, CudnnOps.elementsPerCall, g.xPerSample(), g.yPerSample());
        for (int n : new int[] {g.N(), big}) {
            CudnnShapes.Conv s = g.withN(n);
            check(() -> where + ": " + c + " at N = " + n, () -> checkConv(s, c.p()));
        }
    }

    private static void checkConv(CudnnShapes.Conv g, ConvParams p) {
        cudnnTensorStruct xd = null, yd = null, bd = null;
        cudnnFilterStruct wd = null;
        try {
            xd = tensor(g.xDims());
            yd = tensor(g.yDims());
            bd = tensor(new int[] {1, g.K(), 1, 1});   // the bias, added with cudnnAddTensor
            wd = new cudnnFilterStruct();
            ok(cudnnCreateFilterDescriptor(wd), "cudnnCreateFilterDescriptor");
            CudnnOps.setFilter(wd, g.wDims());
            int[] type = new int[1], format = new int[1], k = new int[1], cc = new int[1], r = new int[1], s = new int[1];
            ok(cudnnGetFilter4dDescriptor(wd, type, format, k, cc, r, s), "cudnnGetFilter4dDescriptor");
            int[] wDims = g.wDims();
            expect(type[0] == CUDNN_DATA_FLOAT && format[0] == CUDNN_TENSOR_NCHW && Arrays.equals(new int[] {k[0], cc[0], r[0], s[0]}, wDims),
                    () -> "filter reads back as " + k[0] + "x" + cc[0] + "x" + r[0] + "x" + s[0] + ", set as " + Arrays.toString(wDims));
            for (int math : MATH_TYPES) {
                cudnnConvolutionStruct cd = new cudnnConvolutionStruct();
                ok(cudnnCreateConvolutionDescriptor(cd), "cudnnCreateConvolutionDescriptor");
                try {
                    CudnnOps.setConv(cd, p, math);
                    int[] ph = new int[1], pw = new int[1], sh = new int[1], sw = new int[1], dh = new int[1], dw = new int[1], mode = new int[1], ct = new int[1];
                    ok(cudnnGetConvolution2dDescriptor(cd, ph, pw, sh, sw, dh, dw, mode, ct), "cudnnGetConvolution2dDescriptor");
                    ConvParams back = new ConvParams(sh[0], sw[0], ph[0], pw[0], dh[0], dw[0], 1);
                    int[] groups = new int[1], mathBack = new int[1];
                    ok(cudnnGetConvolutionGroupCount(cd, groups), "cudnnGetConvolutionGroupCount");
                    ok(cudnnGetConvolutionMathType(cd, mathBack), "cudnnGetConvolutionMathType");
                    expect(back.equals(new ConvParams(p.strideH(), p.strideW(), p.padH(), p.padW(), p.dilationH(), p.dilationW(), 1))
                                    && mode[0] == CUDNN_CROSS_CORRELATION && ct[0] == CUDNN_DATA_FLOAT && groups[0] == p.groups() && mathBack[0] == math,
                            () -> "convolution reads back as " + back + " groups " + groups[0] + " mode " + mode[0] + " compute " + ct[0]
                                    + " math " + mathBack[0] + ", set as " + p + " math " + math);
                    // cuDNN's own output size for x, w and this descriptor must be ours
                    int[] n = new int[1], kk = new int[1], pp = new int[1], q = new int[1];
                    ok(cudnnGetConvolution2dForwardOutputDim(cd, xd, wd, n, kk, pp, q), "cudnnGetConvolution2dForwardOutputDim");
                    int[] cudnnY = {n[0], kk[0], pp[0], q[0]};
                    expect(Arrays.equals(cudnnY, g.yDims()), () -> "cuDNN's output is " + Arrays.toString(cudnnY) + ", ours " + Arrays.toString(g.yDims()));
                } finally {
                    cudnnDestroyConvolutionDescriptor(cd);
                }
            }
        } finally {
            if (xd != null) cudnnDestroyTensorDescriptor(xd);
            if (yd != null) cudnnDestroyTensorDescriptor(yd);
            if (bd != null) cudnnDestroyTensorDescriptor(bd);
            if (wd != null) cudnnDestroyFilterDescriptor(wd);
        }
    }

    /** One pooling call as CudnnOps makes it; false (nothing checked) for the average ceil-mode ones CudaBackend runs on pool.cu. */
    static boolean checkPool(Pool c, String where) {
        if (CudnnShapes.avgCeilAddsWindow(c.x(), c.p())) return false;
        CudnnShapes.Pool all;
        try {
            all = CudnnShapes.pool("pool", c.x(), c.y(), c.p());
        } catch (RuntimeException e) {
            failures.add(where + ": our own checks refuse " + c + ": " + e.getMessage());
            return true;
        }
        if (all.empty()) return true;
        int big = CudnnShapes.samplesPerCall("pool", c.x(), 65536, CudnnOps.elementsPerCall, all.xPerSample(), all.yPerSample(), all.paddedPerSample());
        for (int n : new int[] {all.N(), big}) {
            CudnnShapes.Pool pl = all.withN(n);
            check(() -> where + ": " + c + " at N = " + n, () -> checkPool(pl));
        }
        return true;
    }

    private static void checkPool(CudnnShapes.Pool pl) {
        List<cudnnTensorStruct> ts = new ArrayList<>();
        cudnnPoolingStruct pd = new cudnnPoolingStruct();
        ok(cudnnCreatePoolingDescriptor(pd), "cudnnCreatePoolingDescriptor");
        try {
            CudnnOps.setPool(pd, pl);
            int[] mode = new int[1], nan = new int[1], kh = new int[1], kw = new int[1], ph = new int[1], pw = new int[1], sh = new int[1], sw = new int[1];
            ok(cudnnGetPooling2dDescriptor(pd, mode, nan, kh, kw, ph, pw, sh, sw), "cudnnGetPooling2dDescriptor");
            int[] back = {mode[0], nan[0], kh[0], kw[0], ph[0], pw[0], sh[0], sw[0]};
            int[] set = {pl.mode(), CUDNN_PROPAGATE_NAN, pl.kH(), pl.kW(), pl.descPadH(), pl.descPadW(), pl.strideH(), pl.strideW()};
            expect(Arrays.equals(back, set), () -> "pooling reads back as " + Arrays.toString(back) + ", set as " + Arrays.toString(set));
            // the input cuDNN sees: x, or with explicit (ceil-mode) padding the padded copy, and x's strided view into it
            cudnnTensorStruct in = tensor(pl.explicitPad() ? pl.paddedDims() : pl.xDims());
            ts.add(in);
            ts.add(tensor(pl.yDims()));
            if (pl.explicitPad()) {
                ts.add(tensor(pl.xDims()));
                ts.add(tensor(pl.xDims(), pl.interiorStrides()));
            }
            int[] n = new int[1], c = new int[1], p = new int[1], q = new int[1];
            ok(cudnnGetPooling2dForwardOutputDim(pd, in, n, c, p, q), "cudnnGetPooling2dForwardOutputDim");
            int[] cudnnY = {n[0], c[0], p[0], q[0]};
            expect(Arrays.equals(cudnnY, pl.yDims()), () -> "cuDNN's output is " + Arrays.toString(cudnnY) + ", ours " + Arrays.toString(pl.yDims())
                    + (pl.explicitPad() ? " (explicitly padded to " + Arrays.toString(pl.paddedDims()) + ")" : ""));
        } finally {
            for (cudnnTensorStruct t : ts) cudnnDestroyTensorDescriptor(t);
            cudnnDestroyPoolingDescriptor(pd);
        }
    }

    /** Batch norm's x and per-channel descriptors as CudnnOps makes them; cuDNN's derived parameter shape must be ours. */
    static void checkBatchNorm(Shape x, String where) {
        check(() -> where + ": batch norm of " + x, () -> {
            CudnnShapes.BatchNorm bn = CudnnShapes.batchNorm("batchNorm", x);
            List<int[]> xs = new ArrayList<>(List.of(bn.xDims()));
            // inference goes in slices of the batch (CudnnOps.inSlices)
            int big = CudnnShapes.samplesPerCall("batchNorm", x, 65536, CudnnOps.elementsPerCall, bn.perSample());
            int[] slice = bn.xDims().clone();
            slice[0] = big;
            xs.add(slice);
            for (int[] dims : xs) {
                cudnnTensorStruct xd = tensor(dims), pd = tensor(bn.paramDims()), derived = new cudnnTensorStruct();
                ok(cudnnCreateTensorDescriptor(derived), "cudnnCreateTensorDescriptor");
                try {
                    ok(cudnnDeriveBNTensorDescriptor(derived, xd, bn.mode()), "cudnnDeriveBNTensorDescriptor");
                    int[] type = new int[1], nb = new int[1], d = new int[4], s = new int[4];
                    ok(cudnnGetTensorNdDescriptor(derived, 4, type, nb, d, s), "cudnnGetTensorNdDescriptor (derived)");
                    expect(Arrays.equals(d, bn.paramDims()) && Arrays.equals(s, CudnnShapes.packedStrides(bn.paramDims())),
                            () -> "cuDNN derives parameters " + Arrays.toString(d) + " strides " + Arrays.toString(s) + " for x "
                                    + Arrays.toString(dims) + " mode " + bn.mode() + ", ours " + Arrays.toString(bn.paramDims()));
                } finally {
                    cudnnDestroyTensorDescriptor(xd);
                    cudnnDestroyTensorDescriptor(pd);
                    cudnnDestroyTensorDescriptor(derived);
                }
            }
        });
    }

    /** An activation descriptor (for kinds cuDNN computes) and the flattened tensor descriptor of x. */
    static void checkActivation(Activation a, Shape x, String where) {
        check(() -> where + ": " + a + " on " + x, () -> {
            if (CudnnShapes.supports(a)) {
                cudnnActivationStruct d = new cudnnActivationStruct();
                ok(cudnnCreateActivationDescriptor(d), "cudnnCreateActivationDescriptor");
                try {
                    CudnnOps.setActivation(d, a);
                    int[] mode = new int[1], nan = new int[1];
                    double[] coef = new double[1];
                    ok(cudnnGetActivationDescriptor(d, mode, nan, coef), "cudnnGetActivationDescriptor");
                    expect(mode[0] == CudnnShapes.activationMode(a) && nan[0] == CUDNN_PROPAGATE_NAN && coef[0] == CudnnShapes.activationCoef(a),
                            () -> "activation reads back as mode " + mode[0] + " nan " + nan[0] + " coef " + coef[0]);
                } finally {
                    cudnnDestroyActivationDescriptor(d);
                }
            }
            if (x.numel() > 0) cudnnDestroyTensorDescriptor(tensor(CudnnShapes.flatDims(x, "activation")));
        });
    }

    static void checkSoftmax(Shape x, String where) {
        check(() -> where + ": softmax of " + x, () -> {
            int[] dims = CudnnShapes.softmaxDims(x, "softmax");
            if (dims != null) cudnnDestroyTensorDescriptor(tensor(dims));
        });
    }

    /** Random geometries (seeded) and hand-picked edges: asymmetric pads and strides, dilation, groups, depthwise, ceil mode. */
    static int[] checkRandomAndEdgeGeometries() {
        SplittableRandom r = new SplittableRandom(20240613);
        int convs = 0, pools = 0;
        List<Conv> conv = new ArrayList<>();
        // edges: 1x1, depthwise, kernel as large as the padded input, stride larger than the kernel, H = 1, big dilation
        conv.add(conv(1, 3, 1, 1, 8, 1, 1, new ConvParams(1, 1, 0, 0, 1, 1, 1)));
        conv.add(conv(2, 32, 14, 14, 32, 3, 3, new ConvParams(1, 1, 1, 1, 1, 1, 32)));
        conv.add(conv(2, 4, 5, 5, 4, 7, 7, new ConvParams(1, 1, 1, 1, 1, 1, 1)));
        conv.add(conv(2, 4, 9, 9, 4, 2, 2, new ConvParams(5, 3, 0, 0, 1, 1, 1)));
        conv.add(conv(2, 4, 1, 100, 6, 1, 5, new ConvParams(1, 2, 0, 2, 1, 3, 2)));
        conv.add(conv(1, 2, 64, 64, 2, 3, 3, new ConvParams(1, 1, 8, 8, 8, 8, 1)));
        conv.add(conv(3, 6, 11, 7, 9, 3, 2, new ConvParams(2, 1, 0, 3, 1, 1, 3)));
        while (conv.size() < 700) {
            int g = 1 + r.nextInt(4), C = g * (1 + r.nextInt(6)), K = g * (1 + r.nextInt(6));
            int R = 1 + r.nextInt(7), S = 1 + r.nextInt(7), H = 1 + r.nextInt(40), W = 1 + r.nextInt(40);
            ConvParams p = new ConvParams(1 + r.nextInt(4), 1 + r.nextInt(4), r.nextInt(4), r.nextInt(4), 1 + r.nextInt(3), 1 + r.nextInt(3), g);
            // as Conv.conv2d requires: the dilated kernel fits the padded input
            if (H + 2 * p.padH() < p.dilationH() * (R - 1) + 1 || W + 2 * p.padW() < p.dilationW() * (S - 1) + 1) continue;
            conv.add(conv(1 + r.nextInt(4), C, H, W, K, R, S, p));
        }
        for (Conv c : conv) { checkConv(c, "random"); convs++; }

        List<Pool> pool = new ArrayList<>();
        pool.add(new Pool(Shape.of(2, 3, 112, 112), null, new PoolParams(PoolParams.Kind.MAX, 3, 3, 2, 2, 0, 0, true, true)));
        pool.add(new Pool(Shape.of(2, 3, 7, 5), null, new PoolParams(PoolParams.Kind.MAX, 3, 2, 2, 1, 1, 0, true, true)));
        pool.add(new Pool(Shape.of(1, 1, 1, 1), null, new PoolParams(PoolParams.Kind.AVG, 1, 1, 1, 1, 0, 0, false, false)));
        pool.add(new Pool(Shape.of(2, 4, 6, 9), null, new PoolParams(PoolParams.Kind.AVG, 4, 2, 3, 2, 2, 1, false, false)));
        while (pool.size() < 500) {
            int kH = 1 + r.nextInt(5), kW = 1 + r.nextInt(5), H = 1 + r.nextInt(30), W = 1 + r.nextInt(30);
            PoolParams p = new PoolParams(r.nextBoolean() ? PoolParams.Kind.MAX : PoolParams.Kind.AVG, kH, kW, 1 + r.nextInt(4), 1 + r.nextInt(4),
                    r.nextInt(kH / 2 + 1), r.nextInt(kW / 2 + 1), r.nextBoolean(), r.nextBoolean());
            if (H + 2 * p.padH() < kH || W + 2 * p.padW() < kW) continue;
            pool.add(new Pool(Shape.of(1 + r.nextInt(4), 1 + r.nextInt(5), H, W), null, p));
        }
        for (Pool c : pool) {
            Pool full = new Pool(c.x(), Shape.of(c.x().dim(0), c.x().dim(1), c.p().outH(c.x().dim(2)), c.p().outW(c.x().dim(3))), c.p());
            if (checkPool(full, "random")) pools++;
        }
        return new int[] {convs, pools};
    }

    private static Conv conv(int N, int C, int H, int W, int K, int R, int S, ConvParams p) {
        return new Conv(Shape.of(N, C, H, W), Shape.of(K, C / p.groups(), R, S), Shape.of(N, K, p.outH(H, R), p.outW(W, S)), p);
    }

    /**
     * CudnnOps slices batches so that no tensor exceeds 2^31-1 elements, because (its comment says) cuDNN's legacy
     * descriptors refuse larger ones with NOT_SUPPORTED: the real cuDNN must accept 2^31-1 elements and refuse one more row.
     */
    static void checkTensorLimits() {
        check(() -> "a tensor of 2^31-1 elements", () -> cudnnDestroyTensorDescriptor(tensor(new int[] {1, 1, 1, Integer.MAX_VALUE})));
        check(() -> "a tensor of 2^31 elements", () -> {
            cudnnTensorStruct d = new cudnnTensorStruct();
            ok(cudnnCreateTensorDescriptor(d), "cudnnCreateTensorDescriptor");
            try {
                CudnnOps.setTensor(d, 2, 1, 1, 1 << 30, 1 << 30, 1 << 30, 1 << 30, 1);
                throw new AssertionError("cuDNN accepted a tensor of 2^31 elements; CudnnOps.elementsPerCall's 2^31-1 may be too cautious");
            } catch (CudnnOps.CudnnException e) {
                expect(e.status() == CUDNN_STATUS_NOT_SUPPORTED || e.status() == CUDNN_STATUS_BAD_PARAM,
                        () -> "refused with " + CudnnOps.statusText(e.status()) + ", expected NOT_SUPPORTED");
                System.out.println("cuDNN refuses a tensor of 2^31 elements, as CudnnOps expects: " + e.getMessage());
            } finally {
                cudnnDestroyTensorDescriptor(d);
            }
        });
    }

    // ------------------------------------------------------------------ cuBLASLt

    /** Every Linear shape (and batch 256 and 65536), every transpose, TF32, epilogue and alignment combination. */
    static int checkLinears(Recorded models) {
        int sets = 0;
        List<int[]> shapes = new ArrayList<>();
        for (Linear l : models.linears.keySet()) {
            for (int m : new int[] {l.m(), 256, 65536}) shapes.add(new int[] {m, l.n(), l.k()});
        }
        shapes.add(new int[] {1, 1, 1});
        shapes.add(new int[] {3, 5, 7});
        try (LongPointer biasBuffer = new LongPointer(1)) {
            for (int[] s : shapes)
                for (boolean tA : new boolean[] {false, true})
                    for (boolean tB : new boolean[] {false, true})
                        for (boolean tf32 : new boolean[] {false, true})
                            for (boolean relu : new boolean[] {false, true})
                                for (int align : new int[] {4, 16, 256}) {
                                    CublasLt.Key key = new CublasLt.Key(tA, tB, s[0], s[1], s[2], tf32, align, relu);
                                    check(() -> "cuBLASLt " + key, () -> checkLinear(key, biasBuffer));
                                    sets++;
                                }
        }
        return sets;
    }

    private static void checkLinear(CublasLt.Key key, LongPointer biasBuffer) {
        CublasLt.Plan p = CublasLt.Plan.of(key.transA(), key.transB(), key.m(), key.n(), key.k());
        cublasLtMatmulDescOpaque_t desc = null;
        List<cublasLtMatrixLayoutOpaque_t> layouts = new ArrayList<>();
        cublasLtMatmulPreferenceOpaque_t pref = null;
        try (PointerPointer<Pointer> out = new PointerPointer<>(1)) {
            desc = CublasLt.matmulDesc(out, key);
            CublasLt.Layout[] ls = {p.ltA(), p.ltB(), p.d()};
            for (int i = 0; i < 3; i++) {
                cublasLtMatrixLayoutOpaque_t l = CublasLt.layout(out, ls[i], "ABD".substring(i, i + 1), key);
                layouts.add(l);
                expectLayout(l, ls[i]);
            }
            CublasLt.setMatmulAttributes(desc, p, key);
            long bias = 0x7f12_3456_7000L;
            CublasLt.setBiasPointer(desc, biasBuffer, bias, key);
            expectDesc(desc, CUBLASLT_MATMUL_DESC_COMPUTE_TYPE, 4, key.tf32() ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F);
            expectDesc(desc, CUBLASLT_MATMUL_DESC_SCALE_TYPE, 4, cudart.CUDA_R_32F);
            expectDesc(desc, CUBLASLT_MATMUL_DESC_TRANSA, 4, p.transLtA() ? CUBLAS_OP_T : CUBLAS_OP_N);
            expectDesc(desc, CUBLASLT_MATMUL_DESC_TRANSB, 4, p.transLtB() ? CUBLAS_OP_T : CUBLAS_OP_N);
            expectDesc(desc, CUBLASLT_MATMUL_DESC_EPILOGUE, 4, key.relu() ? CUBLASLT_EPILOGUE_RELU_BIAS : CUBLASLT_EPILOGUE_BIAS);
            expectDesc(desc, CUBLASLT_MATMUL_DESC_BIAS_POINTER, 8, bias);

            cublasOk(cublasLtMatmulPreferenceCreate(out), "cublasLtMatmulPreferenceCreate");
            pref = new cublasLtMatmulPreferenceOpaque_t(out.get(0));
            CublasLt.setPreference(pref, key);
            expectPref(pref, CUBLASLT_MATMUL_PREF_MAX_WORKSPACE_BYTES, 8, CublasLt.WORKSPACE_LIMIT);
            for (int attr : new int[] {CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_A_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_B_BYTES,
                    CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_C_BYTES, CUBLASLT_MATMUL_PREF_MIN_ALIGNMENT_D_BYTES})
                expectPref(pref, attr, 4, key.alignment());
        } finally {
            if (pref != null) cublasLtMatmulPreferenceDestroy(pref);
            for (cublasLtMatrixLayoutOpaque_t l : layouts) cublasLtMatrixLayoutDestroy(l);
            if (desc != null) cublasLtMatmulDescDestroy(desc);
        }
    }

    private static void cublasOk(int status, String call) {
        if (status != CUBLAS_STATUS_SUCCESS) throw new AssertionError(call + " returned cublasStatus_t " + status);
    }

    @FunctionalInterface
    private interface Getter { int get(int attr, Pointer buf, long size, SizeTPointer written); }

    /**
     * The attribute's size as cuBLASLt stores it (asked with a zero-sized query) must be {@code size}, the size our code
     * passes; its value, read back with that size, must be {@code expected} (4-byte attributes compared as int32).
     */
    private static void expectAttribute(String what, Getter g, int attr, int size, long expected) {
        try (SizeTPointer written = new SizeTPointer(1); LongPointer buf = new LongPointer(1)) {
            cublasOk(g.get(attr, null, 0, written), what + " size query of attribute " + attr);
            long stored = written.get();
            expect(stored == size, () -> what + " attribute " + attr + " is " + stored + " bytes in cuBLASLt; our code passes " + size);
            buf.put(0, 0L);
            cublasOk(g.get(attr, buf, size, written), what + " read of attribute " + attr);
            long got = size == 4 ? (int) buf.get(0) : buf.get(0);   // x86-64 is little-endian: a 4-byte value is the low half
            long want = size == 4 ? (int) expected : expected;
            expect(got == want, () -> what + " attribute " + attr + " reads back as " + got + ", set as " + want);
        }
    }

    private static void expectDesc(cublasLtMatmulDescOpaque_t d, int attr, int size, long expected) {
        expectAttribute("matmul descriptor", (a, b, s, w) -> cublasLtMatmulDescGetAttribute(d, a, b, s, w), attr, size, expected);
    }

    private static void expectPref(cublasLtMatmulPreferenceOpaque_t p, int attr, int size, long expected) {
        expectAttribute("matmul preference", (a, b, s, w) -> cublasLtMatmulPreferenceGetAttribute(p, a, b, s, w), attr, size, expected);
    }

    private static void expectLayout(cublasLtMatrixLayoutOpaque_t l, CublasLt.Layout want) {
        Getter g = (a, b, s, w) -> cublasLtMatrixLayoutGetAttribute(l, a, b, s, w);
        expectAttribute("layout", g, CUBLASLT_MATRIX_LAYOUT_TYPE, 4, cudart.CUDA_R_32F);
        expectAttribute("layout", g, CUBLASLT_MATRIX_LAYOUT_ROWS, 8, want.rows());
        expectAttribute("layout", g, CUBLASLT_MATRIX_LAYOUT_COLS, 8, want.cols());
        expectAttribute("layout", g, CUBLASLT_MATRIX_LAYOUT_LD, 8, want.ld());
    }

    // ================================================================== what the models run (recorded)

    record Conv(Shape x, Shape w, Shape y, ConvParams p) {}
    record Pool(Shape x, Shape y, PoolParams p) {}
    record Act(Activation a, Shape x) {}
    record Linear(int m, int n, int k, boolean relu) {}

    /** The distinct geometries of the registry's models, each with the first model that has it. */
    static final class Recorded {
        final Map<Conv, String> convs = new LinkedHashMap<>();
        final Map<Pool, String> pools = new LinkedHashMap<>();
        final Map<Shape, String> batchNorms = new LinkedHashMap<>();
        final Map<Act, String> activations = new LinkedHashMap<>();
        final Map<Shape, String> softmaxes = new LinkedHashMap<>();
        final Map<Linear, String> linears = new LinkedHashMap<>();
    }

    /**
     * A forward pass (training mode, batch 2, default input) of every registry model on a backend that records shapes
     * and computes nothing: its tensors are shapes only, on the meta device (so initialisers draw nothing), and every
     * op the CUDA backend sends to cuDNN or cuBLASLt is recorded with its tensors' shapes.
     */
    static Recorded record() {
        Recorded rec = new Recorded();
        String[] model = {""};
        record NoStorage(long elements, DType dtype) implements Storage {
            @Override public void release() {}
        }
        InvocationHandler h = new InvocationHandler() {
            @Override public Object invoke(Object proxy, Method m, Object[] a) throws Throwable {
                String where = model[0];
                switch (m.getName()) {
                    case "empty" -> {
                        if (a.length == 2) return new Tensor((Backend) proxy, new NoStorage(((Shape) a[0]).numel(), (DType) a[1]), (Shape) a[0]);
                    }
                    case "device" -> { return Device.META; }
                    case "name", "toString" -> { return "shape-recorder"; }
                    case "hashCode" -> { return System.identityHashCode(proxy); }
                    case "equals" -> { return proxy == a[0]; }
                    case "convForward" -> rec.convs.putIfAbsent(new Conv(shape(a[0]), shape(a[1]), shape(a[3]), (ConvParams) a[4]), where);
                    // a transposed convolution's forward: dy is its input, dx its output
                    case "convBackwardData" -> rec.convs.putIfAbsent(new Conv(shape(a[2]), shape(a[1]), shape(a[0]), (ConvParams) a[3]), where);
                    case "poolForward" -> rec.pools.putIfAbsent(new Pool(shape(a[0]), shape(a[1]), (PoolParams) a[2]), where);
                    case "batchNormForwardTraining", "batchNormForwardInference" -> rec.batchNorms.putIfAbsent(shape(a[0]), where);
                    case "activationForward" -> rec.activations.putIfAbsent(new Act((Activation) a[0], shape(a[1])), where);
                    case "softmaxForward" -> rec.softmaxes.putIfAbsent(shape(a[0]), where);
                    case "gemmBias", "gemmBiasRelu" -> {
                        if (!(Boolean) a[0] && (Boolean) a[1])
                            rec.linears.putIfAbsent(new Linear((Integer) a[2], (Integer) a[3], (Integer) a[4], m.getName().equals("gemmBiasRelu")), where);
                        else throw new AssertionError(where + ": " + m.getName() + " with transA " + a[0] + ", transB " + a[1]
                                + ": a new transpose combination; the test covers all four, but the recorder should know it");
                        // Linear + ReLU without the RELU_BIAS epilogue (the default) runs cuDNN's ReLU on the output
                        if (m.getName().equals("gemmBiasRelu")) rec.activations.putIfAbsent(new Act(Activation.RELU, Shape.of((Integer) a[2], (Integer) a[3])), where);
                        return null;
                    }
                    default -> {}
                }
                if (m.isDefault()) return InvocationHandler.invokeDefault(proxy, m, a);
                Class<?> t = m.getReturnType();
                if (t == boolean.class) return false;
                if (t == float.class) return 0f;
                if (t == int.class) return 0;
                if (t == long.class) return 0L;
                if (t == double.class) return 0.0;
                if (t == java.util.Map.class) return Map.of();
                return null;
            }
        };
        Backend be = (Backend) Proxy.newProxyInstance(Backend.class.getClassLoader(), new Class<?>[] {Backend.class}, h);
        for (ModelRegistry.Entry e : ModelRegistry.entries()) {
            model[0] = e.name();
            ModelSpec s = e.defaultSpec();
            try (GradMode.Guard g = GradMode.noGrad();
                 Module m = Scope.outside(() -> e.build(new Context(be, 0), s));
                 Scope scope = Scope.open()) {
                m.train(true);
                m.forward(be.empty(Shape.of(2, s.inChannels(), s.height(), s.width())));
            } catch (Exception ex) {
                failures.add("recording " + e.name() + "'s forward pass failed: " + ex);
            }
        }
        return rec;
    }

    private static Shape shape(Object tensor) { return ((Tensor) tensor).shape(); }
}
