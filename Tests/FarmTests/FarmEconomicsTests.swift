import Foundation
import Media
import PrismTestSupport
import Testing

/// What farming costs the submitter: the source's own packets go out (not a re-encode), and pixels are audited
/// at a rate, with a caught farmer's unaudited segments verified again and redone.
@Suite(.serialized) struct FarmEconomicsTests {
    struct Summary: Decodable {
        struct Tally: Decodable { let url: String; let accepted: Int; let rejected: Int; let dropped: Bool; let auditRate: Double; let audited: Int; let caught: Bool }
        struct Audit: Decodable { let mode: String; let rate: Double?; let screened: Int; let redone: Int }
        struct Cutting: Decodable { let mode: String; let packets: Int; let primed: Int; let mezzanine: Int; let sourceVideoBytes: Int; let bytesSent: Int }
        let segments: Int
        let accepted: Int
        let bytesUp: Int
        let cpuSeconds: Double
        let verifySeconds: Double
        struct Rejection: Decodable { let segment: Int; let rung: String?; let reasons: [String] }
        let audit: Audit
        let cutting: Cutting?
        let farmers: [Tally]
        let rejections: [Rejection]
    }

    static func videoBytes(_ path: String) throws -> Int {
        let sizes = try HostTool.run("ffprobe", ["-v", "error", "-select_streams", "v:0", "-show_entries", "packet=size", "-of", "csv=p=0", path])
        return sizes.stdout.split(separator: "\n").compactMap { Int($0) }.reduce(0, +)
    }

