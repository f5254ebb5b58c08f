import Foundation
import PrismTestSupport
import Testing

/// Bad input to `prism transcode`: exit 2, one line on stderr, nothing half-written left behind.
@Suite(.serialized) struct TranscodeBadInputTests {
    static func expectRefusal(_ arguments: [String], in folder: TemporaryFolder, mentioning words: [String]) throws {
        let result = try PrismBinary.run(["transcode"] + arguments + ["-q"])
        #expect(result.status == 2, "\(arguments): exit \(result.status), stderr \(result.stderr)")
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1, "one clear line, got: \(result.stderr)")
        for word in words { #expect(result.stderr.contains(word), "\(result.stderr) should mention \(word)") }
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder.url.path).filter { $0.contains("partial") || $0 == "out" }
        #expect(leftovers.isEmpty, "left behind: \(leftovers)")
        #expect(result.stdout.isEmpty)
    }

    static func ffmpeg(_ arguments: [String]) throws {
        let result = try HostTool.run("ffmpeg", ["-v", "error", "-y"] + arguments)
        try #require(result.status == 0, "\(result.stderr)")
    }

    @Test func unreadableInputsAreRefused() throws {
        let folder = try TemporaryFolder("bad-input")
        defer { folder.remove() }
        let out = folder.path("out")
        #expect(FileManager.default.createFile(atPath: folder.path("empty.mp4"), contents: Data()))
        try "just some text\n".write(toFile: folder.path("notes.mp4"), atomically: true, encoding: .utf8)
        // An MP4 cut in half: the index (moov) is at its end, so nothing of it can be read.
        let clip = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("pan-720p.mp4")))
        try clip.prefix(clip.count / 3).write(to: URL(fileURLWithPath: folder.path("cut.mp4")))
        try Self.expectRefusal([folder.path("missing.mp4"), "-o", out], in: folder, mentioning: ["missing.mp4", "no such file"])
        try Self.expectRefusal([folder.path("empty.mp4"), "-o", out], in: folder, mentioning: ["empty"])
        try Self.expectRefusal([folder.path("notes.mp4"), "-o", out], in: folder, mentioning: ["not a media file"])
        try Self.expectRefusal([folder.path("cut.mp4"), "-o", out], in: folder, mentioning: ["cut.mp4"])
    }

    @Test func aTruncatedFileWithItsIndexUpFrontIsRefusedNotHalfTranscoded() throws {
        let folder = try TemporaryFolder("bad-truncated")
        defer { folder.remove() }
        try Self.ffmpeg(["-i", Fixtures.path("pan-720p.mp4"), "-c", "copy", "-movflags", "+faststart", folder.path("fast.mp4")])
        let clip = try Data(contentsOf: URL(fileURLWithPath: folder.path("fast.mp4")))
        try clip.prefix(clip.count / 2).write(to: URL(fileURLWithPath: folder.path("half.mp4")))
        try Self.expectRefusal([folder.path("half.mp4"), "-o", folder.path("out")], in: folder, mentioning: ["truncated"])
    }

    @Test func audioOnlyZeroDurationAndOversizedVideoAreRefused() throws {
        let folder = try TemporaryFolder("bad-content")
        defer { folder.remove() }
        try Self.ffmpeg(["-f", "lavfi", "-i", "sine=d=1", "-c:a", "aac", folder.path("audio.m4a")])
        try Self.ffmpeg(["-f", "lavfi", "-i", "color=s=320x240:d=1", "-frames:v", "0", "-c:v", "mjpeg", folder.path("zero.avi")])
        try Self.ffmpeg(["-f", "lavfi", "-i", "color=s=8200x16:d=0.2:r=5", "-c:v", "ffv1", folder.path("wide.mkv")])
        try Self.expectRefusal([folder.path("audio.m4a"), "-o", folder.path("out")], in: folder, mentioning: ["no video stream"])
        try Self.expectRefusal([folder.path("zero.avi"), "-o", folder.path("out")], in: folder, mentioning: ["zero duration"])
        try Self.expectRefusal([folder.path("wide.mkv"), "-o", folder.path("out")], in: folder, mentioning: ["8200x16", "8192"])
    }

    @Test func badOptionsAndUnwritableOutputsAreRefused() throws {
        let folder = try TemporaryFolder("bad-options")
        defer { folder.remove() }
        let clip = Fixtures.path("vertical-360x640.mp4")
        let out = folder.path("out")
        try Self.expectRefusal([clip, "-o", out, "--codec", "mpeg2"], in: folder, mentioning: ["unknown codec 'mpeg2'"])
        try Self.expectRefusal([clip, "-o", out, "--ladder", "5000p"], in: folder, mentioning: ["5000p", "4320"])
        try Self.expectRefusal([clip, "-o", out, "--ladder", "abcp@x"], in: folder, mentioning: ["abcp@x"])
        try Self.expectRefusal([clip, "-o", out, "--preset", "ludicrous"], in: folder, mentioning: ["ludicrous"])
        try Self.expectRefusal([clip, "-o", out, "--segment-seconds", "0"], in: folder, mentioning: ["segment length"])
        try Self.expectRefusal([clip, "-o", out, "--workers", "0"], in: folder, mentioning: ["worker count 0", "1 to 64"])
        try Self.expectRefusal([clip, "-o", out, "--workers", "65"], in: folder, mentioning: ["worker count 65"])
        try Self.expectRefusal([clip, "-o", out, "--passes", "0"], in: folder, mentioning: ["--passes 0", "1 or 2"])
        try Self.expectRefusal([clip, "-o", out, "--passes", "3"], in: folder, mentioning: ["--passes 3"])
        try Self.expectRefusal([clip, "-o", out, "--encoder", "nvenc"], in: folder, mentioning: ["nvenc", "h264_nvenc"])
        // Read-only file systems refuse even root; a path under a regular file has no folder to write in.
        try Self.expectRefusal([clip, "-o", "/proc/prism-out"], in: folder, mentioning: ["/proc/prism-out"])
        try Self.expectRefusal([clip, "-o", "\(clip)/out"], in: folder, mentioning: ["does not exist"])
        // A folder that holds something else is not overwritten.
        try FileManager.default.createDirectory(atPath: out, withIntermediateDirectories: true)
        try "keep me".write(toFile: "\(out)/precious.txt", atomically: true, encoding: .utf8)
        let result = try PrismBinary.run(["transcode", clip, "-o", out, "-q"])
        #expect(result.status == 2 && result.stderr.contains("not an earlier Prism output"))
        #expect(FileManager.default.fileExists(atPath: "\(out)/precious.txt"))
    }
}
