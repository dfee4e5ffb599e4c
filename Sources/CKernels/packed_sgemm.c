#include "CKernels.h"
#include "simd_math.h"

#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* Register tile: MR rows of x broadcast against two 16-wide vectors of one panel, 24 accumulators
 * of the 32 zmm registers. x is read in place (its MR rows of a KC step, 36 KB, stay in L1/L2);
 * one panel's KC × 32 slice (96 KB, in L2) is reused by every row tile of an MC block before the
 * next panel. KC = 768 measured best on ViT-B shapes (2-15% above 256 and 384 on Zen 5). */
enum { MR = 12, NR = GR_PANEL_WIDTH, KC = 768, MC = 96 };

static _Atomic int avx512_state = -1;

int gr_avx512_supported(void) {
    int state = avx512_state;
    if (state < 0) {
#if defined(__x86_64__)
        __builtin_cpu_init();
        state = __builtin_cpu_supports("avx512f") ? 1 : 0;
#else
        state = 0;
#endif
        avx512_state = state;
    }
    return state;
}

static _Atomic int avx2_state = -1;

int gr_avx2_supported(void) {
    int state = avx2_state;
    if (state < 0) {
#if defined(__x86_64__)
        __builtin_cpu_init();
        state = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") ? 1 : 0;
#else
        state = 0;
#endif
        avx2_state = state;
    }
    return state;
}

static int portable_requested(void) {
    const char *choice = getenv("GUARDRAIL_KERNELS");
    return choice && strcmp(choice, "portable") == 0;
}

int gr_wide_kernel_enabled(void) { return gr_avx2_supported() && !portable_requested(); }

int gr_avx512_enabled(void) {
    return gr_avx512_supported() && !portable_requested();
}


size_t gr_packed_size(long n, long k) { return (size_t)((n + NR - 1) / NR) * NR * (size_t)k; }

void gr_pack_weight(const float *weight, long ldw, long n, long k, float *packed) {
    enum { STEP = 64 }; /* a 64 × 32 block of the panel (8 KB) is written while it sits in L1 */
    long panels = (n + NR - 1) / NR;
    for (long p = 0; p < panels; p++) {
        float *panel = packed + p * k * NR;
        long rows = n - p * NR < NR ? n - p * NR : NR;
        for (long k0 = 0; k0 < k; k0 += STEP) {
            long k1 = k0 + STEP < k ? k0 + STEP : k;
            for (long j = 0; j < NR; j++) {
                const float *src = weight + (p * NR + j) * ldw;
                for (long kk = k0; kk < k1; kk++) panel[kk * NR + j] = j < rows ? src[kk] : 0;
            }
        }
    }
}

#if defined(__x86_64__)
/* The k loop of a tile: b's two vectors of row kk, LOAD(0) and LOAD(1), then FMAS over the rows. */
#define K_LOOP(LOAD, FMAS)                                                                                     \
    for (long kk = 0; kk < kc; kk++) {                                                                         \
        __auto_type b0 = LOAD(0);                                                                              \
        __auto_type b1 = LOAD(1);                                                                              \
        FMAS                                                                                                   \
        a += 1;                                                                                                \
        bp += ldb;                                                                                             \
    }
#define ROWS(X) X(0) X(1) X(2) X(3) X(4) X(5) X(6) X(7) X(8) X(9) X(10) X(11)
#define ZERO(i) __m512 c##i##a = _mm512_setzero_ps(), c##i##b = _mm512_setzero_ps();
#define FMA(i)                                                                                                 \
    if (height > i) {                                                                                          \
        __m512 x = _mm512_set1_ps(a[(i) * lda]);                                                               \
        c##i##a = _mm512_fmadd_ps(x, b0, c##i##a);                                                             \
        c##i##b = _mm512_fmadd_ps(x, b1, c##i##b);                                                             \
    }
