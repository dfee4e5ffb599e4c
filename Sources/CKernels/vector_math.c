#include "CKernels.h"
#include "simd_math.h"

#include <math.h>
#include <stddef.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

#if defined(__x86_64__)

/* An element-wise kernel over 16 lanes, the tail masked. */
#define AVX512_ELEMENTWISE(name, f)                                                                            \
    AVX512 static void name(float *x, long count) {                                                            \
        for (long i = 0; i < count; i += 16) {                                                                 \
            __mmask16 mask = lanes16(count - i);                                                             \
            _mm512_mask_storeu_ps(x + i, mask, f(_mm512_maskz_loadu_ps(mask, x + i)));                         \
        }                                                                                                      \
    }

AVX512 static inline __m512 quick_gelu16(__m512 v) {
    __m512 e = exp16(_mm512_mul_ps(v, _mm512_set1_ps(-1.702f)));
    return _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.0f), e));
}

/* The element-wise kernels with a vector form f16 (and f8 below): f_avx512 and f_avx2. */
#define VECTOR_KERNELS(X) X(quick_gelu) X(silu) X(sigmoid) X(exp)
#define AVX512_KERNEL(f) AVX512_ELEMENTWISE(f##_avx512, f##16)
VECTOR_KERNELS(AVX512_KERNEL)

/* GELU with erf, 0.5 x (1 + erf(x / √2)); erf by Abramowitz & Stegun 7.1.26 (absolute error below
 * 1.5e-7, odd symmetry), so the result is within 1e-7 · |x| of the exact one. */
AVX512 static void gelu_avx512(float *x, long count) {
    for (long i = 0; i < count; i += 16) {
        __mmask16 mask = lanes16(count - i);
        __m512 v = _mm512_maskz_loadu_ps(mask, x + i);
        __m512 z = _mm512_mul_ps(v, _mm512_set1_ps(0.70710678f));
        __m512 a = _mm512_abs_ps(z);
        __m512 t = _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_fmadd_ps(a, _mm512_set1_ps(0.3275911f), _mm512_set1_ps(1.0f)));
        __m512 p = _mm512_set1_ps(1.061405429f);
        p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-1.453152027f));
        p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(1.421413741f));
        p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(-0.284496736f));
        p = _mm512_fmadd_ps(p, t, _mm512_set1_ps(0.254829592f));
        p = _mm512_mul_ps(p, t);
        __m512 erf_a = _mm512_fnmadd_ps(p, exp16(_mm512_mul_ps(_mm512_sub_ps(_mm512_setzero_ps(), a), a)),
                                        _mm512_set1_ps(1.0f));
        __mmask16 negative = _mm512_cmp_ps_mask(z, _mm512_setzero_ps(), _CMP_LT_OQ);
        __m512 erf_z = _mm512_mask_sub_ps(erf_a, negative, _mm512_setzero_ps(), erf_a);
        __m512 g = _mm512_mul_ps(_mm512_mul_ps(_mm512_set1_ps(0.5f), v), _mm512_add_ps(_mm512_set1_ps(1.0f), erf_z));
        _mm512_mask_storeu_ps(x + i, mask, g);
    }
}


AVX2 static inline __m256 quick_gelu8(__m256 v) {
    __m256 e = exp8(_mm256_mul_ps(v, _mm256_set1_ps(-1.702f)));
    return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), e));
}

/* Masked moves are slow on AMD cores, so only the tail uses them. */
#define AVX2_ELEMENTWISE(name, f)                                                                              \
    AVX2 static void name(float *x, long count) {                                                              \
        long i = 0;                                                                                            \
        for (; i + 8 <= count; i += 8) _mm256_storeu_ps(x + i, f(_mm256_loadu_ps(x + i)));                     \
        if (i < count) {                                                                                       \
            __m256i mask = lanes8(count - i);                                                                  \
            _mm256_maskstore_ps(x + i, mask, f(_mm256_maskload_ps(x + i, mask)));                              \
        }                                                                                                      \
    }

#define AVX2_KERNEL(f) AVX2_ELEMENTWISE(f##_avx2, f##8)
VECTOR_KERNELS(AVX2_KERNEL)

#endif

#if defined(__x86_64__)
#define X86_ONLY(f) f
#else
#define X86_ONLY(f) NULL
#endif

typedef void (*elementwise_function)(float *, long);

/* Runs the version of an element-wise kernel for the instruction set asked for when it has one and
 * the CPU has the set, else the portable one. */
static void elementwise(float *x, long count, int isa, elementwise_function portable, elementwise_function avx2,
                        elementwise_function avx512) {
    elementwise_function f = portable;
    if (isa == GR_ISA_AVX512 && avx512 && gr_avx512_supported()) f = avx512;
    if (isa == GR_ISA_AVX2 && avx2 && gr_avx2_supported()) f = avx2;
    f(x, count);
}

