#include "CKernels.h"
#include "simd_math.h"

#include <stdint.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* One output column of the horizontal pass, every channel. */
static inline void horizontal_column(const unsigned char *row, const int *taps, long d, long count, int *sums) {
    const unsigned char *p0 = row + taps[d], *p1 = row + taps[2 * count + d];
    int w0 = taps[count + d], w1 = taps[3 * count + d];
    for (long c = 0; c < 3; c++) sums[c * count + d] = (int)p0[c] * w0 + (int)p1[c] * w1;
}

static inline float vertical_value(int s0, int s1, int b0, int b1, float scale) {
    int v = (((b0 * (s0 >> 4)) >> 16) + ((b1 * (s1 >> 4)) >> 16) + 2) >> 2;
    return (float)(v < 0 ? 0 : v > 255 ? 255 : v) * scale;
}

#if defined(__x86_64__)
/* Eight columns at once: a 32-bit gather at each tap's first byte brings its three channels (and
 * one byte past, unused), so a group gathers only where that byte is inside the row's readable
 * bytes; the others, and the tail, go one column at a time. Each channel's two bytes sit in the
 * 16-bit halves of a lane, and one multiply-add with the weights (w0 low, w1 high) sums them. */
AVX2 static void horizontal_avx2(const unsigned char *row, long readable, const int *taps, long count, int *sums) {
    const __m256i byte = _mm256_set1_epi32(0xFF), limit = _mm256_set1_epi32((int)(readable - 4));
    long d = 0;
    for (; d + 8 <= count; d += 8) {
        __m256i s0 = _mm256_loadu_si256((const __m256i *)(taps + d));
        __m256i w0 = _mm256_loadu_si256((const __m256i *)(taps + count + d));
        __m256i s1 = _mm256_loadu_si256((const __m256i *)(taps + 2 * count + d));
        __m256i w1 = _mm256_loadu_si256((const __m256i *)(taps + 3 * count + d));
        __m256i outside = _mm256_or_si256(_mm256_cmpgt_epi32(s0, limit), _mm256_cmpgt_epi32(s1, limit));
        if (!_mm256_testz_si256(outside, outside)) {
            for (long j = d; j < d + 8; j++) horizontal_column(row, taps, j, count, sums);
            continue;
        }
        __m256i g0 = _mm256_i32gather_epi32((const int *)row, s0, 1);
        __m256i g1 = _mm256_i32gather_epi32((const int *)row, s1, 1);
        __m256i weights = _mm256_or_si256(w0, _mm256_slli_epi32(w1, 16));
        for (int c = 0; c < 3; c++) {
            __m256i first = _mm256_and_si256(_mm256_srli_epi32(g0, 8 * c), byte);
            __m256i second = _mm256_slli_epi32(_mm256_and_si256(_mm256_srli_epi32(g1, 8 * c), byte), 16);
            _mm256_storeu_si256((__m256i *)(sums + c * count + d),
                                _mm256_madd_epi16(_mm256_or_si256(first, second), weights));
        }
    }
    for (; d < count; d++) horizontal_column(row, taps, d, count, sums);
}

/* Eight values at once; b · (s >> 4) fits 32 bits (s ≤ 255 · 2048), so the product is exact. */
AVX2 static void vertical_avx2(const int *first, const int *second, int b0, int b1, long count, float scale,
                               float *const planes[3]) {
    const __m256i w0 = _mm256_set1_epi32(b0), w1 = _mm256_set1_epi32(b1), two = _mm256_set1_epi32(2);
    const __m256i low = _mm256_setzero_si256(), high = _mm256_set1_epi32(255);
    for (long c = 0; c < 3; c++) {
        const int *s0 = first + c * count, *s1 = second + c * count;
        float *out = planes[c];
        long i = 0;
        for (; i + 8 <= count; i += 8) {
            __m256i a = _mm256_srai_epi32(_mm256_loadu_si256((const __m256i *)(s0 + i)), 4);
            __m256i b = _mm256_srai_epi32(_mm256_loadu_si256((const __m256i *)(s1 + i)), 4);
            a = _mm256_srai_epi32(_mm256_mullo_epi32(w0, a), 16);
            b = _mm256_srai_epi32(_mm256_mullo_epi32(w1, b), 16);
            __m256i v = _mm256_srai_epi32(_mm256_add_epi32(_mm256_add_epi32(a, b), two), 2);
            v = _mm256_min_epi32(_mm256_max_epi32(v, low), high);
            _mm256_storeu_ps(out + i, _mm256_mul_ps(_mm256_cvtepi32_ps(v), _mm256_set1_ps(scale)));
        }
        for (; i < count; i++) out[i] = vertical_value(s0[i], s1[i], b0, b1, scale);
    }
}
#endif

void gr_linear_horizontal_c3(const unsigned char *row, long readable, const int *taps, long count, int *sums,
                             int isa) {
#if defined(__x86_64__)
    if (isa != GR_ISA_PORTABLE) {
        horizontal_avx2(row, readable, taps, count, sums);
        return;
    }
#endif
    (void)readable;
    for (long d = 0; d < count; d++) horizontal_column(row, taps, d, count, sums);
}

void gr_linear_vertical_c3(const int *first, const int *second, int b0, int b1, long count, float scale,
                           float *const planes[3], int isa) {
#if defined(__x86_64__)
    if (isa != GR_ISA_PORTABLE) {
        vertical_avx2(first, second, b0, b1, count, scale, planes);
        return;
    }
#endif
    for (long c = 0; c < 3; c++) {
        for (long i = 0; i < count; i++)
            planes[c][i] = vertical_value(first[c * count + i], second[c * count + i], b0, b1, scale);
    }
}
