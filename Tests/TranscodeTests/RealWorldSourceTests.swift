import Foundation
import PrismTestSupport
import Testing

/// Sources as they come from cameras, phones and the web, made with the ffmpeg CLI, through `prism transcode`.
@Suite struct RealWorldSourceTests {
    /// A clip whose frame rate drops from 30 to 15 halfway (a phone saving power, a screen recording): every frame
    /// comes out, in segments whose timestamps only go forward, and the playlist states the peak rate (RFC 8216).
    /// With 1 s segments the encoder restarted per segment used to start a 15 fps segment's DTS before the previous
    /// segment's last one, and the muxer refused it (exit 3).
    @Test func aVariableFrameRateClipKeepsEveryFrame() throws {
        let folder = try TemporaryFolder("vfr")
        defer { folder.remove() }
        for (name, rate) in [("fast", 30), ("slow", 15)] {
            let made = try HostTool.run("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "testsrc2=size=320x180:rate=\(rate)", "-t", "3",
                                                   "-c:v", "libx264", "-preset", "veryfast", folder.path("\(name).mp4")])
            try #require(made.status == 0, "\(made.stderr)")
        }
        let source = folder.path("vfr.mp4")
        let joined = try HostTool.run("ffmpeg", ["-v", "error", "-i", folder.path("fast.mp4"), "-i", folder.path("slow.mp4"), "-filter_complex",
                                                 "[0:v][1:v]concat=n=2:v=1[v]", "-map", "[v]", "-fps_mode", "vfr", "-c:v", "libx264", "-preset", "veryfast", source])
        try #require(joined.status == 0, "\(joined.stderr)")
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
