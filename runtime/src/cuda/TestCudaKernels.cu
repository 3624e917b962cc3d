//===- TestCudaKernels.cu - device code of the CUDA test bundle -----------===//
//
// Built by nvcc into a cubin (sm_90a) and PTX, which TestCudaHost.c embeds
// and loads through mgpuModuleLoad / mgpuModuleLoadJIT, as the host code of
// MLIR's GPU lowering does. Plain CUDA C: no runtime API, no headers.
//
//===----------------------------------------------------------------------===//

/// out[i] = x[i] + y[i] for i < n.
extern "C" __global__ void moert_test_add(const float *x, const float *y,
                                          float *out, long long n) {
  long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
  if (i < n)
    out[i] = x[i] + y[i];
}

/// Copies `words` 64-bit words (a CUtensorMap in device memory) to `out`.
extern "C" __global__ void moert_test_copy_words(const long long *in,
                                                 long long *out, int words) {
  int i = threadIdx.x;
  if (i < words)
    out[i] = in[i];
}

/// Writes far outside any allocation: an asynchronous illegal-address fault.
extern "C" __global__ void moert_test_fault(float *x) {
  if (threadIdx.x == 0)
    x[-(1ll << 40)] = 1.0f;
}
