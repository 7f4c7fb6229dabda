// Small SIMD helpers for the forward pass: dot products, normalization, softmax, activations, residual adds.
// Each is dispatched at run time to the best SIMD target (like ops/matvec.h) and single-threaded: callers
// parallelize over rows or heads. Results are deterministic: a fixed operation order for a given target, so the
// same inputs give the same bits on the same machine, at any thread count of the caller.
#ifndef OCTET_OPS_VECTOR_OPS_H_
#define OCTET_OPS_VECTOR_OPS_H_

#include <cstddef>

namespace octet {

// sum_i a[i] * b[i], accumulated in F32.
float Dot(const float* a, const float* b, size_t n);

// out[i] = x[i] / sqrt(mean(x²) + eps) * weight[i] (weight == nullptr: no weight). out may alias x.
// Models whose norm weight is stored as (1 + w), e.g. Gemma, pass the adjusted weight.
void RmsNorm(const float* x, const float* weight, size_t n, float eps, float* out);

// x[i] = exp(x[i] - max) / sum_j exp(x[j] - max), in place. Entries of -inf (masked) become 0.
void Softmax(float* x, size_t n);

// out[i] = x[i] * sigmoid(x[i]). out may alias x.
void Silu(const float* x, size_t n, float* out);

// out[i] = silu(gate[i]) * up[i] (the SwiGLU feed-forward activation). out may alias gate or up.
void SwiGLU(const float* gate, const float* up, size_t n, float* out);

// y[i] += x[i] (residual connections).
void AddInPlace(float* y, const float* x, size_t n);

// y[i] += a * x[i] (attention: accumulating weighted value rows).
void MulAddInPlace(float* y, float a, const float* x, size_t n);

// x[i] *= a.
void ScaleInPlace(float* x, float a, size_t n);

}  // namespace octet

#endif  // OCTET_OPS_VECTOR_OPS_H_
