package io.dltrain.runtime.optim;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dltrain.runtime.backend.Backend;
import io.dltrain.runtime.backend.Backends;
import io.dltrain.runtime.backend.cpu.CpuBackend;
import io.dltrain.runtime.checkpoint.LoadedTensor;
import io.dltrain.runtime.checkpoint.SafeTensors;
import io.dltrain.runtime.tensor.Shape;
import io.dltrain.runtime.tensor.Tensor;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.Tag;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Iterator;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

/**
 * Every optimiser as the CLI builds it ({@link Optimizers#create}: name, lr, momentum, weight decay) against torch.optim
 * itself: golden/optimizers.golden.safetensors holds two parameters, eight steps of gradients, a learning rate changed
 * before every step, and each configuration's parameters after the eight steps, computed by torch.optim in float64
 * (five configurations scale the gradients down to where each rule's eps term matters)
 * (benchmarks/pytorch/export_optimizer_golden.py; the file's metadata names the PyTorch version). OptimizerStepTest
 * checks the same rules against transcriptions of PyTorch's documented algorithms; this checks the transcriptions'
 * reading of them, against the library. Tolerance as there: float32 against float64 after a few steps, 1e-6 absolute
 * plus 1e-5 relative.
 */
public class OptimizerGoldenTest {
    static final double ATOL = 1e-6, RTOL = 1e-5;

    @Test
    void everyOptimizerMatchesTorchOptimOnTheCpu() throws Exception {
        try (CpuBackend be = new CpuBackend(2)) {
            replay(be);
        }
    }

    /** Our PTX optimiser kernels against torch.optim (EmulatedDeviceTest runs this on the emulated device too). */
    @Tag("gpu")
    @Test
    void everyOptimizerMatchesTorchOptimOnTheGpu() throws Exception {
        String why = Backends.cudaUnavailableReason();
        Assumptions.assumeTrue(why == null, "no usable GPU: " + why);
        try (Backend be = Backends.create("cuda", 0, msg -> {})) {
            replay(be);
        }
    }

    static void replay(Backend be) throws Exception {
        Path file = Path.of(OptimizerGoldenTest.class.getResource("/golden/optimizers.golden.safetensors").toURI());
        SafeTensors.Contents golden = SafeTensors.read(file);
        Map<String, LoadedTensor> t = golden.tensors();
        int steps = Integer.parseInt(golden.metadata().get("steps"));
        String[] factors = golden.metadata().get("lrs_factors").split(",");
        assertEquals(steps, factors.length);
        JsonNode configs = new ObjectMapper().readTree(golden.metadata().get("configs"));
        List<String> names = List.of("w", "b");
        int checked = 0;
        for (Iterator<Map.Entry<String, JsonNode>> it = configs.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> c = it.next();
            JsonNode h = c.getValue();
            String what = c.getKey() + " (" + h.get("torch").asText() + ")";
            Map<String, Tensor> params = new LinkedHashMap<>();
            for (String n : names) {
                LoadedTensor init = need(t, "init." + n);
                Tensor p = be.fromHost(init.floats(), Shape.of(init.shape())).requiresGrad(true);
                p.setGrad(be.zeros(p.shape()));
                params.put(n, p);
            }
            double lr = h.get("lr").asDouble();
            try (Optimizer opt = Optimizers.create(h.get("optimizer").asText(), params, lr, h.get("momentum").asDouble(),
                    h.get("weight_decay").asDouble())) {
                float scale = (float) h.get("grad_scale").asDouble();
                for (int s = 0; s < steps; s++) {
                    for (String n : names) {
                        float[] g = need(t, "grad." + s + "." + n).floats().clone();
                        for (int i = 0; i < g.length; i++) g[i] *= scale; // float32 rounding, as the exporter's
                        be.copyFromHost(g, 0, params.get(n).grad());
                    }
                    opt.setLr(lr * Double.parseDouble(factors[s]));
                    opt.step();
                }
                for (String n : names)
                    Check.close(what + " " + n + " after " + steps + " steps", need(t, c.getKey() + ".final." + n).floats(),
                            params.get(n).toFloatArray(), ATOL, RTOL);
            } finally {
                for (Tensor p : params.values()) p.close();
            }
            checked++;
        }
        assertTrue(checked >= 18, "configs checked: " + checked);
        for (String o : Optimizers.names())
            assertTrue(configs.toString().contains("\"optimizer\":\"" + o + "\""), "no golden case for " + o);
    }

    static LoadedTensor need(Map<String, LoadedTensor> t, String name) {
        LoadedTensor x = t.get(name);
        assertNotNull(x, "golden/optimizers.golden.safetensors has no " + name);
        return x;
    }
}
