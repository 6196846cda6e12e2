package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.JavaCppCache;
import org.bytedeco.cuda.cudart.cudaDeviceProp;
import org.bytedeco.cuda.global.cublas;
import org.bytedeco.cuda.global.cudart;
import org.bytedeco.cuda.global.cudnn;
import org.bytedeco.javacpp.Loader;
import org.bytedeco.javacpp.SizeTPointer;

import java.util.ArrayList;
import java.util.List;
import java.util.Locale;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

/**
 * Loads the JavaCPP CUDA bindings (cudart, which also carries the driver API, then cuBLAS and cuDNN) once, lazily,
 * and answers whether CUDA is usable here: a {@link Probe} with either the one-line reason it is not (no driver,
 * a library missing from the library path, a driver older than the runtime, no device) or the versions and devices.
 *
 * <p>JavaCPP loads a JNI wrapper ({@code libjnicudart.so}) that links against {@code libcuda.so.1} and
 * {@code libcudart.so.13}; when one is missing the JVM reports "no jnicudart in java.library.path" and hides the real
 * culprit in the cause chain ("libcuda.so.1: cannot open shared object file"). {@link #reasonFromLinkError} digs it
 * out. A failed class initialiser cannot be retried in the same JVM (later touches throw NoClassDefFoundError without
 * the original cause), so the first outcome is cached for the life of the process.
 */
public final class CudaLibraries {
    private CudaLibraries() {}

    /**
     * What the driver reports for one device. {@code freeBytes} is -1 when memory was not queried or could not be read.
     * {@code problem} is null, or the failed call that kept the device from answering (one line: "cudaSetDevice(1)
     * failed: cudaErrorDevicesUnavailable (...)"): a GPU in exclusive-process mode that another process holds, one
     * fallen off the bus, an uncorrectable ECC error. Where its properties could not be read, the name is empty and the
     * numbers are -1.
     */
    public record DeviceInfo(int index, String name, int ccMajor, int ccMinor, int multiprocessors,
                             long totalBytes, long freeBytes, String problem) {
        public DeviceInfo(int index, String name, int ccMajor, int ccMinor, int multiprocessors, long totalBytes, long freeBytes) {
            this(index, name, ccMajor, ccMinor, multiprocessors, totalBytes, freeBytes, null);
        }

        /** A device whose properties could not be read. */
        static DeviceInfo failed(int index, String problem) { return new DeviceInfo(index, "", -1, -1, -1, -1, -1, problem); }

        /** False where cudaGetDeviceProperties failed: name, compute capability, multiprocessors and memory unknown. */
        public boolean propertiesKnown() { return ccMajor >= 0; }

        public String computeCapability() { return ccMajor + "." + ccMinor; }

        /** The device's one-line problem with the places to look, or null: {@link #unsupportedReason()} and info say it. */
        public String problemReason() {
            if (problem == null) return null;
            return "cuda:" + index + (name.isEmpty() ? "" : " (" + name + ")") + " does not answer: " + problem
                    + " (nvidia-smi shows whether another process holds it in exclusive-process mode, or the GPU has an error)";
        }

        /**
         * Why this GPU cannot run the CUDA backend, or null: a device that failed a query ({@link #problemReason()});
         * CUDA 13 (its cuBLAS and cuDNN) supports compute capability 7.5 (Turing) and newer, and our kernels are PTX for
         * compute_75 (kernels/build-ptx.sh), which an older GPU cannot load.
         */
        public String unsupportedReason() {
            if (problem != null) return problemReason();
            if (ccMajor * 10 + ccMinor >= 75) return null;
            return name + " (cuda:" + index + ") has compute capability " + computeCapability()
                    + "; CUDA 13 and dl-train's kernels need 7.5 (Turing) or newer";
        }
    }