static void gelu_portable(float *x, long count) {
    for (long i = 0; i < count; i++) x[i] = 0.5f * x[i] * (1.0f + erff(x[i] * 0.70710678f));
}

static void quick_gelu_portable(float *x, long count) {
    for (long i = 0; i < count; i++) x[i] = x[i] / (1.0f + expf(-1.702f * x[i]));
}

void gr_gelu(float *x, long count, int isa) {
    elementwise(x, count, isa, gelu_portable, NULL, X86_ONLY(gelu_avx512));
}

void gr_quick_gelu(float *x, long count, int isa) {
    elementwise(x, count, isa, quick_gelu_portable, X86_ONLY(quick_gelu_avx2), X86_ONLY(quick_gelu_avx512));
}

static void silu_portable(float *x, long count) {
    for (long i = 0; i < count; i++) x[i] = x[i] / (1.0f + expf(-x[i]));
}

void gr_silu(float *x, long count, int isa) {
    elementwise(x, count, isa, silu_portable, X86_ONLY(silu_avx2), X86_ONLY(silu_avx512));
}

static void sigmoid_portable(float *x, long count) {
    for (long i = 0; i < count; i++) x[i] = 1.0f / (1.0f + expf(-x[i]));
}

void gr_sigmoid(float *x, long count, int isa) {
    elementwise(x, count, isa, sigmoid_portable, X86_ONLY(sigmoid_avx2), X86_ONLY(sigmoid_avx512));
}

static void exp_portable(float *x, long count) {
    for (long i = 0; i < count; i++) x[i] = expf(x[i]);
}

void gr_exp(float *x, long count, int isa) {
    elementwise(x, count, isa, exp_portable, X86_ONLY(exp_avx2), X86_ONLY(exp_avx512));
}

#if defined(__x86_64__)
AVX512 static void softmax_row_avx512(float *row, long visible, float scale) {
    __m512 top = _mm512_set1_ps(-INFINITY);
    for (long i = 0; i < visible; i += 16)
        top = _mm512_max_ps(top, _mm512_mask_loadu_ps(top, lanes16(visible - i), row + i));
    __m512 maximum = _mm512_set1_ps(_mm512_reduce_max_ps(top)), factor = _mm512_set1_ps(scale);
    __m512 sum = _mm512_setzero_ps();
    for (long i = 0; i < visible; i += 16) {
        __mmask16 mask = lanes16(visible - i);
        __m512 e = exp16(_mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, row + i), maximum), factor));
        e = _mm512_maskz_mov_ps(mask, e);
        sum = _mm512_add_ps(sum, e);
        _mm512_mask_storeu_ps(row + i, mask, e);
    }
    __m512 inverse = _mm512_set1_ps(1.0f / _mm512_reduce_add_ps(sum));
    for (long i = 0; i < visible; i += 16) {
        __mmask16 mask = lanes16(visible - i);
        _mm512_mask_storeu_ps(row + i, mask, _mm512_mul_ps(_mm512_maskz_loadu_ps(mask, row + i), inverse));
    }
}

#endif

static void softmax_row(float *row, long visible, float scale) {
    float maximum = -INFINITY, sum = 0;
    for (long i = 0; i < visible; i++) maximum = row[i] > maximum ? row[i] : maximum;
    for (long i = 0; i < visible; i++) {
        row[i] = expf((row[i] - maximum) * scale);
        sum += row[i];
    }
    float inverse = 1.0f / sum;
    for (long i = 0; i < visible; i++) row[i] *= inverse;
}

void gr_softmax_rows(float *x, long rows, long width, float scale, int causal, long offset, int isa) {
    void (*softmax)(float *, long, float) = softmax_row;
#if defined(__x86_64__)
    if (isa == GR_ISA_AVX512 && gr_avx512_supported()) softmax = softmax_row_avx512;
#endif
    for (long r = 0; r < rows; r++) {
        float *row = x + r * width;
        long visible = causal && offset + r + 1 < width ? offset + r + 1 : width;
        softmax(row, visible, scale);
        for (long i = visible; i < width; i++) row[i] = 0;
    }
}

/* The column softmax, `lanes` positions at a time: peak, e^(x − peak) summed in order, then each
 * divided by the sum (the same steps on every path). */
