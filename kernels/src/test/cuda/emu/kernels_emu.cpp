/*
 * kernels_emu.cpp -- every kernel of kernels/src/main/cuda, unchanged, compiled for the host over cuda_emu.h, behind
 * one C entry point that a stand-in CUDA driver's cuLaunchKernel calls (runtime's EmulatedDeviceTest):
 *   g++ -std=c++20 -shared -fPIC -ffp-contract=off -O1 -I kernels/src/main/cuda -I kernels/src/test/cuda/emu \
 *       -o libkernelsemu.so kernels_emu.cpp
 * -ffp-contract=off for nvcc's -fmad=false (build-ptx.sh): no fused multiply-adds on either side.
 */
#include "cuda_emu.h"

#include "activation.cu"
#include "dropout.cu"
#include "elementwise.cu"
#include "loss.cu"
#include "lstm.cu"
#include "norm.cu"
#include "optim.cu"
#include "pool.cu"

#include <cstring>
#include <type_traits>
#include <utility>

namespace {
/** Calls kernel k with the arguments cuLaunchKernel's kernelParams point to (params[i] -> the i-th argument's value). */
template <typename... A, size_t... I>
void invoke(void (*k)(A...), void** params, std::index_sequence<I...>) {
    k(*static_cast<std::remove_cv_t<A>*>(params[I])...);
}
template <typename... A>
void invoke(void (*k)(A...), void** params) { invoke(k, params, std::index_sequence_for<A...>{}); }

struct Entry { const char* name; void (*run)(void**); bool barriers; };

// K: a kernel without __syncthreads (its threads run as plain calls); B: one with barriers (its threads are fibers).
#define K(name) {#name, [](void** p) { invoke(name, p); }, false},
#define B(name) {#name, [](void** p) { invoke(name, p); }, true},
Entry table[] = {
    K(activation_forward_f32) K(activation_backward_f32) K(dropout_forward_f32)
    K(fill_f32) K(fill_i32) K(add_f32) K(mul_f32) K(scale_f32) K(axpy_f32) K(pow_f32) K(pow_backward_f32) K(add_bias_f32) B(bias_grad_f32)
    B(sum_f32) B(sum_squares_f32) K(clip_by_norm_f32) K(check_finite_f32)
    B(cross_entropy_forward_f32) K(cross_entropy_backward_f32) K(loss_forward_f32) K(loss_backward_f32) K(count_topk_f32) K(one_hot_f32)
    K(sgd_step_f32) K(adagrad_step_f32) K(adadelta_step_f32) K(rmsprop_step_f32) K(adam_step_f32)
    K(sgd_multi_f32) K(adagrad_multi_f32) K(adadelta_multi_f32) K(rmsprop_multi_f32) K(adam_multi_f32)
    K(adaptive_avg_pool_forward_f32) K(adaptive_avg_pool_backward_f32) K(avg_pool_forward_f32) K(avg_pool_backward_f32)
    K(lstm_cell_forward_f32) K(lstm_cell_backward_c_f32) K(lstm_cell_backward_h_f32)
    B(batch_norm_training_f32) B(batch_norm_backward_f32)
};
#undef K
#undef B

struct Call { void (*run)(void**); void** params; };
void body(void* c) { auto* call = static_cast<Call*>(c); call->run(call->params); }
}  // namespace

#define EMU_API extern "C" __attribute__((visibility("default")))

/** Runs kernel `name` over gx blocks of bx threads; 0 when there is no such kernel. */
EMU_API int standin_kernel_run(const char* name, unsigned gx, unsigned bx, void** params) {
    for (Entry& e : table) {
        if (std::strcmp(e.name, name) != 0) continue;
        Call c{e.run, params};
        dl_emu::launch(gx, bx, body, &c, e.barriers);
        return 1;
    }
    return 0;
}

/** 1: blocks and threads run last to first (the driver stand-in's race check runs every launch both ways). */
EMU_API void standin_kernel_order(int reverse) { dl_emu::reverse = reverse != 0; }
