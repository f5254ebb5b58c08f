import Foundation
import Media

/// HLS VOD playlists (RFC 8216): one media playlist per rendition and the master that lists them.
enum HLSPlaylist {
    struct Entry {
        let file: String
        let durationSeconds: Double
    }

    /// A complete VOD media playlist.
    static func media(entries: [Entry], container: SegmentContainer) -> String {
        let target = Int((entries.map(\.durationSeconds).max() ?? 1).rounded(.up))
        var lines = [
            "#EXTM3U",
            "#EXT-X-VERSION:\(container == .fragmentedMP4 ? 7 : 3)",
            "#EXT-X-TARGETDURATION:\(max(target, 1))",
            "#EXT-X-MEDIA-SEQUENCE:0",
            "#EXT-X-PLAYLIST-TYPE:VOD",
            "#EXT-X-INDEPENDENT-SEGMENTS",
        ]
        if container == .fragmentedMP4 { lines.append("#EXT-X-MAP:URI=\"\(RenditionWriter.initSegmentName)\"") }
        for entry in entries {
            lines.append(String(format: "#EXTINF:%.6f,", entry.durationSeconds))
            lines.append(entry.file)
        }
        lines.append("#EXT-X-ENDLIST")
        return lines.joined(separator: "\n") + "\n"
    }

    struct Variant {
        let playlist: String
        let peakBitrate: Int
        let averageBitrate: Int
        let width: Int
        let height: Int
        let frameRate: Double
        let codecs: String
    }

    struct AudioRendition {
        let playlist: String
        let peakBitrate: Int
        let codecs: String
        let channels: Int
    }

    /// The master playlist, tallest variant first. Bandwidths are measured from the segments written.
    static func master(variants: [Variant], audio: AudioRendition?, container: SegmentContainer) -> String {
        var lines = ["#EXTM3U", "#EXT-X-VERSION:\(container == .fragmentedMP4 ? 7 : 4)", "#EXT-X-INDEPENDENT-SEGMENTS"]
        if let audio {
            lines.append("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"default\",DEFAULT=YES,AUTOSELECT=YES,CHANNELS=\"\(audio.channels)\",URI=\"\(audio.playlist)\"")
        }
        for variant in variants {
            let extra = audio?.peakBitrate ?? 0
            var attributes = [
                "BANDWIDTH=\(variant.peakBitrate + extra)",
                "AVERAGE-BANDWIDTH=\(variant.averageBitrate + extra)",
                "RESOLUTION=\(variant.width)x\(variant.height)",
                String(format: "FRAME-RATE=%.3f", variant.frameRate),
                "CODECS=\"\([variant.codecs, audio?.codecs].compactMap { $0 }.joined(separator: ","))\"",
            ]
            if audio != nil { attributes.append("AUDIO=\"audio\"") }
            lines.append("#EXT-X-STREAM-INF:" + attributes.joined(separator: ","))
            lines.append(variant.playlist)
        }
        return lines.joined(separator: "\n") + "\n"
    }

    /// RFC 6381 codec string from what the encoder put in the stream.
    static func codecString(_ parameters: CodecParameters) -> String {
        let profile = max(parameters.profile, 0)
        let level = max(parameters.level, 0)
        switch parameters.codecName {
        case "h264":
            // avc1.PPCCLL: profile_idc, constraint flags, level_idc as in the SPS.
            let extradata = parameters.extradata
            if let sps = firstH264SPS(extradata) { return String(format: "avc1.%02X%02X%02X", sps.0, sps.1, sps.2) }
            return String(format: "avc1.%02X00%02X", profile, level)
        case "hevc":
            if let sps = HEVCProfile(annexBOrHvcC: parameters.extradata) { return sps.codecString }
            return "hvc1.\(profile == 2 ? 2 : 1).\(profile == 2 ? 4 : 6).L\(level == 0 ? 93 : level).B0"
        case "av1":
            return String(format: "av01.%d.%02dM.08", profile, level > 0 ? level : 8)
        case "vp9":
            return String(format: "vp09.%02d.%02d.08", profile, level > 0 ? level : 31)
        case "aac":
            return "mp4a.40.2"
        default:
            return parameters.codecName
        }
    }

