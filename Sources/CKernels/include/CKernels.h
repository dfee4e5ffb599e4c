#ifndef CKERNELS_H
#define CKERNELS_H
#include <stddef.h>

/* A single-precision GEMM for linear layers, y = x · Wᵀ (+ bias) (+ y), whose weight W [n, k] is
 * packed once into panels of GR_PANEL_WIDTH output features: panel p holds, for every k, the
 * GR_PANEL_WIDTH weights W[p·32 + j, k] side by side (zero-padded past n). Its register tile
 * exists for AVX-512F and for AVX2 with FMA, and both give the same bits; callers use it only where
 * the CPU has one of them and fall back to BLAS otherwise. */

#define GR_PANEL_WIDTH 32

/* The instruction sets a kernel may use (its `isa` argument), as the compute configuration chooses
 * them; callers never ask for one the CPU lacks. A kernel without a version for the set asked for
 * runs its portable C. */
#define GR_ISA_PORTABLE 0
#define GR_ISA_AVX2 1
#define GR_ISA_AVX512 2

/* Nonzero when the CPU has AVX-512F (checked once). */
int gr_avx512_supported(void);

/* Nonzero when the CPU has AVX2 and FMA (checked once). */
int gr_avx2_supported(void);

/* Nonzero when wide products (gr_packed_product) may run: AVX2 and FMA, and GUARDRAIL_KERNELS is
 * not "portable". */
int gr_wide_kernel_enabled(void);

/* The default kernel path: nonzero when the CPU has AVX-512F and the environment variable
 * GUARDRAIL_KERNELS is not "portable". Callers read it once, when a compute configuration is made;
 * the kernels below take the path as an argument. */
int gr_avx512_enabled(void);

/* Floats needed to pack an [n, k] weight. */
size_t gr_packed_size(long n, long k);

/* Packs the row-major weight [n, k] (rows ldw apart) into `packed` (gr_packed_size(n, k) floats). */
void gr_pack_weight(const float *weight, long ldw, long n, long k, float *packed);

/* c[i, j] = Σ_k a[i, k] · W[j, k] (+ bias[j] when bias is not NULL) (+ c[i, j] when accumulate)
 * for rows 0 ..< m and the output columns of panels [panel_begin, panel_end). Rows of a, c are
 * lda, ldc apart. Distinct panel ranges write distinct columns, so workers may split them. The
 * AVX-512 tile when isa is GR_ISA_AVX512, else the AVX2 one. */
void gr_packed_sgemm(long m, long n, long k, const float *a, long lda, const float *packed, const float *bias,
                     float *c, long ldc, long panel_begin, long panel_end, int accumulate, int isa);

/* c[m × n] = a[m × k] · B for a B [k × n] in the wide layout (panel p holds, for every k, the
 * GR_PANEL_WIDTH columns p·32 + j side by side, zero past n), then + row_bias[i] on row i when
 * row_bias is not NULL, then SiLU when silu is nonzero; for the columns of panels
 * [panel_begin, panel_end), rows of a k apart and of c ldc ≥ n apart. On the AVX-512 tile when isa
 * is GR_ISA_AVX512, else on the AVX2 one (the same bits). */
void gr_packed_product(long m, long n, long k, const float *a, const float *packed, const float *row_bias, int silu,
                       float *c, long ldc, long panel_begin, long panel_end, int isa);

/* gr_packed_product for a row-major b [k × n], rows ldb ≥ n apart, read in place (a 1×1
 * convolution's input): panel p is its columns p·32 ..< p·32 + 32. Rows of a are lda ≥ k apart;
 * with accumulate nonzero the product is added to c (a sum over several b's, row_bias and SiLU on
 * the last). */
void gr_strided_product(long m, long n, long k, const float *a, long lda, const float *b, long ldb,
                        const float *row_bias, int silu, float *c, long ldc, int accumulate, long panel_begin,
                        long panel_end, int isa);

