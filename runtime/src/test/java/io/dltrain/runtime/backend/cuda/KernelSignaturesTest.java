package io.dltrain.runtime.backend.cuda;

import org.junit.jupiter.api.Test;

import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;

import static org.junit.jupiter.api.Assertions.*;
import static org.junit.jupiter.api.Assumptions.assumeTrue;

/**
 * The kernel signature table: argument validation (CPU only), launch shapes, and the table against the committed PTX
 * (every .entry has the table's parameter types; every table kernel exists in some module).
 */
class KernelSignaturesTest {

    @Test
    void validArgumentsPass() {
        KernelSignatures.validate("fill_f32", 0x7f00_0000_0000L, 1.5f, 10L);
        KernelSignatures.validate("axpy_f32", 2f, 1L, 2L, 3L);
        KernelSignatures.validate("dropout_forward_f32", 1L, 2L, 3L, 0.5f, 2f, -7L, 100L);
    }

    @Test
    void wrongTypeNamesKernelAndPosition() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> KernelSignatures.validate("scale_f32", 1L, 2.0, 3L, 4L));    // a Double where the float alpha goes
        assertTrue(e.getMessage().contains("kernel scale_f32"), e.getMessage());
        assertTrue(e.getMessage().contains("argument 1 must be F32 (Float)"), e.getMessage());
        assertTrue(e.getMessage().contains("got Double 2.0"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class,
                () -> KernelSignatures.validate("add_bias_f32", 1L, 2L, 10L, 4L, 5L));   // channels passed as Long
        assertTrue(e.getMessage().contains("argument 3 must be I32 (Integer)"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class, () -> KernelSignatures.validate("fill_i32", 1L, 1f, 3L));
        assertTrue(e.getMessage().contains("argument 1 must be I32"), e.getMessage());

        e = assertThrows(IllegalArgumentException.class, () -> KernelSignatures.validate("sum_f32", 1L, 2L, null, 3L));
        assertTrue(e.getMessage().contains("argument 2") && e.getMessage().contains("got null"), e.getMessage());
    }

    @Test
    void wrongCountAndUnknownKernel() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class,
                () -> KernelSignatures.validate("add_f32", 1L, 2L, 3L));
        assertTrue(e.getMessage().contains("kernel add_f32 takes 4 arguments"), e.getMessage());
        assertTrue(e.getMessage().contains("got 3"), e.getMessage());
        e = assertThrows(IllegalArgumentException.class, () -> KernelSignatures.validate("no_such_kernel", 1L));
        assertTrue(e.getMessage().contains("unknown kernel 'no_such_kernel'"), e.getMessage());
    }

    @Test
    void launchShapes() {
        // 256 threads; grid = ceil(n / 256), capped at 32 blocks per SM, at least 1.
        assertEquals(1, PtxKernels.gridFor(0, 256, 132));
        assertEquals(1, PtxKernels.gridFor(1, 256, 132));
        assertEquals(1, PtxKernels.gridFor(256, 256, 132));
        assertEquals(2, PtxKernels.gridFor(257, 256, 132));
        assertEquals(4096, PtxKernels.gridFor(4096L * 256, 256, 132));
        assertEquals(32 * 132, PtxKernels.gridFor(1L << 34, 256, 132));   // 2^26 blocks needed: capped (grid-stride loops)
        assertEquals(32, PtxKernels.gridFor(1L << 20, 256, 0), "an unknown SM count still gives a valid grid");
    }

    @Test
    void parsesPtxEntryParameterLists() {
        String ptx = """
                .version 8.8
                .target sm_80
                .address_size 64

                	// .globl	fill_f32
                .visible .entry fill_f32(
                	.param .u64 .ptr .align 1 fill_f32_param_0,
                	.param .f32 fill_f32_param_1,
                	.param .u64 fill_f32_param_2
                )
                {
                	ret;
                }
                .visible .entry fill_i32(
                	.param .u64 fill_i32_param_0,
                	.param .u32 fill_i32_param_1,
                	.param .u64 fill_i32_param_2
                )
                { ret; }
                .entry nothing()
                { ret; }
                """;
        Map<String, List<String>> e = KernelSignatures.parsePtxEntries(ptx);
        assertEquals(List.of("u64", "f32", "u64"), e.get("fill_f32"));
        assertEquals(List.of("u64", "u32", "u64"), e.get("fill_i32"));
        assertEquals(List.of(), e.get("nothing"));
    }

    @Test
    void tableMatchesTheCommittedPtx() {
        Map<String, String> sources = PtxKernels.ptxSources();
        assumeTrue(!sources.isEmpty(), "no PTX resources on the classpath yet (io/dltrain/kernels/<stem>.ptx from the kernels module); "
                + "the table-vs-PTX check runs once they are committed");
        Map<String, List<String>> entries = new LinkedHashMap<>();
        Map<String, String> where = new LinkedHashMap<>();
        for (Map.Entry<String, String> s : sources.entrySet()) {
            for (Map.Entry<String, List<String>> e : KernelSignatures.parsePtxEntries(s.getValue()).entrySet()) {
                assertNull(entries.put(e.getKey(), e.getValue()),
                        "kernel " + e.getKey() + " is defined in two modules (" + where.get(e.getKey()) + ", " + s.getKey() + ")");
                where.put(e.getKey(), s.getKey());
            }
        }
        List<String> problems = new ArrayList<>();
        for (Map.Entry<String, List<String>> e : entries.entrySet()) {
            List<KernelSignatures.Param> expected = KernelSignatures.TABLE.get(e.getKey());
            if (expected == null) {
                problems.add(where.get(e.getKey()) + ".ptx: kernel " + e.getKey() + " is not in KernelSignatures");
                continue;
            }
            List<String> ptx = e.getValue();
            if (ptx.size() != expected.size()) {
                problems.add(e.getKey() + ": PTX has " + ptx.size() + " parameters " + ptx + ", table has " + expected.size() + " " + expected);
                continue;
            }
            for (int i = 0; i < ptx.size(); i++) {
                if (!expected.get(i).acceptsPtx(ptx.get(i)))
                    problems.add(e.getKey() + " parameter " + i + ": PTX ." + ptx.get(i) + ", table " + expected.get(i));
            }
        }
        for (String k : KernelSignatures.TABLE.keySet()) {
            if (!entries.containsKey(k)) problems.add("table kernel " + k + " is in none of the PTX modules " + sources.keySet());
        }
        assertTrue(problems.isEmpty(), String.join("\n", problems));
    }
}
