/* test_diffscan_cuda.c: check 1 on a recipe's CUDA part (cuda/), against
 * files that try to leave the process's GPU context or to run code before
 * main the way C++ allows: host assembly behind an asm statement, the
 * driver API, other processes' memory, files through the loggers, host
 * callbacks, clocks, constructors, initialisers that call, replaced
 * allocators. Each attack asserts its reason code; the honest kernel file
 * and the project's own CUDA part (test_diffscan's project case) assert
 * none, so a scan that refuses everything fails too. */
#include "scan_fixture.h"

static void scan_as(const char *name, const char *text, struct result *r)
{
	scan_with(diffscan_cuda_file, name, text, r);
}

/* The scan of a .cu file must report `code` with `what` in the construct. */
static void expect(const char *text, const char *code, const char *what)
{
	struct result r;

	scan_as("attack.cu", text, &r);
	if (scan_has(&r, code, what) < 0) {
		fprintf(stderr, "  wanted %s [%s] for:\n%s", code, what ? what : "", text);
		scan_dump(&r);
	}
	assert_true(scan_has(&r, code, what) >= 0);
}

static void expect_clean_as(const char *name, const char *text)
{
	struct result r;

	scan_as(name, text, &r);
	if (r.n != 0) {
		fprintf(stderr, "  wanted no finding in %s:\n%s", name, text);
		scan_dump(&r);
	}
	assert_int_equal(r.n, 0);
}

/* What an honest CUDA file is written with: the toolkit's headers, a
 * templated kernel with dynamic shared memory and launch bounds, PTX for
 * the tensor cores with a register block and a guard, #pragma unroll,
 * wmma through a namespace alias, type aliases, constants, a launcher in
 * an extern "C" block, an error macro that names the failing call. */
static const char honest_cu[] =
	"#include <cuda_bf16.h>\n"
	"#include <cuda_runtime.h>\n"
	"#include <mma.h>\n"
	"#include <stdint.h>\n"
	"#include <stdio.h>\n"
	"#include \"sandbox/gemmtab.h\"\n"
	"\n"
	"namespace {\n"
	"constexpr int TILE = 64;\n"
	"static const float kScale = 1.0f / 3.0f;\n"
	"__device__ float table[2] = { 1.0f, 2.0f };\n"
	"using bf16 = __nv_bfloat16;\n"
	"namespace wm = nvcuda::wmma;\n"
	"using frag = wm::fragment<wm::accumulator, 16, 16, 16, float>;\n"
	"typedef float (*act_fn)(float);\n"
	"int (*hook)(int) = nullptr;\n"
	"static dim3 grid_of(1, 2);\n"
	"template <class T, int W> struct alignas(sizeof(T) * W) Pack { T v[W]; };\n"
	"struct OpAdd { __device__ float operator()(float a, float b) const { return a + b; } };\n"
	"template <class T, int W = 4> struct Vec { T v[W]; __device__ T first() const { return v[0]; } };\n"
	"template <int BLOCK = 256> __global__ void relu(float *x) { x[threadIdx.x] = fmaxf(x[threadIdx.x], 0.0f); }\n"
	"void on_each(int (*cb)(int), act_fn act) { (void)cb; (void)act; }\n"
	"template <typename T> struct Cvt;\n"
	"template <> struct Cvt<__nv_bfloat16> {\n"
	"\t__device__ static float to_f(__nv_bfloat16 v) { return __bfloat162float(v); }\n"
	"};\n"
	"__global__ void mix(__half2 *h, int *o, unsigned short *u, float *f)\n{\n"
	"\th[0] = __hadd2(h[0], h[1]);\n\to[0] = __dp4a(o[1], o[2], o[3]);\n\t__threadfence_system();\n"
	"\tf[0] = Cvt<__nv_bfloat16>::to_f(__ushort_as_bfloat16(u[0]));\n}\n"
	"__device__ void wait_phase(uint32_t bar, uint32_t phase)\n{\n"
	"\tasm volatile(\"{\\n\\t.reg .pred P1;\\n\\tLAB_WAIT:\\n\"\n"
	"\t\t     \"\\tmbarrier.try_wait.parity.shared::cta.b64 P1, [%0], %1;\\n\"\n"
	"\t\t     \"\\t@P1 bra DONE;\\n\\tbra LAB_WAIT;\\n\\tDONE:\\n}\\n\" :: \"r\"(bar), \"r\"(phase));\n}\n"
	"\n"
	"__device__ __forceinline__ uint32_t smem_u32(const void *p)\n"
	"{\n"
	"\treturn (uint32_t)__cvta_generic_to_shared(p);\n"
	"}\n"
	"\n"
	"__device__ __forceinline__ void mma16(float *d, const uint32_t *a, const uint32_t *b)\n"
	"{\n"
	"\tasm volatile(\"mma.sync.aligned.m16n8k16.row.col.f32.bf16.bf16.f32 {%0, %1, %2, %3}, \"\n"
	"\t\t     \"{%4, %5, %6, %7}, {%8, %9}, {%0, %1, %2, %3};\\n\"\n"
	"\t\t     : \"+f\"(d[0]), \"+f\"(d[1]), \"+f\"(d[2]), \"+f\"(d[3])\n"
	"\t\t     : \"r\"(a[0]), \"r\"(a[1]), \"r\"(a[2]), \"r\"(a[3]), \"r\"(b[0]), \"r\"(b[1]));\n"
	"\tasm volatile(\"cp.async.commit_group;\\n\" ::: \"memory\");\n"
	"\tasm volatile(\"cp.async.cg.shared.global.L2::128B [%0], [%1], 16;\\n\" :: \"r\"(a[0]), \"l\"(b));\n"
	"\tasm volatile(\"{\\n\\t.reg .pred p;\\n\\tsetp.ne.b32 p, %0, 0;\\n\\t@p cp.async.wait_group 0;\\n}\\n\"\n"
	"\t\t     :: \"r\"(1));\n"
	"}\n"
	"\n"
	"template <typename TS, int HS>\n"
	"__global__ void __launch_bounds__(256) scale_rows(TS *x, int n)\n"
	"{\n"
	"\textern __shared__ __align__(16) unsigned char sm[];\n"
	"\tfloat *s = reinterpret_cast<float *>(sm);\n"
	"\tdim3 unused(1, 1, 1);\n"
	"#pragma unroll 4\n"
	"\tfor (int i = threadIdx.x; i < n; i += blockDim.x)\n"
	"\t\ts[i] = __shfl_xor_sync(0xffffffffu, (float)x[i], 1) * kScale * table[0];\n"
	"\t__syncthreads();\n"
	"\t(void)unused;\n"
	"}\n"
	"} // namespace\n"
	"\n"
	"#define CK(call) do { cudaError_t e_ = (call); if (e_ != cudaSuccess) \\\n"
	"\tfprintf(stderr, \"%s: %s\\n\", #call, cudaGetErrorString(e_)); } while (0)\n"
	"\n"
	"extern \"C\" {\n"
	"void k_scale(float *x, int n, cudaStream_t s)\n"
	"{\n"
	"\tscale_rows<float, 64><<<grid_of, 256, TILE * 4, s>>>(x, n);\n"
	"\tCK(cudaGetLastError());\n"
	"}\n"
	"} /* extern \"C\" */\n"
	"extern \"C\" int k_status(void)\n{\n\treturn (int)cudaGetLastError();\n}\n";

