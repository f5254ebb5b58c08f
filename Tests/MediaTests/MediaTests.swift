import CFFmpeg
import Foundation
@testable import Media
import PrismTestSupport
import Testing

@Suite struct ErrorFunnelTests {
    @Test func eagainAndEofAreValuesAndOtherCodesThrowWithFFmpegsText() throws {
        #expect(try ffStep(cffmpeg_averror_eagain(), "x") == .needsInput)
        #expect(try ffStep(cffmpeg_averror_eof(), "x") == .endOfStream)
        #expect(try ffStep(0, "x") == .ok)
        do {
            _ = try ffStep(cffmpeg_averror_invaliddata(), "avcodec_send_packet")
            Issue.record("invalid data must throw")
        } catch let error as FFmpegError {
            #expect(error.function == "avcodec_send_packet")
            #expect(error.message == "Invalid data found when processing input")
            #expect(error.isInvalidData)
        }
    }
}

@Suite struct DecodeTests {
    static func ffprobeFrameCount(_ path: String) throws -> Int {
        let result = try HostTool.run("ffprobe", ["-v", "error", "-count_frames", "-select_streams", "v:0",
                                                  "-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path])
        return Int(result.stdout.trimmingCharacters(in: .whitespacesAndNewlines)) ?? -1
    }

    @Test(arguments: ["pan-720p.mp4", "single-keyframe-360p.mp4", "odd-642x362.mp4", "vertical-360x640.mp4"])
    func readerDecodesAsManyFramesAsFFprobeCounts(fixture: String) throws {
        let path = Fixtures.path(fixture)
        let reader = try VideoFrameReader(path: path)
        var frames = 0
        var lastPts: Int64 = .min
        while let frame = try reader.next() {
            frames += 1
            let pts = try #require(frame.pts)
            #expect(pts > lastPts, "presentation order")
            lastPts = pts
            #expect(frame.width == reader.stream.width && frame.height == reader.stream.height)
        }
        #expect(frames == (try Self.ffprobeFrameCount(path)))
        #expect(reader.decodeErrors == 0)
        #expect(reader.packetsRead == frames)
    }

    @Test func scalerProducesTheAskedGeometryAndKeepsTimestamps() throws {
        let reader = try VideoFrameReader(path: Fixtures.path("odd-642x362.mp4"))
        let frame = try #require(try reader.next())
        let scaled = try Scaler(width: 320, height: 180).scale(frame)
        #expect(scaled.width == 320 && scaled.height == 180 && scaled.pixelFormat == PixelFormat.yuv420p)
        #expect(scaled.pts == frame.pts)
    }

    @Test func encoderDrainsEveryFrameItWasGiven() throws {
        var settings = VideoEncoderSettings(encoderName: "libx264", width: 320, height: 180, timeBase: Rational(num: 1, den: 30),
                                            frameRate: Rational(num: 30, den: 1))
        settings.options = ["preset": "ultrafast"]
        settings.threads = 1
        let encoder = try Encoder(video: settings)
        var packets: [Packet] = []
        for index in 0..<20 {
            let frame = try Frame.video(width: 320, height: 180, format: PixelFormat.yuv420p)
            try frame.fillBlack()
            frame.pts = Int64(index)
            packets += try encoder.encode(frame)
        }
        packets += try encoder.encode(nil)
        #expect(packets.count == 20)
        #expect(packets.first?.isKeyFrame == true)
    }

    @Test func missingEncoderIsReportedAsUnavailable() {
        let settings = VideoEncoderSettings(encoderName: "no_such_encoder", width: 64, height: 64, timeBase: Rational(num: 1, den: 30),
                                            frameRate: Rational(num: 30, den: 1))
        #expect(throws: MediaError.encoderUnavailable(name: "no_such_encoder", reason: "not built into this FFmpeg")) {
            _ = try Encoder(video: settings)
        }
    }
}
