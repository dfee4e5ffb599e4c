#include "CGuardrailShims.h"

#include <png.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* In-memory source for png_set_read_fn. */
typedef struct {
    const uint8_t * data;
    size_t size;
    size_t offset;
} png_source;

/* Where libpng reports errors: longjmp target plus our status and message. */
typedef struct {
    char * message;
    int status;
} png_failure;

static void png_read_from_memory(png_structp png, png_bytep out, png_size_t length) {
    png_source * source = png_get_io_ptr(png);
    if (length > source->size - source->offset) {
        png_failure * failure = png_get_error_ptr(png);
        failure->status = GR_STATUS_TRUNCATED;
        png_error(png, "unexpected end of file");
    }
    memcpy(out, source->data + source->offset, length);
    source->offset += length;
}

static void png_on_error(png_structp png, png_const_charp text) {
    png_failure * failure = png_get_error_ptr(png);
    if (failure->status == GR_STATUS_OK) {
        failure->status = GR_STATUS_CORRUPT;
    }
    snprintf(failure->message, GR_MESSAGE_CAPACITY, "%s", text);
    png_longjmp(png, 1);
}

static void png_on_warning(png_structp png, png_const_charp text) {
    (void) png;
    (void) text;
}

/* Creates the read and info structs over `source`; on failure fills the message and returns
   GR_STATUS_NO_MEMORY with nothing left allocated. */
static int png_create(png_failure * failure, png_source * source, png_structp * png_out, png_infop * info_out) {
    failure->message[0] = 0;
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, failure, png_on_error, png_on_warning);
    png_infop info = png ? png_create_info_struct(png) : NULL;
    if (!info) {
        png_destroy_read_struct(&png, NULL, NULL);
        snprintf(failure->message, GR_MESSAGE_CAPACITY, "png_create_read_struct failed: out of memory");
        return GR_STATUS_NO_MEMORY;
    }
    png_set_read_fn(png, source, png_read_from_memory);
    /* Our own pixel limit is checked before decoding; this lifts libpng's 1,000,000-pixel row cap
       to the PNG maximum so that the limit callers configure is the one that applies. */
    png_set_user_limits(png, 0x7fffffff, 0x7fffffff);
    /* Ancillary chunks (text, ICC, eXIf) are capped so a compressed text bomb cannot expand. */
    png_set_chunk_malloc_max(png, 16 * 1024 * 1024);
    /* Pillow does not check CRCs of image data either, nor do browsers refuse them: use the data. */
    png_set_crc_action(png, PNG_CRC_QUIET_USE, PNG_CRC_QUIET_USE);
    *png_out = png;
    *info_out = info;
    return GR_STATUS_OK;
}

int gr_png_read_info(const void * data, size_t size, uint32_t * width, uint32_t * height,
                     int * bit_depth, int * color_type, char * message) {
    png_source source = { data, size, 0 };
    png_failure failure = { message, GR_STATUS_OK };
    png_structp png = NULL;
    png_infop info = NULL;
    if (png_create(&failure, &source, &png, &info) != GR_STATUS_OK) {
        return GR_STATUS_NO_MEMORY;
    }
    if (setjmp(png_jmpbuf(png))) {
        png_destroy_read_struct(&png, &info, NULL);
        return failure.status;
    }
    png_read_info(png, info);
    *width = png_get_image_width(png, info);
    *height = png_get_image_height(png, info);
    *bit_depth = png_get_bit_depth(png, info);
    *color_type = png_get_color_type(png, info);
    png_destroy_read_struct(&png, &info, NULL);
    return GR_STATUS_OK;
}

/* One decoded row (after palette and low-bit-depth expansion) to packed RGB8, as Pillow's
   convert("RGB") would produce it from the mode Pillow opens the file in. */
static void png_row_to_rgb8(const uint8_t * row, uint8_t * out, uint32_t width, int channels, int depth) {
    const int grey = channels <= 2;
    if (depth == 8) {
        for (uint32_t x = 0; x < width; x++, row += channels, out += 3) {
            out[0] = row[0];
            out[1] = grey ? row[0] : row[1];
            out[2] = grey ? row[0] : row[2];
        }
        return;
    }
    for (uint32_t x = 0; x < width; x++, row += 2 * channels, out += 3) {
        if (channels == 1) {
            /* Pillow opens 16-bit grey as I;16 and clips it to 255 when converting. */
            const unsigned value = ((unsigned) row[0] << 8) | row[1];
            out[0] = out[1] = out[2] = value > 255 ? 255 : (uint8_t) value;
        } else if (grey) {
            out[0] = out[1] = out[2] = row[0];
        } else {
            out[0] = row[0];
            out[1] = row[2];
            out[2] = row[4];
        }
    }
}

/* Progressive decode state: rows arrive as the data provides them, so a file that ends early keeps
   every row (or, interlaced, every pass pixel) its bytes hold, as Pillow's incremental decoder does. */