static void test_honest_cuda_file_passes(void **state)
{
	(void)state;
	expect_clean_as("k.cu", honest_cu);
	/* the C beside it: the runtime and cuBLASLt from plain C */
	expect_clean_as("g.c", "#include <cublasLt.h>\n#include <cuda_runtime.h>\n#include <stdlib.h>\n"
			       "int g_alloc(void **p, size_t n) { return cudaMalloc(p, n) == cudaSuccess ? 0 : -1; }\n");
}

/* Host assembly: whatever hides behind an asm statement that is not a
 * PTX instruction from the allowlist. */
static void test_host_assembly(void **state)
{
	(void)state;
	expect("void f(void) { asm(\"syscall\"); }\n", "judge.inline_asm", "syscall");
	expect("void f(void) { asm volatile(\"mov.u32 %0, 1;\\n\\tsyscall\" : \"=r\"(x)); }\n", "judge.inline_asm",
	       "syscall");
	expect("void f(void) { asm(\"add.s32 %0, %0, 1; int $0x80\" : \"+r\"(x)); }\n", "judge.inline_asm", "int $0x80");
	expect("void f(void) { __asm__ __volatile__(\".byte 0x0f, 0x05\"); }\n", "judge.inline_asm", ".byte");
	expect("void f(void) { asm(\".incbin \\\"/etc/passwd\\\"\"); }\n", "judge.inline_asm", ".incbin");
	expect("void f(void) { asm(\"call *%0\" :: \"r\"(p)); }\n", "judge.inline_asm", "call");
	/* escapes other than the plain ones could spell any byte */
	expect("void f(void) { asm(\"\\x0f\\x05\"); }\n", "judge.inline_asm", "escape");
	expect("void f(void) { asm(\"mov.u32 %0, 1;\\r syscall\"); }\n", "judge.inline_asm", "escape");
	/* the template must be written out, not a macro or a prefixed literal */
	expect("#define T \"syscall\"\nvoid f(void) { asm(T); }\n", "judge.inline_asm", "written out");
	expect("void f(void) { asm(u8\"mov.u32 %0, 1;\"); }\n", "judge.inline_asm", "prefixed");
	expect("void f(void) { asm goto(\"jmp %l0\" :::: out); out:; }\n", "judge.inline_asm", "only asm");
	expect("int x asm(\"environ\");\n", "judge.inline_asm", "environ");
	/* and through a macro body, as anywhere */
	expect("#define ESC asm(\"syscall\")\nvoid f(void) { ESC; }\n", "judge.inline_asm", "syscall");
	/* a label is GAS's syntax: "mov.x:" is a label, then its instruction */
	expect("long s(long n) { long r; asm volatile(\"mov.x: syscall\" : \"=a\"(r) : \"a\"(n)); return r; }\n",
	       "judge.inline_asm", "label");
	expect("void f(void) { asm(\"mov.b: .incbin \\\"/etc/hostname\\\"\"); }\n", "judge.inline_asm", "label");
	/* the statement read to its end, not its first line; no directive
	 * may pick which of its literals the compiler keeps */
	expect("long s(long n) { long r = n;\n\tasm volatile(\"\"\n\t\t\"syscall\" : \"+a\"(r));\n\treturn r; }\n",
	       "judge.inline_asm", "syscall");
	expect("void f(void) { asm volatile(\"add.s32 %0, %0, 1;\"\n#if 0\n\"mov.x\"\n#endif\n\"syscall\" : \"+r\"(x)); }\n",
	       "judge.inline_asm", "directive");
	/* a macro after the literals would continue the template unseen */
	expect("#define TAIL \"\\n\\tsyscall\"\nvoid f(void) { asm volatile(\"mov.u32 %0, %0\" TAIL : \"+r\"(x)); }\n",
	       "judge.inline_asm", "TAIL");
	/* the operands get the general checks */
	expect("void f(void) { asm(\"mov.u32 %0, %1;\" : \"=r\"(x) : \"r\"(getpid())); }\n", "judge.forbidden_call",
	       "getpid");
}

