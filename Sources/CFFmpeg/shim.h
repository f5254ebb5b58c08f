// The one C shim for Prism: FFmpeg headers plus cffmpeg_-prefixed helpers for what Swift
// cannot import (function-like macros, compound literals, fields that move between versions).
#ifndef CFFMPEG_SHIM_H
#define CFFMPEG_SHIM_H

#include <libavformat/avformat.h>
#include <libavcodec/avcodec.h>
#include <libavfilter/avfilter.h>
#include <libavfilter/buffersink.h>
#include <libavfilter/buffersrc.h>
#include <libswscale/swscale.h>
#include <libswresample/swresample.h>
#include <libavutil/avutil.h>
#include <libavutil/opt.h>
#include <libavutil/imgutils.h>
#include <libavutil/pixdesc.h>
#include <libavutil/display.h>
#include <libavutil/hwcontext.h>
#include <libavutil/channel_layout.h>
#include <libavutil/audio_fifo.h>
#include <libavutil/log.h>
#include <libavutil/error.h>

#include <stdio.h>
/// The C standard output `print` writes through, line-buffered (a pipe then sees each line as it is printed), and
/// flushed: Swift 6 cannot name C's global `stdout` from concurrent code.
static inline void cffmpeg_stdout_line_buffered(void) { setvbuf(stdout, NULL, _IOLBF, 0); }
static inline void cffmpeg_stdout_flush(void) { fflush(stdout); }

#if defined(__GLIBC__)
#include <malloc.h>
/// Fixes glibc's mmap threshold at `bytes`, so blocks that large are mapped and returned when freed.
static inline void cffmpeg_fix_mmap_threshold(int bytes) { mallopt(M_MMAP_THRESHOLD, bytes); }
/// Fixes glibc's trim threshold at `bytes`: free memory at the heap's top is kept until it exceeds that.
static inline void cffmpeg_fix_trim_threshold(int bytes) { mallopt(M_TRIM_THRESHOLD, bytes); }
#else
static inline void cffmpeg_fix_mmap_threshold(int bytes) { (void)bytes; }
static inline void cffmpeg_fix_trim_threshold(int bytes) { (void)bytes; }
#endif

static inline int cffmpeg_averror(int posix) { return AVERROR(posix); }
static inline int cffmpeg_averror_eof(void) { return AVERROR_EOF; }
static inline int cffmpeg_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int cffmpeg_averror_invaliddata(void) { return AVERROR_INVALIDDATA; }
static inline int cffmpeg_frame_flag_corrupt(void) { return AV_FRAME_FLAG_CORRUPT; }
static inline int cffmpeg_averror_decoder_not_found(void) { return AVERROR_DECODER_NOT_FOUND; }
static inline int cffmpeg_averror_encoder_not_found(void) { return AVERROR_ENCODER_NOT_FOUND; }
static inline int64_t cffmpeg_nopts_value(void) { return AV_NOPTS_VALUE; }
static inline AVRational cffmpeg_time_base_q(void) { return AV_TIME_BASE_Q; }
static inline int cffmpeg_time_base(void) { return AV_TIME_BASE; }
static inline int cffmpeg_error_max_string_size(void) { return AV_ERROR_MAX_STRING_SIZE; }

/// Frame duration: `pkt_duration` before libavutil 57.30 (FFmpeg 5.1 has both names pending), `duration` after.
static inline int64_t cffmpeg_frame_duration(const AVFrame *frame) {
#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 30, 100)
    return frame->duration;
#else
    return frame->pkt_duration;
#endif
}
static inline void cffmpeg_frame_set_duration(AVFrame *frame, int64_t duration) {
#if LIBAVUTIL_VERSION_INT >= AV_VERSION_INT(57, 30, 100)
    frame->duration = duration;
#else
    frame->pkt_duration = duration;
#endif
}

