import Media

/// Opens encoders for renditions, with the hardware device and thread budget a job settled on.
public final class RenditionEncoderFactory: Sendable {
    public let choice: EncoderChoice
    let device: HardwareDevice?
    let threadsPerEncoder: Int
    let globalHeader: Bool
    let presetOptions: [String: String]

    public init(choice: EncoderChoice, device: HardwareDevice?, threadsPerEncoder: Int, globalHeader: Bool) throws {
        self.choice = choice
        self.device = device
        self.threadsPerEncoder = threadsPerEncoder
        self.globalHeader = globalHeader
        presetOptions = try PresetScale.options(for: choice.preset, encoder: choice.encoderName, codec: choice.codec)
    }

    /// An encoder for one rendition of one segment, and the GPU frame pool it needs (if any).
    public func makeEncoder(width: Int, height: Int, timeBase: Rational, frameRate: Rational, bitrate: Int, gopSize: Int,
                            pass: EncoderPass = .single) throws -> (Encoder, HardwareFramesContext?) {
        var settings = VideoEncoderSettings(encoderName: choice.encoderName, width: width, height: height, timeBase: timeBase, frameRate: frameRate)
        settings.bitRate = bitrate
        settings.gopSize = gopSize
        settings.threads = threadsPerEncoder
        settings.globalHeader = globalHeader
        settings.options = presetOptions
        switch choice.encoderName {
        case "libx265":
            // x265 prints its own banner unless told; keep frame threads to the budget we were given.
            settings.options["x265-params"] = "log-level=error:pools=\(threadsPerEncoder):frame-threads=\(min(threadsPerEncoder, 2))"
        case "libvpx-vp9":
            settings.maxRate = bitrate * 3 / 2
            settings.bufferSize = bitrate * 2
        case "h264_nvenc", "hevc_nvenc":
            settings.options["rc"] = "vbr"
        case "libx264":
            switch pass {
            case .single:
                // A fresh encoder per 2 s segment leaves x264's average-bitrate control too little time to reach its target
                // at its default tolerance (1.0): a 10 s 720p camera clip got 87/78/76 % of 3000k/800k/300k. At 0.1 it
                // lands at 97/99/96 % (the ffmpeg CLI, one encoder for the whole clip: 97/100/107 %) and VMAF rises by
                // 1.7-5 points (benchmarks/RESULTS.md, ladder quality section).
                settings.options["x264-params"] = "ratetol=0.1"
            case .first(let stats):
                settings.options["flags"] = "+pass1"
                // x264's fast first pass (FFmpeg's default, said here so it stays): one reference, no 8x8 transform or
                // inter partitions, diamond search, subme at most 2, no trellis. It keeps the preset's lookahead, B-frame
                // decisions and macroblock tree, which are what the pass is for; a full-effort first pass gave the same
                // output on both quality sources.
                settings.options["fastfirstpass"] = "1"
                settings.options["x264-params"] = "stats=\(stats)"
            case .second(let stats):
                settings.options["flags"] = "+pass2"
                // At x264's default tolerance (1.0) a 2 s segment's final pass overspent 720p@3000k by 5 %; at 0.1 every
                // rung of both quality sources lands within 0.5 % of the asked rate, VMAF within 0.05 or better.
                settings.options["x264-params"] = "stats=\(stats):ratetol=0.1"
            }
        default:
            break
        }
        var frames: HardwareFramesContext?
        if let device, let hardwareFormat = choice.family.hardwareFormat {
            settings.pixelFormat = hardwareFormat
            frames = try device.makeFramesContext(width: width, height: height, softwareFormat: choice.family.softwareFormat, hardwareFormat: hardwareFormat)
            settings.hardwareFrames = frames
        }
        return (try Encoder(video: settings), frames)
    }

    /// The pixel format the scaler must produce for this encoder.
    var scalerFormat: PixelFormat { choice.family.softwareFormat }
}

/// Which pass of a segment an encoder makes. A segment encoded in two passes (x264) first runs through a quick
/// analysis encode that writes x264's statistics to a file, then is encoded again with its bits spread by them —
/// what a single average-bitrate pass over 2 s cannot do: it spends evenly before it knows where the hard frames are.
public enum EncoderPass: Sendable, Equatable {
    case single
    /// The analysis pass, writing statistics to this path (and `path.mbtree`).
    case first(stats: String)
    /// The final pass, reading them.
    case second(stats: String)
}