/* PTX can read clocks and performance counters: a recipe that reads time
 * can train differently when it is timed. */
static void test_ptx_clocks(void **state)
{
	(void)state;
	expect("__device__ long t(void) { long c; asm volatile(\"mov.u64 %0, %%clock64;\" : \"=l\"(c)); return c; }\n",
	       "judge.inline_asm", "clock");
	expect("__device__ long t(void) { long c; asm volatile(\"mov.u64 %0, %%globaltimer;\" : \"=l\"(c)); return c; }\n",
	       "judge.inline_asm", "clock");
	expect("__device__ int t(void) { int c; asm(\"mov.u32 %0, %%pm0;\" : \"=r\"(c)); return c; }\n",
	       "judge.inline_asm", "counter");
	expect("__device__ long t(void) { return clock64(); }\n", "judge.forbidden_call", "clock64");
	expect("__device__ long t(void) { return clock(); }\n", "judge.forbidden_call", "clock");
	expect("__device__ void t(void) { __nanosleep(100); }\n", "judge.forbidden_call", "__nanosleep");
	expect("float t(cudaEvent_t a, cudaEvent_t b) { float ms; cudaEventElapsedTime(&ms, a, b); return ms; }\n",
	       "judge.forbidden_call", "cudaEventElapsedTime");
}

/* The runtime and cuBLASLt calls that reach outside the process's own GPU
 * context, and the driver API. */
