import PrismTestSupport
import Foundation
import Media
import Testing
@testable import Verify

/// Verdicts of `SegmentVerifier` on real renditions and real tampered clips made with the ffmpeg CLI.
@Suite struct VerifyVerdictTests {
    /// A 2 s 640x360 segment of the 720p fixture (one keyframe, near-lossless): the source of every rendition here.
    static func source() throws -> String {
        try TestClips.make("source-360p.mp4", ["-i", TestClips.fixture("pan-720p.mp4"), "-an", "-t", "2", "-vf", "scale=640:360",
                                               "-c:v", "libx264", "-preset", "fast", "-crf", "16", "-g", "300"])
    }

    /// A rendition of the source: optional tamper filter, then the rung's size, x264 at `kbps`.
    static func rendition(_ name: String, filter: String? = nil, width: Int = 640, height: Int = 360, kbps: Int = 800,
                          preset: String = "veryfast") throws -> String {
        let chain = [filter, "scale=\(width):\(height)"].compactMap { $0 }.joined(separator: ",")
        return try TestClips.make(name, ["-i", try source(), "-vf", chain, "-an", "-c:v", "libx264", "-preset", preset, "-b:v", "\(kbps)k"])
    }

    static func verify(_ rendition: String, source: String? = nil, width: Int = 640, height: Int = 360, kbps: Int = 800, samples: Int = 4,
                       seed: UInt64 = 7) throws -> VerificationResult {
        var request = VerificationRequest(source: try source ?? Self.source(), rendition: rendition)
        request.width = width
        request.height = height
        request.bitrate = kbps * 1000
        request.codec = "h264"
        request.sampling = .samples(samples)
        request.seed = seed
        return try SegmentVerifier(request: request).run().0
    }

    @Test func honestX264At360pIsAccepted() throws {
        let result = try Self.verify(try Self.rendition("honest-360p.mp4", preset: "medium"))
        #expect(result.verdict == .accept, "\(result.reasons)")
        #expect(result.frames.source == 60 && result.frames.rendition == 60)
        #expect(result.frames.compared >= 4)
        #expect((result.metrics?.psnr.y ?? 0) > 30)
    }

    @Test func honestUltrafastAt240pAnd250kIsAccepted() throws {
        let path = try Self.rendition("honest-240p-ultrafast.mp4", width: 426, height: 240, kbps: 250, preset: "ultrafast")
        let result = try Self.verify(path, width: 426, height: 240, kbps: 250)
        #expect(result.verdict == .accept, "\(result.reasons)")
    }

    @Test func visibleTextWatermarkIsRejectedWithItsRegion() throws {
        let font = "/usr/share/fonts/truetype/dejavu/DejaVuSans-Bold.ttf"
        let path = try Self.rendition("watermark.mp4", filter: "drawtext=fontfile=\(font):text='PRISM':fontsize=40:fontcolor=white@0.6:x=400:y=40")
        let result = try Self.verify(path)
        #expect(result.verdict == .reject)
        #expect(result.reasons.map(\.code).contains(.watermarkRegion), "\(result.reasons)")
        let region = try #require(result.regions.first { $0.code == "watermark-region" })
        // The text sits at (400, 40) and spans about 140x40 px: the region must overlap it.
        #expect(region.x < 540 && region.x + region.w > 400 && region.y < 80 && region.y + region.h > 40, "\(region)")
    }

    /// A faint box (10 % white over 0.4 % of the frame, about 12 levels lighter) hides within coding error on
    /// texture, so the error-excess test alone passed it; its steady offset gives it away, at its place.
    @Test(arguments: [UInt64(7), 8, 9])
    func faintOverlayIsFoundByItsSteadyOffset(seed: UInt64) throws {
        let path = try Self.rendition("faint-box.mp4", filter: "drawbox=x=300:y=150:w=40:h=24:color=white@0.1:t=fill")
        let result = try Self.verify(path, seed: seed)
        #expect(result.verdict == .reject)
        let region = try #require(result.regions.first { $0.code == "watermark-region" }, "\(result.reasons)")
        #expect(region.x < 340 && region.x + region.w > 300 && region.y < 174 && region.y + region.h > 150, "\(region)")
    }

