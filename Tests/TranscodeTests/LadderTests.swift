import Testing
@testable import Transcode

@Suite struct LadderParsingTests {
    @Test func bitratesAcceptPlainKiloAndMegaForms() throws {
        #expect(try Bitrate.parse("3000000") == 3_000_000)
        #expect(try Bitrate.parse("3000k") == 3_000_000)
        #expect(try Bitrate.parse("3M") == 3_000_000)
        #expect(try Bitrate.parse("1.5M") == 1_500_000)
        for bad in ["", "k", "3G", "-3M", "abc", "1e9", "5"] {
            #expect(throws: TranscodeError.self) { try Bitrate.parse(bad) }
        }
    }

    @Test func rungsWithoutBitrateTakeTheDefaultTable() throws {
        let rungs = try Ladder.parse("720p@3500k,480p,360p")
        #expect(rungs == [LadderRung(height: 720, bitrate: 3_500_000), LadderRung(height: 480, bitrate: 1_600_000), LadderRung(height: 360, bitrate: 800_000)])
        // Off-table heights interpolate by pixel count between neighbours.
        let middle = try LadderRung.parse("540p").bitrate
        #expect(middle > 1_600_000 && middle < 3_000_000)
    }

    @Test func malformedAndOutOfRangeRungsAreRefusedWithTheReason() {
        for bad in ["abcp@x", "720", "720p@", "720p@x", "5000p", "32p", "721p", "720p,720p", "", "720p,,480p", "p"] {
            #expect(throws: TranscodeError.self, "\(bad)") { try Ladder.parse(bad) }
        }
        #expect(throws: TranscodeError.malformedRung("5000p", reason: "height must be between 64 and 4320")) { try Ladder.parse("5000p") }
    }

    @Test func widthKeepsTheSourceAspectRoundedToEven() {
        #expect(LadderRung(height: 360, bitrate: 1).width(forSourceWidth: 642, sourceHeight: 362) == 638)
        #expect(LadderRung(height: 480, bitrate: 1).width(forSourceWidth: 1920, sourceHeight: 1080) == 854)
        #expect(LadderRung(height: 640, bitrate: 1).width(forSourceWidth: 360, sourceHeight: 640) == 360)
    }

    @Test func defaultLadderHasTheStandardRungsNoTallerThanTheSource() {
        #expect(Ladder.defaultLadder(sourceHeight: 720).map(\.height) == [720, 480, 360, 240])
        #expect(Ladder.defaultLadder(sourceHeight: 2160).map(\.height) == [1080, 720, 480, 360, 240])
        #expect(Ladder.defaultLadder(sourceHeight: 200).map(\.height) == [200])
    }

    @Test func presetsMapOntoEachEncodersScale() throws {
        #expect(try PresetScale.options(for: "veryslow", encoder: "libsvtav1", codec: .av1)["preset"] == "2")
        #expect(try PresetScale.options(for: "ultrafast", encoder: "libvpx-vp9", codec: .vp9)["deadline"] == "realtime")
        #expect(try PresetScale.options(for: "medium", encoder: "h264_nvenc", codec: .h264)["preset"] == "p4")
        #expect(try PresetScale.options(for: "fast", encoder: "libx265", codec: .hevc)["preset"] == "fast")
        #expect(throws: TranscodeError.self) { try PresetScale.options(for: "ludicrous", encoder: "libx264", codec: .h264) }
    }
}

/// How many segments are encoded at once when `--workers` is not given: by the memory the ladder's encoders hold.
@Suite struct AutomaticWorkersTests {
    static let fullHD = [1920 * 1080, 1280 * 720, 854 * 480, 640 * 360]
    static let hd = [1280 * 720, 854 * 480, 640 * 360]
    static let small = [426 * 240, 320 * 180]

    @Test func largeLaddersGetFewWorkersAndSmallOnesOnePerCore() {
        #expect(TranscodeOptions.automaticWorkers(pixelsPerFrame: Self.fullHD, cores: 2) == 1)
        #expect(TranscodeOptions.automaticWorkers(pixelsPerFrame: Self.fullHD, cores: 16) == 1)
        #expect(TranscodeOptions.automaticWorkers(pixelsPerFrame: Self.hd, cores: 2) == 2)
        #expect(TranscodeOptions.automaticWorkers(pixelsPerFrame: Self.hd, cores: 16) == 3)
        #expect(TranscodeOptions.automaticWorkers(pixelsPerFrame: Self.small, cores: 8) == 8)
        #expect(TranscodeOptions.automaticWorkers(pixelsPerFrame: Self.small, cores: 128) == 37, "the picture budget binds first")
        #expect(TranscodeOptions.automaticWorkers(pixelsPerFrame: [160 * 90], cores: 128) == 64, "never past --workers' own limit")
        #expect(TranscodeOptions.automaticWorkers(pixelsPerFrame: [7680 * 4320], cores: 4) == 1, "always at least one")
        // Frames kept for a segment's second pass count too: a 720p segment of 60 frames is about 83 MB per worker.
        #expect(TranscodeOptions.automaticWorkers(pixelsPerFrame: Self.hd, keptPixels: 1280 * 720 * 60, cores: 16) == 2)
        #expect(TranscodeOptions.automaticWorkers(pixelsPerFrame: Self.small, keptPixels: 640 * 360 * 60, cores: 8) == 8)
    }
}
