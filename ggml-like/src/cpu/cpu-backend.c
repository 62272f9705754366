// The CPU backend: ISA detection and selection, and the node-by-node graph executor.
#include "tl-cpu.h"
#include "cpu-impl.h"

#include <cpuid.h>
#include <omp.h>

static const char *isa_names[TL_ISA_COUNT] = { "scalar", "avx2", "avx512" };

static struct tl_cpu_kernels kernels[TL_ISA_COUNT];
static enum tl_cpu_isa current_isa;
static bool initialised;
int tl_cpu_prefetch_table[TL_ISA_COUNT][TL_TYPE_COUNT];
static int prefetch_fixed = -1;   // -1: the defaults

static bool prefetch_distance_valid(long bytes) { return bytes >= 0 && bytes <= 16384 && bytes % 64 == 0; }

static void fill_prefetch_table(void) {
    for (int isa = 0; isa < TL_ISA_COUNT; isa++)
        for (int t = 0; t < TL_TYPE_COUNT; t++)
            tl_cpu_prefetch_table[isa][t] =
                prefetch_fixed >= 0 ? prefetch_fixed : tl_cpu_prefetch_default((enum tl_cpu_isa)isa, (enum tl_type)t);
}

const char *tl_cpu_isa_name(enum tl_cpu_isa isa) {
    return isa >= 0 && isa < TL_ISA_COUNT ? isa_names[isa] : "?";
}

bool tl_cpu_isa_supported(enum tl_cpu_isa isa) {
    switch (isa) {
    case TL_ISA_SCALAR: return true;
    case TL_ISA_AVX2:
        return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") &&
               __builtin_cpu_supports("f16c");
    case TL_ISA_AVX512:
        return tl_cpu_isa_supported(TL_ISA_AVX2) && __builtin_cpu_supports("avx512f") &&
               __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
               __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vnni");
    default: return false;
    }
}

enum tl_cpu_isa tl_cpu_isa_best(void) {
    for (int isa = TL_ISA_COUNT - 1; isa > 0; isa--)
        if (tl_cpu_isa_supported((enum tl_cpu_isa)isa)) return (enum tl_cpu_isa)isa;
    return TL_ISA_SCALAR;
}

bool tl_cpu_isa_parse(const char *s, enum tl_cpu_isa *isa) {
    for (int i = 0; i < TL_ISA_COUNT; i++)
        if (strcmp(s, isa_names[i]) == 0) {
            *isa = (enum tl_cpu_isa)i;
            return true;
        }
    return false;
}

