#include "CKernels.h"
#include "simd_math.h"

#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum { GROUP = 16 };

#if defined(__x86_64__)
/* One input row of a 3×3 stride-2 convolution split into the columns its taps read: for kx = 0,
 * 1, 2 output column ox reads input column 2·ox − 1 + kx, that is odd[ox], even[ox] and
 * odd[ox + 1] of odd[j] = x[2j − 1] (odd[0] the left padding) and even[j] = x[2j], written up to
 * at least index ow + 16 (zero past the row: every vector row_group reads is initialised). */
AVX512 static void split_row(const float *row, long w, long ow, float *even, float *odd) {
    const __m512i evens = _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30);
    const __m512i odds = _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31);
    odd[0] = 0;
    for (long j = 0; j < ow + GROUP; j += GROUP) {
        long first = 2 * j, left = w - first;
        __m512 a = _mm512_maskz_loadu_ps(lanes16(left), row + first);
        __m512 b = _mm512_maskz_loadu_ps(lanes16(left - 16), row + first + 16);
        _mm512_storeu_ps(even + j, _mm512_permutex2var_ps(a, evens, b));
        _mm512_storeu_ps(odd + j + 1, _mm512_permutex2var_ps(a, odds, b));
    }
}

/* 16 output channels × 16 pixels of one output row, from the split rows of every (channel, ky)
 * (rows[c · 3 + ky]: even columns, then the odd ones `stride` after): summed from zero over
 * (c, ky, kx) in that order, then + bias (0 without), then SiLU, as the packed product sums the
 * column matrix, so the bits are the same as by im2col. */
AVX512 static void row_group(const float *const *rows, long stride, long taps, const float *weights,
                             const float *bias, long outputs, int silu, float *y, long plane, long ow) {
    for (long ox = 0; ox < ow; ox += GROUP) {
        __mmask16 mask = lanes16(ow - ox);
        __m512 acc[GROUP];
        for (int o = 0; o < GROUP; o++) acc[o] = _mm512_setzero_ps();
        for (long t = 0; t < taps; t++) {
            /* Tap (c, ky, kx) reads row (c, ky) of the split: odd[ox], even[ox] or odd[ox + 1]. */
            long kx = t % 3;
            const float *source = rows[t / 3] + (kx == 1 ? 0 : stride) + ox + (kx == 2);
            __m512 v = _mm512_loadu_ps(source);
            const float *w = weights + t * GROUP;
            for (int o = 0; o < GROUP; o++) acc[o] = _mm512_fmadd_ps(_mm512_set1_ps(w[o]), v, acc[o]);
        }
        for (int o = 0; o < GROUP && o < outputs; o++) {
            __m512 value = _mm512_add_ps(acc[o], _mm512_set1_ps(bias ? bias[o] : 0));
            if (silu) value = silu16(value);
            _mm512_mask_storeu_ps(y + o * plane + ox, mask, value);
        }
    }
}

void gr_conv3x3s2(const float *x, long channels, long h, long w, const float *weight, long m, const float *bias,
                  int silu, float *y, long oh, long ow, long row_begin, long row_end) {
    long taps = channels * 9, groups = (m + GROUP - 1) / GROUP;
    long stride = ow + 3 * GROUP; /* a split row: ow + 1 floats used, then split_row's zero vectors */
    /* Four slots of split rows per channel, input row iy in slot iy mod 4: the row an output row
     * reads last (2·oy + 1) is the next one's first, and is split once for both. */
    enum { SLOTS = 4 };
    float *split = aligned_alloc(64, sizeof(float) * (size_t)(channels * SLOTS * 2 * stride));
    long *held = malloc(sizeof(long) * (size_t)(channels * SLOTS));
    const float **rows = malloc(sizeof(float *) * (size_t)(channels * 3));
    for (long i = 0; i < channels * SLOTS; i++) held[i] = -h - 8; /* no input row */
    /* The weight as [group][c·9 taps][16 outputs], zero past m: one broadcast per tap and output. */
    float *weights = aligned_alloc(64, sizeof(float) * (size_t)(groups * taps * GROUP));
    for (long g = 0; g < groups; g++) {
        for (long t = 0; t < taps; t++) {
            for (long o = 0; o < GROUP; o++) {
                long channel = g * GROUP + o;
                weights[(g * taps + t) * GROUP + o] = channel < m ? weight[channel * taps + t] : 0;
            }
        }
    }
    for (long oy = row_begin; oy < row_end; oy++) {
        for (long c = 0; c < channels; c++) {
            for (long ky = 0; ky < 3; ky++) {
                long iy = 2 * oy - 1 + ky, slot = c * SLOTS + (iy + SLOTS) % SLOTS;
                float *even = split + slot * 2 * stride, *odd = even + stride;
                rows[c * 3 + ky] = even;
                if (held[slot] == iy) continue;
                held[slot] = iy;
                if (iy < 0 || iy >= h) {
                    memset(even, 0, sizeof(float) * (size_t)(2 * stride));
                    continue;
                }
                split_row(x + (c * h + iy) * w, w, ow, even, odd);
            }
        }
        for (long g = 0; g < groups; g++) {
            row_group(rows, stride, taps, weights + g * taps * GROUP, bias ? bias + g * GROUP : NULL, m - g * GROUP,
                      silu, y + g * GROUP * oh * ow + oy * ow, oh * ow, ow);
        }
    }
    free(split);
    free(held);
    free(rows);
    free(weights);
}
#else
/* Other architectures never choose it (it needs AVX-512), so this is not reached. */
void gr_conv3x3s2(const float *x, long channels, long h, long w, const float *weight, long m, const float *bias,
                  int silu, float *y, long oh, long ow, long row_begin, long row_end) {
    abort();
}
#endif
