#include <cuda_bf16.h>
#include "gk.cuh"
namespace {
constexpr int TILE = 64;
using bf16 = __nv_bfloat16;
struct alignas(16) Pack { float v[4]; };
static int bad = f();
struct S { S() {} ~S() {} int x = g(); };
template <typename T, int W>
__global__ void __launch_bounds__(256) k(T *x, int n)
{
	extern __shared__ __align__(16) unsigned char sm[];
	asm volatile("{\n\t.reg .pred p;\n\tsetp.ne.b32 p, %0, 0;\n\t@p cp.async.wait_group 0;\n}\n" :: "r"(n));
	asm("mov.u64 %0, %%globaltimer; syscall" : "=l"(n));
#pragma unroll 4
	for (int i = threadIdx.x; i < n; i += blockDim.x)
		x[i] = __shfl_xor_sync(0xffffffffu, x[i], 1);
}
} // namespace
#define CK(call) do { if ((call) != cudaSuccess) fprintf(stderr, "%s\n", #call); } while (0)
extern "C" { void launch(float *x, int n) { k<float, 4><<<1, 256, TILE>>>(x, n); CK(cudaGetLastError()); } }
static auto once = [] { return 1; }();
using F = int(int);
