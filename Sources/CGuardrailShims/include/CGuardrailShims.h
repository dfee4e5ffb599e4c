#ifndef CGUARDRAILSHIMS_H
#define CGUARDRAILSHIMS_H

#include <stddef.h>
#include <stdint.h>
#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>

/* Status codes shared by the image decode entry points. GR_STATUS_OK with a non-empty message
   means the decoder warned (damaged data it read past, as browsers and Pillow do); the message
   says what. GR_STATUS_PARTIAL means the data ended early: the part present is decoded, the rest
   filled as the decoder fills it (libjpeg's grey, zeros for PNG rows never read). */
enum {
    GR_STATUS_OK = 0,
    GR_STATUS_CORRUPT = 1,
    GR_STATUS_TRUNCATED = 2,
    GR_STATUS_UNSUPPORTED = 3,
    GR_STATUS_TOO_LARGE = 4,
    GR_STATUS_NO_MEMORY = 5,
    GR_STATUS_PARTIAL = 6
};

/* Size of the message buffers the decode functions fill. */
#define GR_MESSAGE_CAPACITY 256

/* Libraries whose versions the tests pin. */
enum {
    GR_LIBRARY_AVFORMAT = 0,
    GR_LIBRARY_AVCODEC = 1,
    GR_LIBRARY_AVUTIL = 2,
    GR_LIBRARY_SWSCALE = 3,
    GR_LIBRARY_PNG = 4,
    GR_LIBRARY_WEBP_DEMUX = 5,
    GR_LIBRARY_TURBOJPEG = 6
};

/* The run-time version of a library: FFmpeg's AV_VERSION_INT, libpng's 10639 form, libwebp's 0xMMmmpp;
 * for libjpeg-turbo, whose 2.x API has no run-time query, the headers' 2001005 form. */
unsigned gr_library_version(int library);

/* ---- FFmpeg macros and version-dependent fields (ffmpeg_shims.c) ---- */

int gr_averror(int errnum);
int gr_averror_eof(void);
int gr_averror_eagain(void);
int gr_averror_invaliddata(void);
int gr_averror_exit(void);
int gr_averror_decoder_not_found(void);
int gr_averror_demuxer_not_found(void);
int gr_averror_patchwelcome(void);
int64_t gr_av_nopts_value(void);
int gr_av_time_base(void);

/* 1 when the decoded frame is a keyframe (key_frame in 5.x, AV_FRAME_FLAG_KEY later). */
int gr_frame_is_keyframe(const AVFrame * frame);
/* 1 when the decoder flagged the frame as corrupt or reported concealed errors. */
int gr_frame_has_errors(const AVFrame * frame);
/* Clockwise display rotation of the stream in degrees, normalised to 0, 90, 180 or 270. */
int gr_stream_rotation_degrees(const AVStream * stream);
/* Number of index entries known for the stream, and the timestamp of the last keyframe at or
   before `timestamp` (AV_NOPTS_VALUE when none is indexed). */
int gr_stream_index_count(AVStream * stream);
int64_t gr_stream_keyframe_at_or_before(AVStream * stream, int64_t timestamp);
/* Makes every blocking call on `context` fail once av_gettime_relative() passes *deadline_us. */
void gr_format_set_deadline(AVFormatContext * context, int64_t * deadline_us);
int64_t gr_time_relative_us(void);

/* ---- PNG through libpng's classic API; the setjmp stays in C (png_shims.c) ---- */

/* Reads the header only: dimensions, bit depth and colour type. */
int gr_png_read_info(const void * data, size_t size, uint32_t * width, uint32_t * height,
                     int * bit_depth, int * color_type, char * message);
/* Decodes to packed 8-bit RGB into `out` (width * height * 3 bytes), the way Pillow's
   Image.open(p).convert("RGB") does: no gamma, alpha dropped, 16-bit colour truncated to its
   high byte, 16-bit grey clipped to 255 (Pillow's I;16 -> RGB). */
int gr_png_decode_rgb8(const void * data, size_t size, void * out, size_t out_size, char * message);

/* ---- JPEG through TurboJPEG 2.x, which never longjmps (jpeg_shims.c) ---- */

/* colorspace is a TJCS value; subsampling a TJSAMP value. */
int gr_jpeg_read_info(const void * data, size_t size, int * width, int * height,
                      int * subsampling, int * colorspace, char * message);
/* Decodes to packed RGB (channels == 3) or raw CMYK (channels == 4) into `out`. Warnings (extraneous
   bytes before a marker, short segments) are decoded past and reported in `message`; a stream that
   ends early gives GR_STATUS_PARTIAL with the missing area filled as libjpeg fills it. */
int gr_jpeg_decode(const void * data, size_t size, void * out, size_t out_size, int channels,
                   char * message);

#endif