#define SOFTMAX_COLUMNS(W, V, LOAD, STORE, EXP)                                                                \
    for (long p = 0; p < count; p += lanes) {                                                              \
        float *column = x + p;                                                                                 \
        V peak = W##_set1_ps(-INFINITY), total = W##_setzero_ps();                                             \
        for (long j = 0; j < length; j++) peak = W##_max_ps(LOAD(column + j * stride), peak);                  \
        for (long j = 0; j < length; j++) {                                                                    \
            V e = EXP(W##_sub_ps(LOAD(column + j * stride), peak));                                            \
            STORE(column + j * stride, e);                                                                     \
            total = W##_add_ps(total, e);                                                                      \
        }                                                                                                      \
        for (long j = 0; j < length; j++) STORE(column + j * stride, W##_div_ps(LOAD(column + j * stride), total)); \
    }

#if defined(__x86_64__)
AVX512 static void softmax_columns_avx512(float *x, long length, long stride, long count) {
    const long lanes = 16;
#define LOAD16(q) _mm512_maskz_loadu_ps(lanes16(count - p), q)
#define STORE16(q, v) _mm512_mask_storeu_ps(q, lanes16(count - p), v)
    SOFTMAX_COLUMNS(_mm512, __m512, LOAD16, STORE16, exp16)
}

AVX2 static void softmax_columns_avx2(float *x, long length, long stride, long count) {
    const long lanes = 8;
    /* Masked moves are slow on AMD cores: only a partial vector uses them. */
#define LOAD8(q) (count - p >= 8 ? _mm256_loadu_ps(q) : _mm256_maskload_ps(q, lanes8(count - p)))
#define STORE8(q, v)                                                                                           \
    (count - p >= 8 ? _mm256_storeu_ps(q, v) : _mm256_maskstore_ps(q, lanes8(count - p), v))
    SOFTMAX_COLUMNS(_mm256, __m256, LOAD8, STORE8, exp8)
}
#endif

void gr_softmax_columns(float *x, long length, long stride, long count, int isa) {
#if defined(__x86_64__)
    if (isa == GR_ISA_AVX512) return softmax_columns_avx512(x, length, stride, count);
    if (isa == GR_ISA_AVX2) return softmax_columns_avx2(x, length, stride, count);
#endif
    for (long p = 0; p < count; p++) {
        float *column = x + p, peak = -INFINITY, total = 0;
        for (long j = 0; j < length; j++) peak = column[j * stride] > peak ? column[j * stride] : peak;
        for (long j = 0; j < length; j++) {
            column[j * stride] = expf(column[j * stride] - peak);
            total += column[j * stride];
        }
        for (long j = 0; j < length; j++) column[j * stride] /= total;
    }
}

#if defined(__x86_64__)
AVX512 static void layer_norm_avx512(const float *x, long rows, long width, const float *weight, const float *bias,
                                     float eps, float *out) {
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * width;
        float *dst = out + r * width;
        __m512 sum = _mm512_setzero_ps();
        for (long i = 0; i < width; i += 16) sum = _mm512_add_ps(sum, _mm512_maskz_loadu_ps(lanes16(width - i), row + i));
        float mean = _mm512_reduce_add_ps(sum) / (float)width;
        __m512 m = _mm512_set1_ps(mean), squares = _mm512_setzero_ps();
        for (long i = 0; i < width; i += 16) {
            __mmask16 mask = lanes16(width - i);
            __m512 d = _mm512_maskz_sub_ps(mask, _mm512_maskz_loadu_ps(mask, row + i), m);
            squares = _mm512_fmadd_ps(d, d, squares);
        }
        __m512 inverse = _mm512_set1_ps(1.0f / sqrtf(_mm512_reduce_add_ps(squares) / (float)width + eps));
        for (long i = 0; i < width; i += 16) {
            __mmask16 mask = lanes16(width - i);
            __m512 v = _mm512_mul_ps(_mm512_sub_ps(_mm512_maskz_loadu_ps(mask, row + i), m), inverse);
            v = _mm512_fmadd_ps(v, _mm512_maskz_loadu_ps(mask, weight + i), _mm512_maskz_loadu_ps(mask, bias + i));
            _mm512_mask_storeu_ps(dst + i, mask, v);
        }
    }
}

#endif

void gr_layer_norm(const float *x, long rows, long width, const float *weight, const float *bias, float eps,
                   float *out, int isa) {
#if defined(__x86_64__)
    if (isa == GR_ISA_AVX512 && gr_avx512_supported()) {
        layer_norm_avx512(x, rows, width, weight, bias, eps, out);
        return;
    }
#endif
    for (long r = 0; r < rows; r++) {
        const float *row = x + r * width;
        float *dst = out + r * width;
        float sum = 0, squares = 0;
        for (long i = 0; i < width; i++) sum += row[i];
        float mean = sum / (float)width;
        for (long i = 0; i < width; i++) squares += (row[i] - mean) * (row[i] - mean);
        float inverse = 1.0f / sqrtf(squares / (float)width + eps);
        for (long i = 0; i < width; i++) dst[i] = (row[i] - mean) * inverse * weight[i] + bias[i];
    }
}
