package io.dltrain.models;

import io.dltrain.runtime.backend.cuda.EmulatedDevice;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

import java.nio.file.Path;
import java.util.List;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;

/**
 * The models' GPU tests ({@link GpuTrainingStepTest}: whole training steps of lenet5, resnet18, googlenet, densenet121,
 * an LSTM and a convolutional autoencoder against the CPU; checkpoints moving between devices) run on this machine
 * against the real CUDA backend over the emulated device ({@link EmulatedDevice}: host-side stand-ins of the CUDA
 * libraries that compute, our kernels' unchanged sources on the host), which reports one multiprocessor here, so that
 * grid-stride loops loop (32 blocks of 256 threads). What that can and cannot show:
 * runtime's EmulatedDeviceTest.
 */
class EmulatedDeviceTrainingTest {
    @Test
    void trainingStepsAndCheckpointsOnTheEmulatedDevice(@TempDir Path dir) throws Exception {
        EmulatedDevice.build(dir);
        // One multiprocessor: every element-wise and optimiser kernel over more than 8192 elements (most weight
        // tensors, most activations) goes round its grid-stride loop more than once.
        String out = EmulatedDevice.junit(dir, List.of("-D" + EmulatedDevice.SM_COUNT + "=1"), GpuTrainingStepTest.class);
        List<String> results = EmulatedDevice.results(out);
        System.out.println(String.join("\n", results));
        assertFalse(results.isEmpty(), out);
        assertEquals(List.of(), results.stream().filter(l -> !l.startsWith("junit pass ")).toList(),
                "GPU tests that did not pass on the emulated device:\n" + out);
        assertEquals(List.of(), EmulatedDevice.cErrors(out), "the stand-ins saw a wrong call:\n" + out);
    }
}
