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

    /// RFC 6381 codec string from what the encoder put in the stream: its out-of-band headers, or, for a stream that
    /// carries them in band (H.264 and HEVC in MPEG-TS), its first packet.
    static func codecString(_ parameters: CodecParameters, firstPacket: [UInt8] = []) -> String {
        let profile = max(parameters.profile, 0)
        let level = max(parameters.level, 0)
        let headers = parameters.extradata.isEmpty ? firstPacket : parameters.extradata
        switch parameters.codecName {
        case "h264":
            // avc1.PPCCLL: profile_idc, constraint flags, level_idc as in the SPS.
            if let sps = firstH264SPS(headers) { return String(format: "avc1.%02X%02X%02X", sps.0, sps.1, sps.2) }
            return String(format: "avc1.%02X00%02X", profile, level)
        case "hevc":
            if let sps = HEVCProfile(annexBOrHvcC: headers) { return sps.codecString }
            return "hvc1.\(profile == 2 ? 2 : 1).\(profile == 2 ? 4 : 6).L\(level == 0 ? 93 : level).B0"
        case "av1":
            if let sequence = AV1Sequence(extradata: parameters.extradata) { return sequence.codecString }
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
        guard let nal = firstNAL(in: data, where: { $0 & 0x1F == 7 }), nal + 3 < data.count else { return nil }
        return (data[nal + 1], data[nal + 2], data[nal + 3])
    }

    /// Where the first Annex-B NAL unit whose header byte passes `matches` starts (its header byte), if any.
    static func firstNAL(in data: [UInt8], where matches: (UInt8) -> Bool) -> Int? {
        var index = 0
        while index + 3 < data.count {
            if data[index] == 0, data[index + 1] == 0, data[index + 2] == 1 {
                if matches(data[index + 3]) { return index + 3 }
                index += 3
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
        guard let nal = HLSPlaylist.firstNAL(in: data, where: { ($0 >> 1) & 0x3F == 33 }), nal + 2 < data.count else { return nil }
        self.init(sps: Array(data[(nal + 2)...]))
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

/// The profile, level and tier an AV1 stream states (an `av1C` record, or the sequence header OBU an encoder puts in
/// its extradata), for the codec string `av01.P.LLT.DD` (the encoder's own `level` field is left unset).
struct AV1Sequence: Equatable {
    let profile: Int
    let level: Int
    let tier: Int
    let bitDepth: Int

    init?(extradata data: [UInt8]) {
        if data.count >= 4, data[0] == 0x81 {
            // av1C: marker and version, then seq_profile(3) seq_level_idx_0(5), seq_tier_0(1) high_bitdepth(1) twelve_bit(1) …
            profile = Int(data[1] >> 5)
            level = Int(data[1] & 0x1F)
            tier = Int(data[2] >> 7)
            bitDepth = data[2] & 0x20 != 0 ? 12 : data[2] & 0x40 != 0 ? 10 : 8
            return
        }
        // OBUs: find the sequence header (type 1) and read up to its first operating point's level.
        var index = 0
        while index < data.count {
            let header = data[index]
            let type = Int(header >> 3) & 0x0F, hasExtension = header & 0x04 != 0, hasSize = header & 0x02 != 0
            index += 1 + (hasExtension ? 1 : 0)
            var size = data.count - index
            if hasSize {
                size = 0
                var shift = 0
                while index < data.count, shift < 56 {
                    let byte = data[index]
                    index += 1
                    size |= Int(byte & 0x7F) << shift
                    shift += 7
                    if byte & 0x80 == 0 { break }
                }
            }
            guard size >= 0, index + size <= data.count else { return nil }
            if type == 1 {
                guard let parsed = Self(sequenceHeader: Array(data[index..<(index + size)])) else { return nil }
                self = parsed
                return
            }
            index += size
        }
        return nil
    }

    private init?(sequenceHeader payload: [UInt8]) {
        var bit = 0
        func read(_ count: Int) -> Int? {
            var value = 0
            for _ in 0..<count {
                guard bit / 8 < payload.count else { return nil }
                value = value << 1 | Int((payload[bit / 8] >> (7 - UInt8(bit % 8))) & 1)
                bit += 1
            }
            return value
        }
        guard let profile = read(3), read(1) != nil, let reduced = read(1) else { return nil }
        self.profile = profile
        bitDepth = 8
        if reduced == 1 {
            guard let level = read(5) else { return nil }
            (self.level, tier) = (level, 0)
            return
        }
        guard let timing = read(1) else { return nil }
        if timing == 1 {
            // Timing and decoder-model details vary in length; past them only the operating points matter, and an
            // encoder that writes them is rare enough to fall back to the parameters' own level.
            return nil
        }
        guard read(1) != nil, read(5) != nil, read(12) != nil, let level = read(5) else { return nil }
        self.level = level
        tier = level > 7 ? (read(1) ?? 0) : 0
    }

    var codecString: String { String(format: "av01.%d.%02d%@.%02d", profile, level, tier == 1 ? "H" : "M", bitDepth) }
}