static void init_once(void) {
    if (initialised) return;
    tl_cpu_register_elementwise_scalar(&kernels[TL_ISA_SCALAR]);
    tl_cpu_register_matmul_scalar(&kernels[TL_ISA_SCALAR]);
    tl_cpu_register_attn_scalar(&kernels[TL_ISA_SCALAR]);
    tl_cpu_register_attn_back_scalar(&kernels[TL_ISA_SCALAR]);
    tl_cpu_register_convert_scalar(&kernels[TL_ISA_SCALAR]);
    tl_cpu_register_quantize_scalar(&kernels[TL_ISA_SCALAR]);
    tl_cpu_register_elementwise_avx2(&kernels[TL_ISA_AVX2]);
    tl_cpu_register_matmul_avx2(&kernels[TL_ISA_AVX2]);
    tl_cpu_register_attn_avx2(&kernels[TL_ISA_AVX2]);
    tl_cpu_register_attn_back_avx2(&kernels[TL_ISA_AVX2]);
    tl_cpu_register_convert_avx2(&kernels[TL_ISA_AVX2]);
    tl_cpu_register_quantize_avx2(&kernels[TL_ISA_AVX2]);
    tl_cpu_register_elementwise_avx512(&kernels[TL_ISA_AVX512]);
    tl_cpu_register_matmul_avx512(&kernels[TL_ISA_AVX512]);
    tl_cpu_register_attn_avx512(&kernels[TL_ISA_AVX512]);
    tl_cpu_register_attn_back_avx512(&kernels[TL_ISA_AVX512]);
    tl_cpu_register_convert_avx512(&kernels[TL_ISA_AVX512]);
    tl_cpu_register_quantize_avx512(&kernels[TL_ISA_AVX512]);
    for (int isa = 0; isa < TL_ISA_COUNT; isa++) {
        tl_cpu_register_loss(&kernels[isa]);
        tl_cpu_register_grad(&kernels[isa]);
    }
    current_isa = tl_cpu_isa_best();
    const char *env = getenv("LONGVL_CPU_ISA");
    enum tl_cpu_isa want;
    if (env && *env) {
        if (!tl_cpu_isa_parse(env, &want))
            fprintf(stderr, "longvl: LONGVL_CPU_ISA=%s is not one of scalar, avx2, avx512; using %s\n",
                    env, isa_names[current_isa]);
        else if (!tl_cpu_isa_supported(want))
            fprintf(stderr, "longvl: LONGVL_CPU_ISA=%s is not supported by this CPU; using %s\n",
                    env, isa_names[current_isa]);
        else current_isa = want;
    }
    const char *pf = getenv("LONGVL_CPU_PREFETCH");
    if (pf && *pf) {
        char *end;
        long v = strtol(pf, &end, 10);
        if (*end || !prefetch_distance_valid(v))
            fprintf(stderr, "longvl: LONGVL_CPU_PREFETCH=%s is not 0 or a multiple of 64 up to 16384; "
                            "using this CPU's defaults\n", pf);
        else prefetch_fixed = (int)v;
    }
    fill_prefetch_table();
    initialised = true;
}

enum tl_cpu_isa tl_cpu_get_isa(void) {
    init_once();
    return current_isa;
}

bool tl_cpu_set_isa(enum tl_cpu_isa isa) {
    init_once();
    if (isa < 0 || isa >= TL_ISA_COUNT || !tl_cpu_isa_supported(isa)) return false;
    current_isa = isa;
    return true;
}

// The AMD family number (0 on other vendors), read once: fill_prefetch_table asks for
// every (ISA, layout) pair.
static unsigned amd_family(void) {
    static int cached = -1;   // two threads that both find it unset store the same value
    if (cached >= 0) return (unsigned)cached;
    unsigned a, b, c, d, family = 0;
    if (__get_cpuid(0, &a, &b, &c, &d) && b == 0x68747541 && d == 0x69746e65 && c == 0x444d4163 &&   // "AuthenticAMD"
        __get_cpuid(1, &a, &b, &c, &d)) {
        family = (a >> 8) & 0xF;
        if (family == 0xF) family += (a >> 20) & 0xFF;
    }
    cached = (int)family;
    return family;
}

// The software prefetch was measured on the quantized GEMV from DRAM (README, quantized
// formats): 2 KiB ahead gains 10-15% on Zen 5 (AMD family 26) for every layout. On Zen 4
// (family 25 with AVX-512) the hardware prefetcher alone streams faster (2 KiB ahead
// loses 5-25%), except for the AVX2 kernel of q5_Kr8, the busiest per byte, whose fast
// DRAM state it lifts from 0.77x to 0.81x of the read bandwidth. Elsewhere it is
// unmeasured, so left to the hardware prefetcher, as most CPU libraries do.
int tl_cpu_prefetch_default(enum tl_cpu_isa isa, enum tl_type layout) {
    const unsigned family = amd_family();
    if (family >= 26) return 2048;
    bool zen4 = family == 25 && __builtin_cpu_supports("avx512f");   // Zen 3, also family 25, has none
    return zen4 && isa == TL_ISA_AVX2 && layout == TL_Q5_K_R8 ? 2048 : 0;
}

int tl_cpu_get_prefetch(enum tl_type layout) {
    init_once();
    TL_ASSERT(layout >= 0 && layout < TL_TYPE_COUNT);
    return tl_cpu_prefetch_table[current_isa][layout];
}

int tl_cpu_get_prefetch_fixed(void) {
    init_once();
    return prefetch_fixed;
}

