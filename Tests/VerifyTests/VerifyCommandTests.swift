import PrismTestSupport
import Foundation
import Testing

/// `prism verify` at the command line: exit codes, JSON shape, the report, and one clear line for bad input.
@Suite struct VerifyCommandTests {
    static func source() throws -> String { try VerifyVerdictTests.source() }

    @Test func acceptedRenditionExitsZeroWithContractJSON() throws {
        let rendition = try VerifyVerdictTests.rendition("honest-360p.mp4", preset: "medium")
        let result = try PrismBinary.run(["verify", "--source", try Self.source(), "--rendition", rendition, "--width", "640", "--height", "360",
                                          "--bitrate", "800k", "--codec", "h264", "--samples", "3", "--json"])
        #expect(result.status == 0, "\(result.stdout) \(result.stderr)")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["verdict"] as? String == "accept")
        #expect((object["reasons"] as? [Any])?.isEmpty == true)
        let metrics = try #require(object["metrics"] as? [String: Any])
        let psnr = try #require(metrics["psnr"] as? [String: Double])
        let ssim = try #require(metrics["ssim"] as? [String: Double])
        #expect(Set(psnr.keys).isSuperset(of: ["y", "u", "v", "average"]))
        #expect(Set(ssim.keys) == ["y", "u", "v", "all"])
        let frames = try #require(object["frames"] as? [String: Int])
        #expect(frames["source"] == 60 && frames["rendition"] == 60 && (frames["compared"] ?? 0) >= 3)
        #expect(object["regions"] is [Any])
        let fingerprint = try #require(object["fingerprint"] as? String)
        #expect(fingerprint.split(separator: ":").count == 4 && fingerprint.count == 4 * 16 + 3)
    }

    @Test func rejectedRenditionExitsOneAndWritesAReportShowingTheRegion() throws {
        let font = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
        let rendition = try VerifyVerdictTests.rendition("watermark.mp4", filter: "drawtext=fontfile=\(font):text='PRISM':fontsize=40:fontcolor=white@0.6:x=400:y=40")
        let report = TestClips.folder.appendingPathComponent("report.html").path
        let result = try PrismBinary.run(["verify", "--source", try Self.source(), "--rendition", rendition, "--seed", "1", "--report", report])
        #expect(result.status == 1)
        #expect(result.stdout.hasPrefix("reject: "))
        #expect(result.stdout.contains("watermark-region"))
        let html = try String(contentsOfFile: report, encoding: .utf8)
        #expect(html.contains("REJECT") && html.contains("<svg") && html.contains("data:image/bmp;base64,"))
        #expect(html.contains("watermark-region"))
        // Self-contained: nothing fetched from elsewhere.
        #expect(!html.contains("src=\"http") && !html.contains("href='http") && !html.contains("<link"))
    }

    @Test func missingAndNonVideoInputsExitTwoWithOneLine() throws {
        let text = TestClips.folder.appendingPathComponent("notes.txt")
        try "not a video\n".write(to: text, atomically: true, encoding: .utf8)
        for (rendition, expected) in [("/nonexistent/r.mp4", "no such file"), (text.path, "not a media file")] {
            let result = try PrismBinary.run(["verify", "--source", try Self.source(), "--rendition", rendition])
            #expect(result.status == 2)
            #expect(result.stderr.hasPrefix("prism: ") && result.stderr.contains(expected), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1)
            #expect(result.stdout.isEmpty)
        }
    }

    @Test func audioOnlyAndZeroFrameFilesCannotBeChecked() throws {
        let audio = try TestClips.make("audio-only.m4a", ["-i", TestClips.fixture("pan-720p.mp4"), "-vn", "-c:a", "copy"])
        let result = try PrismBinary.run(["verify", "--source", try Self.source(), "--rendition", audio])
        #expect(result.status == 2)
        #expect(result.stderr.contains("has no video stream"), "\(result.stderr)")
        let empty = try TestClips.make("zero-frames.mp4", ["-i", try Self.source(), "-frames:v", "0", "-c:v", "libx264"])
        let zero = try PrismBinary.run(["verify", "--source", try Self.source(), "--rendition", empty])
        #expect(zero.status == 2, "\(zero.stderr)")
        #expect(zero.stderr.split(separator: "\n").count == 1)
    }

    @Test func otherAspectRatioCannotBeChecked() throws {
        let result = try PrismBinary.run(["verify", "--source", try Self.source(), "--rendition", TestClips.fixture("vertical-360x640.mp4")])
        #expect(result.status == 2)
        #expect(result.stderr == "prism: rendition is 360x640 but source is 640x360: another aspect ratio cannot be compared\n")
    }

    @Test func sourceShorterThanRenditionCannotBeChecked() throws {
        let short = try TestClips.make("source-1s.mp4", ["-i", try Self.source(), "-t", "1", "-c:v", "libx264", "-preset", "ultrafast", "-crf", "16"])
        let rendition = try VerifyVerdictTests.rendition("honest-360p.mp4", preset: "medium")
        let result = try PrismBinary.run(["verify", "--source", short, "--rendition", rendition])
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("prism: source lasts 1.00 s but rendition 2.00 s"), "\(result.stderr)")
    }

    @Test func wrongAskedDimensionsAndCodecAreRejectedNotErrors() throws {
        let rendition = try VerifyVerdictTests.rendition("honest-360p.mp4", preset: "medium")
        let result = try PrismBinary.run(["verify", "--source", try Self.source(), "--rendition", rendition, "--width", "854", "--height", "480",
                                          "--codec", "hevc", "--json"])
        #expect(result.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        let codes = (object["reasons"] as? [[String: String]])?.compactMap { $0["code"] } ?? []
        #expect(codes.contains("wrong-dimensions") && codes.contains("wrong-codec"), "\(codes)")
    }
}
