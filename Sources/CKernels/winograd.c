#include "CKernels.h"
#include "simd_math.h"

#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__)
#include <immintrin.h>
#endif

/* Winograd F(t×t, 3×3) for t = 4 (interpolation points 0, ±1, ±2, ∞) and t = 2 (0, ±1, ∞): a
 * t×t output tile is Aᵀ [(G g Gᵀ) ⊙ (Bᵀ d Bᵀᵀ)] A for its (t+2)×(t+2) input patch d, so a 3×3
 * convolution becomes (t+2)² products U_ξ [m × c] · V_ξ [c × tiles] (9/t² multiplications per
 * output and tap instead of 9). F(4) saves more; F(2) fills a panel's lanes on small maps. */
enum { MAX_PATCH = 6, MAX_POINTS = MAX_PATCH * MAX_PATCH, NR = GR_PANEL_WIDTH, LANES = 8 };

void gr_winograd_weights(const float *weight, long m, long c, int tile, float *u) {
    static const double g4[6][3] = {
        {1.0 / 4, 0, 0},
        {-1.0 / 6, -1.0 / 6, -1.0 / 6},
        {-1.0 / 6, 1.0 / 6, -1.0 / 6},
        {1.0 / 24, 1.0 / 12, 1.0 / 6},
        {1.0 / 24, -1.0 / 12, 1.0 / 6},
        {0, 0, 1},
    };
    static const double g2[4][3] = {{1, 0, 0}, {0.5, 0.5, 0.5}, {0.5, -0.5, 0.5}, {0, 0, 1}};
    const double(*g)[3] = tile == 4 ? g4 : g2;
    int patch = tile + 2;
    for (long mi = 0; mi < m; mi++) {
        for (long ci = 0; ci < c; ci++) {
            const float *k = weight + (mi * c + ci) * 9;
            double left[MAX_PATCH][3]; /* G · k */
            for (int i = 0; i < patch; i++)
                for (int s = 0; s < 3; s++) left[i][s] = g[i][0] * k[s] + g[i][1] * k[3 + s] + g[i][2] * k[6 + s];
            for (int i = 0; i < patch; i++)
                for (int j = 0; j < patch; j++)
                    u[((i * patch + j) * m + mi) * c + ci] =
                        (float)(left[i][0] * g[j][0] + left[i][1] * g[j][1] + left[i][2] * g[j][2]);
        }
    }
}

#if defined(__x86_64__)
/* out[i] = Σ_r Bᵀ[i][r] · in[r · step], for the tile + 2 vectors `step` apart. */
AVX2 static inline void input_1d(int tile, const __m256 *in, long step, __m256 *out, long out_step) {
    if (tile == 2) {
        __m256 d0 = in[0], d1 = in[step], d2 = in[2 * step], d3 = in[3 * step];
        out[0] = _mm256_sub_ps(d0, d2);
        out[out_step] = _mm256_add_ps(d1, d2);
        out[2 * out_step] = _mm256_sub_ps(d2, d1);
        out[3 * out_step] = _mm256_sub_ps(d1, d3);
        return;
    }
    __m256 d0 = in[0], d1 = in[step], d2 = in[2 * step], d3 = in[3 * step], d4 = in[4 * step], d5 = in[5 * step];
    __m256 two = _mm256_set1_ps(2), four = _mm256_set1_ps(4), five = _mm256_set1_ps(5);
    out[0] = _mm256_fmadd_ps(four, d0, _mm256_fnmadd_ps(five, d2, d4));
    out[out_step] = _mm256_fnmadd_ps(four, _mm256_add_ps(d1, d2), _mm256_add_ps(d3, d4));
    out[2 * out_step] = _mm256_fmadd_ps(four, _mm256_sub_ps(d1, d2), _mm256_sub_ps(d4, d3));
    out[3 * out_step] = _mm256_fmadd_ps(two, _mm256_sub_ps(d3, d1), _mm256_sub_ps(d4, d2));
    out[4 * out_step] = _mm256_fmadd_ps(two, _mm256_sub_ps(d1, d3), _mm256_sub_ps(d4, d2));
    out[5 * out_step] = _mm256_fmadd_ps(four, d1, _mm256_fnmadd_ps(five, d3, d5));
}

