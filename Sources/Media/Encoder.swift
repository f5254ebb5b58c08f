import CFFmpeg

/// Everything needed to open a video encoder.
public struct VideoEncoderSettings: Sendable {
    public var encoderName: String
    public var width: Int
    public var height: Int
    public var pixelFormat: PixelFormat = .yuv420p
    public var timeBase: Rational
    public var frameRate: Rational
    /// Target average bit rate in bits per second.
    public var bitRate: Int?
    public var maxRate: Int?
    public var bufferSize: Int?
    public var gopSize: Int?
    public var maxBFrames: Int?
    public var threads: Int = 0
    /// The muxer wants codec headers out of band (MP4) rather than in the stream (MPEG-TS).
    public var globalHeader = false
    /// Encoder-private options (`preset`, `x264-params`, …), passed as an AVDictionary.
    public var options: [String: String] = [:]
    /// A hardware frames context to encode from, for encoders that only take GPU frames.
    public var hardwareFrames: HardwareFramesContext?

    public init(encoderName: String, width: Int, height: Int, timeBase: Rational, frameRate: Rational) {
        self.encoderName = encoderName
        self.width = width
        self.height = height
        self.timeBase = timeBase
        self.frameRate = frameRate
    }
}

/// An opened encoder (`AVCodecContext`).
public final class Encoder: @unchecked Sendable {  // unchecked: an FFmpeg codec context, used by one thread at a time (handed over, never shared)
    let context: UnsafeMutablePointer<AVCodecContext>
    public let name: String
    public let settings: VideoEncoderSettings

    /// Opens the named encoder. Throws `MediaError.encoderUnavailable` when FFmpeg lacks it or it will not
    /// open on this host (a hardware encoder without its device).
    public init(video settings: VideoEncoderSettings) throws {
        guard let codec = avcodec_find_encoder_by_name(settings.encoderName) else {
            throw MediaError.encoderUnavailable(name: settings.encoderName, reason: "not built into this FFmpeg")
        }
        guard let context = avcodec_alloc_context3(codec) else { fatalError("avcodec_alloc_context3: out of memory") }
        self.context = context
        self.settings = settings
        name = settings.encoderName
        context.pointee.width = Int32(settings.width)
        context.pointee.height = Int32(settings.height)
        context.pointee.pix_fmt = settings.pixelFormat.av
        context.pointee.time_base = settings.timeBase.av
        context.pointee.framerate = settings.frameRate.av
        context.pointee.sample_aspect_ratio = AVRational(num: 1, den: 1)
        if let bitRate = settings.bitRate { context.pointee.bit_rate = Int64(bitRate) }
        if let maxRate = settings.maxRate { context.pointee.rc_max_rate = Int64(maxRate) }
        if let bufferSize = settings.bufferSize { context.pointee.rc_buffer_size = Int32(bufferSize) }
        if let gop = settings.gopSize { context.pointee.gop_size = Int32(gop) }
        if let bFrames = settings.maxBFrames { context.pointee.max_b_frames = Int32(bFrames) }
        context.pointee.thread_count = Int32(settings.threads)
        if settings.globalHeader { context.pointee.flags |= cffmpeg_codec_flag_global_header() }
        if let frames = settings.hardwareFrames { context.pointee.hw_frames_ctx = av_buffer_ref(frames.reference) }
        var dictionary: OpaquePointer?
        for (key, value) in settings.options { av_dict_set(&dictionary, key, value, 0) }
        let opened = avcodec_open2(context, codec, &dictionary)
        av_dict_free(&dictionary)
        if opened < 0 {
            throw MediaError.encoderUnavailable(name: settings.encoderName, reason: FFmpegError.text(for: opened))
        }
    }

    /// Opens an audio encoder (AAC in Prism's use).
    public init(audio encoderName: String, sampleRate: Int, channels: Int, bitRate: Int, globalHeader: Bool) throws {
        guard let codec = avcodec_find_encoder_by_name(encoderName) else {
            throw MediaError.encoderUnavailable(name: encoderName, reason: "not built into this FFmpeg")
        }
        guard let context = avcodec_alloc_context3(codec) else { fatalError("avcodec_alloc_context3: out of memory") }
        self.context = context
        name = encoderName
        settings = VideoEncoderSettings(encoderName: encoderName, width: 0, height: 0,
                                        timeBase: Rational(num: 1, den: Int32(sampleRate)), frameRate: Rational(num: 0, den: 1))
        context.pointee.sample_fmt = AV_SAMPLE_FMT_FLTP
        context.pointee.sample_rate = Int32(sampleRate)
        av_channel_layout_default(&context.pointee.ch_layout, Int32(channels))
        context.pointee.bit_rate = Int64(bitRate)
        context.pointee.time_base = AVRational(num: 1, den: Int32(sampleRate))
        if globalHeader { context.pointee.flags |= cffmpeg_codec_flag_global_header() }
        let opened = avcodec_open2(context, codec, nil)
        if opened < 0 { throw MediaError.encoderUnavailable(name: encoderName, reason: FFmpegError.text(for: opened)) }
    }

    deinit {
        var owned: UnsafeMutablePointer<AVCodecContext>? = context
        avcodec_free_context(&owned)
    }

    public var timeBase: Rational { Rational(context.pointee.time_base) }
    /// Samples per audio frame the encoder wants (1024 for AAC).
    public var frameSize: Int { Int(context.pointee.frame_size) }

    /// Sends a frame, or nil to drain.
    public func send(_ frame: Frame?) throws -> CodecStep {
        try ffStep(avcodec_send_frame(context, frame?.pointer), "avcodec_send_frame(\(name))")
    }

    /// Receives the next packet: `.ok`, `.needsInput` or `.endOfStream`.
    public func receive(into packet: Packet) throws -> CodecStep {
        try ffStep(avcodec_receive_packet(context, packet.pointer), "avcodec_receive_packet(\(name))")
    }

    /// Sends `frame` (nil drains) and returns every packet that is ready.
    public func encode(_ frame: Frame?) throws -> [Packet] {
        var packets: [Packet] = []
        while try send(frame) == .needsInput {
            // The encoder's output is full: take packets out, then resend the same frame.
            if try collectReady(into: &packets) == 0 {
                throw FFmpegError(code: cffmpeg_averror_eagain(), function: "avcodec_send_frame(\(name)) refused input with no output ready")
            }
        }
        _ = try collectReady(into: &packets)
        return packets
    }

    private func collectReady(into packets: inout [Packet]) throws -> Int {
        var count = 0
        while true {
            let packet = Packet()
            guard try receive(into: packet) == .ok else { return count }
            packets.append(packet)
            count += 1
        }
    }

    /// Copies this encoder's parameters into a muxer stream's `codecpar`.
    func copyParameters(to parameters: UnsafeMutablePointer<AVCodecParameters>) throws {
        try ffCheck(avcodec_parameters_from_context(parameters, context), "avcodec_parameters_from_context")
    }
}