typedef struct {
    png_failure failure;
    uint8_t * out;
    size_t out_size;
    uint32_t width, height;
    int channels, depth, interlaced;
    size_t rowbytes;
    uint8_t * image; /* interlaced: the native image, zeroed, filled pass by pass */
    uint32_t rows_done;
    int finished;
} png_progress;

static void png_progress_info(png_structp png, png_infop info) {
    png_progress * state = png_get_progressive_ptr(png);
    state->width = png_get_image_width(png, info);
    state->height = png_get_image_height(png, info);
    const int color_type = png_get_color_type(png, info);
    if ((size_t) state->width * state->height * 3 != state->out_size) {
        snprintf(state->failure.message, GR_MESSAGE_CAPACITY, "output buffer does not match %ux%u", state->width,
                 state->height);
        state->failure.status = GR_STATUS_CORRUPT;
        png_longjmp(png, 1);
    }
    if (color_type == PNG_COLOR_TYPE_PALETTE) {
        png_set_palette_to_rgb(png);
    } else if ((color_type & PNG_COLOR_MASK_COLOR) == 0 && png_get_bit_depth(png, info) < 8) {
        png_set_expand_gray_1_2_4_to_8(png);
    }
    state->interlaced = png_set_interlace_handling(png) > 1;
    png_read_update_info(png, info);
    state->channels = png_get_channels(png, info);
    state->depth = png_get_bit_depth(png, info);
    state->rowbytes = png_get_rowbytes(png, info);
    if (state->interlaced) {
        /* The pixel limit bounds it; zeroed for pixels no pass delivers. */
        state->image = calloc(state->height, state->rowbytes);
        if (!state->image) {
            snprintf(state->failure.message, GR_MESSAGE_CAPACITY, "out of memory for %ux%u interlaced image",
                     state->width, state->height);
            state->failure.status = GR_STATUS_NO_MEMORY;
            png_longjmp(png, 1);
        }
    }
}

static void png_progress_row(png_structp png, png_bytep row, png_uint_32 y, int pass) {
    png_progress * state = png_get_progressive_ptr(png);
    if (!row || y >= state->height) return;
    if (!state->interlaced) {
        png_row_to_rgb8(row, state->out + (size_t) y * state->width * 3, state->width, state->channels, state->depth);
    } else {
        /* Adam7: libpng hands each pass row widened to the full width, and for every row of the
           pass's block ("blocky" progressive display); only the pass's own rows and columns are
           taken, the others stay as earlier passes left them, as Pillow leaves them. */
        static const int start[7] = { 0, 4, 0, 2, 0, 1, 0 }, step[7] = { 8, 8, 4, 4, 2, 2, 1 };
        static const int row_start[7] = { 0, 0, 4, 0, 2, 0, 1 }, row_step[7] = { 8, 8, 8, 4, 4, 2, 2 };
        if (y < (png_uint_32) row_start[pass] || (y - row_start[pass]) % row_step[pass] != 0) return;
        const size_t pixel = state->rowbytes / state->width;
        uint8_t * target = state->image + (size_t) y * state->rowbytes;
        for (uint32_t x = start[pass]; x < state->width; x += step[pass]) {
            memcpy(target + x * pixel, row + x * pixel, pixel);
        }
    }
    state->rows_done++;
}

static void png_progress_end(png_structp png, png_infop info) {
    (void) info;
    png_progress * state = png_get_progressive_ptr(png);
    state->finished = 1;
}

int gr_png_decode_rgb8(const void * data, size_t size, void * out, size_t out_size, char * message) {
    png_source source = { data, size, 0 };
    png_progress state;
    memset(&state, 0, sizeof state);
    state.failure.message = message;
    state.failure.status = GR_STATUS_OK;
    state.out = out;
    state.out_size = out_size;
    png_structp png = NULL;
    png_infop info = NULL;
    if (png_create(&state.failure, &source, &png, &info) != GR_STATUS_OK) {
        return GR_STATUS_NO_MEMORY;
    }
    png_set_progressive_read_fn(png, &state, png_progress_info, png_progress_row, png_progress_end);
    int status = GR_STATUS_OK;
    if (setjmp(png_jmpbuf(png))) {
        status = state.failure.status;
    } else {
        png_process_data(png, info, (png_bytep) data, size);
    }
    if (status == GR_STATUS_OK && !state.finished) {
        /* The data ended early: keep what decoded, refuse a file of which nothing did. */
        snprintf(message, GR_MESSAGE_CAPACITY, "the image data ends early (%u %srows decoded)", state.rows_done,
                 state.interlaced ? "interlace pass " : "");
        status = state.rows_done > 0 ? GR_STATUS_PARTIAL : GR_STATUS_TRUNCATED;
    }
    if ((status == GR_STATUS_OK || status == GR_STATUS_PARTIAL) && state.interlaced) {
        for (uint32_t y = 0; y < state.height; y++) {
            png_row_to_rgb8(state.image + (size_t) y * state.rowbytes, state.out + (size_t) y * state.width * 3,
                            state.width, state.channels, state.depth);
        }
    }
    free(state.image);
    png_destroy_read_struct(&png, &info, NULL);
    return status;
}
