package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.Backends;
import io.dltrain.runtime.backend.cpu.CpuBackend;

/**
 * The device the GPU tests (tag {@code gpu}) compare with the CPU, opened one way for all of them (runtime's and,
 * through runtime's test-jar, the models'): CUDA device 0; or, with {@code -Ddltrain.gpuTest.standIn=cpu}, a second,
 * single-threaded CPU backend, which checks only a test's harness on a machine without a GPU.
 *
 * @param backend  the device, or null when CUDA cannot be used here
 * @param unusable why CUDA cannot be used (the tests skip with it), or null
 */
public record GpuTestDevice(Backend backend, String unusable) {
    public static GpuTestDevice open() {
        if ("cpu".equals(System.getProperty("dltrain.gpuTest.standIn"))) return new GpuTestDevice(new CpuBackend(1), null);
        String why = Backends.cudaUnavailableReason();
        return why != null ? new GpuTestDevice(null, why) : new GpuTestDevice(Backends.create("cuda", 0, msg -> {}), null);
    }
}
