package io.dltrain.runtime.backend.cuda;

import io.dltrain.runtime.backend.OptimizerHyper;
import org.junit.jupiter.api.Test;

import java.util.List;

import static org.junit.jupiter.api.Assertions.*;

/**
 * The optimiser launches: each argument list type-checks against the kernel table, buffers that the update does not
 * use are passed as 0, and the host scalars equal torch.optim's formulas evaluated in double from the decimal
 * hyper-parameters (written out here independently of CudaOptim), rounded to float.
 */
class CudaOptimTest {
    private static final long P = 0x1000, G = 0x2000;
    private static final long[] S = {0x3000, 0x4000, 0x5000};

    private static CudaOptim.Launch run(OptimizerHyper h, float lr, long step) {
        CudaOptim.Launch l = CudaOptim.launch(h, P, G, S, 1234L, lr, step);
        KernelSignatures.validate(l.kernel(), l.args());
        return l;
    }

    @Test
    void everyOptimiserLaunchTypeChecks() {
        List<OptimizerHyper> all = List.of(
                new OptimizerHyper.Sgd(0f, 0f, false, 0f, 0f), new OptimizerHyper.Sgd(0.9f, 0.1f, true, 1e-4f, 1e-5f),
                new OptimizerHyper.Adagrad(0.01f, 1e-10f, 0.1f, 0f, 0f), new OptimizerHyper.Adadelta(0.9f, 1e-6f, 0f, 0f),
                new OptimizerHyper.RmsProp(0.99f, 1e-8f, 0f, false, 0f, 0f), new OptimizerHyper.RmsProp(0.99f, 1e-8f, 0.9f, true, 0f, 0f),
                new OptimizerHyper.Adam(0.9f, 0.999f, 1e-8f, false, 0f, 0f), new OptimizerHyper.Adam(0.9f, 0.999f, 1e-8f, true, 0.01f, 0f));
        for (OptimizerHyper h : all) {
            CudaOptim.Launch l = run(h, 0.01f, 3);
            assertEquals(1234L, l.args()[l.kernel().equals("sgd_step_f32") || l.kernel().equals("adagrad_step_f32") ? 3
                    : l.kernel().equals("adadelta_step_f32") || l.kernel().equals("adam_step_f32") ? 4 : 5], h + ": n");
        }
    }

    @Test
    void sgd() {
        Object[] a = run(new OptimizerHyper.Sgd(0.9f, 0.1f, true, 1e-4f, 0f), 0.05f, 1).args();
        assertEquals(S[0], a[2]);
        assertEquals(-0.05f, a[4]);
        assertEquals((float) (1 - 0.1), a[8], "keep = 1 - dampening in double");
        assertEquals(1, a[9]);
        assertEquals(1, a[10], "step 1 is the first");
        Object[] b = run(new OptimizerHyper.Sgd(0f, 0f, false, 0f, 0f), 0.05f, 2).args();
        assertEquals(0L, b[2], "no momentum buffer without momentum");
        assertEquals(0, b[10]);
    }

    @Test
    void adagrad() {
        Object[] a = run(new OptimizerHyper.Adagrad(0.01f, 1e-10f, 0.1f, 0f, 0f), 0.1f, 5).args();
        assertEquals((float) -(0.1 / (1 + 4 * 0.01)), a[4]);
        assertEquals(0.1f, a[8]);
        assertEquals(0, a[9]);
    }

    @Test
    void rmsprop() {
        Object[] plain = run(new OptimizerHyper.RmsProp(0.99f, 1e-8f, 0f, false, 0f, 0f), 0.01f, 1).args();
        assertEquals(0L, plain[3]);
        assertEquals(0L, plain[4]);
        assertEquals((float) (1 - 0.99), plain[10]);
        Object[] full = run(new OptimizerHyper.RmsProp(0.99f, 1e-8f, 0.9f, true, 0f, 0f), 0.01f, 1).args();
        assertEquals(S[1], full[3]);
        assertEquals(S[2], full[4]);
        assertEquals(1, full[13]);
    }

    @Test
    void adamAndAdamW() {
        long step = 7;
        Object[] a = run(new OptimizerHyper.Adam(0.9f, 0.999f, 1e-8f, false, 0.01f, 0f), 0.001f, step).args();
        assertEquals((float) -(0.001 / (1 - Math.pow(0.9, step))), a[5], "step size from the decimal betas");
        assertEquals(0.01f, a[6], "Adam: L2 weight decay is coupled");
        assertEquals(1f, a[8], "Adam does not decay the weights directly");
        assertEquals((float) (1 - 0.9), a[9]);
        assertEquals((float) (1 - 0.999), a[11]);
        assertEquals((float) Math.sqrt(1 - Math.pow(0.999, step)), a[12]);
        Object[] w = run(new OptimizerHyper.Adam(0.9f, 0.999f, 1e-8f, true, 0.01f, 0f), 0.001f, step).args();
        assertEquals(0f, w[6], "AdamW: no coupled decay");
        assertEquals((float) (1 - 0.001 * 0.01), w[8], "AdamW: param *= 1 - lr * wd");
    }