    /**
     * The outcome of probing: {@code usable} with versions and devices, or not, with {@code reason} (one line).
     * Versions are human strings ("13.1", "9.19.0"); empty where unknown. An unusable probe has them where the
     * libraries loaded and the device was the problem (none, a driver too old, or every device failed a query: then
     * the devices are listed too, each with its {@link DeviceInfo#problem()}). A usable probe may list some devices
     * with a problem.
     */
    public record Probe(boolean usable, String reason, String driverVersion, String runtimeVersion,
                        String cublasVersion, String cudnnVersion, List<DeviceInfo> devices) {
        static Probe unusable(String reason) { return new Probe(false, reason, "", "", "", "", List.of()); }
    }

    private static final Object LOCK = new Object();
    private static String loadFailure;      // guarded by LOCK; null until a load was tried, "" when it succeeded
    private static Probe cachedProbe;       // the probe without per-device free memory

    /** The advice every "library not found" message ends with. */
    static final String PATH_ADVICE = "put the CUDA 13 and cuDNN 9 libraries on LD_LIBRARY_PATH "
            + "(or point -Dorg.bytedeco.javacpp.platform.preloadpath at their directory)";

    private static final Pattern MISSING_LIB = Pattern.compile("(lib[A-Za-z0-9_+\\-]+\\.so(?:\\.[0-9]+)*): cannot open shared object file");
    /** glibc's "(path/)libjnicudart.so: undefined symbol: cudaGreenCtxCreate, version libcudart.so.13". */
    private static final Pattern UNDEFINED_SYMBOL = Pattern.compile("(lib[A-Za-z0-9_+\\-]+\\.so(?:\\.[0-9]+)*): undefined symbol: ([A-Za-z0-9_]+)");

    /**
     * The one-line reason behind a failure to load the bindings, found in the throwable's cause chain (and suppressed
     * exceptions): a missing {@code libcuda.so.1} means no NVIDIA driver; a missing CUDA or cuDNN library is named;
     * a function the installed libraries lack is named with {@link #reasonForUndefinedSymbol}.
     */
    public static String reasonFromLinkError(Throwable t) {
        return reasonFromLinkError(t, System.getenv("LD_BIND_NOW"));
    }

    /** {@link #reasonFromLinkError(Throwable)} with the environment's {@code LD_BIND_NOW} given (null: unset). */
    static String reasonFromLinkError(Throwable t, String ldBindNow) {
        if (JavaCppCache.isCacheFailure(t))
            return "the CUDA bindings could not be loaded: JavaCPP found no writable cache directory to extract them to: " + JavaCppCache.advice();
        List<String> messages = new ArrayList<>();
        collect(t, messages, 0);
        for (String m : messages) {
            Matcher mm = MISSING_LIB.matcher(m);
            if (mm.find()) return reasonForMissing(mm.group(1));
        }
        for (String m : messages) {
            Matcher mm = UNDEFINED_SYMBOL.matcher(m);
            if (mm.find()) return reasonForUndefinedSymbol(mm.group(1), mm.group(2), ldBindNow);
        }
        String first = messages.isEmpty() ? t.getClass().getName() : messages.get(0);
        return "the CUDA bindings could not be loaded (" + first + "); " + PATH_ADVICE;
    }

    /** The message for a shared library the dynamic loader could not find. */
    static String reasonForMissing(String lib) {
        if (lib.startsWith("libcuda.so")) {
            return "no NVIDIA driver found (" + lib + " is not on the library path; install the NVIDIA driver, "
                    + "or in a container run with --gpus all)";
        }
        String what = lib.startsWith("libcudnn") ? "cuDNN 9" : lib.startsWith("libcublas") ? "cuBLAS (CUDA 13)"
                : lib.startsWith("libcudart") ? "the CUDA 13 runtime" : "a CUDA library";
        return lib + " (" + what + ") not found: " + PATH_ADVICE;
    }