void tl_cpu_set_prefetch(int bytes) {
    init_once();
    TL_ASSERT(bytes == -1 || prefetch_distance_valid(bytes));
    prefetch_fixed = bytes;
    fill_prefetch_table();
}

// The distance most block layouts take, then the layouts that differ from it.
void tl_cpu_describe_prefetch(char *buf, size_t size) {
    init_once();
    const int *in_use = tl_cpu_prefetch_table[current_isa];
    int base = 0, most = 0;
    for (int t = 0; t < TL_TYPE_COUNT; t++) {
        if (!tl_type_traits((enum tl_type)t)->is_quantized) continue;
        int same = 0;
        for (int u = 0; u < TL_TYPE_COUNT; u++) same += tl_type_traits((enum tl_type)u)->is_quantized && in_use[u] == in_use[t];
        if (same > most) most = same, base = in_use[t];
    }
    size_t n = (size_t)snprintf(buf, size, "%d bytes ahead", base);
    for (int t = 0; t < TL_TYPE_COUNT && n < size; t++)
        if (tl_type_traits((enum tl_type)t)->is_quantized && in_use[t] != base)
            n += (size_t)snprintf(buf + n, size - n, ", %s %d", tl_type_name((enum tl_type)t), in_use[t]);
    if (n < size) snprintf(buf + n, size - n, " (%s)", prefetch_fixed >= 0 ? "fixed" : "this CPU's defaults");
}

int tl_cpu_default_threads(void) { return omp_get_num_procs(); }

bool tl_cpu_has_fast_kernel(enum tl_op op) {
    init_once();
    return kernels[current_isa].op[op] != NULL;
}

static void compute_node(struct tl_tensor *t, int n_threads, bool reference) {
    if (t->op == TL_OP_VIEW) return;   // shares its source's data
    tl_fast_kernel fast = reference ? NULL : kernels[current_isa].op[t->op];
    if (fast && fast(t, n_threads)) return;
    tl_ref_kernel ref = tl_op_ref_kernel(t->op);
    TL_ASSERT(ref);
    ref(t);
}

static bool compute(struct tl_graph *g, int n_threads, bool reference, const volatile sig_atomic_t *stop) {
    init_once();
    if (n_threads < 1) n_threads = tl_cpu_default_threads();
    for (int i = 0; i < g->n_nodes; i++) {
        if (stop && *stop) return false;
        struct tl_tensor *t = g->nodes[i];
        TL_ASSERT(t->data || t->op == TL_OP_VIEW);
        compute_node(t, n_threads, reference);
    }
    return true;
}

void tl_cpu_compute(struct tl_graph *g, int n_threads) { compute(g, n_threads, false, NULL); }
bool tl_cpu_compute_until(struct tl_graph *g, int n_threads, const volatile sig_atomic_t *stop) {
    return compute(g, n_threads, false, stop);
}
void tl_cpu_compute_node(struct tl_tensor *t, int n_threads) {
    init_once();
    compute_node(t, n_threads < 1 ? tl_cpu_default_threads() : n_threads, false);
}
void tl_cpu_compute_reference(struct tl_graph *g) { compute(g, 1, true, NULL); }

void tl_cpu_convert(enum tl_type src_type, const void *src, enum tl_type dst_type, void *dst, int64_t n) {
    TL_ASSERT(tl_type_traits(src_type)->is_float && tl_type_traits(dst_type)->is_float);
    if (src_type == dst_type) {
        memcpy(dst, src, (size_t)n * tl_type_traits(src_type)->type_size);
        return;
    }
    init_once();
    kernels[current_isa].convert(src_type, src, dst_type, dst, n);
}

void tl_cpu_quantize_row(enum tl_type type, const float *x, void *y, int64_t n) {
    TL_ASSERT((type == TL_Q8_0 || type == TL_Q8_K) && n % tl_type_traits(type)->block_size == 0);
    init_once();
    kernels[current_isa].quantize(type, x, y, n);
}