    @Test
    void decMatchesTheDecimal() {
        assertEquals(0.9, CudaOptim.dec(0.9f));
        assertEquals(0.999, CudaOptim.dec(0.999f));
        assertNotEquals(0.9, (double) 0.9f);
    }

    @Test
    void multiTensorTableHoldsEachLaunchsPointersSizeAndFirstBlock() {
        OptimizerHyper h = new OptimizerHyper.RmsProp(0.99f, 1e-8f, 0.9f, true, 1e-4f, 0f);
        long[] sizes = {4097, 0, 1, 4096, 8193};
        List<CudaOptim.Launch> ls = new java.util.ArrayList<>();
        for (int t = 0; t < sizes.length; t++) {
            long base = 0x10000L * (t + 1);
            ls.add(CudaOptim.launch(h, base, base + 0x100, new long[] {base + 0x200, base + 0x300, base + 0x400}, sizes[t], 0.01f, 4));
        }
        CudaOptim.Multi m = CudaOptim.multi(ls);
        assertEquals("rmsprop_multi_f32", m.kernel());
        assertEquals(4, m.tensors(), "the empty tensor is left out");
        assertEquals(2 + 1 + 1 + 3, m.blocks(), "ceil(n / 4096) blocks per tensor");
        long[] want = {
                0x10000, 0x10100, 0x10200, 0x10300, 0x10400, 4097, 0,
                0x30000, 0x30100, 0x30200, 0x30300, 0x30400, 1, 2,
                0x40000, 0x40100, 0x40200, 0x40300, 0x40400, 4096, 3,
                0x50000, 0x50100, 0x50200, 0x50300, 0x50400, 8193, 4};
        assertArrayEquals(want, m.table());
        Object[] single = ls.getFirst().args();
        assertArrayEquals(java.util.Arrays.copyOfRange(single, 6, single.length), m.scalars(), "the scalars after n, unchanged");
        Object[] args = new Object[2 + m.scalars().length];
        args[0] = 0x9000L;
        args[1] = m.tensors();
        System.arraycopy(m.scalars(), 0, args, 2, m.scalars().length);
        KernelSignatures.validate(m.kernel(), args);
    }

    @Test
    void multiTensorLaunchOfEveryOptimiserTypeChecksAndKeepsAbsentBuffersZero() {
        List<OptimizerHyper> all = List.of(
                new OptimizerHyper.Sgd(0f, 0f, false, 0f, 0f), new OptimizerHyper.Sgd(0.9f, 0.1f, true, 1e-4f, 1e-5f),
                new OptimizerHyper.Adagrad(0.01f, 1e-10f, 0.1f, 0f, 0f), new OptimizerHyper.Adadelta(0.9f, 1e-6f, 0f, 0f),
                new OptimizerHyper.RmsProp(0.99f, 1e-8f, 0f, false, 0f, 0f), new OptimizerHyper.Adam(0.9f, 0.999f, 1e-8f, true, 0.01f, 0f));
        for (OptimizerHyper h : all) {
            CudaOptim.Multi m = CudaOptim.multi(List.of(run(h, 0.01f, 3), run(h, 0.01f, 3)));
            Object[] args = new Object[2 + m.scalars().length];
            args[0] = 0x9000L;
            args[1] = m.tensors();
            System.arraycopy(m.scalars(), 0, args, 2, m.scalars().length);
            KernelSignatures.validate(m.kernel(), args);
            String[] need = CudaOptim.requiredState(h);
            for (int k = 0; k < 3; k++)
                assertEquals(k < need.length && need[k] != null ? S[k] : 0L, m.table()[2 + k], h + ": state column " + k);
        }
    }

    @Test
    void multiTensorGroupMustShareItsScalars() {
        OptimizerHyper h = new OptimizerHyper.Adam(0.9f, 0.999f, 1e-8f, false, 0f, 0f);
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> CudaOptim.multi(List.of(run(h, 0.01f, 3), run(h, 0.01f, 4))));
        assertTrue(e.getMessage().contains("share"), e.getMessage());
        assertNull(CudaOptim.multi(List.of(CudaOptim.launch(h, P, G, S, 0, 0.01f, 1))), "nothing to launch");
    }

    @Test
    void multiTensorConstantsMatchOptimCu() throws Exception {
        java.nio.file.Path cu = EmulatedDevice.KERNELS.resolve("src/main/cuda/optim.cu");
        String src = java.nio.file.Files.readString(cu);
        assertTrue(src.contains("#define DL_MULTI_CHUNK " + CudaOptim.MULTI_CHUNK + "\n"), cu + ": DL_MULTI_CHUNK != CudaOptim.MULTI_CHUNK");
        assertTrue(src.contains("#define DL_MULTI_COLS " + CudaOptim.MULTI_COLS + "\n"), cu + ": DL_MULTI_COLS != CudaOptim.MULTI_COLS");
    }
}
