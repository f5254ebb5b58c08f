import CFFmpeg
import Foundation

/// An output container (`AVFormatContext` for writing). The output file can be switched between
/// packets, which is how one muxer per rendition writes a run of HLS segments with continuous
/// timestamps and MPEG-TS continuity counters.
public final class Muxer {
    let context: UnsafeMutablePointer<AVFormatContext>
    public let formatName: String
    private var headerWritten = false
    private var trailerWritten = false
    private var inputTimeBases: [Rational] = []
    /// The last DTS written per stream (in the stream's time base), kept across the files a muxer rotates through.
    private var lastDTS: [Int: Int64] = [:]
    public private(set) var currentPath: String?

    /// Creates a muxer for a container format by FFmpeg's short name (`mpegts`, `mp4`, `matroska`…).
    public init(format: String) throws {
        var context: UnsafeMutablePointer<AVFormatContext>?
        try ffCheck(avformat_alloc_output_context2(&context, nil, format, nil), "avformat_alloc_output_context2(\(format))")
        guard let context else { throw FFmpegError(code: cffmpeg_averror(ENOMEM), function: "avformat_alloc_output_context2") }
        self.context = context
        formatName = format
        // Timestamps are ours to choose; keep FFmpeg from shifting them. MPEG-TS reads max_delay as how long audio
        // may wait to share a PES packet: at 0 each AAC frame gets a PES (and its headers) of its own, which took a
        // 128 kbit/s audio rendition to 210-220 kbit/s on the wire. 0.7 s is what the ffmpeg CLI gives it (-muxdelay).
        context.pointee.max_delay = format == "mpegts" ? 700_000 : 0
        // … and `copyts` keeps it from adding that delay to every timestamp.
        if format == "mpegts" {
            try ffCheck(av_opt_set(context.pointee.priv_data, "mpegts_copyts", "1", 0), "av_opt_set(mpegts_copyts)")
            // Tables once per segment (a segment starts with them: `resend_headers`), not before every audio PES.
            for option in ["pat_period", "sdt_period"] {
                try ffCheck(av_opt_set(context.pointee.priv_data, option, "10", 0), "av_opt_set(\(option))")
            }
        }
    }

    deinit {
        if context.pointee.pb != nil { avio_closep(&context.pointee.pb) }
        avformat_free_context(context)
    }

    /// Whether streams must carry codec headers out of band (true for MP4).
    public var wantsGlobalHeader: Bool { (context.pointee.oformat.pointee.flags & cffmpeg_fmt_globalheader()) != 0 }

    /// Adds a stream fed by `encoder`; returns its index.
    @discardableResult
    public func addStream(from encoder: Encoder) throws -> Int {
        guard let stream = avformat_new_stream(context, nil) else { throw FFmpegError(code: cffmpeg_averror(ENOMEM), function: "avformat_new_stream") }
        try encoder.copyParameters(to: stream.pointee.codecpar)
        preferTag(stream)
        stream.pointee.time_base = encoder.timeBase.av
        if encoder.settings.frameRate.num > 0 { stream.pointee.avg_frame_rate = encoder.settings.frameRate.av }
        inputTimeBases.append(encoder.timeBase)
        return Int(stream.pointee.index)
    }

    /// Adds a stream that copies packets of an input stream unchanged.
    @discardableResult
    public func addStream(copying stream: StreamInfo, of demuxer: Demuxer) throws -> Int {
        guard let output = avformat_new_stream(context, nil) else { throw FFmpegError(code: cffmpeg_averror(ENOMEM), function: "avformat_new_stream") }
        try ffCheck(avcodec_parameters_copy(output.pointee.codecpar, demuxer.codecParameters(of: stream.index)), "avcodec_parameters_copy")
        output.pointee.codecpar.pointee.codec_tag = 0
        preferTag(output)
        output.pointee.time_base = stream.timeBase.av
        inputTimeBases.append(stream.timeBase)
        return Int(output.pointee.index)
    }

    func registerInputTimeBase(_ timeBase: Rational) { inputTimeBases.append(timeBase) }

    /// Points the muxer at a new output file (closing the previous one).
    public func open(path: String) throws {
        if context.pointee.pb != nil { avio_closep(&context.pointee.pb) }
        let status = avio_open(&context.pointee.pb, path, cffmpeg_avio_flag_write())
        if status < 0 { throw MediaError.cannotWrite(path: path, reason: FFmpegError.text(for: status)) }
        currentPath = path
    }

