import Foundation
import Logging
import Media
import PrismTestSupport
import Testing
@testable import Transcode

/// Transcodes run once per fixture and are shared by the tests that inspect them.
enum Ladders {
    static func make(_ fixture: String, ladder: String, codec: VideoCodec = .h264, preset: String = "veryfast") throws -> (URL, TranscodeReport) {
        let folder = try TemporaryFolder("ladder")
        let output = folder.url.appendingPathComponent("out")
        var options = TranscodeOptions()
        options.ladder = try Ladder.parse(ladder)
        options.codec = codec
        options.preset = preset
        options.encoder = .software
        FFmpegLibrary.setLogLevel(verbose: false)
        let logger = Logger(label: "test", factory: { _ in SwiftLogNoOpLogHandler() })
        let report = try LadderTranscoder(input: Fixtures.path(fixture), output: output, options: options, logger: logger).run()
        return (output, report)
    }

    static let pan720: Result<(URL, TranscodeReport), Error> = Result { try make("pan-720p.mp4", ladder: "720p,480p,360p") }
    static let singleKeyframe: Result<(URL, TranscodeReport), Error> = Result { try make("single-keyframe-360p.mp4", ladder: "360p,240p") }
}

/// Every video packet of a rendition, segment by segment, read with Prism's own demuxer.
func packetsBySegment(_ rendition: URL) throws -> [[(pts: Int64, key: Bool, data: [UInt8])]] {
    let playlist = try String(contentsOf: rendition.appendingPathComponent("index.m3u8"), encoding: .utf8)
    let files = playlist.split(separator: "\n").filter { !$0.hasPrefix("#") }
    return try files.map { file in
        let demuxer = try Demuxer(path: rendition.appendingPathComponent(String(file)).path)
        let packet = Packet()
        var packets: [(Int64, Bool, [UInt8])] = []
        let timeBase = demuxer.bestVideoStream()!.timeBase
        while try demuxer.read(into: packet) {
            // Rescale to 90 kHz so every container compares alike.
            let pts = Rational.rescale(packet.pts ?? 0, from: timeBase, to: Rational(num: 1, den: 90000))
            packets.append((pts, packet.isKeyFrame, Array(packet.data)))
        }
        return packets.map { (pts: $0.0, key: $0.1, data: $0.2) }
    }
}

/// NAL unit types in an Annex-B H.264 access unit.
func h264NALTypes(_ data: [UInt8]) -> [UInt8] {
    var types: [UInt8] = []
    var index = 0
    while index + 3 < data.count {
        if data[index] == 0, data[index + 1] == 0, data[index + 2] == 1 {
            types.append(data[index + 3] & 0x1F)
            index += 3
        } else {
            index += 1
        }
    }
    return types
}

/// Frames that decode from a playlist or file, and the damage seen.
func decodedFrames(_ path: String) throws -> (frames: Int, errors: Int, width: Int, height: Int) {
    let reader = try VideoFrameReader(path: path)
    var count = 0, width = 0, height = 0
    while let frame = try reader.next() {
        count += 1
        width = frame.width
        height = frame.height
    }
    return (count, reader.decodeErrors, width, height)
}

@Suite struct LadderOutputTests {
    @Test func a720pClipBecomesAThreeRungLadderThatDecodesWholeInEveryRung() throws {
        let (output, report) = try Ladders.pan720.get()
        #expect(report.source.frames == 180)
        let expected = [("720p", 1280, 720), ("480p", 854, 480), ("360p", 640, 360)]
        for (name, width, height) in expected {
            let decoded = try decodedFrames(output.appendingPathComponent("\(name)/index.m3u8").path)
            #expect(decoded.frames == 180, "\(name)")
            #expect(decoded.errors == 0, "\(name)")
            #expect(decoded.width == width && decoded.height == height, "\(name)")
        }
        let master = try String(contentsOf: output.appendingPathComponent("master.m3u8"), encoding: .utf8)
        #expect(master.contains("RESOLUTION=1280x720") && master.contains("720p/index.m3u8") && master.contains("TYPE=AUDIO"))
        // The whole ladder also plays through FFmpeg's own HLS demuxer without a decode error.
        let played = try HostTool.run("ffmpeg", ["-v", "error", "-i", output.appendingPathComponent("master.m3u8").path, "-map", "0", "-f", "null", "-"])
        #expect(played.status == 0)
        #expect(played.stderr.isEmpty, "\(played.stderr)")
    }