static void test_runtime_escapes(void **state)
{
	(void)state;
	expect("void f(cudaIpcMemHandle_t h) { void *p; cudaIpcOpenMemHandle(&p, h, 1); }\n", "judge.forbidden_call",
	       "cudaIpcOpenMemHandle");
	expect("void f(void) { void *p; cudaGetDriverEntryPoint(\"cuMemAlloc\", &p, 0, 0); }\n",
	       "judge.forbidden_call", "cudaGetDriverEntryPoint");
	expect("void f(void) { void *p; cuGetProcAddress(\"cuInit\", &p, 12000, 0, 0); }\n", "judge.forbidden_call",
	       "cuGetProcAddress");
	expect("void f(void) { cuInit(0); }\n", "judge.forbidden_call", "cuInit");
	expect("void f(void) { cublasLtLoggerOpenFile(\"/tmp/x\"); }\n", "judge.forbidden_call",
	       "cublasLtLoggerOpenFile");
	expect("void cb(void *u) { }\nvoid f(cudaStream_t s) { cudaLaunchHostFunc(s, cb, 0); }\n",
	       "judge.forbidden_call", "cudaLaunchHostFunc");
	expect("void f(void) { cudaLibrary_t l; cudaLibraryLoadFromFile(&l, \"k.cubin\", 0, 0, 0, 0, 0, 0); }\n",
	       "judge.forbidden_call", "cudaLibraryLoadFromFile");
	expect("void f(void) { cudaExternalMemory_t m; cudaImportExternalMemory(&m, 0); }\n", "judge.forbidden_call",
	       "cudaImportExternalMemory");
	expect("void f(void) { const void *t; cudaGetExportTable(&t, 0); }\n", "judge.forbidden_call",
	       "cudaGetExportTable");
	/* a node of any type can be a host node; a graph can be printed to a path */
	expect("void f(cudaGraph_t g) { cudaGraphNode_t n; cudaGraphNodeParams p = {}; cudaGraphAddNode(&n, g, 0, 0, &p); }\n",
	       "judge.forbidden_call", "cudaGraphAddNode");
	expect("void f(cudaGraph_t g) { cudaGraphDebugDotPrint(g, \"/tmp/g.dot\", 0); }\n", "judge.forbidden_call",
	       "cudaGraphDebugDotPrint");
	/* the runtime's per-thread-stream spelling of the same call */
	expect("void f(cudaStream_t s) { cudaLaunchHostFunc_ptsz(s, 0, 0); }\n", "judge.forbidden_call",
	       "cudaLaunchHostFunc_ptsz");
	/* nvcc pre-includes time.h: its timers are clocks; GNU stdio and
	 * stdlib names read files and the machine */
	expect("void f(void) { timer_t t; timer_create(CLOCK_MONOTONIC, 0, &t); }\n", "judge.forbidden_call", "timer_");
	expect("void f(void) { freopen64(\"/etc/hostname\", \"r\", stdin); }\n", "judge.forbidden_call", "freopen64");
	expect("void f(char *b) { fgets_unlocked(b, 9, stdin); }\n", "judge.forbidden_call", "fgets_unlocked");
	expect("void f(double *l) { getloadavg(l, 3); }\n", "judge.forbidden_call", "getloadavg");
	expect("void f(void) { tmpfile64(); }\n", "judge.forbidden_call", "tmpfile64");
	/* glibc's exported internals and the rest of the process family */
	expect("void f(void) { _IO_popen(\"id\", \"r\"); }\n", "judge.forbidden_call", "_IO_popen");
	expect("void f(void) { pidfd_open(1, 0); }\n", "judge.forbidden_call", "pidfd_open");
	expect("void f(void) { _Fork(); }\n", "judge.forbidden_call", "_Fork");
	expect("void f(char *t) { mkstemp64(t); }\n", "judge.forbidden_call", "mkstemp64");
	expect("void f(char *t) { strfry(t); }\n", "judge.forbidden_call", "strfry");
	/* and a flat file's denylist holds here too */
	expect("void f(void) { system(\"id\"); }\n", "judge.forbidden_call", "system");
	expect("void f(void) { ::getenv(\"HOME\"); }\n", "judge.forbidden_call", "getenv");
	expect("#define G cudaIpcGetMemHandle\n", "judge.macro_hides", "cudaIpcGetMemHandle");
}

/* C++ spells things the C lexer reads otherwise. */
static void test_cxx_spellings(void **state)
{
	(void)state;
	/* to nvcc one number; to a C lexer a character literal that hides the asm */
	expect("int a = 1'0; void f(void) { asm(\"syscall\"); } int b = 2'0;\n", "judge.obfuscation", "digit separator");
	expect("struct S { int v; compl S() { } };\n", "judge.obfuscation", "compl");
	expect("int f(int a, int b) { return a and b; }\n", "judge.obfuscation", "and");
	expect("const char *s = R\"(x)\";\n", "judge.obfuscation", NULL);
	/* a character literal after a space is one */
	expect_clean_as("ok.cu", "static const char c = 'x'; static int n = 1 + 'a';\n");
}

static void test_includes(void **state)
{
	(void)state;
	expect("#include <cuda.h>\n", "judge.forbidden_include", "<cuda.h>");
	expect("#include <unistd.h>\n", "judge.forbidden_include", "<unistd.h>");
	expect("#include <cstdlib>\n", "judge.forbidden_include", "<cstdlib>");
	expect("#include \"../config.h\"\n", "judge.forbidden_include", "../config.h");
	expect("#include \"sandbox/sandbox.h\"\n", "judge.forbidden_include", "sandbox/sandbox.h");
	expect("#include \"harness/gpucalib.h\"\n", "judge.forbidden_include", "gpucalib.h");
	expect("#pragma nv_diag_suppress 177\n", "judge.forbidden_pragma", "nv_diag_suppress");
	expect("#define P(x) a##x\n", "judge.token_paste", "##");
}

/* extern and decltype: the ways to name a symbol the recipe does not
 * define, beyond extern "C" and extern __shared__. */
