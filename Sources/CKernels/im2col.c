#include "CKernels.h"

#include <string.h>

enum { NR = GR_PANEL_WIDTH };

static long min_long(long a, long b) { return a < b ? a : b; }
static long max_long(long a, long b) { return a > b ? a : b; }

void gr_im2col(const float *image, long channels, long h, long w, long kh, long kw, long sy, long sx, long dy,
               long dx, long py, long px, long oh, long ow, int packed, float *cols, long row_begin, long row_end) {
    long k = channels * kh * kw, pixels = oh * ow;
    for (long row = row_begin; row < row_end; row++) {
        long ch = row / (kh * kw), tap = row % (kh * kw), ky = tap / kw, kx = tap % kw;
        long shift = kx * dx - px;
        /* Output columns [first, last) read inside the input row; (w − 1 − shift) may be negative. */
        long first = min_long(ow, max_long(0, (-shift + sx - 1) / sx));
        long last = w - 1 - shift < 0 ? first : max_long(first, min_long(ow, (w - 1 - shift) / sx + 1));
        for (long oy = 0; oy < oh; oy++) {
            long iy = oy * sy - py + ky * dy;
            const float *source = iy >= 0 && iy < h ? image + (ch * h + iy) * w + shift : NULL;
            long p = oy * ow;
            /* Packed, a line is written in runs that end at panel boundaries. */
            for (long ox = 0; ox < ow;) {
                long lane = p % NR;
                long run = packed ? min_long(ow - ox, NR - lane) : ow - ox;
                float *line = (packed ? cols + ((p / NR) * k + row) * NR + lane : cols + row * pixels + p) - ox;
                long end = ox + run;
                long inside_begin = source ? min_long(end, max_long(ox, first)) : end;
                long inside_end = source ? max_long(inside_begin, min_long(end, last)) : end;
                for (long j = ox; j < inside_begin; j++) line[j] = 0;
                if (sx == 1)
                    for (long j = inside_begin; j < inside_end; j++) line[j] = source[j];
                else
                    for (long j = inside_begin; j < inside_end; j++) line[j] = source[j * sx];
                for (long j = inside_end; j < end; j++) line[j] = 0;
                ox = end;
                p += run;
            }
        }
        if (packed && pixels % NR) {
            float *tail = cols + ((pixels / NR) * k + row) * NR;
            memset(tail + pixels % NR, 0, sizeof(float) * (NR - pixels % NR));
        }
    }
}