    /// Colour noise added to the output survives encoding in the chroma planes, which encoders only smooth;
    /// an honest ultrafast encode of the same segment keeps less chroma detail than its source.
    @Test func addedColourNoiseIsRejectedAndAnHonestUltrafastEncodeIsNot() throws {
        let source = try TestClips.make("still-source-360p.mp4", ["-i", TestClips.fixture("single-keyframe-360p.mp4"), "-an", "-t", "2",
                                                                  "-c:v", "libx264", "-preset", "fast", "-crf", "16", "-g", "300"])
        func verdict(_ rendition: String) throws -> VerificationResult { try Self.verify(rendition, source: source) }
        let noisy = try TestClips.make("still-noise-360p.mp4", ["-i", source, "-vf", "noise=alls=20:allf=t", "-an", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "800k"])
        let noisyResult = try verdict(noisy)
        #expect(noisyResult.verdict == .reject)
        #expect(noisyResult.reasons.map(\.code).contains(.addedNoise), "\(noisyResult.reasons)")
        #expect(noisyResult.samples.map(\.chromaDetailRatio).sorted()[noisyResult.samples.count / 2] > VerdictThresholds.addedNoiseChromaDetail)
        let honest = try TestClips.make("still-ultrafast-360p.mp4", ["-i", source, "-an", "-c:v", "libx264", "-preset", "ultrafast", "-b:v", "800k"])
        let honestResult = try verdict(honest)
        #expect(honestResult.verdict == .accept, "\(honestResult.reasons)")
        #expect(honestResult.samples.allSatisfy { $0.chromaDetailRatio < 1.5 })
    }

    /// Noise added to a 720p rendition is mostly quantised away in predicted frames, but the keyframe keeps more
    /// fine detail inside its coding blocks than the source has, which an honest encode never does.
    @Test func noiseOnA720pRenditionShowsOnItsKeyframe() throws {
        let source = try TestClips.make("source-720p.mp4", ["-i", TestClips.fixture("pan-720p.mp4"), "-an", "-t", "2",
                                                            "-c:v", "libx264", "-preset", "fast", "-crf", "16", "-g", "300"])
        func verdict(_ rendition: String) throws -> VerificationResult {
            try Self.verify(rendition, source: source, width: 1280, height: 720, kbps: 3000)
        }
        let noisy = try verdict(try TestClips.make("noise-720p.mp4", ["-i", source, "-vf", "noise=alls=12:allf=t", "-an", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "3000k"]))
        #expect(noisy.verdict == .reject)
        #expect(noisy.reasons.map(\.code).contains(.addedNoise), "\(noisy.reasons)")
        let keyframe = try #require(noisy.samples.first { $0.rendition == 0 })
        #expect(keyframe.interiorDetailRatio > VerdictThresholds.addedNoiseKeyframeDetail)
        let honest = try verdict(try TestClips.make("honest-720p.mp4", ["-i", source, "-an", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "3000k"]))
        #expect(honest.verdict == .accept, "\(honest.reasons)")
        #expect((honest.samples.first { $0.rendition == 0 }?.interiorDetailRatio ?? 9) < 1)
    }

    @Test func droppedFramesAreRejected() throws {
        let path = try Self.rendition("dropped.mp4", filter: "select='not(between(n\\,20\\,27))',setpts=N/FRAME_RATE/TB")
        let result = try Self.verify(path)
        #expect(result.verdict == .reject)
        #expect(result.reasons.map(\.code).contains(.framesDropped))
        #expect(result.frames.rendition == 52)
    }

    @Test func bitrateCutToAQuarterIsRejected() throws {
        let path = try Self.rendition("quarter.mp4", kbps: 200, preset: "medium")
        let result = try Self.verify(path)
        #expect(result.verdict == .reject)
        #expect(result.reasons.map(\.code).contains(.bitrateOutOfBounds))
    }

    /// A careful farmer's capped-CRF encode of easy content spends far less than asked and loses nothing visible:
    /// spending less passes when the quality holds. The same saving made by cutting the rate does not.
    @Test func spendingWellUnderTheAskedRateIsJudgedByTheQualityReached() throws {
        // Easy content: a still picture, barely moving.
        let easy = try TestClips.make("easy-source.mp4", ["-i", TestClips.fixture("pan-720p.mp4"), "-an", "-t", "2",
                                                          "-vf", "select=eq(n\\,0),loop=loop=59:size=1,setpts=N/30/TB,scale=640:360",
                                                          "-c:v", "libx264", "-preset", "fast", "-crf", "16", "-g", "300"])
        let capped = try TestClips.make("easy-capped-crf.mp4", ["-i", easy, "-an", "-c:v", "libx264", "-preset", "medium", "-crf", "23",
                                                                "-maxrate", "1200k", "-bufsize", "2400k"])
        let spent = try Self.verify(capped, source: easy, kbps: 1200)
        #expect(spent.structure.bitrate < 1_200_000 * 45 / 100, "the rendition under-spends: \(spent.structure.bitrate)")
        #expect(spent.verdict == .accept, "\(spent.reasons)")
        // The moving, noisy source at a quarter of the asked rate: well under, and the quality is gone with it.
        let cut = try Self.rendition("quarter-of-1200k.mp4", kbps: 300, preset: "medium")
        let result = try Self.verify(cut, kbps: 1200)
        #expect(result.reasons.map(\.code).contains(.bitrateOutOfBounds), "\(result.reasons)")
        #expect(result.qualityFloor?.underspent == true)
    }