/* out[a] = Σ_i Aᵀ[a][i] · in[i · step], for the tile + 2 vectors `step` apart. */
AVX2 static inline void output_1d(int tile, const __m256 *in, long step, __m256 *out, long out_step) {
    if (tile == 2) {
        __m256 m0 = in[0], m1 = in[step], m2 = in[2 * step], m3 = in[3 * step];
        out[0] = _mm256_add_ps(_mm256_add_ps(m0, m1), m2);
        out[out_step] = _mm256_sub_ps(_mm256_sub_ps(m1, m2), m3);
        return;
    }
    __m256 m0 = in[0], m1 = in[step], m2 = in[2 * step], m3 = in[3 * step], m4 = in[4 * step], m5 = in[5 * step];
    __m256 plus12 = _mm256_add_ps(m1, m2), minus12 = _mm256_sub_ps(m1, m2);
    __m256 plus34 = _mm256_add_ps(m3, m4), minus34 = _mm256_sub_ps(m3, m4);
    out[0] = _mm256_add_ps(_mm256_add_ps(m0, plus12), plus34);
    out[out_step] = _mm256_fmadd_ps(_mm256_set1_ps(2), minus34, minus12);
    out[2 * out_step] = _mm256_fmadd_ps(_mm256_set1_ps(4), plus34, plus12);
    out[3 * out_step] = _mm256_add_ps(_mm256_fmadd_ps(_mm256_set1_ps(8), minus34, minus12), m5);
}

/* m[i][j] ↔ m[j][i] for 8 vectors of 8. */
AVX2 static inline void transpose8(__m256 *m) {
    __m256 t[8], u[8];
    for (int i = 0; i < 8; i += 2) {
        t[i] = _mm256_unpacklo_ps(m[i], m[i + 1]);
        t[i + 1] = _mm256_unpackhi_ps(m[i], m[i + 1]);
    }
    for (int i = 0; i < 8; i += 4) {
        u[i] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 1] = _mm256_shuffle_ps(t[i], t[i + 2], _MM_SHUFFLE(3, 2, 3, 2));
        u[i + 2] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(1, 0, 1, 0));
        u[i + 3] = _mm256_shuffle_ps(t[i + 1], t[i + 3], _MM_SHUFFLE(3, 2, 3, 2));
    }
    for (int i = 0; i < 4; i++) {
        m[i] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x20);
        m[i + 4] = _mm256_permute2f128_ps(u[i], u[i + 4], 0x31);
    }
}

/* The transforms are inlined with a constant tile, so each size gets its own unrolled loops. */
AVX2 static inline __attribute__((always_inline)) void input(const float *x, long channels, long h, long w,
                                                             long pad_top, long pad_left, const int tile,
                                                             long tiles_y, long tiles_x, float *v, long point_stride,
                                                             long channel_begin, long channel_end, long panel_begin,
                                                             long panel_end) {
    long tiles = tiles_y * tiles_x, panels = (tiles + NR - 1) / NR;
    int patch = tile + 2;
    /* Each channel's rows under these panels' tiles are copied with their zeros around them (every
     * patch inside, pad_left + w ≤ width). A patch row of 8 tiles is then 8 loads of 8 floats
     * (the last tile's reach up to 4 floats past the copy: LANES of slack) and one transposition,
     * about three times cheaper than a gather per patch element. */
    long last_tile = (panel_end * NR < tiles ? panel_end * NR : tiles) - 1;
    long first_row = (panel_begin * NR / tiles_x) * tile, width = tiles_x * tile + 2;
    long height = (last_tile / tiles_x) * tile + patch - first_row;
    float *padded = malloc(sizeof(float) * (height * width + LANES));
    memset(padded + height * width, 0, sizeof(float) * LANES);
    int *corner = malloc(sizeof(int) * panels * NR);
    for (long t = panel_begin * NR; t < panel_end * NR; t++)
        corner[t] = t < tiles ? (int)((t / tiles_x) * tile * width - first_row * width + (t % tiles_x) * tile) : 0;
    __m256 d[MAX_POINTS], rows[MAX_POINTS], out[MAX_POINTS];
    for (long ci = channel_begin; ci < channel_end; ci++) {
        const float *plane = x + ci * h * w;
        for (long r = 0; r < height; r++) {
            float *line = padded + r * width;
            long y = first_row + r - pad_top;
            if (y < 0 || y >= h) {
                memset(line, 0, sizeof(float) * width);
                continue;
            }
            memset(line, 0, sizeof(float) * pad_left);
            memcpy(line + pad_left, plane + y * w, sizeof(float) * w);
            memset(line + pad_left + w, 0, sizeof(float) * (width - pad_left - w));
        }
        for (long t0 = panel_begin * NR; t0 < panel_end * NR; t0 += LANES) {
            for (long r = 0; r < patch; r++) {
                __m256 line[LANES];
                for (long l = 0; l < LANES; l++) line[l] = _mm256_loadu_ps(padded + corner[t0 + l] + r * width);
                transpose8(line);
                for (long s = 0; s < patch; s++) d[r * patch + s] = line[s];
            }
            for (long s = 0; s < patch; s++) input_1d(tile, d + s, patch, rows + s, patch);
            for (long i = 0; i < patch; i++) input_1d(tile, rows + i * patch, 1, out + i * patch, 1);
            long panel = t0 / NR, lane = t0 % NR;
            for (long xi = 0; xi < patch * patch; xi++)
                _mm256_storeu_ps(v + xi * point_stride + (panel * channels + ci) * NR + lane, out[xi]);
        }
    }
    free(padded);
    free(corner);
}

