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
    }

    /// The master playlist, tallest variant first. Bandwidths are measured from the segments written.
    static func master(variants: [Variant], audio: AudioRendition?, container: SegmentContainer) -> String {
        var lines = ["#EXTM3U", "#EXT-X-VERSION:\(container == .fragmentedMP4 ? 7 : 4)", "#EXT-X-INDEPENDENT-SEGMENTS"]
        if let audio {
            lines.append("#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID=\"audio\",NAME=\"default\",DEFAULT=YES,AUTOSELECT=YES,URI=\"\(audio.playlist)\"")
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