/// Key-frame flag: a field in FFmpeg 5/6, a flag bit from FFmpeg 7.
static inline int cffmpeg_frame_is_key(const AVFrame *frame) {
#if LIBAVUTIL_VERSION_MAJOR >= 59
    return (frame->flags & AV_FRAME_FLAG_KEY) != 0;
#else
    return frame->key_frame;
#endif
}

static inline int cffmpeg_packet_is_key(const AVPacket *pkt) { return (pkt->flags & AV_PKT_FLAG_KEY) != 0; }
static inline void cffmpeg_packet_set_key(AVPacket *pkt) { pkt->flags |= AV_PKT_FLAG_KEY; }

static inline int cffmpeg_codec_flag_global_header(void) { return AV_CODEC_FLAG_GLOBAL_HEADER; }
static inline int cffmpeg_codec_flag_closed_gop(void) { return AV_CODEC_FLAG_CLOSED_GOP; }
static inline int cffmpeg_fmt_globalheader(void) { return AVFMT_GLOBALHEADER; }
static inline int cffmpeg_fmt_nofile(void) { return AVFMT_NOFILE; }
static inline int cffmpeg_avio_flag_write(void) { return AVIO_FLAG_WRITE; }
static inline int cffmpeg_seek_flag_backward(void) { return AVSEEK_FLAG_BACKWARD; }
static inline int cffmpeg_seek_flag_byte(void) { return AVSEEK_FLAG_BYTE; }
static inline int cffmpeg_codec_cap_delay(void) { return AV_CODEC_CAP_DELAY; }
static inline int cffmpeg_codec_cap_variable_frame_size(void) { return AV_CODEC_CAP_VARIABLE_FRAME_SIZE; }
static inline int cffmpeg_sws_bicubic(void) { return SWS_BICUBIC; }
static inline int cffmpeg_sws_bilinear(void) { return SWS_BILINEAR; }
static inline int cffmpeg_sws_area(void) { return SWS_AREA; }
static inline int cffmpeg_sws_lanczos(void) { return SWS_LANCZOS; }
static inline int cffmpeg_sws_fast_bilinear(void) { return SWS_FAST_BILINEAR; }
static inline int cffmpeg_sws_spline(void) { return SWS_SPLINE; }
static inline int cffmpeg_sws_accurate_rnd(void) { return SWS_ACCURATE_RND; }
static inline int cffmpeg_sws_full_chr_h_int(void) { return SWS_FULL_CHR_H_INT; }

/// Counts what decoders report as errors (concealed damage included: a frame-threaded H.264 decoder conceals a
/// truncated picture without flagging the frame) into the int a decoder context's `opaque` points at, then logs as
/// FFmpeg would. Decoders that set no `opaque` are not counted.
static void cffmpeg_log_callback(void *avcl, int level, const char *fmt, va_list vl) {
    if (avcl && level <= AV_LOG_ERROR) {
        const AVClass *cls = *(const AVClass **)avcl;
        if (cls == avcodec_get_class()) {
            AVCodecContext *context = (AVCodecContext *)avcl;
            if (context->opaque && context->codec && av_codec_is_decoder(context->codec)) {
                __atomic_fetch_add((int *)context->opaque, 1, __ATOMIC_RELAXED);
            }
        }
    }
    av_log_default_callback(avcl, level, fmt, vl);
}
static inline void cffmpeg_install_log_callback(void) { av_log_set_callback(cffmpeg_log_callback); }
static inline int cffmpeg_atomic_load(int *value) { return __atomic_load_n(value, __ATOMIC_RELAXED); }

/// Silences FFmpeg's own logging below `level` (AV_LOG_* values).
static inline void cffmpeg_set_log_level(int level) { av_log_set_level(level); }
static inline int cffmpeg_log_error(void) { return AV_LOG_ERROR; }
static inline int cffmpeg_log_quiet(void) { return AV_LOG_QUIET; }
static inline int cffmpeg_log_warning(void) { return AV_LOG_WARNING; }

#endif
