/*
 * cuda_emu.h -- just enough of CUDA's execution model to run our kernels (kernels/src/main/cuda/*.cu) unchanged on
 * the host, for tests on machines without a GPU (runtime's EmulatedDeviceTest builds kernels_emu.cpp with g++).
 *
 * A launch runs its blocks one after the other; a block's threads are fibers (ucontext) in the calling OS thread,
 * run in thread order. __syncthreads() switches to the next fiber; once every thread of the block has reached the
 * barrier, the first one resumes. So barriers, __shared__ arrays (one static array, used by one block at a time),
 * strided loops and block reductions behave as on the device, deterministically. atomicAdd is a plain add (one
 * fiber runs at a time). What this does NOT model: the CUDA math library (expf, erfcf, ... come from glibc),
 * memory-model races, warp-level behaviour, or anything about speed.
 */
#pragma once

#include <ucontext.h>
#include <cstdlib>
#include <cstdio>
#include <vector>

struct dl_emu_dim3 { unsigned x = 1, y = 1, z = 1; };

inline dl_emu_dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace dl_emu {
struct Fiber { ucontext_t ctx; bool done = false; std::vector<char> stack; };
inline ucontext_t scheduler;
inline std::vector<Fiber> fibers;
inline unsigned current = 0;
inline void (*body)(void*) = nullptr;
inline void* body_arg = nullptr;
inline const size_t STACK = 128 * 1024;

inline unsigned long long started = 0, finished = 0;

inline void trampoline() {
    started++;
    body(body_arg);
    finished++;
    fibers[current].done = true;
    swapcontext(&fibers[current].ctx, &scheduler);
}

/** Runs body(arg) as every thread of a grid of gx blocks of bx threads (1-D, as every dl-train launch is). */
inline void launch(unsigned gx, unsigned bx, void (*fn)(void*), void* arg) {
    gridDim = {gx, 1, 1};
    blockDim = {bx, 1, 1};
    body = fn;
    body_arg = arg;
    if (fibers.size() < bx) fibers.resize(bx);
    for (unsigned b = 0; b < gx; b++) {
        blockIdx = {b, 0, 0};
        for (unsigned t = 0; t < bx; t++) {
            Fiber& f = fibers[t];
            if (f.stack.empty()) f.stack.resize(STACK);
            f.done = false;
            getcontext(&f.ctx);
            f.ctx.uc_stack.ss_sp = f.stack.data();
            f.ctx.uc_stack.ss_size = STACK;
            f.ctx.uc_link = nullptr;
            makecontext(&f.ctx, trampoline, 0);
        }
        // Rounds: each unfinished thread runs to its next barrier (or its end), in thread order.
        unsigned long long s0 = started, f0 = finished;
        for (bool any = true; any;) {
            any = false;
            for (unsigned t = 0; t < bx; t++) {
                if (fibers[t].done) continue;
                current = t;
                threadIdx = {t, 0, 0};
                swapcontext(&scheduler, &fibers[t].ctx);
                any = true;
            }
        }
        if (started - s0 != bx || finished - f0 != bx)
            std::fprintf(stdout, "c-error emulator: block %u of %u ran %llu of %u threads to the end (%llu started)\n", b, gx,
                         finished - f0, bx, started - s0);
    }
}
}  // namespace dl_emu

inline void __syncthreads() {
    unsigned me = dl_emu::current;
    // Resumed by the next round (which has set current and threadIdx again): every thread has reached this barrier.
    swapcontext(&dl_emu::fibers[me].ctx, &dl_emu::scheduler);
}

inline float atomicAdd(float* a, float v) { float old = *a; *a = old + v; return old; }

#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __shared__ static
#ifndef __CUDACC__
#define __CUDACC__ 1
#endif
