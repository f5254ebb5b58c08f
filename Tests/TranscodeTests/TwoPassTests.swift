import Foundation
import Media
import PrismTestSupport
import Testing
@testable import Transcode

/// x264 encodes each segment in two passes: an analysis pass, then the encode that spends the segment's bits where
/// that pass found them needed. One average-bitrate pass per 2 s segment spent them evenly and lost 1-3 VMAF to the
/// ffmpeg CLI's single encoder over the whole clip (benchmarks/RESULTS.md, ladder quality section).
@Suite struct TwoPassTests {
    /// The printable bytes of a packet: x264 writes its settings there as text (an SEI).
    static func printable(_ bytes: [UInt8]) -> String {
        String(decoding: bytes.filter { $0 >= 0x20 && $0 < 0x7F }, as: UTF8.self)
    }

    /// The x264 text (SEI) of a rendition's first packet.
    static func x264Text(_ rendition: URL) throws -> String {
        printable(try #require(try packetsBySegment(rendition).first?.first).data)
    }

    /// Video bits per second of a rendition: its packets' bytes over the source's duration.
    static func videoBitrate(_ rendition: URL, seconds: Double) throws -> Double {
        let bytes = try packetsBySegment(rendition).joined().reduce(0) { $0 + $1.data.count }
        return Double(bytes * 8) / seconds
    }

    @Test func twoPassesSpendTheAskedBitrateAndLookBetterThanOne() throws {
        let folder = try TemporaryFolder("passes")
        defer { folder.remove() }
        let source = Fixtures.path("pan-720p.mp4")
        var quality: [Int: Double] = [:]
        for passes in [1, 2] {
            let output = folder.path("out\(passes)")
            let result = try PrismBinary.run(["transcode", source, "-o", output, "--ladder", "360p@400k", "--preset", "veryfast",
                                              "--passes", String(passes)])
            #expect(result.status == 0, "\(result.stderr)")
            #expect(result.stderr.contains("in two passes") == (passes == 2), "\(result.stderr)")
            let rendition = URL(fileURLWithPath: output).appendingPathComponent("360p")
            #expect(try Self.x264Text(rendition).contains(passes == 2 ? "rc=2pass" : "rc=abr"))
            let decoded = try decodedFrames(rendition.appendingPathComponent("index.m3u8").path)
            #expect(decoded.frames == 180 && decoded.errors == 0)
            if passes == 2 {
                let bitrate = try Self.videoBitrate(rendition, seconds: 6)
                #expect(abs(bitrate / 400_000 - 1) <= 0.08, "delivered \(Int(bitrate)) bit/s for 400k asked")
            }
            quality[passes] = try HostTool.psnr(source, rendition.appendingPathComponent("index.m3u8").path, width: 640, height: 360)
        }
        let one = try #require(quality[1]), two = try #require(quality[2])
        #expect(two > one, "two passes \(two) dB, one pass \(one) dB")
    }

    /// A task (what a farmer or the plain sandbox runs) reads its segment file once per pass, told 2 or without the field
    /// (a farmer's wire task); `passes: 1` keeps one.
    @Test func aTaskTakesTwoPassesUnlessToldOne() throws {
        let folder = try TemporaryFolder("task-passes")
        defer { folder.remove() }
        for passes in [nil, 2, 1] as [Int?] {
            let output = folder.path("out\(passes ?? 0)")
            let task = TranscodeTask(index: 0, source: Fixtures.path("single-keyframe-360p.mp4"),
                                     rungs: [.init(name: "240p", width: 426, height: 240, bitrate: 250_000)], codec: .h264, preset: "veryfast",
                                     encoder: .software, frameRate: Rational(num: 25, den: 1), output: output, passes: passes)
            let result = try SegmentTaskRunner.run(task)
            #expect(result.frames == 200 && result.renditions.first?.frames == 200)
            let demuxer = try Demuxer(path: output + "/240p.ts")
            let packet = Packet()
            #expect(try demuxer.read(into: packet))
            #expect(Self.printable(Array(packet.data)).contains(passes == 1 ? "rc=abr" : "rc=2pass"), "passes \(passes.map(String.init) ?? "nil")")
        }
    }

    @Test func aTaskSpecAsksForOneOrTwoPasses() throws {
        var task = TranscodeTask(index: 0, source: Fixtures.path("odd-642x362.mp4"), rungs: [.init(name: "240p", width: 426, height: 240, bitrate: 250_000)],
                                 codec: .h264, preset: "veryfast", encoder: .software, frameRate: Rational(num: 25, den: 1), output: "/tmp/o", passes: 5)
        #expect(throws: TranscodeError.badTask("passes must be 1 or 2, not 5")) { try task.validate() }
        task.passes = 2
        try task.validate()
        // A spec written before the field existed still reads, and takes the default.
        var json = try #require(try JSONSerialization.jsonObject(with: JSONEncoder().encode(task)) as? [String: Any])
        json["passes"] = nil
        let older = try JSONDecoder().decode(TranscodeTask.self, from: JSONSerialization.data(withJSONObject: json))
        #expect(older.passes == nil)
    }
}