/* The column matrix of a convolution of image [channels, h, w] (kernel kh × kw, strides sy, sx,
 * dilations dy, dx, zeros py above and px left of the image and past it, output oh × ow): row
 * (c, ky, kx) holds that tap's input for every output pixel. gr_im2col writes it row-major
 * [rows, oh·ow], rows [row_begin, row_end) per call. gr_im2col_panels writes the panels
 * [panel_begin, panel_end) of its wide layout (gr_packed_product's; lanes past the pixels zero),
 * panel_begin first at cols: a block small enough to stay in cache for its product (AVX2; see
 * gr_wide_kernel_enabled). */
void gr_im2col(const float *image, long channels, long h, long w, long kh, long kw, long sy, long sx, long dy,
               long dx, long py, long px, long oh, long ow, float *cols, long row_begin, long row_end);
void gr_im2col_panels(const float *image, long channels, long h, long w, long kh, long kw, long sy, long sx, long dy,
                      long dx, long py, long px, long oh, long ow, float *cols, long panel_begin, long panel_end);
/* y [m, oh, ow] = the 3×3, stride-2 convolution of x [channels, h, w] with one zero of padding on
 * every side (weight [m, channels, 3, 3]), + bias[i] on channel i when bias is not NULL, then SiLU
 * when silu is nonzero, for output rows [row_begin, row_end) per call. Direct (no column matrix),
 * 16 output channels × 16 pixels at a time, summed in the order of the packed product over the
 * column matrix, so the bits are those of im2col and gr_packed_product. AVX-512 only. */
void gr_conv3x3s2(const float *x, long channels, long h, long w, const float *weight, long m, const float *bias,
                  int silu, float *y, long oh, long ow, long row_begin, long row_end);
/* Winograd F(t×t, 3×3), t = 4 or 2, for stride-1, undilated 3×3 convolutions (AVX2 and FMA; see
 * gr_wide_kernel_enabled); P = (t + 2)² points. The weight [m, c, 3, 3] becomes u [P][m][c] (P·m·c
 * floats, once). The input [c, h, w] with pad_top, pad_left zeros before it (and zeros past it)
 * becomes v: for each of the P points, point_stride ≥ gr_packed_size(tiles, c) floats apart,
 * c × tiles_y·tiles_x in the wide layout of gr_packed_product, t×t output tiles row-major;
 * channels [channel_begin, channel_end) and the tiles of panels [panel_begin, panel_end) per call.
 * The P products u_ξ · v_ξ, each [m][tiles], point_stride ≥ m·tiles apart and with 8 floats of
 * slack after the last, become the output [m, oh, ow] (+ bias[i] on channel i when bias is not
 * NULL, then SiLU when silu is nonzero), for channels [m_begin, m_end) and the tiles of panels
 * [panel_begin, panel_end) per call. */
void gr_winograd_weights(const float *weight, long m, long c, int tile, float *u);
void gr_winograd_input(const float *x, long channels, long h, long w, long pad_top, long pad_left, int tile,
                       long tiles_y, long tiles_x, float *v, long point_stride, long channel_begin, long channel_end,
                       long panel_begin, long panel_end);
void gr_winograd_output(const float *products, long point_stride, long m, int tile, long tiles_y, long tiles_x,
                        const float *bias, int silu, float *y, long oh, long ow, long m_begin, long m_end,
                        long panel_begin, long panel_end);
/* OpenCV's 8-bit INTER_LINEAR resize of 3-channel pixels, split in its two passes (AVX2 unless
 * isa is GR_ISA_PORTABLE; integer arithmetic, so every path gives the same values).
 * gr_linear_horizontal_c3 sums each output column d of one source row: taps holds four arrays of
 * count ints, the byte offsets of the column's two source pixels in `row` and their weights
 * (offsets[0], weights[0], offsets[1], weights[1]); sums gets three planes of count ints, one per
 * channel, p0[c] · w0 + p1[c] · w1. `readable` is how many bytes from `row` may be read (a
 * pixel's channels are gathered four bytes at a time). gr_linear_vertical_c3 blends two such
 * sums with weights b0, b1 as OpenCV does, ((b0 · (s0 >> 4)) >> 16) + ((b1 · (s1 >> 4)) >> 16)
 * + 2) >> 2 saturated to a byte, and writes that byte times scale to planes[c][i]. */