/// Picks the encoder for a job by opening real sessions: hardware first when allowed, software after.
public enum EncoderSelection {
    /// Resolves `--encoder` for `codec`. `auto` falls back to software with the reasons; an explicit
    /// hardware family that cannot open throws `TranscodeError.hardwareUnavailable`.
    public static func choose(codec: VideoCodec, preference: EncoderPreference, preset: String) throws -> (EncoderChoice, HardwareDevice?) {
        let families: [EncoderFamily]
        switch preference {
        case .auto: families = [.nvenc, .vaapi, .qsv]
        case .software: families = []
        case .nvenc: families = [.nvenc]
        case .vaapi: families = [.vaapi]
        case .qsv: families = [.qsv]
        }
        var failures: [String] = []
        for family in families {
            guard let name = family.encoderName(for: codec) else {
                failures.append("\(family.rawValue): no \(codec.rawValue) encoder in FFmpeg 5.1")
                continue
            }
            switch openSession(family: family, codec: codec) {
            case .success(let device):
                return (EncoderChoice(codec: codec, family: family, encoderName: name, preset: preset, fallbackReason: nil), device)
            case .failure(let reason):
                failures.append("\(name): \(reason)")
            }
        }
        if preference != .auto && preference != .software {
            throw TranscodeError.hardwareUnavailable(family: preference.rawValue, codec: codec.rawValue, reason: failures.joined(separator: "; "))
        }
        let software = codec.softwareEncoder
        _ = try PresetScale.options(for: preset, encoder: software, codec: codec)
        let reason = failures.isEmpty ? nil : failures.joined(separator: "; ")
        return (EncoderChoice(codec: codec, family: .software, encoderName: software, preset: preset, fallbackReason: reason), nil)
    }

    /// Whether `family` can encode `codec` here: opens the device and an encoder and encodes one frame.
    public static func openSession(family: EncoderFamily, codec: VideoCodec) -> Result<HardwareDevice?, SessionFailure> {
        guard let name = family.encoderName(for: codec) else { return .failure(SessionFailure("no encoder")) }
        do {
            let device = try family.deviceType.map { try HardwareDevice(typeName: $0) }
            let choice = EncoderChoice(codec: codec, family: family, encoderName: name, preset: PresetScale.defaultName, fallbackReason: nil)
            let factory = try RenditionEncoderFactory(choice: choice, device: device, threadsPerEncoder: 1, globalHeader: false)
            let (encoder, frames) = try factory.makeEncoder(width: 640, height: 360, timeBase: Rational(num: 1, den: 30),
                                                            frameRate: Rational(num: 30, den: 1), bitrate: 1_000_000, gopSize: 30)
            var frame = try Frame.video(width: 640, height: 360, format: family.softwareFormat)
            try frame.fillBlack()
            frame.pts = 0
            if let frames { frame = try frames.upload(frame) }
            _ = try encoder.encode(frame)
            _ = try encoder.encode(nil)
            return .success(device)
        } catch {
            return .failure(SessionFailure(String(describing: error)))
        }
    }

    public struct SessionFailure: Error, CustomStringConvertible {
        public let description: String
        init(_ description: String) { self.description = description }
    }
}

/// What this host's FFmpeg can really do, by trial: every encoder Prism knows (a session opened and one
/// frame encoded) and the hardware devices hardware decoders need (CUDA for NVDEC, VAAPI, QSV).
public enum HardwareInventory {
    /// Encoder name → "opens" or "does not open: REASON".
    public static func encoders() -> [String: String] {
        var found: [String: String] = [:]
        for family in EncoderFamily.allCases {
            for codec in VideoCodec.allCases {
                guard let name = family.encoderName(for: codec) else { continue }
                switch EncoderSelection.openSession(family: family, codec: codec) {
                case .success: found[name] = "opens"
                case .failure(let reason): found[name] = "does not open: \(reason)"
                }
            }
        }
        return found
    }

    /// Decoder device → "opens" or "does not open: REASON" (`cuda` is what NVDEC runs on).
    public static func decoderDevices() -> [String: String] {
        var found: [String: String] = [:]
        for (label, type) in [("nvdec (cuda)", "cuda"), ("vaapi", "vaapi"), ("qsv", "qsv")] {
            do {
                _ = try HardwareDevice(typeName: type)
                found[label] = "opens"
            } catch {
                found[label] = "does not open: \(error)"
            }
        }
        return found
    }
}
