import CFFmpeg
import Media

/// The output codecs Prism offers.
public enum VideoCodec: String, CaseIterable, Codable, Sendable {
    case h264, hevc, av1, vp9

    public static func parse(_ text: String) throws -> VideoCodec {
        switch text.lowercased() {
        case "h264", "avc", "x264": return .h264
        case "hevc", "h265", "x265": return .hevc
        case "av1": return .av1
        case "vp9": return .vp9
        default: throw TranscodeError.unknownCodec(text)
        }
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

/// Where encoding happens: the CPU or one of the hardware encoder families FFmpeg knows.
public enum EncoderFamily: String, CaseIterable, Codable, Sendable {
    case software, nvenc, vaapi, qsv

    /// FFmpeg's encoder name for `codec` in this family, nil where the family has none (FFmpeg 5.1).
    public func encoderName(for codec: VideoCodec) -> String? {
        switch (self, codec) {
        case (.software, _): return codec.softwareEncoder
        case (.nvenc, .h264): return "h264_nvenc"
        case (.nvenc, .hevc): return "hevc_nvenc"
        case (.vaapi, .h264): return "h264_vaapi"
        case (.vaapi, .hevc): return "hevc_vaapi"
        case (.vaapi, .vp9): return "vp9_vaapi"
        case (.qsv, .h264): return "h264_qsv"
        case (.qsv, .hevc): return "hevc_qsv"
        case (.qsv, .vp9): return "vp9_qsv"
        default: return nil
        }
    }

    /// The hardware device type FFmpeg opens for this family (nil: frames stay in system memory).
    public var deviceType: String? {
        switch self {
        case .software, .nvenc: return nil  // NVENC takes system-memory frames and opens CUDA itself
        case .vaapi: return "vaapi"
        case .qsv: return "qsv"
        }
    }

    /// The pixel format frames must have before upload.
    var softwareFormat: AVPixelFormat { self == .vaapi || self == .qsv ? AV_PIX_FMT_NV12 : AV_PIX_FMT_YUV420P }
    var hardwareFormat: AVPixelFormat? {
        switch self {
        case .vaapi: return AV_PIX_FMT_VAAPI
        case .qsv: return AV_PIX_FMT_QSV
        default: return nil
        }
    }
}

/// `--encoder`: what the user allows.
public enum EncoderPreference: String, CaseIterable, Sendable {
    case auto, software, nvenc, vaapi, qsv

    public static func parse(_ text: String) throws -> EncoderPreference {
        guard let value = EncoderPreference(rawValue: text.lowercased()) else { throw TranscodeError.unknownEncoder(text) }
        return value
    }
}

/// One speed/quality scale for every encoder: x264's preset names, mapped onto each encoder's own scale.
public enum PresetScale {
    public static let names = ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]
    public static let defaultName = "medium"

    /// Encoder options for `preset` (a scale name, or the encoder's own value such as `p5` or `8`).
    public static func options(for preset: String, encoder: String, codec: VideoCodec) throws -> [String: String] {
        let name = preset.lowercased()
        let step = names.firstIndex(of: name)
        switch encoder {
        case "libx264", "libx265":
            guard step != nil || name == "placebo" else { throw TranscodeError.unknownPreset(preset, codec: codec.rawValue) }
            return ["preset": name]
        case "libsvtav1":
            // SVT-AV1 runs 0 (slowest) to 13 (fastest).
            let scale = [12, 11, 10, 9, 8, 7, 5, 4, 2]
            if let step { return ["preset": String(scale[step])] }
            guard let value = Int(name), (0...13).contains(value) else { throw TranscodeError.unknownPreset(preset, codec: codec.rawValue) }
            return ["preset": String(value)]
        case "libvpx-vp9":
            // libvpx: realtime deadline for the fastest steps, then cpu-used 5…0 under "good".
            let scale: [(String, Int)] = [("realtime", 8), ("realtime", 7), ("realtime", 6), ("good", 5), ("good", 4),
                                          ("good", 3), ("good", 2), ("good", 1), ("good", 0)]
            if let step { return ["deadline": scale[step].0, "cpu-used": String(scale[step].1), "row-mt": "1"] }
            guard let value = Int(name), (0...8).contains(value) else { throw TranscodeError.unknownPreset(preset, codec: codec.rawValue) }
            return ["deadline": "good", "cpu-used": String(value), "row-mt": "1"]
        case "h264_nvenc", "hevc_nvenc":
            let scale = ["p1", "p1", "p2", "p3", "p3", "p4", "p5", "p6", "p7"]
            if let step { return ["preset": scale[step]] }
            guard ["p1", "p2", "p3", "p4", "p5", "p6", "p7"].contains(name) else { throw TranscodeError.unknownPreset(preset, codec: codec.rawValue) }
            return ["preset": name]
        case "h264_qsv", "hevc_qsv", "vp9_qsv":
            let scale = ["veryfast", "veryfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow"]
            guard let step else { throw TranscodeError.unknownPreset(preset, codec: codec.rawValue) }
            return ["preset": scale[step]]
        default:
            // VAAPI encoders have no preset scale; the driver decides.
            guard step != nil else { throw TranscodeError.unknownPreset(preset, codec: codec.rawValue) }
            return [:]
        }
    }
}

/// The encoder a job will use, after hardware was tried.
public struct EncoderChoice: Sendable, Codable {
    public let codec: VideoCodec
    public let family: EncoderFamily
    public let encoderName: String
    public let preset: String
    /// Why hardware was not used, when `--encoder auto` fell back to software.
    public let fallbackReason: String?

    public init(codec: VideoCodec, family: EncoderFamily, encoderName: String, preset: String, fallbackReason: String?) {
        self.codec = codec
        self.family = family
        self.encoderName = encoderName
        self.preset = preset
        self.fallbackReason = fallbackReason
    }
}
