import CFFmpeg
import Foundation

/// An FFmpeg filter chain over one video stream (`buffer` → the chain → `buffersink`), made for frames like the first
/// one it is given: frames in with `push`, filtered frames out with `pull`. Used for what the ffmpeg CLI does to a
/// source before scaling: turning it upright (`transpose`, `hflip,vflip`) and deinterlacing it (`bwdif`).
final class FilterGraph {
    private var graph: UnsafeMutablePointer<AVFilterGraph>?
    private var source: UnsafeMutablePointer<AVFilterContext>?
    private var sink: UnsafeMutablePointer<AVFilterContext>?
    private var flushed = false

    /// FFmpeg's `bwdif` (the deinterlacer the ffmpeg CLI's documentation recommends for quality): one frame out per frame
    /// in (`send_frame`), timestamps kept, only frames flagged interlaced touched (a mixed source keeps its progressive ones).
    static let deinterlace = "bwdif=mode=send_frame:parity=auto:deint=interlaced"

    init(_ description: String, like frame: Frame, timeBase: Rational) throws {
        guard let graph = avfilter_graph_alloc() else { throw FFmpegError(code: cffmpeg_averror(ENOMEM), function: "avfilter_graph_alloc") }
        self.graph = graph
        let aspect = frame.pointer.pointee.sample_aspect_ratio
        let arguments = "video_size=\(frame.width)x\(frame.height):pix_fmt=\(frame.pointer.pointee.format):time_base=\(timeBase.num)/\(max(timeBase.den, 1))"
            + ":pixel_aspect=\(max(aspect.num, 0))/\(max(aspect.den, 1))"
        try ffCheck(avfilter_graph_create_filter(&source, avfilter_get_by_name("buffer"), "in", arguments, nil, graph), "avfilter_graph_create_filter(buffer)")
        try ffCheck(avfilter_graph_create_filter(&sink, avfilter_get_by_name("buffersink"), "out", nil, nil, graph), "avfilter_graph_create_filter(buffersink)")
        // The parser takes the open ends of the graph and leaves what it did not link (normally nothing) to be freed.
        var outputs: UnsafeMutablePointer<AVFilterInOut>? = avfilter_inout_alloc()
        var inputs: UnsafeMutablePointer<AVFilterInOut>? = avfilter_inout_alloc()
        defer { avfilter_inout_free(&outputs); avfilter_inout_free(&inputs) }
        guard let sourceEnd = outputs, let sinkEnd = inputs else { throw FFmpegError(code: cffmpeg_averror(ENOMEM), function: "avfilter_inout_alloc") }
        (sourceEnd.pointee.name, sourceEnd.pointee.filter_ctx, sourceEnd.pointee.pad_idx) = (av_strdup("in"), source, 0)
        (sinkEnd.pointee.name, sinkEnd.pointee.filter_ctx, sinkEnd.pointee.pad_idx) = (av_strdup("out"), sink, 0)
        try ffCheck(avfilter_graph_parse_ptr(graph, description, &inputs, &outputs, nil), "avfilter_graph_parse_ptr(\(description))")
        try ffCheck(avfilter_graph_config(graph, nil), "avfilter_graph_config")
    }

    deinit { avfilter_graph_free(&graph) }

    /// Hands a frame to the chain (nil: the input ended, let the last frames out).
    func push(_ frame: Frame?) throws {
        if frame == nil {
            guard !flushed else { return }
            flushed = true
        }
        try ffCheck(av_buffersrc_add_frame_flags(source, frame?.pointer, Int32(AV_BUFFERSRC_FLAG_KEEP_REF)), "av_buffersrc_add_frame_flags")
    }

    /// The next filtered frame, or nil when the chain needs more input (or has given everything after a flush).
    func pull() throws -> Frame? {
        let frame = Frame()
        let result = av_buffersink_get_frame(sink, frame.pointer)
        if result == cffmpeg_averror_eagain() || result == cffmpeg_averror_eof() { return nil }
        try ffCheck(result, "av_buffersink_get_frame")
        return frame
    }
}
