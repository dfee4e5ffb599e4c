#include "CGuardrailShims.h"

#include <stdio.h>
#include <string.h>
#include <turbojpeg.h>

/* TurboJPEG 2.x: handles are per call, so decoding is thread-safe without locks. */

static int jpeg_fail(tjhandle handle, const char * call, char * message) {
    snprintf(message, GR_MESSAGE_CAPACITY, "%s: %s", call, tjGetErrorStr2(handle));
    int status = strstr(message, "Premature end") || strstr(message, "premature end")
        ? GR_STATUS_TRUNCATED : GR_STATUS_CORRUPT;
    if (strstr(message, "Unsupported") || strstr(message, "unsupported")) {
        status = GR_STATUS_UNSUPPORTED;
    }
    if (strstr(message, "Maximum supported image dimension")) {
        status = GR_STATUS_TOO_LARGE;
    }
    tjDestroy(handle);
    return status;
}

/* Reads the header; a warning (TurboJPEG reports one as a failure after reading the whole header)
   is kept in `message` and the header values stand. */
static int jpeg_header(tjhandle handle, const void * data, size_t size, int * width, int * height,
                       int * subsampling, int * colorspace, char * message) {
    if (tjDecompressHeader3(handle, data, (unsigned long) size, width, height, subsampling, colorspace) != 0) {
        if (tjGetErrorCode(handle) != TJERR_WARNING || *width <= 0 || *height <= 0) {
            return jpeg_fail(handle, "tjDecompressHeader3", message);
        }
        snprintf(message, GR_MESSAGE_CAPACITY, "%s", tjGetErrorStr2(handle));
    }
    return GR_STATUS_OK;
}

int gr_jpeg_read_info(const void * data, size_t size, int * width, int * height,
                      int * subsampling, int * colorspace, char * message) {
    message[0] = 0;
    tjhandle handle = tjInitDecompress();
    if (!handle) {
        snprintf(message, GR_MESSAGE_CAPACITY, "tjInitDecompress: %s", tjGetErrorStr2(NULL));
        return GR_STATUS_NO_MEMORY;
    }
    *width = *height = 0;
    const int status = jpeg_header(handle, data, size, width, height, subsampling, colorspace, message);
    if (status != GR_STATUS_OK) return status;
    tjDestroy(handle);
    return GR_STATUS_OK;
}

int gr_jpeg_decode(const void * data, size_t size, void * out, size_t out_size, int channels,
                   char * message) {
    message[0] = 0;
    tjhandle handle = tjInitDecompress();
    if (!handle) {
        snprintf(message, GR_MESSAGE_CAPACITY, "tjInitDecompress: %s", tjGetErrorStr2(NULL));
        return GR_STATUS_NO_MEMORY;
    }
    int width = 0, height = 0, subsampling = 0, colorspace = 0;
    const int header = jpeg_header(handle, data, size, &width, &height, &subsampling, &colorspace, message);
    if (header != GR_STATUS_OK) return header;
    if ((size_t) width * height * channels != out_size) {
        snprintf(message, GR_MESSAGE_CAPACITY, "output buffer does not match %dx%d", width, height);
        tjDestroy(handle);
        return GR_STATUS_CORRUPT;
    }
    const int format = channels == 4 ? TJPF_CMYK : TJPF_RGB;
    /* LIMITSCANS refuses progressive files with absurd scan counts (a known CPU bomb). */
    if (tjDecompress2(handle, data, (unsigned long) size, out, width, 0, height, format, TJFLAG_LIMITSCANS) != 0) {
        if (tjGetErrorCode(handle) == TJERR_FATAL) {
            return jpeg_fail(handle, "tjDecompress2", message);
        }
        /* A warning: libjpeg decoded past it. When the data ended early, the rows after it hold
           what libjpeg fills missing data with. */
        const char * warning = tjGetErrorStr2(handle);
        snprintf(message, GR_MESSAGE_CAPACITY, "%s", warning);
        const int partial = strstr(warning, "Premature end") != NULL;
        tjDestroy(handle);
        return partial ? GR_STATUS_PARTIAL : GR_STATUS_OK;
    }
    tjDestroy(handle);
    return GR_STATUS_OK;
}
