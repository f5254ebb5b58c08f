import CFFmpeg

/// An owned copy of a stream's codec parameters (`AVCodecParameters`), kept after its encoder is gone.
public final class CodecParameters: @unchecked Sendable {  // unchecked: an FFmpeg object, never changed after it is made
    let pointer: UnsafeMutablePointer<AVCodecParameters>
    public let timeBase: Rational
    public let frameRate: Rational

    /// Snapshots an opened encoder's output parameters.
    public init(encoder: Encoder) throws {
        guard let pointer = avcodec_parameters_alloc() else { fatalError("avcodec_parameters_alloc: out of memory") }
        self.pointer = pointer
        timeBase = encoder.timeBase
        frameRate = encoder.settings.frameRate
        try encoder.copyParameters(to: pointer)
    }

    init(copying source: UnsafePointer<AVCodecParameters>, timeBase: Rational, frameRate: Rational) throws {
        guard let pointer = avcodec_parameters_alloc() else { fatalError("avcodec_parameters_alloc: out of memory") }
        self.pointer = pointer
        self.timeBase = timeBase
        self.frameRate = frameRate
        try ffCheck(avcodec_parameters_copy(pointer, source), "avcodec_parameters_copy")
    }

    deinit {
        var owned: UnsafeMutablePointer<AVCodecParameters>? = pointer
        avcodec_parameters_free(&owned)
    }

    public var codecName: String { String(cString: avcodec_get_name(pointer.pointee.codec_id)) }
    public var profile: Int { Int(pointer.pointee.profile) }
    public var level: Int { Int(pointer.pointee.level) }
    public var width: Int { Int(pointer.pointee.width) }
    public var height: Int { Int(pointer.pointee.height) }
    public var isAudio: Bool { pointer.pointee.codec_type == AVMEDIA_TYPE_AUDIO }
    /// Codec-private header bytes (SPS/PPS, sequence header…).
    public var extradata: [UInt8] {
        guard let data = pointer.pointee.extradata, pointer.pointee.extradata_size > 0 else { return [] }
        return Array(UnsafeBufferPointer(start: data, count: Int(pointer.pointee.extradata_size)))
    }
}

extension Muxer {
    /// Adds a stream described by saved codec parameters; packets are then written in `parameters.timeBase`.
    @discardableResult
    public func addStream(parameters: CodecParameters) throws -> Int {
        guard let stream = avformat_new_stream(context, nil) else { throw FFmpegError(code: cffmpeg_averror(ENOMEM), function: "avformat_new_stream") }
        try ffCheck(avcodec_parameters_copy(stream.pointee.codecpar, parameters.pointer), "avcodec_parameters_copy")
        preferTag(stream)
        stream.pointee.time_base = parameters.timeBase.av
        if parameters.frameRate.num > 0 { stream.pointee.avg_frame_rate = parameters.frameRate.av }
        registerInputTimeBase(parameters.timeBase)
        return Int(stream.pointee.index)
    }
}

extension CodecParameters {
    /// Copies the parameters of a demuxed stream (for remuxing its packets elsewhere).
    public convenience init(demuxer: Demuxer, stream: StreamInfo) throws {
        try self.init(copying: demuxer.codecParameters(of: stream.index), timeBase: stream.timeBase, frameRate: stream.averageFrameRate)
    }
}