    @Test func everySegmentOfEveryRungStartsWithAnIDRAtTheSameTimestamp() throws {
        let (output, report) = try Ladders.pan720.get()
        #expect(report.segments.count == 3)
        var startsByRung: [[Int64]] = []
        for rung in ["720p", "480p", "360p"] {
            let segments = try packetsBySegment(output.appendingPathComponent(rung))
            #expect(segments.count == 3)
            for segment in segments {
                let first = try #require(segment.first)
                #expect(first.key)
                #expect(h264NALTypes(first.data).contains(5), "first packet of a segment must be an IDR")
                // Closed GOP: nothing before the IDR in display order within the segment.
                #expect(segment.allSatisfy { $0.pts >= first.pts })
            }
            startsByRung.append(segments.map { $0.map(\.pts).min()! })
        }
        #expect(Set(startsByRung.map { $0 }).count == 1, "segment starts differ between rungs: \(startsByRung)")
    }

    @Test func outputTimestampsAreContinuousAcrossSegments() throws {
        let (output, _) = try Ladders.pan720.get()
        let all = try packetsBySegment(output.appendingPathComponent("480p")).flatMap { $0.map(\.pts) }.sorted()
        #expect(all.count == 180)
        let steps = Set(zip(all.dropFirst(), all).map { $0 - $1 })
        #expect(steps == [3000], "30 fps in 90 kHz ticks, no gap or overlap at segment joins: \(steps)")
        #expect(all.first == Int64((LadderTranscoder.outputStartSeconds * 90000).rounded()))
    }

    @Test func reportCountsFramesBytesAndEncoderPerSegmentAndRung() throws {
        let (output, _) = try Ladders.pan720.get()
        let data = try Data(contentsOf: output.appendingPathComponent("report.json"))
        let saved = try JSONDecoder().decode(TranscodeReport.self, from: data)
        #expect(saved.segments.map(\.frames) == [60, 60, 60])
        for segment in saved.segments {
            #expect(segment.renditions.map(\.rung) == ["720p", "480p", "360p"])
            for part in segment.renditions {
                #expect(part.encoder == "libx264")
                #expect(part.frames == segment.frames)
                let size = try FileManager.default.attributesOfItem(atPath: output.appendingPathComponent("\(part.rung)/\(part.file)").path)[.size] as? Int
                #expect(part.bytes == size)
                #expect(part.encodeSeconds > 0)
            }
        }
        #expect(saved.audio?.segments == 3)
        #expect(saved.renditions.map(\.frames) == [180, 180, 180])
    }

