import CFFmpeg
import Foundation

/// What we know of one stream of an input, copied out of FFmpeg so it is safe to keep.
public struct StreamInfo: Sendable {
    public enum Kind: Sendable { case video, audio, other }
    public let index: Int
    public let kind: Kind
    public let codecName: String
    public let timeBase: Rational
    public let width: Int
    public let height: Int
    public let averageFrameRate: Rational
    public let sampleRate: Int
    public let channels: Int
    /// Stream duration in seconds when the container says, else nil.
    public let durationSeconds: Double?
    /// Frame count when the container says, else nil.
    public let frameCountHint: Int?
    public let startTime: Int64?
    public let bitRate: Int

    /// The container's real base frame rate (`r_frame_rate`): the fastest the frames come, which a variable-rate
    /// source's average understates.
    public let baseFrameRate: Rational
    /// The shape of one stored pixel (`sample_aspect_ratio`, as the ffmpeg CLI guesses it); 0/1 when unknown (square).
    public let sampleAspectRatio: Rational
    /// The turn the container's display matrix asks for. `width`, `height` and `sampleAspectRatio` are already as
    /// shown (a portrait phone clip stored 1920x1080 with a 90° turn reads 1080x1920), and `VideoFrameReader` hands out
    /// frames turned to match.
    public let rotation: FrameRotation

    /// The width the picture is shown at: stored width × sample aspect ratio (a 720x576 PAL picture with SAR 64:45 is
    /// shown 1024 wide, 16:9). Ladders keep this shape and encode square pixels.
    public var displayWidth: Int { StreamInfo.shownWidth(storedWidth: width, sampleAspectRatio: sampleAspectRatio) }

    /// A stored width as shown with `sampleAspectRatio` (unknown or square: as stored).
    public static func shownWidth(storedWidth width: Int, sampleAspectRatio: Rational) -> Int {
        guard sampleAspectRatio.isPositive, sampleAspectRatio.num != sampleAspectRatio.den else { return width }
        let shown = Double(width) * sampleAspectRatio.doubleValue
        // A sample aspect ratio that would stretch the picture past 4:1 either way is damage, not anamorphic video.
        guard shown.isFinite, shown >= Double(width) / 4, shown <= Double(width) * 4 else { return width }
        return max(1, Int(shown.rounded()))
    }

    public var frameRate: Double {
        averageFrameRate.den == 0 || averageFrameRate.num == 0 ? 0 : averageFrameRate.doubleValue
    }

    /// The highest rate frames arrive at: the base rate when it is above the average (a variable-rate source), else
    /// the average. What HLS's FRAME-RATE means, and what a segment's frame count is bounded by.
    public var peakFrameRate: Rational {
        let base = baseFrameRate.isPositive ? baseFrameRate.doubleValue : 0
        // A base rate far above the average is a container's timebase guess, not frames (some MP4s say 90000/1).
        return base > frameRate && base <= max(frameRate, 1) * 4 && base <= 240 ? baseFrameRate : averageFrameRate
    }
}

/// An opened input file (`AVFormatContext`), read packet by packet.
public final class Demuxer {
    let context: UnsafeMutablePointer<AVFormatContext>
    public let path: String
    public let streams: [StreamInfo]
    /// Kept alive while FFmpeg may call it (network inputs).
    private let interrupt: InterruptDeadline?

