import Media

/// The encoder a job will use, after hardware was tried.
public struct EncoderChoice: Sendable, Codable {
    public let codec: VideoCodec
    public let family: EncoderFamily
    public let encoderName: String
    public let preset: String
    /// Why hardware was not used, when `--encoder auto` fell back to software.
    public let fallbackReason: String?

    /// Whether a segment is encoded in two passes (see `EncoderPass`): x264 only.
    public var takesTwoPasses: Bool { encoderName == "libx264" }

    public init(codec: VideoCodec, family: EncoderFamily, encoderName: String, preset: String, fallbackReason: String?) {
        self.codec = codec
        self.family = family
        self.encoderName = encoderName
        self.preset = preset
        self.fallbackReason = fallbackReason
    }
}
