package io.dltrain.runtime.backend.cpu;

import org.junit.jupiter.api.Test;

import static org.junit.jupiter.api.Assertions.assertEquals;

/** What the CPU backend says about its GEMM. */
class CpuGemmTest {
    @Test
    void anOpenBlasCoreTypeSetByTheEnvironmentIsNamed() {
        assertEquals(" (kernels chosen by OPENBLAS_CORETYPE=Haswell, not detected)", CpuGemm.coreTypeNote("Haswell"));
        assertEquals(" (kernels chosen by OPENBLAS_CORETYPE=SkylakeX, not detected)", CpuGemm.coreTypeNote(" SkylakeX\n"));
        assertEquals("", CpuGemm.coreTypeNote(null), "unset: OpenBLAS detected the CPU");
        assertEquals("", CpuGemm.coreTypeNote(""), "empty: OpenBLAS ignores it and detects the CPU");
    }
}