    /**
     * The message for a JNI wrapper that the dynamic loader refused because a function it imports is missing. The
     * presets are built against CUDA 13.1 and import functions CUDA 13.0 lacks (21 in cudart alone); JNI libraries are
     * bound lazily, so they load and only a call of such a function would fail, and dl-train calls none. Eager binding
     * ({@code LD_BIND_NOW} set to anything non-empty) resolves every import at load time and fails on the first one.
     */
    static String reasonForUndefinedSymbol(String lib, String symbol, String ldBindNow) {
        String head = "the CUDA bindings could not be loaded: " + lib + " needs the function " + symbol
                + ", which the installed CUDA libraries or driver lack";
        if (ldBindNow != null && !ldBindNow.isEmpty()) {
            return head + "; LD_BIND_NOW is set, which makes the loader resolve every function at load time, "
                    + "including ones dl-train never calls: unset LD_BIND_NOW";
        }
        return head + "; update the NVIDIA driver, CUDA 13 and cuDNN 9 to newer releases";
    }

    private static void collect(Throwable t, List<String> out, int depth) {
        if (t == null || depth > 16) return;
        if (t.getMessage() != null) out.add(t.getMessage());
        for (Throwable s : t.getSuppressed()) collect(s, out, depth + 1);
        if (t.getCause() != t) collect(t.getCause(), out, depth + 1);
    }

    /**
     * Loads cudart, cuBLAS and cuDNN once. Returns null when all three loaded, else the one-line reason
     * (the same reason on every later call).
     */
    public static String load() {
        synchronized (LOCK) {
            if (loadFailure == null) loadFailure = tryLoad();
            return loadFailure.isEmpty() ? null : loadFailure;
        }
    }

    private static String tryLoad() {
        for (Class<?> c : new Class<?>[] {cudart.class, cublas.class, cudnn.class}) {
            try {
                Loader.load(c);
            } catch (LinkageError e) {
                // UnsatisfiedLinkError (a library missing), NoClassDefFoundError / ExceptionInInitializerError (a class
                // whose initialiser already failed), or another linkage problem: all explained from the cause chain.
                return reasonFromLinkError(e);
            } catch (RuntimeException e) {
                // JavaCPP wraps some loader failures (for example an unwritable cache directory).
                return JavaCppCache.isCacheFailure(e) ? reasonFromLinkError(e) : "the CUDA bindings could not be loaded: " + e + "; " + PATH_ADVICE;
            }
        }
        return "";
    }

    /** The probe without per-device free memory (cheap: creates no CUDA context). Cached after the first call. */
    public static Probe probe() {
        synchronized (LOCK) {
            if (cachedProbe == null) cachedProbe = probe(false);
            return cachedProbe;
        }
    }

    /**
     * Probes the driver and devices. With {@code withFreeMemory} each device's free memory is read too, which
     * creates a CUDA context on every device (hundreds of MiB each), so only {@code dl-train info} asks for it.
     */
    public static Probe probe(boolean withFreeMemory) {
        String why = load();
        if (why != null) return Probe.unusable(why);
        int[] v = new int[1];
        int driver = cudart.cudaDriverGetVersion(v) == cudart.cudaSuccess ? v[0] : 0;
        int runtime = cudart.cudaRuntimeGetVersion(v) == cudart.cudaSuccess ? v[0] : 0;
        if (driver == 0) return Probe.unusable("the NVIDIA driver is loaded but reports no CUDA version (is the kernel module loaded? try nvidia-smi)");
        String dv = cudaVersion(driver), rv = cudaVersion(runtime);
        // host-only calls: the libraries' versions are known without a device, so an unusable probe reports them too
        // (info then shows that the libraries are in order and the device is the problem)
        int[] maj = new int[1], min = new int[1], pat = new int[1];
        String cublasV = cublas.cublasGetProperty(cudart.MAJOR_VERSION, maj) == cublas.CUBLAS_STATUS_SUCCESS
                && cublas.cublasGetProperty(cudart.MINOR_VERSION, min) == cublas.CUBLAS_STATUS_SUCCESS
                && cublas.cublasGetProperty(cudart.PATCH_LEVEL, pat) == cublas.CUBLAS_STATUS_SUCCESS
                ? maj[0] + "." + min[0] + "." + pat[0] : "";
        String cudnnV = cudnnVersion(cudnn.cudnnGetVersion());
        int[] count = new int[1];
        int st = cudart.cudaGetDeviceCount(count);
        String countProblem = deviceCountProblem(st, count[0], dv, rv, () -> Cuda.errorName(st) + " (" + Cuda.errorString(st) + ")");
        if (countProblem != null) return new Probe(false, countProblem, dv, rv, cublasV, cudnnV, List.of());
        // Reading free memory makes each device current in turn; the calling thread gets its device back afterwards,
        // as a CudaBackend remembers which device it made current on a thread (CudaBackend.enter). Best effort: where
        // that device is the one that fails, restoring it fails too, and the device's problem already says so.
        int[] previous = {-1};
        if (withFreeMemory && cudart.cudaGetDevice(previous) != cudart.cudaSuccess) previous[0] = -1;
        List<DeviceInfo> devices;
        try {
            devices = devices(count[0], withFreeMemory, DEVICE_QUERIES);
        } finally {
            if (previous[0] >= 0) cudart.cudaSetDevice(previous[0]);
        }
        String none = noDeviceAnswers(devices);   // the devices listed, with their problems: info shows them
        return new Probe(none == null, none, dv, rv, cublasV, cudnnV, devices);
    }

