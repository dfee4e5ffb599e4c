#include "CGuardrailShims.h"

#include <libavutil/display.h>
#include <libavutil/time.h>
#include <math.h>

int gr_averror(int errnum) { return AVERROR(errnum); }
int gr_averror_eof(void) { return AVERROR_EOF; }
int gr_averror_eagain(void) { return AVERROR(EAGAIN); }
int gr_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
int gr_averror_exit(void) { return AVERROR_EXIT; }
int gr_averror_decoder_not_found(void) { return AVERROR_DECODER_NOT_FOUND; }
int gr_averror_demuxer_not_found(void) { return AVERROR_DEMUXER_NOT_FOUND; }
int gr_averror_patchwelcome(void) { return AVERROR_PATCHWELCOME; }
int64_t gr_av_nopts_value(void) { return AV_NOPTS_VALUE; }
int gr_av_time_base(void) { return AV_TIME_BASE; }

int gr_frame_is_keyframe(const AVFrame * frame) {
#if LIBAVUTIL_VERSION_MAJOR > 58 || (LIBAVUTIL_VERSION_MAJOR == 58 && LIBAVUTIL_VERSION_MINOR >= 29)
    return (frame->flags & AV_FRAME_FLAG_KEY) != 0;
#else
    return frame->key_frame != 0;
#endif
}

int gr_frame_has_errors(const AVFrame * frame) {
    return (frame->flags & AV_FRAME_FLAG_CORRUPT) != 0 || frame->decode_error_flags != 0;
}

static const int32_t * stream_display_matrix(const AVStream * stream) {
#if LIBAVFORMAT_VERSION_MAJOR > 60 || (LIBAVFORMAT_VERSION_MAJOR == 60 && LIBAVFORMAT_VERSION_MINOR >= 15)
    const AVPacketSideData * side = av_packet_side_data_get(
        stream->codecpar->coded_side_data, stream->codecpar->nb_coded_side_data, AV_PKT_DATA_DISPLAYMATRIX);
    return side && side->size >= 9 * sizeof(int32_t) ? (const int32_t *) side->data : NULL;
#else
    size_t size = 0;
    const uint8_t * data = av_stream_get_side_data(stream, AV_PKT_DATA_DISPLAYMATRIX, &size);
    return data && size >= 9 * sizeof(int32_t) ? (const int32_t *) data : NULL;
#endif
}

int gr_stream_rotation_degrees(const AVStream * stream) {
    const int32_t * matrix = stream_display_matrix(stream);
    if (!matrix) {
        return 0;
    }
    /* av_display_rotation_get is counter-clockwise; the ffmpeg CLI negates it the same way. */
    double theta = -av_display_rotation_get(matrix);
    if (isnan(theta)) {
        return 0;
    }
    theta -= 360.0 * floor(theta / 360.0 + 0.9 / 360.0);
    int quarter = (int) lround(theta / 90.0) % 4;
    return quarter * 90;
}

int gr_stream_index_count(AVStream * stream) {
    return avformat_index_get_entries_count(stream);
}

int64_t gr_stream_keyframe_at_or_before(AVStream * stream, int64_t timestamp) {
    int index = av_index_search_timestamp(stream, timestamp, AVSEEK_FLAG_BACKWARD);
    if (index < 0) {
        return AV_NOPTS_VALUE;
    }
    const AVIndexEntry * entry = avformat_index_get_entry(stream, index);
    return entry ? entry->timestamp : AV_NOPTS_VALUE;
}

static int deadline_passed(void * opaque) {
    const int64_t * deadline = opaque;
    return *deadline > 0 && av_gettime_relative() > *deadline;
}

void gr_format_set_deadline(AVFormatContext * context, int64_t * deadline_us) {
    context->interrupt_callback.callback = deadline_passed;
    context->interrupt_callback.opaque = deadline_us;
}

int64_t gr_time_relative_us(void) { return av_gettime_relative(); }
