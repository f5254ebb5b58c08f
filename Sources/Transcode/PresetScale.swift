import Media

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
