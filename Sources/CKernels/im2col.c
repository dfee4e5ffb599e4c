#include "CKernels.h"
#include "simd_math.h"

#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

enum { NR = GR_PANEL_WIDTH, LANES = 8 };

static long min_long(long a, long b) { return a < b ? a : b; }
static long max_long(long a, long b) { return a > b ? a : b; }

void gr_im2col(const float *image, long channels, long h, long w, long kh, long kw, long sy, long sx, long dy,
               long dx, long py, long px, long oh, long ow, float *cols, long row_begin, long row_end) {
    long pixels = oh * ow;
    for (long row = row_begin; row < row_end; row++) {
        long ch = row / (kh * kw), tap = row % (kh * kw), ky = tap / kw, kx = tap % kw;
        long shift = kx * dx - px;
        /* Output columns [first, last) read inside the input row; (w − 1 − shift) may be negative. */
        long first = min_long(ow, max_long(0, (-shift + sx - 1) / sx));
        long last = w - 1 - shift < 0 ? first : max_long(first, min_long(ow, (w - 1 - shift) / sx + 1));
        for (long oy = 0; oy < oh; oy++) {
            long iy = oy * sy - py + ky * dy;
            float *line = cols + row * pixels + oy * ow;
            if (iy < 0 || iy >= h) {
                memset(line, 0, sizeof(float) * ow);
                continue;
            }
            const float *source = image + (ch * h + iy) * w + shift;
            for (long j = 0; j < first; j++) line[j] = 0;
            for (long j = first; j < last; j++) line[j] = source[j * sx];
            for (long j = last; j < ow; j++) line[j] = 0;
        }
    }
}

#if defined(__x86_64__)
/* Eight consecutive floats `step` apart from p, for step 1 or 2 (two loads, the even ones kept). */
AVX2 static inline __m256 strided_load(const float *p, long step) {
    if (step == 1) return _mm256_loadu_ps(p);
    __m256 even = _mm256_shuffle_ps(_mm256_loadu_ps(p), _mm256_loadu_ps(p + 8), _MM_SHUFFLE(2, 0, 2, 0));
    return _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(even), _MM_SHUFFLE(3, 1, 2, 0)));
}

/* Each lane's pixel gives the offset of its tap (0, 0) in a plane; a tap moves every offset by
 * the same amount, and a lane reads only where its tap lands inside the image (masked gathers:
 * the rest, padding and lanes past the pixels, are zero). Gathers are slow, so a group of 8
 * lanes on one output row whose tap lands wholly inside the image, at stride 1 or 2, is read by
 * plain loads instead (most groups of a large map). */
AVX2 void gr_im2col_panels(const float *image, long channels, long h, long w, long kh, long kw, long sy, long sx,
                           long dy, long dx, long py, long px, long oh, long ow, float *cols, long panel_begin,
                           long panel_end) {
    enum { GROUPS = NR / LANES };
    long k = channels * kh * kw, pixels = oh * ow, plane = h * w;
    int top[NR], left[NR];
    /* The output row and column of the panel's first pixel, stepped along (no division per lane). */
    long oy = panel_begin * NR / ow, ox = panel_begin * NR % ow;
    for (long p = panel_begin; p < panel_end; p++) {
        int row_group[GROUPS]; /* whether the group's 8 pixels are consecutive on one output row */
        for (long lane = 0; lane < NR; lane++) {
            long pixel = p * NR + lane;
            if (lane % LANES == 0)
                row_group[lane / LANES] = (sx == 1 || sx == 2) && pixel + LANES <= pixels && ox + LANES <= ow;
            /* A lane past the pixels starts so far outside that no tap reaches the image. */
            top[lane] = pixel < pixels ? (int)(oy * sy - py) : -(int)(h + kh * dy + 1);
            left[lane] = pixel < pixels ? (int)(ox * sx - px) : 0;
            if (++ox == ow) ox = 0, oy++;
        }
        float *panel = cols + (p - panel_begin) * k * NR;
        for (long ky = 0; ky < kh; ky++) {
            for (long kx = 0; kx < kw; kx++) {
                __m256i offset[GROUPS], mask[GROUPS];
                long direct[GROUPS]; /* the first lane's offset when the group loads directly, else -1 */
                for (long g = 0; g < GROUPS; g++) {
                    long y0 = top[g * LANES] + ky * dy, x0 = left[g * LANES] + kx * dx;
                    direct[g] = row_group[g] && y0 >= 0 && y0 < h && x0 >= 0 && x0 + LANES * sx <= w ? y0 * w + x0 : -1;
                    if (direct[g] >= 0) continue;
                    __m256i y = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(top + g * LANES)),
                                                 _mm256_set1_epi32((int)(ky * dy)));
                    __m256i x = _mm256_add_epi32(_mm256_loadu_si256((const __m256i *)(left + g * LANES)),
                                                 _mm256_set1_epi32((int)(kx * dx)));
                    __m256i below = _mm256_set1_epi32(-1);
                    __m256i inside = _mm256_and_si256(
                        _mm256_and_si256(_mm256_cmpgt_epi32(y, below), _mm256_cmpgt_epi32(_mm256_set1_epi32((int)h), y)),
                        _mm256_and_si256(_mm256_cmpgt_epi32(x, below), _mm256_cmpgt_epi32(_mm256_set1_epi32((int)w), x)));
                    mask[g] = inside;
                    offset[g] = _mm256_add_epi32(_mm256_mullo_epi32(y, _mm256_set1_epi32((int)w)), x);
                }
                for (long c = 0; c < channels; c++) {
                    float *row = panel + ((c * kh + ky) * kw + kx) * NR;
                    const float *source = image + c * plane;
                    for (long g = 0; g < GROUPS; g++) {
                        if (direct[g] >= 0) {
                            _mm256_storeu_ps(row + g * LANES, strided_load(source + direct[g], sx));
                            continue;
                        }
                        _mm256_storeu_ps(row + g * LANES, _mm256_mask_i32gather_ps(_mm256_setzero_ps(), source,
                                                                                   offset[g],
                                                                                   _mm256_castsi256_ps(mask[g]), 4));
                    }
                }
            }
        }
    }
}
#else
/* Other architectures never choose a packed kernel, so this is not reached. */
void gr_im2col_panels(const float *image, long channels, long h, long w, long kh, long kw, long sy, long sx, long dy,
                      long dx, long py, long px, long oh, long ow, float *cols, long panel_begin, long panel_end) {
    abort();
}
#endif