    /** The per-device calls of a probe (a seam: tests give devices that fail). Both throw {@link Cuda.CudaException}. */
    interface DeviceQueries {
        /** cudaGetDeviceProperties: the device with {@code freeBytes} -1. */
        DeviceInfo properties(int index);

        /** cudaSetDevice then cudaMemGetInfo (this creates the device's CUDA context): its free bytes. */
        long freeBytes(int index);
    }

    private static final DeviceQueries DEVICE_QUERIES = new DeviceQueries() {
        @Override
        public DeviceInfo properties(int i) {
            try (cudaDeviceProp p = new cudaDeviceProp()) {
                Cuda.check(cudart.cudaGetDeviceProperties(p, i), "cudaGetDeviceProperties(" + i + ")");
                return new DeviceInfo(i, p.name().getString().trim(), p.major(), p.minor(), p.multiProcessorCount(), p.totalGlobalMem(), -1);
            }
        }

        @Override
        public long freeBytes(int i) {
            Cuda.check(cudart.cudaSetDevice(i), "cudaSetDevice(" + i + ")");
            try (SizeTPointer f = new SizeTPointer(1); SizeTPointer t = new SizeTPointer(1)) {
                Cuda.check(cudart.cudaMemGetInfo(f, t), "cudaMemGetInfo on device " + i);
                return f.get();
            }
        }
    };

    /**
     * Each of {@code count} devices as it answers: a device whose query fails is listed with the failure as its
     * {@link DeviceInfo#problem()} (and what is unknown as -1), not thrown, so that one bad GPU neither hides the others
     * nor turns {@code dl-train info} into an error.
     */
    static List<DeviceInfo> devices(int count, boolean withFreeMemory, DeviceQueries q) {
        List<DeviceInfo> devices = new ArrayList<>();
        for (int i = 0; i < count; i++) {
            DeviceInfo d;
            try {
                d = q.properties(i);
            } catch (Cuda.CudaException e) {
                devices.add(DeviceInfo.failed(i, e.getMessage()));
                continue;
            }
            if (withFreeMemory) {
                try {
                    d = new DeviceInfo(i, d.name(), d.ccMajor(), d.ccMinor(), d.multiprocessors(), d.totalBytes(), q.freeBytes(i));
                } catch (Cuda.CudaException e) {
                    d = new DeviceInfo(i, d.name(), d.ccMajor(), d.ccMinor(), d.multiprocessors(), d.totalBytes(), -1, e.getMessage());
                }
            }
            devices.add(d);
        }
        return List.copyOf(devices);
    }

