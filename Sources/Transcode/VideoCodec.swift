import Media

/// The output codecs Prism offers.
public enum VideoCodec: String, CaseIterable, Codable, Sendable {
    case h264, hevc, av1, vp9

    public static func parse(_ text: String) throws -> VideoCodec {
        guard let codec = VideoCodec(rawValue: CodecName.canonical(text)) else { throw TranscodeError.unknownCodec(text) }
        return codec
    }

    /// FFmpeg's software encoder for this codec.
    public var softwareEncoder: String {
        switch self {
        case .h264: return "libx264"
        case .hevc: return "libx265"
        case .av1: return "libsvtav1"
        case .vp9: return "libvpx-vp9"
        }
    }

    /// MPEG-TS carries H.264; HEVC goes in fragmented MP4 (Apple's HLS authoring rules), as AV1 and VP9 must.
    public var container: SegmentContainer { self == .h264 ? .mpegts : .fragmentedMP4 }
}

/// How HLS segments are packaged.
public enum SegmentContainer: String, Codable, Sendable {
    case mpegts, fragmentedMP4 = "fmp4"
    public var muxerName: String { self == .mpegts ? "mpegts" : "mp4" }
    public var segmentExtension: String { self == .mpegts ? "ts" : "m4s" }
}