    /// profile_idc, constraint byte and level_idc from Annex-B or avcC extradata.
    static func firstH264SPS(_ data: [UInt8]) -> (UInt8, UInt8, UInt8)? {
        if data.count >= 4, data[0] == 1 { return (data[1], data[2], data[3]) }  // avcC
        var index = 0
        while index + 4 < data.count {
            if data[index] == 0, data[index + 1] == 0, data[index + 2] == 1 {
                let nal = index + 3
                if data[nal] & 0x1F == 7, nal + 3 < data.count { return (data[nal + 1], data[nal + 2], data[nal + 3]) }
                index = nal
            } else {
                index += 1
            }
        }
        return nil
    }
}

/// The profile, tier and level an HEVC sequence parameter set states, for its RFC 6381 / ISO 14496-15 codec string
/// (`hvc1.1.6.L63.B0` for Main at level 2.1; the encoder's own `level` field is often left unset).
struct HEVCProfile: Equatable {
    let profileSpace: UInt8
    let tier: UInt8
    let profileIDC: UInt8
    let compatibility: UInt32
    let constraints: [UInt8]
    let levelIDC: UInt8

    /// From an hvcC record (its header repeats the profile, tier and level) or Annex-B bytes holding an SPS (NAL type 33).
    init?(annexBOrHvcC data: [UInt8]) {
        if data.count >= 23, data[0] == 1 {
            // hvcC: configurationVersion, then the same profile_tier_level fields an SPS starts with.
            self.init(sps: [0] + Array(data[1..<13]))
            return
        }
        var index = 0
        while index + 4 < data.count {
            if data[index] == 0, data[index + 1] == 0, data[index + 2] == 1 {
                let nal = index + 3
                if (data[nal] >> 1) & 0x3F == 33, let parsed = Self(sps: Array(data[(nal + 2)...])) { self = parsed; return }
                index = nal
            } else {
                index += 1
            }
        }
        return nil
    }

    /// From the SPS payload after its 2-byte NAL header (emulation-prevention bytes removed here).
    init?(sps payload: [UInt8]) {
        var bytes: [UInt8] = []
        var zeros = 0
        for byte in payload.prefix(32) {
            if zeros >= 2 && byte == 3 { zeros = 0; continue }
            zeros = byte == 0 ? zeros + 1 : 0
            bytes.append(byte)
        }
        // sps_video_parameter_set_id(4) max_sub_layers_minus1(3) temporal_id_nesting(1), then profile_tier_level.
        guard bytes.count >= 13 else { return nil }
        profileSpace = bytes[1] >> 6
        tier = (bytes[1] >> 5) & 1
        profileIDC = bytes[1] & 0x1F
        compatibility = UInt32(bytes[2]) << 24 | UInt32(bytes[3]) << 16 | UInt32(bytes[4]) << 8 | UInt32(bytes[5])
        constraints = Array(bytes[6..<12])
        levelIDC = bytes[12]
        guard profileIDC > 0, levelIDC > 0 else { return nil }
    }

    var codecString: String {
        // Compatibility flags in reverse bit order, hex; constraint bytes with trailing zero bytes dropped.
        var reversed: UInt32 = 0
        for bit in 0..<32 where compatibility & (1 << bit) != 0 { reversed |= 1 << (31 - bit) }
        let space = ["", "A", "B", "C"][Int(profileSpace)]
        var kept = constraints
        while let last = kept.last, last == 0, kept.count > 1 { kept.removeLast() }
        let constraintText = kept.map { String(format: "%02X", $0) }.joined(separator: ".")
        return "hvc1.\(space)\(profileIDC).\(String(reversed, radix: 16, uppercase: true)).\(tier == 1 ? "H" : "L")\(levelIDC).\(constraintText)"
    }
}