void gr_linear_horizontal_c3(const unsigned char *row, long readable, const int *taps, long count, int *sums,
                             int isa);
void gr_linear_vertical_c3(const int *first, const int *second, int b0, int b1, long count, float scale,
                           float *const planes[3], int isa);

/* MaxPool of planes × [h, w] into planes × [oh, ow]: kernel kh × kw, strides sy, sx, padding py
 * above and px left (padding never wins; a window wholly in it gives -inf), for the planes given
 * (workers take disjoint ones). AVX-512 vectors where isa is GR_ISA_AVX512, the same values. */
void gr_max_pool(const float *x, long planes, long h, long w, long kh, long kw, long sy, long sx, long py, long px,
                 long oh, long ow, float *y, int isa);

/* Row-wise and element-wise kernels of the encoders, on the instruction set `isa` where they have a
 * version for it (GELU, softmax and LayerNorm: AVX-512 only). Results agree with PyTorch's to float
 * rounding. */

/* x · sigmoid(1.702 x), in place. */
void gr_quick_gelu(float *x, long count, int isa);

/* x · sigmoid(x) (SiLU, YOLO's activation), in place. */
void gr_silu(float *x, long count, int isa);

/* sigmoid(x) = 1 / (1 + e^-x), in place. */
void gr_sigmoid(float *x, long count, int isa);

/* e^x, in place. */
void gr_exp(float *x, long count, int isa);

/* GELU with erf, 0.5 x (1 + erf(x / √2)), in place. */
void gr_gelu(float *x, long count, int isa);

/* Softmax of scale · x over each row of rows × width (scale > 0), max-subtracted. With causal,
 * row i sees columns 0 ... offset + i only and the rest become 0. */
void gr_softmax_rows(float *x, long rows, long width, float scale, int causal, long offset, int isa);

/* Softmax over `length` values `stride` apart (an axis of a tensor), for each of `count`
 * consecutive positions from x: max-subtracted, exponentiated, divided by the sum. */
void gr_softmax_columns(float *x, long length, long stride, long count, int isa);

/* Floats of scratch gr_attention needs. */
size_t gr_attention_scratch(long queries, long keys, long head_width);

/* One attention head with the packed kernel: context = softmax(scale · q kᵀ) v, causal as in
 * gr_softmax_rows. q is [queries, head_width], k and v [keys, head_width], context
 * [queries, head_width]; rows ldq, ldk, ldc apart. isa is GR_ISA_AVX2 or GR_ISA_AVX512. */
void gr_attention(long queries, long keys, long head_width, const float *q, long ldq, const float *k, const float *v,
                  long ldk, float scale, int causal, long offset, float *context, long ldc, float *scratch, int isa);

/* LayerNorm over each row of rows × width (biased variance, eps inside the square root), written
 * to out, which may be x. */
void gr_layer_norm(const float *x, long rows, long width, const float *weight, const float *bias, float eps,
                   float *out, int isa);

/* Has malloc serve blocks up to largest_heap_block bytes from its heap instead of fresh mappings,
 * and keep up to kept_free bytes of freed memory there instead of returning it to the kernel
 * (glibc; elsewhere nothing). Process-wide. */
void gr_keep_heap(long largest_heap_block, long kept_free);

/* Runs fn(context, part) for every part in [0, parts): part 0 on the calling thread, the others on
 * pool threads started on first use, and returns when all are done. Pool threads spin briefly
 * between calls (an encoder makes a hundred calls per forward pass, and waking a sleeping thread
 * costs ~50 µs) and then sleep. Concurrent callers each get a team of threads of their own (up to
 * 16 teams); a nested caller (inside a part) runs all its parts itself. */
void gr_parallel(long parts, void (*fn)(void *context, long part), void *context);

/* How many calls of gr_parallel ran every part on the caller's thread because all 16 teams were
 * busy (a diagnostic for tests: concurrent callers should never be narrowed). */
long gr_parallel_narrowed(void);

#endif