#define STORE(i)                                                                                               \
    if (height > i) {                                                                                          \
        float *row = c + (i) * ldc;                                                                            \
        if (load) {                                                                                            \
            c##i##a = _mm512_add_ps(c##i##a, _mm512_maskz_loadu_ps(mask_a, row));                              \
            c##i##b = _mm512_add_ps(c##i##b, _mm512_maskz_loadu_ps(mask_b, row + 16));                         \
        }                                                                                                      \
        c##i##a = _mm512_add_ps(c##i##a, bias_a);                                                              \
        c##i##b = _mm512_add_ps(c##i##b, bias_b);                                                              \
        if (row_bias) {                                                                                        \
            c##i##a = _mm512_add_ps(c##i##a, _mm512_set1_ps(row_bias[i]));                                     \
            c##i##b = _mm512_add_ps(c##i##b, _mm512_set1_ps(row_bias[i]));                                     \
        }                                                                                                      \
        if (silu) {                                                                                            \
            c##i##a = silu16(c##i##a);                                                                         \
            c##i##b = silu16(c##i##b);                                                                         \
        }                                                                                                      \
        _mm512_mask_storeu_ps(row, mask_a, c##i##a);                                                           \
        _mm512_mask_storeu_ps(row + 16, mask_b, c##i##b);                                                      \
    }

/* c[height × columns] = (load ? c : 0) + bias + Σ_k a[:, k] ⊗ bp[k, :], then + row_bias[i] on row
 * i when row_bias is not NULL, then SiLU when silu is nonzero, for `height` ≤ MR rows of a (lda
 * apart) and the first `columns` ≤ NR of the panel. Inlined with a constant height, so each height
 * gets its own loop with only its accumulators. */
AVX512 static inline __attribute__((always_inline)) void tile(const int height, long kc, const float *a, long lda,
                                                              const float *bp, long ldb, int padded,
                                                              const float *bias, float *c, long ldc, int load,
                                                              long columns, const float *row_bias, int silu) {
    __mmask16 mask_a = lanes16(columns), mask_b = lanes16(columns - 16);
    ROWS(ZERO)
    /* A strided b's last panel ends inside its rows: masked loads stay in them, and the lanes they
     * clear give outputs that are never stored. */
#define FULL16(half) _mm512_loadu_ps(bp + 16 * (half))
#define MASKED16(half) _mm512_maskz_loadu_ps((half) ? mask_b : mask_a, bp + 16 * (half))
    if (padded)
        K_LOOP(FULL16, ROWS(FMA))
    else
        K_LOOP(MASKED16, ROWS(FMA))
    __m512 bias_a = bias ? _mm512_maskz_loadu_ps(mask_a, bias) : _mm512_setzero_ps();
    __m512 bias_b = bias ? _mm512_maskz_loadu_ps(mask_b, bias + 16) : _mm512_setzero_ps();
    ROWS(STORE)
}

#define CASE(i)                                                                                                \
    case i + 1:                                                                                                \
        tile(i + 1, kc, a, lda, bp, ldb, padded, bias, c, ldc, load, columns, row_bias, silu);                 \
        break;

AVX512 static void tile_of_height(long height, long kc, const float *a, long lda, const float *bp, long ldb,
                                  int padded, const float *bias, float *c, long ldc, int load, long columns,
                                  const float *row_bias, int silu) {
    switch (height) { ROWS(CASE) }
}

/* The narrow AVX-512 tile for a panel's last columns when they fit one vector (a 100-pixel map's
 * last 4 of 32 lanes): MRN rows against the panel's first 16 lanes, 24 accumulators, summed in
 * the same order as the tile above (the same bits), with half its work wasted instead of most. */
enum { MRN = 24 };
#define ROWSN(X) ROWS(X) X(12) X(13) X(14) X(15) X(16) X(17) X(18) X(19) X(20) X(21) X(22) X(23)
#define ZERON(i) __m512 n##i = _mm512_setzero_ps();
#define FMAN(i)                                                                                                \
    if (height > i) n##i = _mm512_fmadd_ps(_mm512_set1_ps(a[(i) * lda]), b0, n##i);
#define STOREN(i)                                                                                              \
    if (height > i) {                                                                                          \
        float *row = c + (i) * ldc;                                                                            \
        if (load) n##i = _mm512_add_ps(n##i, _mm512_maskz_loadu_ps(mask, row));                                \
        n##i = _mm512_add_ps(n##i, bias_a);                                                                    \
        if (row_bias) n##i = _mm512_add_ps(n##i, _mm512_set1_ps(row_bias[i]));                                 \
        if (silu) n##i = silu16(n##i);                                                                         \
        _mm512_mask_storeu_ps(row, mask, n##i);                                                                \
    }

AVX512 static inline __attribute__((always_inline)) void narrow_tile(const int height, long kc, const float *a,
                                                                     long lda, const float *bp, long ldb,
                                                                     const float *bias, float *c, long ldc,
                                                                     int load, long columns, const float *row_bias,
                                                                     int silu) {
    __mmask16 mask = lanes16(columns);
    ROWSN(ZERON)
    for (long kk = 0; kk < kc; kk++) {
        __m512 b0 = _mm512_maskz_loadu_ps(mask, bp);
        ROWSN(FMAN)
        a += 1;
        bp += ldb;
    }
    __m512 bias_a = bias ? _mm512_maskz_loadu_ps(mask, bias) : _mm512_setzero_ps();
    ROWSN(STOREN)
}

#define CASEN(i)                                                                                               \
    case i + 1:                                                                                                \
        narrow_tile(i + 1, kc, a, lda, bp, ldb, bias, c, ldc, load, columns, row_bias, silu);                  \
        break;

AVX512 static void narrow_tile_of_height(long height, long kc, const float *a, long lda, const float *bp, long ldb,
                                         int padded, const float *bias, float *c, long ldc, int load, long columns,
                                         const float *row_bias, int silu) {
    (void)padded; /* its loads are masked either way */
    switch (height) { ROWSN(CASEN) }
}

/* The AVX2 tile: MR2 rows against one 16-wide half of a panel (12 of the 16 ymm registers), each
 * half in turn. Every output is summed in the same order as by the AVX-512 tile (from zero over
 * k, then the earlier k blocks, then the bias), so the two give the same bits. */
enum { MR2 = 6 };
#define ROWS2(X) X(0) X(1) X(2) X(3) X(4) X(5)
#define ZERO2(i) __m256 d##i##a = _mm256_setzero_ps(), d##i##b = _mm256_setzero_ps();
#define FMA2(i)                                                                                                \
    if (height > i) {                                                                                          \
        __m256 x = _mm256_broadcast_ss(a + (i) * lda);                                                         \
        d##i##a = _mm256_fmadd_ps(x, b0, d##i##a);                                                             \
        d##i##b = _mm256_fmadd_ps(x, b1, d##i##b);                                                             \
    }
#define STORE2(i)                                                                                              \
    if (height > i) {                                                                                          \
        float *row = c + (i) * ldc;                                                                            \
        if (load) {                                                                                            \
            d##i##a = _mm256_add_ps(d##i##a, full ? _mm256_loadu_ps(row) : _mm256_maskload_ps(row, mask_a));   \
            d##i##b = _mm256_add_ps(d##i##b,                                                                   \
                                    full ? _mm256_loadu_ps(row + 8) : _mm256_maskload_ps(row + 8, mask_b));    \
        }                                                                                                      \
        d##i##a = _mm256_add_ps(d##i##a, bias_a);                                                              \
        d##i##b = _mm256_add_ps(d##i##b, bias_b);                                                              \
        if (row_bias) {                                                                                        \
            d##i##a = _mm256_add_ps(d##i##a, _mm256_set1_ps(row_bias[i]));                                     \
            d##i##b = _mm256_add_ps(d##i##b, _mm256_set1_ps(row_bias[i]));                                     \
        }                                                                                                      \
        if (silu) {                                                                                            \
            d##i##a = silu8(d##i##a);                                                                          \
            d##i##b = silu8(d##i##b);                                                                          \
        }                                                                                                      \
        if (full) {                                                                                            \
            _mm256_storeu_ps(row, d##i##a);                                                                    \
            _mm256_storeu_ps(row + 8, d##i##b);                                                                \
        } else {                                                                                               \
            _mm256_maskstore_ps(row, mask_a, d##i##a);                                                         \
            _mm256_maskstore_ps(row + 8, mask_b, d##i##b);                                                     \
        }                                                                                                      \
    }

AVX2 static inline __attribute__((always_inline)) void half_tile(const int height, long kc, const float *a, long lda,
                                                                 const float *bp, long ldb, int padded,
                                                                 const float *bias, float *c, long ldc, int load,
                                                                 long columns, const float *row_bias, int silu) {
    /* Masked moves are slow on AMD cores: only a partial half uses them, and in the k loop only
     * when b's rows end inside the half (a strided b; a packed panel is zero-padded). */
    int full = columns >= 16;
    __m256i mask_a = lanes8(columns), mask_b = lanes8(columns - 8);
    ROWS2(ZERO2)
#define FULL8(half) _mm256_loadu_ps(bp + 8 * (half))
#define MASKED8(half) _mm256_maskload_ps(bp + 8 * (half), (half) ? mask_b : mask_a)
    if (full || padded)
        K_LOOP(FULL8, ROWS2(FMA2))
    else
        K_LOOP(MASKED8, ROWS2(FMA2))
    __m256 bias_a = bias ? _mm256_maskload_ps(bias, mask_a) : _mm256_setzero_ps();
    __m256 bias_b = bias ? _mm256_maskload_ps(bias + 8, mask_b) : _mm256_setzero_ps();
    ROWS2(STORE2)
}

#define CASE2(i)                                                                                               \
    case i + 1:                                                                                                \
        half_tile(i + 1, kc, a, lda, bp + half, ldb, padded, bias ? bias + half : NULL, c + half, ldc, load,   \
                  columns - half, row_bias, silu);                                                             \
        break;

AVX2 static void tile_of_height_avx2(long height, long kc, const float *a, long lda, const float *bp, long ldb,
                                     int padded, const float *bias, float *c, long ldc, int load, long columns,
                                     const float *row_bias, int silu) {
    for (long half = 0; half < columns; half += 16) {
        switch (height) { ROWS2(CASE2) }
    }
}

typedef void (*tile_function)(long height, long kc, const float *a, long lda, const float *bp, long ldb, int padded,
                              const float *bias, float *c, long ldc, int load, long columns, const float *row_bias,
                              int silu);

/* Where b's panels are: panel p's row kk at b + p · panel_stride + kk · ldb, its 32 columns side
 * by side; padded when every row of a panel has all 32 floats readable (the packed layout). */
typedef struct {
    const float *b;
    long ldb, panel_stride;
    int padded;
} panels;

/* The tiles of one instruction set: the full one (mr rows at most), and when not NULL a narrow
 * one (narrow_mr rows) for a panel's last columns when they fit 16 lanes. */
typedef struct {
    tile_function full, narrow;
    long mr, narrow_mr;
} tiles_of;

static tiles_of tiles_for(int isa) {
    if (isa == GR_ISA_AVX512) return (tiles_of){tile_of_height, narrow_tile_of_height, MR, MRN};
    return (tiles_of){tile_of_height_avx2, NULL, MR2, 0};
}

/* The blocked product both instruction sets share. A tile's last k block also adds row_bias (per
 * row of c) and applies SiLU, in registers. */
static void blocked(tiles_of kinds, long m, long n, long k, const float *a, long lda, panels b, const float *bias,
                    float *c, long ldc, long panel_begin, long panel_end, int accumulate, const float *row_bias,
                    int silu) {
    for (long pc = 0; pc < k; pc += KC) {
        long kc = k - pc < KC ? k - pc : KC;
        int load = pc > 0 || accumulate;
        int last = pc + kc >= k;
        for (long ic = 0; ic < m; ic += MC) {
            long mc = m - ic < MC ? m - ic : MC;
            for (long p = panel_begin; p < panel_end; p++) {
                const float *bp = b.b + p * b.panel_stride + pc * b.ldb;
                long columns = n - p * NR < NR ? n - p * NR : NR;
                const float *panel_bias = bias && pc == 0 ? bias + p * NR : NULL;
                int narrow = kinds.narrow && columns <= 16;
                tile_function tile = narrow ? kinds.narrow : kinds.full;
                long mr = narrow ? kinds.narrow_mr : kinds.mr;
                /* Row tiles of nearly equal height (50 rows: five of 10, not four of 12 and one of 2). */
                long tiles = (mc + mr - 1) / mr;
                for (long t = 0; t < tiles; t++) {
                    long first = mc * t / tiles, rows = mc * (t + 1) / tiles - first;
                    float *out = c + (ic + first) * ldc + p * NR;
                    tile(rows, kc, a + (ic + first) * lda + pc, lda, bp, b.ldb, b.padded, panel_bias, out, ldc, load,
                         columns, last && row_bias ? row_bias + ic + first : NULL, last && silu);
                }
            }
        }
    }
}

void gr_packed_sgemm(long m, long n, long k, const float *a, long lda, const float *packed, const float *bias,
                     float *c, long ldc, long panel_begin, long panel_end, int accumulate, int isa) {
    panels b = {packed, NR, k * NR, 1};
    blocked(tiles_for(isa), m, n, k, a, lda, b, bias, c, ldc, panel_begin, panel_end, accumulate, NULL, 0);
}

void gr_packed_product(long m, long n, long k, const float *a, const float *packed, const float *row_bias, int silu,
                       float *c, long ldc, long panel_begin, long panel_end, int isa) {
    panels b = {packed, NR, k * NR, 1};
    blocked(tiles_for(isa), m, n, k, a, k, b, NULL, c, ldc, panel_begin, panel_end, 0, row_bias, silu);
}

void gr_strided_product(long m, long n, long k, const float *a, long lda, const float *b, long ldb,
                        const float *row_bias, int silu, float *c, long ldc, int accumulate, long panel_begin,
                        long panel_end, int isa) {
    panels source = {b, ldb, NR, 0};
    blocked(tiles_for(isa), m, n, k, a, lda, source, NULL, c, ldc, panel_begin, panel_end, accumulate, row_bias,
            silu);
}

#else
/* Other architectures never choose a packed kernel (gr_avx2_supported is 0), so these are not reached. */
void gr_packed_sgemm(long m, long n, long k, const float *a, long lda, const float *packed, const float *bias,
                     float *c, long ldc, long panel_begin, long panel_end, int accumulate, int isa) {
    abort();
}

void gr_packed_product(long m, long n, long k, const float *a, const float *packed, const float *row_bias, int silu,
                       float *c, long ldc, long panel_begin, long panel_end, int isa) {
    abort();
}

void gr_strided_product(long m, long n, long k, const float *a, long lda, const float *b, long ldb,
                        const float *row_bias, int silu, float *c, long ldc, int accumulate, long panel_begin,
                        long panel_end, int isa) {
    abort();
}
#endif

size_t gr_attention_scratch(long queries, long keys, long head_width) {
    return gr_packed_size(keys, head_width) + (size_t)queries * keys + gr_packed_size(head_width, keys);
}

void gr_attention(long queries, long keys, long head_width, const float *q, long ldq, const float *k, const float *v,
                  long ldk, float scale, int causal, long offset, float *context, long ldc, float *scratch, int isa) {
    float *packed_keys = scratch;
    float *scores = packed_keys + gr_packed_size(keys, head_width);
    float *packed_values = scores + queries * keys;
    gr_pack_weight(k, ldk, keys, head_width, packed_keys);
    gr_packed_sgemm(queries, keys, head_width, q, ldq, packed_keys, NULL, scores, keys, 0, (keys + NR - 1) / NR, 0,
                    isa);
    gr_softmax_rows(scores, queries, keys, scale, causal, offset, isa);
    /* v is [keys, head_width] = Wᵀ for W [head_width, keys]: a panel is 32 consecutive columns of
     * each row of v, zero-padded past head_width. */
    for (long p = 0; p < (head_width + NR - 1) / NR; p++) {
        long columns = head_width - p * NR < NR ? head_width - p * NR : NR;
        float *panel = packed_values + p * keys * NR;
        for (long kk = 0; kk < keys; kk++) {
            memcpy(panel + kk * NR, v + kk * ldk + p * NR, sizeof(float) * columns);
            memset(panel + kk * NR + columns, 0, sizeof(float) * (NR - columns));
        }
    }
    gr_packed_sgemm(queries, head_width, keys, scores, keys, packed_values, NULL, context, ldc, 0,
                    (head_width + NR - 1) / NR, 0, isa);
}
