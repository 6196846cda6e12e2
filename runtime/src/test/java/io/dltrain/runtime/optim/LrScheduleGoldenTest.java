package io.dltrain.runtime.optim;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import io.dltrain.runtime.checkpoint.LoadedTensor;
import io.dltrain.runtime.checkpoint.SafeTensors;
import io.dltrain.runtime.testing.Check;
import org.junit.jupiter.api.Test;

import java.nio.file.Path;
import java.util.Arrays;
import java.util.Iterator;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

/**
 * Every --schedule form against torch.optim.lr_scheduler itself: golden/schedules.golden.safetensors
 * (benchmarks/pytorch/export_schedule_golden.py) holds, per spec, the learning rate of every optimiser step of a
 * 14-epoch run of 5 steps an epoch as the torch scheduler it stands for gives it (CosineAnnealingLR per step, StepLR per
 * epoch, LinearLR + SequentialLR for warm-up, ReduceLROnPlateau on a fixed sequence of validation losses with a
 * plateau, sub-threshold improvements and a NaN), stepped as dl-train's trainer steps its schedule. LrScheduleTest checks
 * the same schedules against our reading of PyTorch's documentation; this checks the reading. The file stores float32,
 * so the comparison is at float32 resolution (1e-6 relative).
 */
class LrScheduleGoldenTest {
    @Test
    void everyScheduleFormMatchesTorchsScheduler() throws Exception {
        Path file = Path.of(LrScheduleGoldenTest.class.getResource("/golden/schedules.golden.safetensors").toURI());
        SafeTensors.Contents golden = SafeTensors.read(file);
        Map<String, String> meta = golden.metadata();
        double base = Double.parseDouble(meta.get("base_lr"));
        int perEpoch = Integer.parseInt(meta.get("steps_per_epoch")), epochs = Integer.parseInt(meta.get("epochs"));
        ObjectMapper json = new ObjectMapper();
        JsonNode losses = json.readTree(meta.get("val_losses"));
        double[] val = new double[epochs];
        for (int e = 0; e < epochs; e++) val[e] = losses.get(e).isNumber() ? losses.get(e).asDouble() : Double.parseDouble(losses.get(e).asText());
        JsonNode cases = json.readTree(meta.get("cases"));
        int checked = 0;
        for (Iterator<Map.Entry<String, JsonNode>> it = cases.fields(); it.hasNext(); ) {
            Map.Entry<String, JsonNode> c = it.next();
            String spec = c.getValue().get("spec").asText();
            LrSchedule s = LrSchedules.parse(spec);
            long total = (long) epochs * perEpoch;
            float[] ours = new float[(int) total];
            for (int step = 0; step < total; step++) {
                double[] completed = Arrays.copyOf(val, step / perEpoch); // the validation losses of the epochs done
                ours[step] = (float) s.lr(base, step, perEpoch, total, completed);
            }
            LoadedTensor want = golden.tensors().get(c.getKey() + ".lrs");
            assertNotNull(want, "schedules.golden.safetensors has no " + c.getKey() + ".lrs");
            Check.close("--schedule " + spec + " vs " + c.getValue().get("torch").asText() + ": learning rate per step", want.floats(), ours, 0, 1e-6);
            checked++;
        }
        assertEquals(8, checked, "cases");
    }
}
