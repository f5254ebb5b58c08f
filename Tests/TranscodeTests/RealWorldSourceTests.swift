import Foundation
#if canImport(Glibc)
import Glibc
#endif
import PrismTestSupport
import Testing

/// Sources as they come from cameras, phones and the web, made with the ffmpeg CLI, through `prism transcode`.
@Suite struct RealWorldSourceTests {
    /// A phone clip stored landscape with a 90° display matrix comes out upright, as the ffmpeg CLI shows it (it used to
    /// come out sideways), and `prism verify` checks it against the source the right way up.
    @Test func aRotatedPhoneClipComesOutUpright() throws {
        let folder = try TemporaryFolder("rotated")
        defer { folder.remove() }
        let source = folder.path("portrait.mp4")
        try Fixtures.portraitCopy(to: source)
        let result = try PrismBinary.run(["transcode", source, "-o", folder.path("out"), "--ladder", "360p", "-q"])
        #expect(result.status == 0, "\(result.stderr)")
        let segment = folder.path("out/360p/seg_00000.ts")
        let size = try HostTool.run("ffprobe", ["-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0", segment])
        #expect(size.stdout.split(whereSeparator: \.isNewline).first == "202,360", "\(size.stdout)")
        // The ffmpeg CLI turns the source the same way on its own (autorotation): the pictures match.
        let upright = try HostTool.firstFramePSNR(source, segment, width: 202, height: 360)
        #expect(upright > 30, "first frame \(upright) dB from the ffmpeg CLI's upright picture")
        let verified = try PrismBinary.run(["verify", "--source", source, "--rendition", folder.path("out/360p/index.m3u8"), "--width", "202",
                                            "--height", "360", "--bitrate", "800k", "--codec", "h264", "--seed", "1"])
        #expect(verified.status == 0, "\(verified.stderr)")
    }

    /// A PAL 720x576 picture with 64:45 pixels is shown 16:9: its rungs keep that shape with square pixels (it came
    /// out 600x480 SAR 1:1, squashed to 5:4).
    @Test func anAnamorphicSourceKeepsItsShownShape() throws {
        let folder = try TemporaryFolder("anamorphic")
        defer { folder.remove() }
        let source = folder.path("pal.mp4")
        try HostTool.succeed("ffmpeg", ["-v", "error", "-i", Fixtures.path("pan-720p.mp4"), "-t", "2", "-an", "-vf", "scale=720:576,setsar=64/45",
                                               "-c:v", "libx264", "-preset", "veryfast", "-crf", "18", source])
        let result = try PrismBinary.run(["transcode", source, "-o", folder.path("out"), "--ladder", "480p", "-q"])
        #expect(result.status == 0, "\(result.stderr)")
        let segment = folder.path("out/480p/seg_00000.ts")
        let shape = try HostTool.run("ffprobe", ["-v", "error", "-show_entries", "stream=width,height,sample_aspect_ratio", "-of", "csv=p=0", segment])
        #expect(shape.stdout.split(whereSeparator: \.isNewline).first == "854,480,1:1", "\(shape.stdout)")
        #expect(try HostTool.firstFramePSNR(Fixtures.path("pan-720p.mp4"), segment, width: 854, height: 480) > 30)
        let verified = try PrismBinary.run(["verify", "--source", source, "--rendition", folder.path("out/480p/index.m3u8"), "--width", "854",
                                            "--height", "480", "--codec", "h264", "--seed", "1"])
        #expect(verified.status == 0, "\(verified.stderr)")
    }

    /// Interlaced fields are deinterlaced (FFmpeg's bwdif, one frame out per frame in) before scaling, with a notice:
    /// they used to be encoded as progressive pictures, combed. FFmpeg's `idet` reads every source frame as top field
    /// first and almost every output frame as progressive.
    @Test func anInterlacedSourceIsDeinterlaced() throws {
        let folder = try TemporaryFolder("interlaced")
        defer { folder.remove() }
        let source = folder.path("fields.mp4")
        try HostTool.succeed("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=720x576:rate=50", "-t", "2", "-vf", "tinterlace=mode=interleave_top",
                                               "-flags", "+ildct+ilme", "-c:v", "libx264", "-preset", "veryfast", "-x264opts", "tff=1", source])
        let result = try PrismBinary.run(["transcode", source, "-o", folder.path("out"), "--ladder", "576p"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stderr.contains("is interlaced: its fields were deinterlaced"), "\(result.stderr)")
        func detected(_ path: String) throws -> (interlaced: Int, progressive: Int) {
            let run = try HostTool.run("ffmpeg", ["-i", path, "-vf", "idet", "-f", "null", "-"])
            let line = run.stderr.split(separator: "\n").first { $0.contains("Multi frame detection") } ?? ""
            let numbers = line.split(whereSeparator: { !$0.isNumber }).compactMap { Int($0) }
            return numbers.count >= 4 ? (numbers[numbers.count - 4] + numbers[numbers.count - 3], numbers[numbers.count - 2]) : (-1, -1)
        }
        let before = try detected(source), after = try detected(folder.path("out/576p/index.m3u8"))
        #expect(before.interlaced == 50, "source: \(before)")
        #expect(after.interlaced + after.progressive == 50 && after.interlaced <= 5, "output: \(after)")
    }