    @Test func audioRenditionCoversTheVideo() throws {
        let (output, _) = try Ladders.pan720.get()
        let probe = try HostTool.run("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0",
                                                 output.appendingPathComponent("audio/index.m3u8").path])
        let duration = try #require(Double(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
        #expect(abs(duration - 6) < 0.1)
        // The AAC encoder's priming packet (1,024 samples before the first) opens the first segment; it used to be dropped.
        let first = try HostTool.run("ffprobe", ["-v", "error", "-show_entries", "packet=pts_time", "-of", "csv=p=0",
                                                 output.appendingPathComponent("audio/seg_00000.ts").path])
        let start = Double(first.stdout.split(whereSeparator: \.isNewline).first?.split(separator: ",").first ?? "") ?? 0
        #expect(abs(start - (1.4 - 1024.0 / 44100)) < 0.002, "first audio packet at \(start) s")
    }

    /// The audio rendition costs on the wire about what it was asked for: AAC frames share PES packets and the
    /// PAT/PMT come once per segment (each AAC frame in a PES of its own took 128 kbit/s to 210-220 on the wire,
    /// where the ffmpeg CLI's HLS output carries 143-146), and the segments' timestamps are not shifted.
    @Test func audioSegmentsCarryTheirBitrateWithoutPerFramePacketOverhead() throws {
        let (output, report) = try Ladders.pan720.get()
        let asked = try #require(report.audio?.bitrate)
        let folder = output.appendingPathComponent("audio")
        for name in try FileManager.default.contentsOfDirectory(atPath: folder.path) where name.hasSuffix(".ts") {
            let bytes = [UInt8](try Data(contentsOf: folder.appendingPathComponent(name)))
            var packets: [Int: Int] = [:], starts = 0
            for offset in stride(from: 0, to: bytes.count - 187, by: 188) {
                let pid = Int(bytes[offset + 1] & 0x1F) << 8 | Int(bytes[offset + 2])
                packets[pid, default: 0] += 1
                if pid != 0 && pid != 17 && pid != 4096 && bytes[offset + 1] & 0x40 != 0 { starts += 1 }
            }
            #expect(packets[0] == 1, "\(name): PAT \(packets[0] ?? 0) times")
            let probe = try HostTool.run("ffprobe", ["-v", "error", "-show_entries", "format=duration", "-of", "csv=p=0", folder.appendingPathComponent(name).path])
            let seconds = try #require(Double(probe.stdout.trimmingCharacters(in: .whitespacesAndNewlines)))
            guard seconds > 1 else { continue }
            let wire = Double(bytes.count * 8) / seconds
            #expect(wire < 1.2 * Double(asked), "\(name): \(Int(wire)) bit/s on the wire for \(asked) asked")
            #expect(Double(starts) < seconds * 10, "\(name): \(starts) PES packets in \(seconds) s (AAC frames: about 43 a second)")
        }
        let start = try HostTool.run("ffprobe", ["-v", "error", "-show_entries", "format=start_time", "-of", "csv=p=0",
                                                 output.appendingPathComponent("720p/seg_00000.ts").path])
        #expect(start.stdout.trimmingCharacters(in: .whitespacesAndNewlines) == "1.400000", "the first segment starts where it did")
    }

    @Test func aSourceWithOneKeyframeStillYieldsSegmentsOfTheAskedLength() throws {
        let (output, report) = try Ladders.singleKeyframe.get()
        #expect(report.source.keyframes == 1)
        #expect(report.segments.count == 4)
        #expect(report.segments.map(\.frames) == [50, 50, 50, 50])
        for rung in ["360p", "240p"] {
            let segments = try packetsBySegment(output.appendingPathComponent(rung))
            #expect(segments.count == 4)
            #expect(segments.allSatisfy { $0.first?.key == true })
            #expect(try decodedFrames(output.appendingPathComponent("\(rung)/index.m3u8").path).frames == 200)
        }
    }

    @Test(arguments: [("odd-642x362.mp4", 638, 72), ("vertical-360x640.mp4", 202, 90)])
    func oddAndVerticalSourcesGetEvenWidthsAndEveryFrame(fixture: String, width: Int, frames: Int) throws {
        let (output, report) = try Ladders.make(fixture, ladder: "360p")
        #expect(report.renditions.first?.width == width)
        let decoded = try decodedFrames(output.appendingPathComponent("360p/index.m3u8").path)
        #expect(decoded.frames == frames && decoded.width == width && decoded.height == 360 && decoded.errors == 0)
        try? FileManager.default.removeItem(at: output.deletingLastPathComponent())
    }

    @Test(arguments: [VideoCodec.hevc, .av1, .vp9])
    func otherCodecsMakePlayableLaddersWithEveryFrame(codec: VideoCodec) throws {
        let (output, report) = try Ladders.make("vertical-360x640.mp4", ladder: "240p", codec: codec, preset: "ultrafast")
        #expect(report.encoding.encoder == codec.softwareEncoder)
        #expect(report.encoding.container == codec.container.rawValue)
        let decoded = try decodedFrames(output.appendingPathComponent("240p/index.m3u8").path)
        #expect(decoded.frames == 90)
        #expect(decoded.errors == 0)
        let played = try HostTool.run("ffmpeg", ["-v", "error", "-i", output.appendingPathComponent("master.m3u8").path, "-f", "null", "-"])
        #expect(played.status == 0 && played.stderr.isEmpty, "\(played.stderr)")
        if codec == .hevc {
            // fMP4 with `hvc1` (Apple's HLS authoring rules), and CODECS stating the level the stream has (was L93 always).
            #expect(codec.container == .fragmentedMP4)
            let init0 = output.appendingPathComponent("240p/init.mp4").path
            let tag = try HostTool.run("ffprobe", ["-v", "error", "-show_entries", "stream=codec_tag_string,level", "-of", "csv=p=0", init0])
            let fields = tag.stdout.split(whereSeparator: \.isNewline).first?.split(separator: ",").map(String.init) ?? []
            #expect(fields.first == "hvc1", "\(tag.stdout)")
            let master = try String(contentsOf: output.appendingPathComponent("master.m3u8"), encoding: .utf8)
            let level = fields.dropFirst().first.flatMap { Int($0) } ?? -1
            #expect(master.contains("CODECS=\"hvc1.1.6.L\(level).") && level > 0, "level \(level): \(master)")
        }
        if codec == .av1 {
            // The level the sequence header states (2.0 for a 136x240 picture; was 3.0, "08", always).
            let master = try String(contentsOf: output.appendingPathComponent("master.m3u8"), encoding: .utf8)
            let init0 = [UInt8](try Data(contentsOf: output.appendingPathComponent("240p/init.mp4")))
            let box = try #require((0..<(init0.count - 8)).first { init0[$0..<($0 + 4)].elementsEqual(Array("av1C".utf8)) })
            let level = Int(init0[box + 5] & 0x1F)
            #expect(master.contains(String(format: "CODECS=\"av01.0.%02dM.08", level)), "level \(level): \(master)")
        }
        try? FileManager.default.removeItem(at: output.deletingLastPathComponent())
    }

    /// The audio rendition's EXT-X-MEDIA states its channels (RFC 8216 wants CHANNELS where renditions differ in them).
    @Test func masterPlaylistStatesAudioChannels() throws {
        let (output, _) = try Ladders.pan720.get()
        let master = try String(contentsOf: output.appendingPathComponent("master.m3u8"), encoding: .utf8)
        #expect(master.contains("#EXT-X-MEDIA:TYPE=AUDIO") && master.contains("CHANNELS=\"2\""), "\(master)")
    }
}