    /// Opens `path` and reads enough of it to know its streams. Throws `MediaError.cannotOpen` for
    /// anything FFmpeg will not read.
    public convenience init(path: String) throws {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw MediaError.cannotOpen(path: path, reason: "no such file")
        }
        if isDirectory.boolValue { throw MediaError.cannotOpen(path: path, reason: "is a directory") }
        guard FileManager.default.isReadableFile(atPath: path) else {
            throw MediaError.cannotOpen(path: path, reason: "permission denied")
        }
        let attributes = try? FileManager.default.attributesOfItem(atPath: path)
        // A FIFO would block, /dev/zero never ends: only files are media here.
        if let type = attributes?[.type] as? FileAttributeType, type != .typeRegular {
            let kind = type == .typeCharacterSpecial || type == .typeBlockSpecial ? "a device" : type == .typeSocket ? "a socket" : "a special file"
            throw MediaError.cannotOpen(path: path, reason: "is \(kind), not a regular file")
        }
        if let size = attributes?[.size] as? Int, size == 0 {
            throw MediaError.cannotOpen(path: path, reason: "file is empty")
        }
        var context: UnsafeMutablePointer<AVFormatContext>?
        let opened = avformat_open_input(&context, path, nil, nil)
        guard opened >= 0, let context else {
            throw MediaError.cannotOpen(path: path, reason: "not a media file FFmpeg can read (\(FFmpegError.text(for: opened)))")
        }
        try self.init(opened: context, path: path, interrupt: nil)
    }

    /// Opens a network input — a URL FFmpeg's protocols take (`rtmp://` with `listen`, `srt://` as listener, `http://`) —
    /// with protocol `options`. Every blocking wait (an accept, a read) gives up once `interrupt` says so; a URL FFmpeg
    /// cannot open, or one that names a local file, throws `MediaError.cannotOpen`.
    public convenience init(url: String, options: [String: String], interrupt: InterruptDeadline) throws {
        FFmpegLibrary.startNetwork()
        guard let context = avformat_alloc_context() else { throw MediaError.cannotOpen(path: url, reason: "out of memory") }
        context.pointee.interrupt_callback = AVIOInterruptCB(callback: { opaque in
            guard let opaque else { return 0 }
            return Unmanaged<InterruptDeadline>.fromOpaque(opaque).takeUnretainedValue().expired ? 1 : 0
        }, opaque: Unmanaged.passUnretained(interrupt).toOpaque())
        var dictionary: OpaquePointer?
        for (key, value) in options { av_dict_set(&dictionary, key, value, 0) }
        defer { av_dict_free(&dictionary) }
        var opening: UnsafeMutablePointer<AVFormatContext>? = context
        // On failure avformat_open_input frees the context itself.
        let opened = avformat_open_input(&opening, url, nil, &dictionary)
        guard opened >= 0, let openedContext = opening else {
            let reason = interrupt.expired ? "no stream arrived in time" : FFmpegError.text(for: opened)
            throw MediaError.cannotOpen(path: url, reason: reason)
        }
        try self.init(opened: openedContext, path: url, interrupt: interrupt)
    }

    private init(opened context: UnsafeMutablePointer<AVFormatContext>, path: String, interrupt: InterruptDeadline?) throws {
        self.path = path
        self.interrupt = interrupt
        let found = avformat_find_stream_info(context, nil)
        if found < 0 {
            var owned: UnsafeMutablePointer<AVFormatContext>? = context
            avformat_close_input(&owned)
            throw MediaError.cannotOpen(path: path, reason: "cannot find stream information (\(FFmpegError.text(for: found)))")
        }
        self.context = context
        var streams: [StreamInfo] = []
        for index in 0..<Int(context.pointee.nb_streams) {
            guard let stream = context.pointee.streams[index] else { continue }
            streams.append(Demuxer.describe(stream, index: index))
        }
        self.streams = streams
    }

    deinit {
        var owned: UnsafeMutablePointer<AVFormatContext>? = context
        avformat_close_input(&owned)
    }

    static func describe(_ stream: UnsafeMutablePointer<AVStream>, index: Int) -> StreamInfo {
        let rotation = FrameRotation.of(stream)
        let sampleAspect = rotation.rotated(Rational(stream.pointee.sample_aspect_ratio.num > 0 ? stream.pointee.sample_aspect_ratio
                                                                                                : stream.pointee.codecpar.pointee.sample_aspect_ratio))
        let parameters = stream.pointee.codecpar.pointee
        let kind: StreamInfo.Kind
        switch parameters.codec_type {
        case AVMEDIA_TYPE_VIDEO: kind = (stream.pointee.disposition & AV_DISPOSITION_ATTACHED_PIC) != 0 ? .other : .video
        case AVMEDIA_TYPE_AUDIO: kind = .audio
        default: kind = .other
        }
        let timeBase = Rational(stream.pointee.time_base)
        let duration: Double? = stream.pointee.duration > 0 && stream.pointee.duration != cffmpeg_nopts_value()
            ? Double(stream.pointee.duration) * timeBase.doubleValue : nil
        var rate = Rational(stream.pointee.avg_frame_rate)
        if rate.num == 0 || rate.den == 0 { rate = Rational(stream.pointee.r_frame_rate) }
        return StreamInfo(
            index: index, kind: kind,
            codecName: String(cString: avcodec_get_name(parameters.codec_id)),
            timeBase: timeBase,
            width: Int(rotation.swapsDimensions ? parameters.height : parameters.width),
            height: Int(rotation.swapsDimensions ? parameters.width : parameters.height),
            averageFrameRate: rate,
            sampleRate: Int(parameters.sample_rate),
            channels: Int(parameters.ch_layout.nb_channels),
            durationSeconds: duration,
            frameCountHint: stream.pointee.nb_frames > 0 ? Int(stream.pointee.nb_frames) : nil,
            startTime: stream.pointee.start_time == cffmpeg_nopts_value() ? nil : stream.pointee.start_time,
            bitRate: Int(parameters.bit_rate),
            baseFrameRate: Rational(stream.pointee.r_frame_rate),
            sampleAspectRatio: sampleAspect,
            rotation: rotation)
    }

    /// The container's duration in seconds, when known.
    public var durationSeconds: Double? {
        let duration = context.pointee.duration
        return duration > 0 && duration != cffmpeg_nopts_value() ? Double(duration) / Double(cffmpeg_time_base()) : nil
    }

    public var formatName: String { String(cString: context.pointee.iformat.pointee.name) }

    /// The stream FFmpeg considers the main video stream.
    public func bestVideoStream() -> StreamInfo? {
        let index = av_find_best_stream(context, AVMEDIA_TYPE_VIDEO, -1, -1, nil, 0)
        guard index >= 0 else { return nil }
        let info = streams[Int(index)]
        return info.kind == .video ? info : streams.first { $0.kind == .video }
    }

    public func bestAudioStream() -> StreamInfo? {
        let index = av_find_best_stream(context, AVMEDIA_TYPE_AUDIO, -1, -1, nil, 0)
        return index >= 0 ? streams[Int(index)] : nil
    }

    /// Codec parameters of a stream, valid while this demuxer lives.
    func codecParameters(of stream: Int) -> UnsafeMutablePointer<AVCodecParameters> {
        context.pointee.streams[stream]!.pointee.codecpar
    }

    /// Reads the next packet into `packet`; false at end of file. Damaged data past what FFmpeg can skip throws.
    public func read(into packet: Packet) throws -> Bool {
        packet.unref()
        let status = av_read_frame(context, packet.pointer)
        if status == cffmpeg_averror_eof() { return false }
        try ffCheck(status, "av_read_frame(\(path))")
        return true
    }

    /// Containers whose rewound demuxer is known to read the packets of a fresh open again, byte for byte (MPEG-TS
    /// renditions, NUT source segments, MP4 and Matroska; `RewoundDemuxerTests`).
    static let rewindableFormats: Set<String> = ["mpegts", "nut", "mov", "mp4", "matroska", "webm"]

    /// Back to the first packet, for a second pass that reads what a fresh open would (a byte seek to the start for
    /// MPEG-TS, which has no index; a seek before every timestamp otherwise). False for containers not known to read
    /// again exactly (playlists, raw streams) and when the container refuses: then open the file again.
    public func rewind() -> Bool {
        let names = Set(formatName.split(separator: ",").map(String.init))
        guard !names.isDisjoint(with: Self.rewindableFormats) else { return false }
        let status = names.contains("mpegts")
            ? av_seek_frame(context, -1, 0, cffmpeg_seek_flag_byte())
            : avformat_seek_file(context, -1, Int64.min, Int64.min, Int64.max, 0)
        return status >= 0
    }

    /// Seeks the given stream to the last keyframe at or before `timestamp` (stream time base).
    public func seek(stream: Int, toKeyframeBefore timestamp: Int64) throws {
        try ffCheck(av_seek_frame(context, Int32(stream), timestamp, cffmpeg_seek_flag_backward()), "av_seek_frame")
    }
}