    static func frameCounts(_ playlist: String) throws -> [String] {
        let frames = try HostTool.run("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries", "stream=nb_read_frames",
                                                  "-of", "csv=p=0", playlist])
        return frames.stdout.split(separator: "\n").map(String.init)
    }

    static func submit(_ input: String, to farmers: [LiveServer], output: String, ladder: String = "360p,240p",
                       extra: [String]) throws -> (PrismBinary.Result, Summary?) {
        let result = try PrismBinary.run(["submit", input, "-o", output, "--farmers", farmers.map(\.url).joined(separator: ","),
                                          "--ladder", ladder, "--preset", "veryfast", "--json", "-q"] + extra)
        return (result, try? JSONDecoder().decode(Summary.self, from: Data(result.stdout.utf8)))
    }

    @Test func aSourceWithKeyframesEveryTwoSecondsGoesOutAsItsOwnPacketsOnce() throws {
        let folder = try TemporaryFolder("farm-packets")
        defer { folder.remove() }
        let farmer = try Farm.farmer(folder, "worker")
        defer { farmer.stop() }
        let source = Fixtures.path("pan-720p.mp4")
        let (result, parsed) = try Self.submit(source, to: [farmer], output: folder.path("out"), extra: [])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try #require(parsed)
        let cutting = try #require(summary.cutting)
        #expect(cutting.mode == "keyframes" && cutting.packets == 3 && cutting.primed == 0 && cutting.mezzanine == 0)
        let video = try Self.videoBytes(source)
        #expect(cutting.sourceVideoBytes == video)
        #expect(Double(summary.bytesUp) <= 1.2 * Double(video), "sent \(summary.bytesUp) bytes for \(video) bytes of video")
        #expect(summary.cpuSeconds > 0 && summary.audit.mode == "sampled" && summary.audit.screened == 0, "an unknown farmer: every segment audited")
        #expect(try Self.frameCounts(folder.path("out/240p/index.m3u8")).allSatisfy { $0 == "180" })
    }

    @Test func aSingleKeyframeSourceIsPrimedAndEveryFrameComesBackExactly() throws {
        let folder = try TemporaryFolder("farm-primed")
        defer { folder.remove() }
        let farmer = try Farm.farmer(folder, "worker")
        defer { farmer.stop() }
        let source = Fixtures.path("single-keyframe-360p.mp4")
        let (result, parsed) = try Self.submit(source, to: [farmer], output: folder.path("out"), extra: [])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try #require(parsed)
        let cutting = try #require(summary.cutting)
        #expect(cutting.mode == "nominal" && cutting.primed >= 1 && cutting.packets + cutting.primed + cutting.mezzanine == 4)
        let video = try Self.videoBytes(source)
        #expect(Double(summary.bytesUp) <= 3 * Double(video), "sent \(summary.bytesUp) bytes for \(video) bytes of video")
        for rung in ["360p", "240p"] {
            #expect(try Self.frameCounts(folder.path("out/\(rung)/index.m3u8")).allSatisfy { $0 == "200" })
        }
        // The frames encoded are the source's at their own times: the whole rung verifies against the source.
        let verified = try PrismBinary.run(["verify", "--source", source, "--rendition", folder.path("out/360p/index.m3u8"),
                                            "--width", "640", "--height", "360", "--codec", "h264", "--json"])
        #expect(verified.status == 0, "\(verified.stdout.prefix(600))")
    }

    /// A seed whose first draw for the first farmer does not audit and whose second does, at `rate`.
    static func seedScreeningThenAuditing(rate: Double) -> UInt64 {
        for seed in UInt64(1)... {
            var generator = SeededGenerator(seed: seed)
            let first = Double.random(in: 0..<1, using: &generator), second = Double.random(in: 0..<1, using: &generator)
            if first >= rate && second < rate { return seed }
        }
        return 0
    }

    @Test func aFarmerCaughtByAnAuditIsDroppedAndItsUnauditedSegmentsAreRedone() throws {
        let folder = try TemporaryFolder("farm-audit")
        defer { folder.remove() }
        // Keyframes every second, cut every two: four segments; the cheat, listed first with two sessions, takes two at once.
        let source = folder.path("source.mp4")
        try HostTool.succeed("ffmpeg", ["-v", "error", "-i", Fixtures.path("single-keyframe-360p.mp4"), "-c:v", "libx264", "-preset", "veryfast",
                                               "-g", "25", "-keyint_min", "25", "-sc_threshold", "0", "-an", source])
        let cheat = try Farm.farmer(folder, "cheat", ["--misbehave", "watermark", "--sessions", "2"])
        let honest = try Farm.farmer(folder, "honest")
        defer { cheat.stop(); honest.stop() }
        let seed = Self.seedScreeningThenAuditing(rate: 0.5)
        let (result, parsed) = try Self.submit(source, to: [cheat, honest], output: folder.path("out"),
                                               extra: ["--audit-rate", "0.5", "--audit-seed", String(seed, radix: 16)])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try #require(parsed)
        #expect(summary.segments == 4 && summary.audit.rate == 0.5)
        let caught = try #require(summary.farmers.first { $0.url == cheat.url })
        #expect(caught.caught && caught.audited >= 1 && caught.rejected >= 1, "its second answer was audited and failed")
        #expect(summary.audit.redone >= 1, "its first answer, accepted on the cheap checks, was verified again and redone")
        #expect(caught.dropped, "a second failed segment confirms it: dropped from the job")
        // What was delivered is clean: every frame of both rungs against the source.
        for (rung, width, height) in [("360p", 640, 360), ("240p", 426, 240)] {
            let verified = try PrismBinary.run(["verify", "--full", "--source", source, "--rendition", folder.path("out/\(rung)/index.m3u8"),
                                                "--width", String(width), "--height", String(height), "--codec", "h264", "--json"])
            #expect(verified.status == 0, "\(rung): \(verified.stdout.prefix(600))")
        }
    }

    /// The shape an honest farmer's 180p output was rejected on as `time-shift` in 2 of 4 jobs (x264's skipped frames
    /// at a low rate look like the source one frame earlier): a wide clip, keyframes 1.2–2.4 s apart, two low rungs.
    /// Seeded runs, so which frames are compared is reproducible. (Seed 2 drew a false `watermark-region` on the
    /// third 180p segment, a 16x16-pixel patch of hard detail flagged only in the frames where it showed: now
    /// regions smaller than the smallest watermark must stand out in most compared frames.)
    @Test func anHonestFarmersLowRungsAreNotReadAsTimeShifted() throws {
        let folder = try TemporaryFolder("farm-wide")
        defer { folder.remove() }
        let source = folder.path("wide.mp4")
        try HostTool.succeed("ffmpeg", ["-v", "error", "-i", Fixtures.path("single-keyframe-360p.mp4"), "-vf", "crop=640:272", "-r", "25",
                                               "-c:v", "libx264", "-preset", "medium", "-crf", "23", "-force_key_frames", "0,1.49,3.34,4.98,6.91",
                                               "-x264-params", "keyint=infinite:scenecut=0", "-an", source])
        let honest = try Farm.farmer(folder, "honest"), spare = try Farm.farmer(folder, "spare")
        defer { honest.stop(); spare.stop() }
        // Two farmers: a segment rejected by mistake would move, not fail the job; the assertion is that none is.
        for seed in ["1", "2", "3"] {
            let (result, parsed) = try Self.submit(source, to: [honest, spare], output: folder.path("out"), ladder: "240p@400k,180p@250k",
                                                   extra: ["--audit", "all", "--audit-seed", seed])
            #expect(result.status == 0, "seed \(seed): \(result.stderr)")
            let summary = try #require(parsed)
            #expect(summary.rejections.isEmpty, "seed \(seed): \(summary.rejections.map { "\($0.segment) \($0.rung ?? ""): \($0.reasons)" })")
            #expect(summary.cutting?.mode == "keyframes")
        }
        // And the whole delivered 180p rung, at several reproducible sample draws.
        for seed in 1...6 {
            let verified = try PrismBinary.run(["verify", "--source", source, "--rendition", folder.path("out/180p/index.m3u8"), "--bitrate", "250k",
                                                "--codec", "h264", "--seed", String(seed), "--json"])
            #expect(!verified.stdout.contains("\"time-shift\""), "seed \(seed): \(verified.stdout.prefix(600))")
        }
    }

    /// A source turned by its display matrix cannot go out as its own packets (the turn lives in the container, not in
    /// them): it goes out as upright mezzanines, every segment's frame rate stated in the task (a 2-frame tail
    /// mezzanine made the farmer guess 15,360 fps from its stream and encode it empty), and comes back upright.
    @Test func aRotatedSourceGoesOutUprightAndComesBackWhole() throws {
        let folder = try TemporaryFolder("farm-rotated")
        defer { folder.remove() }
        let source = folder.path("portrait.mp4")
        try Fixtures.portraitCopy(to: source)
        let farmer = try Farm.farmer(folder, "worker")
        defer { farmer.stop() }
        let (result, parsed) = try Self.submit(source, to: [farmer], output: folder.path("out"), ladder: "240p", extra: ["--audit", "all"])
        #expect(result.status == 0, "\(result.stderr)")
        let summary = try #require(parsed)
        #expect(summary.cutting?.mezzanine == summary.segments && summary.rejections.isEmpty)
        let size = try HostTool.run("ffprobe", ["-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0", folder.path("out/240p/seg_00000.ts")])
        #expect(size.stdout.split(whereSeparator: \.isNewline).first == "136,240", "\(size.stdout)")
        #expect(try Self.frameCounts(folder.path("out/240p/index.m3u8")).first == "122")
    }

    @Test func badAuditOptionsExitTwoWithOneLine() throws {
        for extra in [["--audit-rate", "0"], ["--audit-rate", "1.5"], ["--audit-rate", "nan"], ["--audit", "some"], ["--audit-seed", "xyz"]] {
            let result = try PrismBinary.run(["submit", Fixtures.path("pan-720p.mp4"), "-o", "/tmp/prism-never", "--farmers", "http://127.0.0.1:9"] + extra)
            #expect(result.status == 2, "\(extra): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(extra): \(result.stderr)")
        }
    }
}