    /** Why CUDA is unusable when every device failed a query (the first one's problem), or null when one answered. */
    static String noDeviceAnswers(List<DeviceInfo> devices) {
        if (devices.isEmpty() || devices.stream().anyMatch(d -> d.problem() == null)) return null;
        String first = devices.getFirst().problemReason();
        return devices.size() == 1 ? first : "none of the " + devices.size() + " CUDA devices answers; " + first;
    }

    /**
     * Why cudaGetDeviceCount's answer makes CUDA unusable, or null when there are devices. Only the status decides a
     * too-old driver: CUDA's minor-version compatibility lets a 13.0 driver run a 13.1 runtime.
     */
    static String deviceCountProblem(int status, int count, String driverVersion, String runtimeVersion,
                                     java.util.function.Supplier<String> describeStatus) {
        if (status == cudart.cudaErrorInsufficientDriver) {
            return "the NVIDIA driver is too old for this CUDA runtime (cudaErrorInsufficientDriver): driver supports CUDA "
                    + driverVersion + ", runtime is CUDA " + runtimeVersion + "; update the NVIDIA driver";
        }
        if (status == cudart.cudaErrorNoDevice || (status == cudart.cudaSuccess && count == 0)) {
            return "no CUDA device found (driver CUDA " + driverVersion + "; check nvidia-smi and CUDA_VISIBLE_DEVICES)";
        }
        if (status != cudart.cudaSuccess) return "cudaGetDeviceCount failed: " + describeStatus.get();
        return null;
    }

    /** CUDA encodes versions as 1000 * major + 10 * minor (13010 -> "13.1"). */
    static String cudaVersion(int v) {
        return v <= 0 ? "unknown" : (v / 1000) + "." + (v % 1000) / 10;
    }

    /** cuDNN 9 encodes its version as 10000 * major + 100 * minor + patch (91900 -> "9.19.0"). */
    static String cudnnVersion(long v) {
        if (v <= 0) return "unknown";
        if (v >= 90000) return (v / 10000) + "." + (v % 10000) / 100 + "." + v % 100;
        return (v / 1000) + "." + (v % 1000) / 100 + "." + v % 100;   // cuDNN 8 and older: 1000 * major + 100 * minor + patch
    }

    /**
     * A note when the cuDNN found is older than the cuDNN 9 minor release the bindings were built against (JavaCPP's
     * presets: {@code cudnn.CUDNN_VERSION}), else null. NVIDIA (cuDNN developer guide, Compatibility): "cuDNN minor
     * releases are binary backward-compatible with applications built against the same or earlier minor release";
     * "Applications built against cuDNN version x.z are not guaranteed to work with x.y release when z>y". dl-train
     * calls only long-standing functions, so it may well work; the note says where to look when cuDNN calls fail.
     */
    public static String cudnnCompatibilityNote(long found, long built) {
        if (found <= 0 || found / 10000 != built / 10000 || found / 100 >= built / 100) return null;
        return "cuDNN " + cudnnVersion(found) + " is older than the cuDNN " + cudnnVersion(built) + " dl-train's CUDA bindings were"
                + " built against, and NVIDIA guarantees cuDNN only for applications built against the same or an earlier minor"
                + " release: if cuDNN calls fail, put cuDNN " + built / 10000 + "." + built / 100 % 100 + " or newer on the library path";
    }

    /** {@link #cudnnCompatibilityNote(long, long)} for the cuDNN loaded here; null when the bindings did not load. */
    public static String cudnnCompatibilityNote() {
        if (load() != null) return null;
        return cudnnCompatibilityNote(cudnn.cudnnGetVersion(), cudnn.CUDNN_VERSION);
    }

    /** A byte count for people: "1.50 GiB". */
    public static String human(long bytes) {
        if (bytes < 0) return "unknown";
        String[] units = {"B", "KiB", "MiB", "GiB", "TiB"};
        double v = bytes;
        int u = 0;
        while (v >= 1024 && u < units.length - 1) { v /= 1024; u++; }
        return u == 0 ? bytes + " B" : String.format(Locale.ROOT, "%.2f %s", v, units[u]);
    }
}
