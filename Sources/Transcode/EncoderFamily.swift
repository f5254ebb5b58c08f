import Media

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
    var softwareFormat: PixelFormat { self == .vaapi || self == .qsv ? PixelFormat.nv12 : PixelFormat.yuv420p }
    var hardwareFormat: PixelFormat? {
        switch self {
        case .vaapi: return PixelFormat.vaapi
        case .qsv: return PixelFormat.qsv
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