static void test_extern_and_decltype(void **state)
{
	(void)state;
	expect("extern int environ_copy;\n", "judge.extern", "extern");
	expect("extern \"C++\" int f(int);\n", "judge.extern", "extern");
	expect("extern \"C\" int close(int);\n", "judge.forbidden_call", "close");
	expect("decltype(printf) *p = printf;\n", "judge.extern", "decltype");
	expect("using F = int(const char *, ...);\nF puts_alias;\n", "judge.extern", "F");
	expect("using namespace std;\nusing G = long(long);\n", "judge.extern", "G");
}

/* C++ runs code before main without any attribute: constructors of
 * namespace-scope objects, dynamic initialisers, replaced allocators. */
static void test_code_before_main(void **state)
{
	(void)state;
	expect("static int setup(void) { return 1; }\nstatic int x = setup();\n", "judge.constructor", "setup");
	expect("struct S { S() { } };\nstatic S s;\n", "judge.constructor", "S");
	expect("struct S { int v; ~S() { } };\n", "judge.constructor", "~");
	expect("class C { public: __host__ explicit C(int) { } };\n", "judge.constructor", "C");
	expect("struct S { int x = f(); };\n", "judge.constructor", "f");
	expect("static int v{f()};\n", "judge.constructor", "f");
	expect("static int v[] = { 1, f() };\n", "judge.constructor", "f");
	expect("static dim3 g(f(), 1);\n", "judge.constructor", "f");
	expect("static auto once = [] { return 1; }();\n", "judge.constructor", "}");
	expect("static auto twice = [](int k) { return k; }(2);\n", "judge.constructor", "]");
	expect("static int (*fp)(void) = 0;\nstatic int y = (*fp)();\n", "judge.constructor", ")");
	expect("namespace n { int w = f(); }\n", "judge.constructor", "f");
	expect("extern \"C\" { int w = f(); }\n", "judge.constructor", "f");
	expect("struct T { static int m; };\nint T::m = f();\n", "judge.constructor", "f");
	expect("void *operator new(size_t n) { return 0; }\n", "judge.constructor", "operator");
	expect("struct A { void operator delete(void *p) { } };\n", "judge.constructor", "operator");
	/* operators run where no call is written: a conversion in an
	 * initialiser, a user-defined literal, an overloaded + */
	expect("struct B { int v; __host__ operator int() const { return v; } };\nstatic B b = { 1 };\n"
	       "static int y = b;\n",
	       "judge.constructor", "operator");
	expect("int operator\"\"_k(unsigned long long x) { return f(); }\nstatic int z = 12_k;\n", "judge.constructor",
	       "operator");
	expect("#define OP operator\nstruct P { int v; P OP+(P o) const { return o; } };\n", "judge.constructor",
	       "operator");
	/* a macro standing in for a constructor's or destructor's name */
	expect("#define CTOR S\nstruct S { CTOR() { } };\n", "judge.constructor", "CTOR");
	expect("#define MEMBER S()\nstruct S { MEMBER { } };\n", "judge.constructor", "MEMBER");
	expect("#define DTOR ~\nstruct S { DTOR S() { } };\n", "judge.constructor", "~");
	expect("static int t = f<int>();\n", "judge.constructor", ">");
	/* a constructor behind a specifier, a class head with a '(' in its
	 * bases, a macro for the class head, a reserved-looking name */
	expect("struct S { __inline S() { } };\nS g;\n", "judge.constructor", "S");
	expect("template <int N> struct B { };\nstruct S : B<(1)> { S() { } };\nS g;\n", "judge.constructor", "S");
	expect("#define CLASS(n) struct n\nCLASS(S) { int v; };\n", "judge.constructor", "CLASS");
	expect("struct __S__ { __S__() { } };\n", "judge.constructor", "__S__");
	expect("static int (*__go__)(void) = 0;\nint ran = __go__();\n", "judge.constructor", "__go__");
	/* calls inside a direct initialiser's parentheses */
	expect("int x((hook)());\n", "judge.constructor", ")");
	expect("int x((*fp)());\n", "judge.constructor", ")");
	expect("static int y;\nint x(hook(&y));\n", "judge.constructor", "hook");
	expect("static int y;\ndim3 g(1, hook(&y));\n", "judge.constructor", "hook");
	expect("int v2(0 + int{hook()});\n", "judge.constructor", "hook");
	expect("template <int N> struct T;\ntemplate <> struct T<(1)> { T() { } };\nT<1> t;\n", "judge.constructor", "T");
	/* braces, '=' and typedefs the compiler and the scan would read apart */
	expect("#define OPEN {\n", "judge.macro_hides", "OPEN");
	expect("#define EQ =\nint v EQ hook();\n", "judge.macro_hides", "EQ");
	expect("void g() {\n#if 0\n}\nvoid h() {\n#endif\n}\n", "judge.obfuscation", "differ");
	expect("struct S {\n#if 0\n};\nvoid f() {\n#endif\n\tS() { }\n};\n", "judge.obfuscation", "differ");
	expect("#define CLOSE }\n", "judge.macro_hides", "CLOSE");
	expect("#if 0\ntypedef\n#endif\nint v1 = 1;\n", "judge.obfuscation", "inside a statement");
	/* braces inside a macro's arguments, moved where its expansion puts them */
	expect("#define DROP(x)\nstatic void g(void) { DROP({) }\nint ran = 1;\nstatic void h(void) { DROP(}) }\n",
	       "judge.obfuscation", "argument");
	expect("#define SWAP(a, b) b a\nstatic void g(void) {\n\tSWAP(int ran = 1;, })\n", "judge.obfuscation", "argument");
	/* an assignment in an initialiser runs a library operator= */
	expect("static int sink[2];\nstatic auto z = *sink = 42;\n", "judge.constructor", "assignment");
	expect("static int w[2] = { 1, n++ };\n", "judge.constructor", "assignment");
	/* reopening std hooks the tuple protocol of a structured binding */
	expect("namespace std { template <> struct tuple_size<S>; }\n", "judge.extern", "std");
	/* an object declared with C linkage links to a library function */
	expect("extern \"C\" char wordexp[];\n", "judge.extern", "object");
	expect("template <class T> struct Id { typedef T type; };\n"
	       "extern \"C\" Id<int(const char *, void *, int)>::type wordexp;\n", "judge.extern", "object");
	/* a header supplying part of a statement; a header that does not balance */
	expect("extern \"C\" int\n#include \"name.cuh\"\n(const char *, void *, int);\n", "judge.obfuscation", "#include");
	expect("}\n", "judge.obfuscation", "balance");
	expect("static void h(void) {\n", "judge.obfuscation", "balance");
	/* template brackets closed by >> are one type */
	expect_clean_as("arr.cuh", "template <class T, int N = 2> struct Arr { T v[N]; };\n"
				   "struct M { Arr<Arr<float, 2>> *m; };\nArr<Arr<float, 2>> *pick(void);\n");
	/* nesting past what the scope walks track refuses the file */
	{
		char deep[2 * (300 + 300) + 64];
		size_t n = 0;

		for (int i = 0; i < 300; i++)
			deep[n++] = '{';
		for (int i = 0; i < 300; i++)
			deep[n++] = '}';
		memcpy(deep + n, "\nint x;\n", 9);
		expect(deep, "judge.too_large", "nested deeper");
		n = 0;
		memcpy(deep, "int x = ", 8);
		n = 8;
		for (int i = 0; i < 300; i++)
			deep[n++] = '(';
		deep[n++] = '1';
		for (int i = 0; i < 300; i++)
			deep[n++] = ')';
		memcpy(deep + n, ";\n", 3);
		expect(deep, "judge.too_large", "nested deeper");
	}
	/* the header idiom is fine */
	expect_clean_as("idiom.cuh", "#ifdef __cplusplus\nextern \"C\" {\n#endif\nint gk_x(int);\n#ifdef __cplusplus\n}\n#endif\n");
	expect("static int u[2] = { g<1>(), 0 };\n", "judge.constructor", ">");
	/* the C library's allocator, replaced from C or C++ */
	expect("#include <stddef.h>\nvoid *malloc(size_t n) { return 0; }\n", "judge.constructor", "malloc");
	expect("void free(void *p) { }\n", "judge.constructor", "free");
	/* what stays: calls inside functions, constant initialisers */
	expect_clean_as("ok.cu", "static int f(void) { static int once = g(); return once; }\nint g(void) { return 1; }\n"
				 "static const int k = sizeof(float) * 4;\n"
				 "struct P { int a; float b; };\nstatic P p = { 1, 2.0f };\n");
}