    /// Writes the container header into the current file; `options` are muxer options (`movflags`…).
    public func writeHeader(options: [String: String] = [:]) throws {
        var dictionary: OpaquePointer?
        for (key, value) in options { av_dict_set(&dictionary, key, value, 0) }
        defer { av_dict_free(&dictionary) }
        try ffCheck(avformat_write_header(context, &dictionary), "avformat_write_header(\(formatName))")
        headerWritten = true
    }

    /// HEVC in MP4 as `hvc1` (parameter sets in the sample entry), the tag Apple's players require; FFmpeg's default is hev1.
    func preferTag(_ stream: UnsafeMutablePointer<AVStream>) {
        guard formatName == "mp4", stream.pointee.codecpar.pointee.codec_id == AV_CODEC_ID_HEVC else { return }
        stream.pointee.codecpar.pointee.codec_tag = UInt32(UInt8(ascii: "h")) | UInt32(UInt8(ascii: "v")) << 8
            | UInt32(UInt8(ascii: "c")) << 16 | UInt32(UInt8(ascii: "1")) << 24
    }

    /// Sets a private option of the muxer between packets (e.g. MPEG-TS `mpegts_flags=resend_headers`).
    public func setOption(_ key: String, _ value: String) throws {
        try ffCheck(av_opt_set(context.pointee.priv_data, key, value, 0), "av_opt_set(\(key))")
    }

    /// The time base the muxer chose for a stream (valid after `writeHeader`).
    public func timeBase(of stream: Int) -> Rational { Rational(context.pointee.streams[stream]!.pointee.time_base) }

    /// Writes one packet whose timestamps are in the stream's input time base.
    public func write(_ packet: Packet, stream: Int) throws {
        packet.pointer.pointee.stream_index = Int32(stream)
        packet.rescale(from: inputTimeBases[stream], to: timeBase(of: stream))
        packet.pointer.pointee.pos = -1
        // Segments are encoded by encoders of their own, each starting its DTS its B-frame delay before its first
        // frame; where the frame spacing changes between segments (a variable-rate source) that delay can reach back
        // past the previous segment's last DTS. Those first DTS values are raised just past it: they stay below
        // every PTS of the new segment, which all follow the previous segment's.
        let dts = packet.pointer.pointee.dts
        if dts != cffmpeg_nopts_value(), let last = lastDTS[stream], dts <= last {
            packet.pointer.pointee.dts = last + 1
        }
        if packet.pointer.pointee.dts != cffmpeg_nopts_value() { lastDTS[stream] = packet.pointer.pointee.dts }
        try ffCheck(av_interleaved_write_frame(context, packet.pointer), "av_interleaved_write_frame(\(currentPath ?? formatName))")
    }

    /// Pushes everything buffered into the current file; for fragmented MP4 this closes a fragment.
    public func flush() throws {
        try ffCheck(av_interleaved_write_frame(context, nil), "av_interleaved_write_frame(flush)")
        try ffCheck(av_write_frame(context, nil), "av_write_frame(flush)")
        avio_flush(context.pointee.pb)
    }

    /// Closes the current file and returns its size in bytes.
    @discardableResult
    public func closeFile() throws -> Int {
        guard context.pointee.pb != nil else { return 0 }
        avio_flush(context.pointee.pb)
        let error = context.pointee.pb.pointee.error
        avio_closep(&context.pointee.pb)
        let path = currentPath ?? ""
        currentPath = nil
        if error < 0 { throw MediaError.cannotWrite(path: path, reason: FFmpegError.text(for: error)) }
        let size = (try? FileManager.default.attributesOfItem(atPath: path))?[.size] as? Int
        return size ?? 0
    }

    /// Writes the trailer. With `discard`, into a memory buffer that is thrown away (used when every
    /// segment is already complete and the trailer would only append an index to the last one).
    public func finish(discard: Bool = false) throws {
        guard headerWritten, !trailerWritten else { return }
        trailerWritten = true
        if discard {
            if context.pointee.pb != nil { avio_closep(&context.pointee.pb) }
            try ffCheck(avio_open_dyn_buf(&context.pointee.pb), "avio_open_dyn_buf")
            try ffCheck(av_write_trailer(context), "av_write_trailer")
            var buffer: UnsafeMutablePointer<UInt8>?
            _ = avio_close_dyn_buf(context.pointee.pb, &buffer)
            av_free(buffer)
            context.pointee.pb = nil
        } else {
            try ffCheck(av_write_trailer(context), "av_write_trailer")
            try closeFile()
        }
    }
}