    /// A slow zoom makes a neighbouring source frame's 128-px thumbnail the closer one for many honest frames of a
    /// low rung (16 of 180 at 240p here; enough on a 10 s 720p zoom to reject a farmer as `time-shift`). Only a
    /// shift that full resolution confirms counts; a real one (the picture two frames late) still shows on most.
    @Test func aSlowZoomAtALowRungIsNotATimeShiftButARealShiftIs() throws {
        let source = TestClips.fixture("pan-720p.mp4")
        func full(_ rendition: String) throws -> VerificationResult {
            var request = VerificationRequest(source: source, rendition: rendition)
            (request.width, request.height, request.bitrate, request.codec) = (426, 240, 250_000, "h264")
            request.sampling = .full
            return try SegmentVerifier(request: request).run().0
        }
        let honest = try full(try TestClips.make("honest-240p-zoom.mp4", ["-i", source, "-vf", "scale=426:240", "-an", "-c:v", "libx264",
                                                                           "-preset", "veryfast", "-b:v", "250k"]))
        #expect(honest.verdict == .accept, "\(honest.reasons)")
        let shifted = honest.samples.filter(\.shifted).count
        #expect(shifted * 50 <= honest.samples.count, "\(shifted) of \(honest.samples.count) honest frames read as shifted")
        let late = try full(try TestClips.make("shifted-240p.mp4", ["-i", source, "-vf", "select='gte(n,2)',setpts=N/FRAME_RATE/TB,tpad=stop_mode=clone:stop=2,scale=426:240",
                                                                     "-an", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "250k"]))
        #expect(late.reasons.map(\.code).contains(.timeShift), "\(late.reasons)")
        #expect(late.samples.filter(\.shifted).count * 2 >= late.samples.count)
    }

    @Test func mirroredPictureIsRejectedAsFlipped() throws {
        let result = try Self.verify(try Self.rendition("hflip.mp4", filter: "hflip"))
        #expect(result.reasons.map(\.code).contains(.flipped), "\(result.reasons)")
    }

    @Test func blackFramesAreFoundFromPacketSizes() throws {
        let path = try Self.rendition("black.mp4", filter: "drawbox=c=black:t=fill:enable='between(n,30,41)'")
        // One random sample only: the black run must be found through its near-empty packets.
        let result = try Self.verify(path, samples: 1, seed: 3)
        #expect(result.reasons.map(\.code).contains(.blackFrames), "\(result.reasons)")
    }

    @Test func upscaledSmallEncodeIsRejectedAsResolutionCheat() throws {
        let path = try Self.rendition("upscaled.mp4", filter: "scale=320:180,scale=640:360")
        let result = try Self.verify(path)
        #expect(result.reasons.map(\.code).contains(.resolutionCheat), "\(result.reasons)")
        // A picture made at half size cannot carry the source's finest octave, at its keyframe either.
        let keyframe = try #require(result.samples.first { $0.rendition == 0 }?.keyframeRetention)
        #expect(keyframe < VerdictThresholds.resolutionCheatKeyframeRetention, "\(keyframe)")
    }

    /// x264's two passes (as `prism transcode` and farmers encode) are accepted, and their keyframe keeps the
    /// source's finest octave.
    @Test func honestTwoPassX264IsAcceptedWithAFullSizeKeyframe() throws {
        let output = TestClips.folder.appendingPathComponent("two-pass-480p.mp4").path
        if !FileManager.default.fileExists(atPath: output) {
            let log = TestClips.folder.appendingPathComponent("two-pass-480p").path
            let common = ["-i", try Self.source(), "-vf", "scale=854:480", "-an", "-c:v", "libx264", "-preset", "medium", "-b:v", "1600k",
                          "-passlogfile", log]
            try TestClips.ffmpeg(common + ["-pass", "1", "-f", "null", "-"])
            try TestClips.ffmpeg(common + ["-pass", "2", output + ".part.mp4"])
            try FileManager.default.moveItem(atPath: output + ".part.mp4", toPath: output)
        }
        for seed: UInt64 in [1, 2, 3] {
            let result = try Self.verify(output, width: 854, height: 480, kbps: 1600, seed: seed)
            #expect(result.verdict == .accept, "seed \(seed): \(result.reasons)")
            let keyframe = try #require(result.samples.first { $0.rendition == 0 }?.keyframeRetention)
            #expect(keyframe >= VerdictThresholds.resolutionCheatKeyframeRetention, "\(keyframe)")
        }
    }

