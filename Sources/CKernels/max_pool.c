#include "CKernels.h"
#include "simd_math.h"

#include <math.h>
#include <stdlib.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* a > b ? a : b, as _mm512_max_ps(a, b) takes it (so both paths give the same values). */
static inline float larger(float a, float b) { return a > b ? a : b; }

#if defined(__x86_64__)
/* Lanes [low, high) of 16 set (none when high ≤ low). */
static inline __mmask16 lanes_between(long low, long high) { return lanes16(high) & (__mmask16)~lanes16(low); }

/* One input row's maxima over the column windows at stride 1, 16 outputs at a time; a tap
 * outside the row reads -inf (masked lanes load nothing), so padding never wins. Each output
 * vector is summed in registers and stored once (a masked store read back at once would wait
 * for the store to complete). */
AVX512 static void across16(const float *row, long w, long kw, long px, long ow, float *out) {
    const __m512 none = _mm512_set1_ps(-INFINITY);
    for (long ox = 0; ox < ow; ox += 16) {
        __m512 best = none;
        for (long j = 0; j < kw; j++) {
            long s = ox - px + j; /* lane l reads row[s + l] */
            best = _mm512_max_ps(_mm512_mask_loadu_ps(none, lanes_between(-s, w - s), row + s), best);
        }
        _mm512_mask_storeu_ps(out + ox, lanes16(ow - ox), best);
    }
}

/* target = the maxima of rows [first, end) of across (ow floats each), 16 at a time. */
AVX512 static void down16(const float *across, long first, long end, long ow, float *target) {
    for (long ox = 0; ox < ow; ox += 16) {
        __mmask16 mask = lanes16(ow - ox);
        __m512 best = _mm512_set1_ps(-INFINITY);
        for (long iy = first; iy < end; iy++)
            best = _mm512_max_ps(_mm512_maskz_loadu_ps(mask, across + iy * ow + ox), best);
        _mm512_mask_storeu_ps(target + ox, mask, best);
    }
}
#endif

/* Separable: each input row's maxima over the column windows, then those over the row windows
 * (the same maxima, kh + kw comparisons per output, not kh · kw); windows clipped to the image. */
void gr_max_pool(const float *x, long planes, long h, long w, long kh, long kw, long sy, long sx, long py, long px,
                 long oh, long ow, float *y, int isa) {
    int wide = 0;
#if defined(__x86_64__)
    wide = isa == GR_ISA_AVX512;
#endif
    float *across = malloc(sizeof(float) * (size_t)(h * ow));
    for (long plane = 0; plane < planes; plane++) {
        const float *image = x + plane * h * w;
        for (long iy = 0; iy < h; iy++) {
            const float *row = image + iy * w;
            float *out = across + iy * ow;
#if defined(__x86_64__)
            if (wide && sx == 1) {
                across16(row, w, kw, px, ow, out);
                continue;
            }
#endif
            for (long ox = 0; ox < ow; ox++) {
                float best = -INFINITY;
                for (long ix = ox * sx - px; ix < ox * sx - px + kw; ix++)
                    if (ix >= 0 && ix < w) best = larger(row[ix], best);
                out[ox] = best;
            }
        }
        for (long oy = 0; oy < oh; oy++) {
            float *target = y + (plane * oh + oy) * ow;
            long top = oy * sy - py, first = top < 0 ? 0 : top, end = top + kh < h ? top + kh : h;
#if defined(__x86_64__)
            if (wide) {
                down16(across, first, end, ow, target);
                continue;
            }
#endif
            for (long ox = 0; ox < ow; ox++) {
                float best = -INFINITY;
                for (long iy = first; iy < end; iy++) best = larger(across[iy * ow + ox], best);
                target[ox] = best;
            }
        }
    }
    free(across);
}