/* A flat C file may not replace the allocator either. */
static void test_flat_file_allocator(void **state)
{
	struct diffscan_finding f[8];
	struct kerr err = { 0 };
	const char *t = "#include <stdlib.h>\nvoid *calloc(size_t n, size_t k) { return 0; }\n";
	int n;

	(void)state;
	n = diffscan_c_file("a.c", t, strlen(t), f, 8, &err);
	assert_int_equal(n, 1);
	assert_string_equal(f[0].code, "judge.constructor");
	assert_non_null(strstr(f[0].what, "calloc"));
}

/* A recipe tree with a CUDA part: both folders are scanned, a CUDA file's
 * quoted header is beside it or at the top, findings name cuda/FILE, and
 * the folder and its files must be real. */
static void test_tree_with_cuda_part(void **state)
{
	char *dir = tu_mkdtemp(), p[FS_PATH_MAX], q[FS_PATH_MAX];
	struct kerr err = { 0 };

	(void)state;
	tu_put(dir, "config.h", "#pragma once\nint cfg_layers(void);\n");
	tu_put(dir, "config.c", "#include \"config.h\"\nint cfg_layers(void) { return 2; }\n");
	tu_put(dir, "cuda/k.cuh", "#pragma once\n#include \"config.h\"\n");
	tu_put(dir, "cuda/k.cu", honest_cu);
	tu_put(dir, "cuda/g.h", "#pragma once\n#include \"config.h\"\n");
	tu_put(dir, "cuda/g.c", "#include \"g.h\"\nint g_layers(void) { return cfg_layers(); }\n");
	tu_put(dir, "cuda/notes.txt", "asm(\"syscall\") in prose\n");
	if (diffscan_tree(dir, &err) != 0)
		fail_msg("%s: %s", err.code, err.msg);

	tu_put(dir, "cuda/k.cu", "void f(void) { asm(\"syscall\"); }\n");
	assert_int_equal(diffscan_tree(dir, &err), -1);
	assert_string_equal(err.code, "judge.inline_asm");
	assert_non_null(strstr(err.msg, "cuda/k.cu:1: syscall"));

	/* a header that is in neither folder */
	tu_put(dir, "cuda/k.cu", "#include \"nope.cuh\"\n");
	assert_int_equal(diffscan_tree(dir, &err), -1);
	assert_string_equal(err.code, "judge.forbidden_include");

	/* declared inside an extern "C" block, even at block scope, a function
	 * has C linkage: it must be defined in the recipe too */
	tu_put(dir, "cuda/k.cu", "extern \"C\" {\nint shell(void *we)\n{\n\tint wordexp(const char *w, void *we, int f);\n"
				 "\treturn wordexp(\"$(id)\", we, 0);\n}\n}\n");
	assert_int_equal(diffscan_tree(dir, &err), -1);
	assert_string_equal(err.code, "judge.extern");
	assert_non_null(strstr(err.msg, "wordexp"));
	/* nor does one after a template's '>' kept in parentheses, X<(0 > 1), 1> */
	tu_put(dir, "cuda/k.cu", "template <bool B, int N> struct X { static const int v = 0; };\n"
				 "extern \"C\" {\nint wordexp(const char *w, void *we, int pad = X<(0 > 1), 1>::v);\n}\n");
	assert_int_equal(diffscan_tree(dir, &err), -1);
	assert_string_equal(err.code, "judge.extern");
	/* a flat header a CUDA file includes is compiled as C++ there */
	tu_put(dir, "cuda/k.cu", "#include \"plain.h\"\n");
	tu_put(dir, "plain.h", "struct S { int v; S() { v = 1; } };\n");
	assert_int_equal(diffscan_tree(dir, &err), -1);
	assert_string_equal(err.code, "judge.constructor");
	assert_non_null(strstr(err.msg, "plain.h"));
	tu_put(dir, "plain.h", "static const int z = 1'0'0;\n");
	assert_int_equal(diffscan_tree(dir, &err), -1);
	assert_string_equal(err.code, "judge.obfuscation");
	snprintf(p, sizeof p, "%s/plain.h", dir);
	unlink(p);
	/* a literal in a template's arguments does not make it an object */
	tu_put(dir, "cuda/k.cu", "template <int N> struct P { char c[N]; };\n"
				 "extern \"C\" int wordexp(const char *w, void *we, int f, P<1> *unused);\n");
	assert_int_equal(diffscan_tree(dir, &err), -1);
	assert_string_equal(err.code, "judge.extern");

	/* a function defined extern "C" gives its body C linkage too */
	tu_put(dir, "cuda/k.cu", "extern \"C\" int run_it(void)\n{\n\tint wordexp(const char *w, void *we, int f);\n"
				 "\treturn wordexp(\"$(id)\", 0, 0);\n}\n");
	assert_int_equal(diffscan_tree(dir, &err), -1);
	assert_string_equal(err.code, "judge.extern");
	assert_non_null(strstr(err.msg, "wordexp"));
	/* a qualified return type is a type: the declaration still counts */
	tu_put(dir, "cuda/k.cu", "#include <stddef.h>\nextern \"C\" int k_entry(void)\n{\n"
				 "\t::size_t wordexp(const char *, void *, int);\n\treturn (int)wordexp(\"\", 0, 0);\n}\n");
	assert_int_equal(diffscan_tree(dir, &err), -1);
	assert_string_equal(err.code, "judge.extern");
	assert_non_null(strstr(err.msg, "wordexp"));
	tu_put(dir, "cuda/k.cu", "namespace ns { typedef unsigned long sz; }\nextern \"C\" int k_entry(void)\n{\n"
				 "\tns::sz wordexp(const char *, void *, int);\n\treturn (int)wordexp(\"\", 0, 0);\n}\n");
	assert_int_equal(diffscan_tree(dir, &err), -1);
	assert_string_equal(err.code, "judge.extern");
	/* a .cuh is C++: a .c may not include it (its block-scope
	 * declarations would be read with the C++ rules) */
	tu_put(dir, "cuda/w.cuh", "static int probe(void) { return 0; }\n");
	tu_put(dir, "cuda/m.c", "#include \"w.cuh\"\nint m_probe(void) { return probe(); }\n");
	tu_put(dir, "cuda/k.cu", "#include \"w.cuh\"\n");
	assert_int_equal(diffscan_tree(dir, &err), -1);
	assert_string_equal(err.code, "judge.forbidden_include");
	assert_non_null(strstr(err.msg, "cuda/m.c"));
	snprintf(p, sizeof p, "%s/cuda/m.c", dir);
	unlink(p);
	snprintf(p, sizeof p, "%s/cuda/w.cuh", dir);
	unlink(p);

	/* an extern "C" function defined nowhere in the recipe */
	tu_put(dir, "cuda/k.cu", "extern \"C\" int helper_undefined(int);\nint use(void) { return helper_undefined(1); }\n");
	assert_int_equal(diffscan_tree(dir, &err), -1);
	assert_string_equal(err.code, "judge.extern");
	assert_non_null(strstr(err.msg, "helper_undefined"));

	/* C++ rules stay in the CUDA part: a flat file is C */
	tu_put(dir, "cuda/k.cu", honest_cu);
	tu_put(dir, "flat.c", "extern \"C\" int flat(void);\n");
	assert_int_equal(diffscan_tree(dir, &err), -1);
	assert_string_equal(err.code, "judge.extern");
	snprintf(p, sizeof p, "%s/flat.c", dir);
	unlink(p);

	/* a link in the folder, and the folder as a link */
	snprintf(p, sizeof p, "%s/cuda/x.cuh", dir);
	snprintf(q, sizeof q, "%s/config.h", dir);
	assert_int_equal(symlink(q, p), 0);
	assert_int_equal(diffscan_tree(dir, &err), -1);
	assert_string_equal(err.code, "judge.not_regular");
	unlink(p);
	assert_int_equal(diffscan_tree(dir, &err), 0);
	snprintf(p, sizeof p, "%s/cuda", dir);
	snprintf(q, sizeof q, "%s/cuda.real", dir);
	assert_int_equal(rename(p, q), 0);
	assert_int_equal(symlink(q, p), 0);
	assert_int_equal(diffscan_tree(dir, &err), -1);
	assert_string_equal(err.code, "judge.not_regular");
	tu_rmdir(dir);
}