    /// A clip whose frame rate drops from 30 to 15 halfway (a phone saving power, a screen recording): every frame
    /// comes out, in segments whose timestamps only go forward, and the playlist states the peak rate (RFC 8216).
    /// With 1 s segments the encoder restarted per segment used to start a 15 fps segment's DTS before the previous
    /// segment's last one, and the muxer refused it (exit 3).
    @Test func aVariableFrameRateClipKeepsEveryFrame() throws {
        let folder = try TemporaryFolder("vfr")
        defer { folder.remove() }
        for (name, rate) in [("fast", 30), ("slow", 15)] {
            try HostTool.succeed("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=\(rate)", "-t", "3",
                                                   "-c:v", "libx264", "-preset", "veryfast", folder.path("\(name).mp4")])
        }
        let source = folder.path("vfr.mp4")
        try HostTool.succeed("ffmpeg", ["-v", "error", "-i", folder.path("fast.mp4"), "-i", folder.path("slow.mp4"), "-filter_complex",
                                                 "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]", "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "veryfast", source])
        let result = try PrismBinary.run(["transcode", source, "-o", folder.path("out"), "--ladder", "180p,144p", "--segment-seconds", "1", "-q"])
        #expect(result.status == 0, "\(result.stderr)")
        for rung in ["180p", "144p"] {
            let playlist = folder.path("out/\(rung)/index.m3u8")
            let frames = try HostTool.run("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v", "-show_entries", "stream=nb_read_frames",
                                                      "-of", "csv=p=0", playlist])
            #expect(frames.stdout.split(whereSeparator: \.isNewline).first == "135", "\(rung): \(frames.stdout)")
            let dts = try HostTool.run("ffprobe", ["-v", "error", "-select_streams", "v", "-show_entries", "packet=dts", "-of", "csv=p=0", playlist])
            let values = dts.stdout.split(whereSeparator: \.isNewline).compactMap { Int64($0.split(separator: ",").first ?? "") }
            #expect(values.count == 135 && zip(values, values.dropFirst()).allSatisfy { $0 < $1 }, "\(rung): DTS must only go forward")
        }
        let master = try String(contentsOfFile: folder.path("out/master.m3u8"), encoding: .utf8)
        #expect(master.contains("FRAME-RATE=30.000") && !master.contains("FRAME-RATE=23"), "\(master)")
    }
}

/// Damaged and unusable inputs: one clear line and exit 2, never a ladder that looks complete (the policy: decoding
/// errors, concealed or not, beyond one per 100 frames fail the job; fewer are logged and transcoded).
@Suite struct DamagedInputTests {
    @Test func truncatedAndDamagedFilesAndSpecialFilesExitTwoWithOneLine() throws {
        let folder = try TemporaryFolder("damaged")
        defer { folder.remove() }
        let transport = folder.path("whole.ts"), fragmented = folder.path("fragmented.mp4")
        for (output, extra) in [(transport, ["-f", "mpegts"]), (fragmented, ["-movflags", "+frag_keyframe+empty_moov"])] {
            try HostTool.succeed("ffmpeg", ["-v", "error", "-i", Fixtures.path("pan-720p.mp4"), "-c", "copy"] + extra + [output])
        }
        func cut(_ path: String, _ bytes: Int, _ name: String) throws -> String {
            let data = try Data(contentsOf: URL(fileURLWithPath: path)).prefix(bytes)
            try data.write(to: URL(fileURLWithPath: folder.path(name)))
            return folder.path(name)
        }
        // A transport stream cut at 4 KB (one half frame) and at 600 KB (61 frames, the last half there): a frame-threaded
        // decoder conceals the half frame without flagging it, and transport streams declare no frame count.
        var inputs = [try cut(transport, 4000, "cut4k.ts"), try cut(transport, 600_000, "cut600k.ts"),
                      // A fragmented MP4 cut before its first complete fragment (was exit 3, "internal FFmpeg error").
                      try cut(fragmented, 200_000, "cut.mp4"), "/dev/zero"]
        let fifo = folder.path("fifo")
        #expect(mkfifo(fifo, 0o600) == 0)
        inputs.append(fifo)
        for input in inputs {
            let result = try PrismBinary.run(["transcode", input, "-o", folder.path("out"), "--ladder", "240p", "-q"])
            #expect(result.status == 2, "\(input): \(result.status) \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(input): \(result.stderr)")
            #expect(!FileManager.default.fileExists(atPath: folder.path("out/master.m3u8")), "\(input): no ladder that looks complete")
        }
        // The whole transport stream transcodes.
        let whole = try PrismBinary.run(["transcode", transport, "-o", folder.path("out"), "--ladder", "240p", "-q"])
        #expect(whole.status == 0, "\(whole.stderr)")
    }

    /// A disk that fills up mid-write: exit 2 with one line (it was 3, "internal FFmpeg error"), nothing left behind.
    /// Needs a small tmpfs to fill, so it runs where the test may mount one (as root).
    @Test(.enabled(if: getuid() == 0, "mounts a small tmpfs to fill"))
    func aDiskFillingUpMidWriteExitsTwo() throws {
        let folder = try TemporaryFolder("full-disk")
        defer { folder.remove() }
        let disk = folder.path("disk")
        try FileManager.default.createDirectory(atPath: disk, withIntermediateDirectories: true)
        let mounted = try HostTool.run("mount", ["-t", "tmpfs", "-o", "size=1200k", "tmpfs", disk])
        try #require(mounted.status == 0, "cannot mount a tmpfs here: \(mounted.stderr)")
        defer { _ = try? HostTool.run("umount", [disk]) }
        let result = try PrismBinary.run(["transcode", Fixtures.path("pan-720p.mp4"), "-o", disk + "/out", "--ladder", "720p,360p", "-q"])
        #expect(result.status == 2, "\(result.status): \(result.stderr)")
        #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains("No space left on device"), "\(result.stderr)")
        #expect((try FileManager.default.contentsOfDirectory(atPath: disk)).isEmpty, "the partial output is removed")
    }
}
