/* Vector e^x, SiLU and lane masks the kernels share (included by the C files, not exported). */
#ifndef GR_SIMD_MATH_H
#define GR_SIMD_MATH_H
#if defined(__x86_64__)
#include <immintrin.h>

#define AVX512 __attribute__((target("avx512f")))
#define AVX2 __attribute__((target("avx2,fma")))

/* The steps of e^x both widths share: x clamped, n = round(x / ln2), r = x − n·ln2 (ln2 in two
 * parts), and e^r by the degree-7 Taylor polynomial in Horner form, as `p`. */
#define EXP_REDUCED(W, ROUND)                                                                                  \
    x = W##_max_ps(W##_min_ps(x, W##_set1_ps(88.8f)), W##_set1_ps(-104.0f));                                   \
    n = ROUND(W##_mul_ps(x, W##_set1_ps(1.44269504f)));                                                        \
    r = W##_fnmadd_ps(n, W##_set1_ps(0.693145752f), x);                                                        \
    r = W##_fnmadd_ps(n, W##_set1_ps(1.42860677e-6f), r);                                                      \
    p = W##_set1_ps(1.0f / 5040);                                                                              \
    p = W##_fmadd_ps(p, r, W##_set1_ps(1.0f / 720));                                                           \
    p = W##_fmadd_ps(p, r, W##_set1_ps(1.0f / 120));                                                           \
    p = W##_fmadd_ps(p, r, W##_set1_ps(1.0f / 24));                                                            \
    p = W##_fmadd_ps(p, r, W##_set1_ps(1.0f / 6));                                                             \
    p = W##_fmadd_ps(p, r, W##_set1_ps(0.5f));                                                                 \
    p = W##_fmadd_ps(p, r, W##_set1_ps(1.0f));                                                                 \
    p = W##_fmadd_ps(p, r, W##_set1_ps(1.0f));
#define ROUND16(v) _mm512_roundscale_ps(v, _MM_FROUND_TO_NEAREST_INT)
#define ROUND8(v) _mm256_round_ps(v, _MM_FROUND_TO_NEAREST_INT | _MM_FROUND_NO_EXC)

/* e^x for 16 lanes: x = n·ln2 + r with |r| ≤ ln2/2, e^r by its degree-7 Taylor polynomial
 * (relative error below 1e-8), scaled by 2^n with scalef, which saturates to 0 and +inf. */
AVX512 static inline __m512 exp16(__m512 x) {
    __m512 n, r, p;
    EXP_REDUCED(_mm512, ROUND16)
    return _mm512_scalef_ps(p, n);
}

/* 2^n for 8 lanes of whole n, from its exponent bits, n clamped to [-127, 128]. */
AVX2 static inline __m256 pow2_8(__m256 n) {
    __m256i e = _mm256_max_epi32(_mm256_min_epi32(_mm256_cvtps_epi32(n), _mm256_set1_epi32(128)), _mm256_set1_epi32(-127));
    return _mm256_castsi256_ps(_mm256_slli_epi32(_mm256_add_epi32(e, _mm256_set1_epi32(127)), 23));
}

/* exp16 for 8 lanes. With 2^n from pow2_8, e^x
 * flushes to 0 below about -88 (where the AVX-512 version gives a denormal) and saturates to +inf. */
AVX2 static inline __m256 exp8(__m256 x) {
    __m256 n, r, p;
    EXP_REDUCED(_mm256, ROUND8)
    return _mm256_mul_ps(p, pow2_8(n));
}

/* SiLU's e^-v, cheaper than exp of −v: v clamped, n = round(−v / ln2), t = v + n·ln2 = −r, and
 * e^r by a degree-5 minimax polynomial (relative error 1.7e-7 in float, against 1e-8 for exp16's
 * Taylor one; SiLU runs after every YOLO conv, where two fewer FMAs are 15% of its time),
 * evaluated in t, so its odd coefficients change sign, as `p`. */
#define NEG_EXP_REDUCED(W, ROUND)                                                                              \
    x = W##_max_ps(W##_min_ps(v, W##_set1_ps(104.0f)), W##_set1_ps(-88.8f));                                   \
    n = ROUND(W##_mul_ps(x, W##_set1_ps(-1.44269504f)));                                                       \
    t = W##_fmadd_ps(n, W##_set1_ps(0.693145752f), x);                                                         \
    t = W##_fmadd_ps(n, W##_set1_ps(1.42860677e-6f), t);                                                       \
    p = W##_set1_ps(-0.00829030946f);                                                                          \
    p = W##_fmadd_ps(p, t, W##_set1_ps(0.0418979339f));                                                        \
    p = W##_fmadd_ps(p, t, W##_set1_ps(-0.166676357f));                                                        \
    p = W##_fmadd_ps(p, t, W##_set1_ps(0.499991506f));                                                         \
    p = W##_fmadd_ps(p, t, W##_set1_ps(-0.999999702f));                                                        \
    p = W##_fmadd_ps(p, t, W##_set1_ps(1.0f));

/* x · sigmoid(x) = x / (1 + e^-x), 16 and 8 lanes (2^n as in exp16 and exp8). */
AVX512 static inline __m512 silu16(__m512 v) {
    __m512 x, n, t, p;
    NEG_EXP_REDUCED(_mm512, ROUND16)
    return _mm512_div_ps(v, _mm512_add_ps(_mm512_set1_ps(1.0f), _mm512_scalef_ps(p, n)));
}

AVX2 static inline __m256 silu8(__m256 v) {
    __m256 x, n, t, p;
    NEG_EXP_REDUCED(_mm256, ROUND8)
    return _mm256_div_ps(v, _mm256_add_ps(_mm256_set1_ps(1.0f), _mm256_mul_ps(p, pow2_8(n))));
}

/* sigmoid(x) = 1 / (1 + e^-x), 16 and 8 lanes. */
AVX512 static inline __m512 sigmoid16(__m512 v) {
    return _mm512_div_ps(_mm512_set1_ps(1.0f), _mm512_add_ps(_mm512_set1_ps(1.0f), exp16(_mm512_sub_ps(_mm512_setzero_ps(), v))));
}

AVX2 static inline __m256 sigmoid8(__m256 v) {
    return _mm256_div_ps(_mm256_set1_ps(1.0f), _mm256_add_ps(_mm256_set1_ps(1.0f), exp8(_mm256_sub_ps(_mm256_setzero_ps(), v))));
}

/* Lanes [0, count) of 16 set, for count in any range. */
static inline __mmask16 lanes16(long count) {
    return count >= 16 ? (__mmask16)0xFFFF : count <= 0 ? 0 : (__mmask16)((1u << count) - 1);
}

/* Lanes [0, count) of 8 set, for count in any range. */
AVX2 static inline __m256i lanes8(long count) {
    return _mm256_cmpgt_epi32(_mm256_set1_epi32((int)(count < 0 ? 0 : count > 8 ? 8 : count)),
                              _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7));
}
#endif
#endif
