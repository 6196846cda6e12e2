/*
 * cuda_emu.h -- just enough of CUDA's execution model to run our kernels (kernels/src/main/cuda/*.cu) unchanged on
 * the host, for tests on machines without a GPU (runtime's EmulatedDeviceTest builds kernels_emu.cpp with g++).
 *
 * A launch runs its blocks one after the other. A kernel that uses barriers runs a block's threads as fibers (own
 * stacks, in the calling OS thread), in thread order: __syncthreads() switches to the next fiber; once every thread of the
 * block has reached the barrier, the first one resumes (in reverse order, blocks and threads last to first, when the
 * race check asks: see the driver stand-in's standin_race_check). A kernel without barriers (kernels_emu.cpp's table says which)
 * runs each thread as a plain call, in thread order: the same result without the fibers; __syncthreads() there is
 * reported as an error and aborts. So barriers, __shared__ arrays (one static array, used by one block at a time),
 * strided loops and block reductions behave as on the device, deterministically. atomicAdd is a plain add (one
 * fiber runs at a time). What this does NOT model: the CUDA math library (expf, erfcf, ... come from glibc),
 * memory-model races, warp-level behaviour, or anything about speed.
 */
#pragma once

#include <ucontext.h>
#include <cstdlib>
#include <cstdio>
#include <cstdint>
#include <vector>

struct dl_emu_dim3 { unsigned x = 1, y = 1, z = 1; };

inline dl_emu_dim3 threadIdx, blockIdx, blockDim, gridDim;

namespace dl_emu {
// Switching between a block's threads. On x86-64 a six-register switch (no system call: ucontext's swapcontext saves
// and restores the signal mask with one, twice per switch, which made reductions slow); elsewhere ucontext.
#if defined(__x86_64__)
/** Saves the callee-saved registers on the current stack, stores the stack pointer in *from, continues at to. */
extern "C" void dl_emu_switch(void** from, void* to);
asm(R"(
    .text
    .globl dl_emu_switch
    .type dl_emu_switch, @function
dl_emu_switch:
    pushq %rbp
    pushq %rbx
    pushq %r12
    pushq %r13
    pushq %r14
    pushq %r15
    movq %rsp, (%rdi)
    movq %rsi, %rsp
    popq %r15
    popq %r14
    popq %r13
    popq %r12
    popq %rbx
    popq %rbp
    ret
    .size dl_emu_switch, .-dl_emu_switch
)");
struct Context {
    void* sp = nullptr;
    /** Prepares a fresh start of entry() on the stack [base, base + size). */
    void start(char* base, size_t size, void (*entry)()) {
        auto top = reinterpret_cast<uintptr_t>(base + size) & ~uintptr_t(15);
        auto* w = reinterpret_cast<void**>(top);
        w[-1] = nullptr;                                  // entry's return address: it never returns
        w[-2] = reinterpret_cast<void*>(entry);           // where dl_emu_switch's ret goes
        for (int i = 3; i <= 8; i++) w[-i] = nullptr;     // rbp, rbx, r12..r15
        sp = w - 8;                                       // entry then starts with rsp = top - 8, as after a call
    }
};
inline void switch_to(Context& from, Context& to) { dl_emu_switch(&from.sp, to.sp); }
#else
struct Context {
    ucontext_t ctx;
    void start(char* base, size_t size, void (*entry)()) {
        getcontext(&ctx);
        ctx.uc_stack.ss_sp = base;
        ctx.uc_stack.ss_size = size;
        ctx.uc_link = nullptr;
        makecontext(&ctx, entry, 0);
    }
};
inline void switch_to(Context& from, Context& to) { swapcontext(&from.ctx, &to.ctx); }
#endif

struct Fiber { Context ctx; bool done = false; std::vector<char> stack; };
inline Context scheduler;
inline std::vector<Fiber> fibers;
inline unsigned current = 0;
inline void (*body)(void*) = nullptr;
inline void* body_arg = nullptr;
inline const size_t STACK = 128 * 1024;

inline unsigned long long started = 0, finished = 0;
/** True while a kernel without barriers runs its threads as plain calls. */
inline bool direct = false;
/** Blocks, and a block's threads (between barriers), run last to first: the race check's second run. */
inline bool reverse = false;

inline void trampoline() {
    started++;
    body(body_arg);
    finished++;
    fibers[current].done = true;
    switch_to(fibers[current].ctx, scheduler);   // never resumed
    std::abort();
}

/**
 * Runs fn(arg) as every thread of a grid of gx blocks of bx threads (1-D, as every dl-train launch is); barriers: whether
 * the kernel calls __syncthreads (then a block's threads are fibers).
 */
inline void launch(unsigned gx, unsigned bx, void (*fn)(void*), void* arg, bool barriers) {
    gridDim = {gx, 1, 1};
    blockDim = {bx, 1, 1};
    if (!barriers) {
        direct = true;
        for (unsigned bi = 0; bi < gx; bi++) {
            unsigned b = reverse ? gx - 1 - bi : bi;
            blockIdx = {b, 0, 0};
            for (unsigned ti = 0; ti < bx; ti++) {
                unsigned t = reverse ? bx - 1 - ti : ti;
                threadIdx = {t, 0, 0};
                fn(arg);
            }
        }
        direct = false;
        return;
    }
    body = fn;
    body_arg = arg;
    if (fibers.size() < bx) fibers.resize(bx);
    for (unsigned bi = 0; bi < gx; bi++) {
        unsigned b = reverse ? gx - 1 - bi : bi;
        blockIdx = {b, 0, 0};
        for (unsigned t = 0; t < bx; t++) {
            Fiber& f = fibers[t];
            if (f.stack.empty()) f.stack.resize(STACK);
            f.done = false;
            f.ctx.start(f.stack.data(), STACK, trampoline);
        }
        // Rounds: each unfinished thread runs to its next barrier (or its end), in thread order.
        unsigned long long s0 = started, f0 = finished;
        for (bool any = true; any;) {
            any = false;
            for (unsigned ti = 0; ti < bx; ti++) {
                unsigned t = reverse ? bx - 1 - ti : ti;
                if (fibers[t].done) continue;
                current = t;
                threadIdx = {t, 0, 0};
                switch_to(scheduler, fibers[t].ctx);
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
    if (dl_emu::direct) {
        std::fprintf(stdout, "c-error emulator: __syncthreads() in a kernel listed without barriers (kernels_emu.cpp)\n");
        std::fflush(stdout);
        std::abort();
    }
    unsigned me = dl_emu::current;
    // Resumed by the next round (which has set current and threadIdx again): every thread has reached this barrier.
    dl_emu::switch_to(dl_emu::fibers[me].ctx, dl_emu::scheduler);
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