/* The kernel patch bench/gpu_e2e.sh proves and judges on a GPU (the exact
 * GELU in cuda/gk_kernels.cu) must still apply to the project's recipe and
 * pass check 1's scan: the GPU run is the one place it is otherwise tried,
 * and it is rare. */
static void test_gpu_e2e_patch_applies_and_passes(void **state)
{
	const char *src = getenv("KARPA_SRC") ? getenv("KARPA_SRC") : ".";
	char *dir = tu_mkdtemp(), out[4096];
	struct kerr err = { 0 };

	(void)state;
	if (tu_run(out, sizeof out, "cp -r %s/recipe/. %s && cd %s && git init -q && git apply --check %s/bench/gpu/e2e-gelu-erf.diff && "
				    "git apply %s/bench/gpu/e2e-gelu-erf.diff && grep -c erff cuda/gk_kernels.cu",
		   src, dir, dir, src, src) != 0)
		fail_msg("the e2e patch no longer applies to %s/recipe: %s", src, out);
	assert_int_equal(atoi(out), 2);
	/* and the model runs those kernels, not cuBLASLt's tanh epilogue */
	assert_int_equal(tu_run(out, sizeof out, "grep -c 'g->gelu = GG_GELU_KERNEL;' %s/cuda/gg.c", dir), 0);
	assert_int_equal(atoi(out), 1);
	if (diffscan_tree(dir, &err) != 0)
		fail_msg("the e2e patch fails check 1: %s: %s", err.code, err.msg);
	tu_rmdir(dir);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_honest_cuda_file_passes),
		cmocka_unit_test(test_host_assembly),
		cmocka_unit_test(test_ptx_clocks),
		cmocka_unit_test(test_runtime_escapes),
		cmocka_unit_test(test_cxx_spellings),
		cmocka_unit_test(test_includes),
		cmocka_unit_test(test_extern_and_decltype),
		cmocka_unit_test(test_code_before_main),
		cmocka_unit_test(test_flat_file_allocator),
		cmocka_unit_test(test_tree_with_cuda_part),
		cmocka_unit_test(test_gpu_e2e_patch_applies_and_passes),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