    /// The quality reference holds its fresh keyframe to the rendition's bytes a few frames before the compared
    /// ones; a two-pass rendition's frames far from its large keyframe then keep less of the finest octave than the
    /// reference's (figures of a real 480p rendition of a clean, slow zoom rejected so): no resolution cheat where
    /// the rendition's keyframe kept the source's detail, one where it did not or was not measured.
    @Test func detailShortfallIsAResolutionCheatOnlyWithADetailLessKeyframe() {
        let floor = VerificationResult.QualityFloor(referenceEncoder: "libx264 ultrafast", bitrate: 1_600_000, askedBitrate: 1_600_000,
                                                    rateFactor: 12, keyframeQP: 12, referencePsnrY: 58.4, renditionPsnrY: 53.6,
                                                    referenceDetail: 0.61, renditionDetail: 0.36, errorCorrelation: 0.33)
        #expect(QualityJudgement.reasons(floor, keyframeRetention: 0.79).isEmpty)
        #expect(QualityJudgement.reasons(floor, keyframeRetention: 0.24).map(\.code) == [.resolutionCheat])
        #expect(QualityJudgement.reasons(floor, keyframeRetention: nil).map(\.code) == [.resolutionCheat])
    }

    @Test func hlsPlaylistFromPrismTranscodeIsAccepted() throws {
        let output = TestClips.folder.appendingPathComponent("transcode-hls")
        if !FileManager.default.fileExists(atPath: output.appendingPathComponent("240p/index.m3u8").path) {
            let run = try PrismBinary.run(["transcode", try Self.source(), "-o", output.path, "--ladder", "240p@250k", "-q"])
            #expect(run.status == 0, "\(run.stderr)")
        }
        let result = try Self.verify(output.appendingPathComponent("240p/index.m3u8").path, width: 426, height: 240, kbps: 250)
        #expect(result.verdict == .accept, "\(result.reasons)")
        #expect(result.frames.rendition == 60)
    }

    @Test func fingerprintsOfTwoHonestRenditionsMatchAndDifferFromOtherContent() throws {
        let a = try Self.verify(try Self.rendition("honest-360p.mp4", preset: "medium"))
        let b = try Self.verify(try Self.rendition("honest-240p-ultrafast.mp4", width: 426, height: 240, kbps: 250, preset: "ultrafast"),
                                width: 426, height: 240, kbps: 250)
        let flipped = try Self.verify(try Self.rendition("hflip.mp4", filter: "hflip"))
        let fa = try #require(SegmentFingerprint(a.fingerprint)), fb = try #require(SegmentFingerprint(b.fingerprint))
        let ff = try #require(SegmentFingerprint(flipped.fingerprint))
        #expect(fa.hashes.count == 4)
        #expect(try #require(fa.distance(to: fb)) <= 10, "\(fa) vs \(fb)")
        #expect(try #require(fa.distance(to: ff)) >= 16, "\(fa) vs \(ff)")
    }

    @Test func seededSamplesRepeatAndUnseededOnesVary() {
        #expect(SamplePicker.pick(count: 5, from: 300, seed: 42) == SamplePicker.pick(count: 5, from: 300, seed: 42))
        let draws = Set((0..<5).map { _ in SamplePicker.pick(count: 5, from: 300, seed: nil) })
        #expect(draws.count > 1)
        #expect(SamplePicker.pick(count: 10, from: 4, seed: nil) == [0, 1, 2, 3])
    }
}

/// Perceptual hashes on real frames: stable across re-encoding and scaling, far apart across content.
@Suite struct PerceptualHashTests {
    static func firstLuma(_ path: String) throws -> PlaneImage {
        let reader = try VideoFrameReader(path: path)
        let frame = try #require(try reader.next())
        var converter: Scaler?
        return YUVImage(frame: try FramePlanes.as420(frame, converter: &converter), time: 0).luma
    }

    @Test func hashSurvivesReencodingAndScalingButNotOtherContent() throws {
        let source = try Self.firstLuma(TestClips.fixture("pan-720p.mp4"))
        let small = try TestClips.make("hash-240p.mp4", ["-i", TestClips.fixture("pan-720p.mp4"), "-an", "-frames:v", "1", "-vf", "scale=426:240",
                                                         "-c:v", "libx264", "-b:v", "150k"])
        let other = try Self.firstLuma(TestClips.fixture("single-keyframe-360p.mp4"))
        let a = PerceptualHash(luma: source), b = PerceptualHash(luma: try Self.firstLuma(small)), c = PerceptualHash(luma: other)
        #expect(a.distance(to: b) <= 10, "re-encoded at 240p: \(a.distance(to: b))")
        #expect(a.distance(to: c) >= 20, "other content: \(a.distance(to: c))")
        #expect(PerceptualHash(hex: a.description) == a)
        let fingerprint = SegmentFingerprint(hashes: [a, b])
        #expect(SegmentFingerprint(fingerprint.description)?.hashes == [a, b])
    }
}
