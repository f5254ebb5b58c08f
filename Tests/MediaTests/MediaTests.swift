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

/// A packet index that leaves its file open, rewound, for the decoder (`PacketIndex.keepingOpen`): the decoder must see
/// exactly what a fresh open gives, in every container Prism reads segments from (MPEG-TS renditions, NUT source
/// segments, MP4 and Matroska sources).
@Suite struct RewoundDemuxerTests {
    /// A hash of a frame's visible luma (row padding left out).
    static func luma(_ frame: Frame) throws -> UInt64 {
        var hash: UInt64 = 0xcbf2_9ce4_8422_2325
        let base = try #require(frame.planeBase(0))
        for y in 0..<frame.height {
            for x in 0..<frame.width { hash = (hash ^ UInt64(base[y * frame.lineSize(0) + x])) &* 0x100_0000_01b3 }
        }
        return hash
    }

    /// Every frame's timestamp and luma hash.
    static func frames(_ reader: VideoFrameReader) throws -> [String] {
        var seen: [String] = []
        while let frame = try reader.next() { seen.append("\(frame.pts ?? -1):\(try luma(frame))") }
        return seen
    }

    @Test func aPlaylistIsNotRewoundButOpenedAgain() throws {
        let folder = try TemporaryFolder("rewound")
        defer { folder.remove() }
        let path = folder.path("index.m3u8")
        try HostTool.succeed("ffmpeg", ["-v", "error", "-i", Fixtures.path("pan-720p.mp4"), "-t", "3", "-vf", "scale=320:180", "-an",
                                        "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-f", "hls", "-hls_time", "1", path])
        let (index, rewound) = try PacketIndex.keepingOpen(path: path)
        #expect(index.frameCount == 90)
        #expect(rewound == nil)
    }

    @Test(arguments: ["ts", "nut", "mp4", "mkv"])
    func theRewoundFileDecodesAsAFreshOpen(container: String) throws {
        let folder = try TemporaryFolder("rewound")
        defer { folder.remove() }
        let path = folder.path("clip.\(container)")
        try HostTool.succeed("ffmpeg", ["-v", "error", "-i", Fixtures.path("pan-720p.mp4"), "-t", "3", "-vf", "scale=320:180",
                                        "-c:v", "libx264", "-preset", "ultrafast", "-g", "30", "-bf", "2", "-c:a", "aac", path])
        let (index, rewound) = try PacketIndex.keepingOpen(path: path)
        let file = try #require(rewound)
        let fresh = try Self.frames(try VideoFrameReader(path: path))
        #expect(fresh.count == index.frameCount && fresh.count == 90)
        #expect(try Self.frames(try VideoFrameReader(reusing: file)) == fresh)
        // Handed on again it cannot read from the start: it opens the file anew.
        #expect(try Self.frames(try VideoFrameReader(reusing: file)) == fresh)
        // Selective decoding from the rewound file picks the same frames as from a fresh open.
        let again = try #require(try PacketIndex.keepingOpen(path: path).rewound)
        let wanted = [index.entries[5].pts, index.entries[47].pts, index.entries[88].pts]
        let keys = index.entries.filter(\.isKeyFrame).map(\.pts)
        let reused = try SelectiveFrameDecoder(path: path, reusing: again).frames(at: wanted, keyframes: keys)
        let opened = try SelectiveFrameDecoder(path: path).frames(at: wanted, keyframes: keys)
        #expect(Set(reused.keys) == Set(wanted) && Set(opened.keys) == Set(wanted))
        for pts in wanted {
            #expect(try Self.luma(try #require(reused[pts])) == Self.luma(try #require(opened[pts])))
        }
    }
}