AVX2 void gr_winograd_input(const float *x, long channels, long h, long w, long pad_top, long pad_left, int tile,
                            long tiles_y, long tiles_x, float *v, long point_stride, long channel_begin,
                            long channel_end, long panel_begin, long panel_end) {
    if (tile == 4)
        input(x, channels, h, w, pad_top, pad_left, 4, tiles_y, tiles_x, v, point_stride, channel_begin, channel_end,
              panel_begin, panel_end);
    else
        input(x, channels, h, w, pad_top, pad_left, 2, tiles_y, tiles_x, v, point_stride, channel_begin, channel_end,
              panel_begin, panel_end);
}

AVX2 static inline __attribute__((always_inline)) void output(const float *products, long point_stride, long m,
                                                              const int tile, long tiles_y, long tiles_x,
                                                              const float *bias, int silu, float *y, long oh,
                                                              long ow, long m_begin, long m_end, long panel_begin,
                                                              long panel_end) {
    long tiles = tiles_y * tiles_x;
    int patch = tile + 2;
    __m256 p[MAX_POINTS], columns[MAX_PATCH * 4], out[16];
    /* Each lane's tile, row-major, by transposing the outputs (8 of them at a time). */
    float tiled[LANES][16] __attribute__((aligned(32)));
    for (long mi = m_begin; mi < m_end; mi++) {
        __m256 b = _mm256_set1_ps(bias ? bias[mi] : 0);
        long end = panel_end * NR < tiles ? panel_end * NR : tiles;
        for (long t0 = panel_begin * NR; t0 < end; t0 += LANES) {
            for (long xi = 0; xi < patch * patch; xi++)
                p[xi] = _mm256_loadu_ps(products + xi * point_stride + mi * tiles + t0);
            for (long i = 0; i < patch; i++) output_1d(tile, p + i * patch, 1, columns + i * tile, 1);
            for (long s = 0; s < tile; s++) output_1d(tile, columns + s, tile, out + s, tile);
            for (long o = 0; o < tile * tile; o++) {
                __m256 value = _mm256_add_ps(out[o], b);
                out[o] = silu ? silu8(value) : value;
            }
            /* F(2)'s 4 outputs a tile are cheaper to store one by one than to transpose. */
            if (tile == 4) {
                for (long half = 0; half < tile * tile; half += LANES) {
                    transpose8(out + half);
                    for (long l = 0; l < LANES; l++) _mm256_store_ps(tiled[l] + half, out[half + l]);
                }
            } else {
                float lanes[4][LANES] __attribute__((aligned(32)));
                for (long o = 0; o < 4; o++) _mm256_store_ps(lanes[o], out[o]);
                for (long l = 0; l < LANES; l++)
                    for (long o = 0; o < 4; o++) tiled[l][o] = lanes[o][l];
            }
            long count = end - t0 < LANES ? end - t0 : LANES;
            for (long l = 0; l < count; l++) {
                long t = t0 + l, ty = t / tiles_x, tx = t % tiles_x;
                float *corner = y + (mi * oh + ty * tile) * ow + tx * tile;
                if (ty * tile + tile <= oh && tx * tile + tile <= ow) {
                    for (long a = 0; a < tile; a++) memcpy(corner + a * ow, tiled[l] + a * tile, sizeof(float) * tile);
                    continue;
                }
                for (long a = 0; a < tile && ty * tile + a < oh; a++)
                    for (long c = 0; c < tile && tx * tile + c < ow; c++) corner[a * ow + c] = tiled[l][a * tile + c];
            }
        }
    }
}

AVX2 void gr_winograd_output(const float *products, long point_stride, long m, int tile, long tiles_y, long tiles_x,
                             const float *bias, int silu, float *y, long oh, long ow, long m_begin, long m_end,
                             long panel_begin, long panel_end) {
    if (tile == 4)
        output(products, point_stride, m, 4, tiles_y, tiles_x, bias, silu, y, oh, ow, m_begin, m_end, panel_begin,
               panel_end);
    else
        output(products, point_stride, m, 2, tiles_y, tiles_x, bias, silu, y, oh, ow, m_begin, m_end, panel_begin,
               panel_end);
}
#else
/* Other architectures never choose a packed kernel, so these are not reached. */
void gr_winograd_input(const float *x, long channels, long h, long w, long pad_top, long pad_left, int tile,
                       long tiles_y, long tiles_x, float *v, long point_stride, long channel_begin, long channel_end,
                       long panel_begin, long panel_end) {
    abort();
}

void gr_winograd_output(const float *products, long point_stride, long m, int tile, long tiles_y, long tiles_x,
                        const float *bias, int silu, float *y, long oh, long ow, long m_begin, long m_end,
                        long panel_begin, long panel_end) {
    abort();
}
#endif
