import PrismTestSupport
import Foundation
import Media
import Testing
@testable import Verify

/// The keyframe-cost check (x264's own settings on the clean source, at the rendition keyframe's size) and the
/// quality floor's per-stretch budget, on real renditions made with the ffmpeg CLI.
@Suite struct KeyframeCostTests {
    /// The first 2 s of the 720p fixture, one keyframe, near-lossless: the source of the renditions here.
    static func source() throws -> String {
        try TestClips.make("source-720p.mp4", ["-i", TestClips.fixture("pan-720p.mp4"), "-an", "-t", "2",
                                               "-c:v", "libx264", "-preset", "fast", "-crf", "16", "-g", "300"])
    }

    static func verify(_ rendition: String, source: String, width: Int = 640, height: Int = 360, bitrate: Int = 800_000,
                       seed: UInt64 = 7) throws -> VerificationResult {
        var request = VerificationRequest(source: source, rendition: rendition)
        request.width = width
        request.height = height
        request.bitrate = bitrate
        request.codec = "h264"
        request.seed = seed
        return try SegmentVerifier(request: request).run().0
    }

    /// Strength-8 noise added at 360p is quantised away almost entirely (no detail check sees it), but the bits
    /// went to it: x264 with the rendition's own settings, given the clean source and the same number of bytes
    /// for the keyframe, reaches a markedly better picture. Honest encodes of the same segment, scaled with
    /// other kernels or with slower presets, stay close to their reference.
    @Test func noiseQuantisedAwayAt360pShowsInWhatTheKeyframeCost() throws {
        let source = try Self.source()
        let noisy = try TestClips.make("noise8-360p.mp4", ["-i", source, "-vf", "scale=640:360,noise=alls=8:allf=t", "-an",
                                                           "-c:v", "libx264", "-preset", "veryfast", "-b:v", "800k"])
        let result = try Self.verify(noisy, source: source)
        #expect(result.verdict == .reject)
        let cost = try #require(result.keyframeCost)
        #expect(cost.gapDb > VerdictThresholds.keyframeCostGapDb, "\(cost)")
        // veryfast uses x264's macroblock tree (10 frames of lookahead): the suspect gap was measured again with it.
        #expect(cost.lookaheadFrames == 10, "\(cost)")
        #expect(result.reasons.map(\.code) == [.alteredBeforeEncoding], "\(result.reasons)")
        // Every other sign of noise stays inside the honest range here: this check is what catches it.
        #expect(result.samples.allSatisfy { $0.interiorDetailRatio < VerdictThresholds.addedNoiseKeyframeDetail && $0.chromaDetailRatio < VerdictThresholds.addedNoiseChromaDetail })

        for (name, filter, preset) in [("honest-veryfast-360p.mp4", "scale=640:360", "veryfast"),
                                       ("honest-lanczos-360p.mp4", "scale=640:360:flags=lanczos", "veryfast"),
                                       ("honest-medium-bilinear-360p.mp4", "scale=640:360:flags=bilinear", "medium"),
                                       ("honest-superfast-360p.mp4", "scale=640:360", "superfast")] {
            let honest = try TestClips.make(name, ["-i", source, "-vf", filter, "-an", "-c:v", "libx264", "-preset", preset, "-b:v", "800k"])
            let verdict = try Self.verify(honest, source: source)
            #expect(verdict.verdict == .accept, "\(name): \(verdict.reasons)")
            let honestCost = try #require(verdict.keyframeCost)
            #expect(honestCost.gapDb < 0.6, "\(name): \(honestCost)")
        }
    }

    /// Renditions without x264's settings text (here x265) are not judged by this check.
    @Test func renditionsWithoutX264SettingsAreNotJudgedByIt() throws {
        let source = try Self.source()
        let x265 = try TestClips.make("honest-x265-360p.mp4", ["-i", source, "-vf", "scale=640:360", "-an", "-c:v", "libx265", "-preset", "fast",
                                                               "-b:v", "800k", "-tag:v", "hvc1", "-x265-params", "log-level=error"])
        var request = VerificationRequest(source: source, rendition: x265)
        request.codec = "hevc"
        request.seed = 7
        let result = try SegmentVerifier(request: request).run().0
        #expect(result.keyframeCost == nil)
        #expect(result.verdict == .accept, "\(result.reasons)")
    }

    @Test func x264SettingsAreReadAndPassedOn() throws {
        let text = "cabac=1 ref=3 deblock=1:-1:-1 analyse=0x3:0x113 me=hex subme=7 psy=1 psy_rd=1.00:0.15 mixed_ref=1 trellis=1 8x8dct=1 cqm=0 "
            + "deadzone=21,11 chroma_qp_offset=-3 threads=3 sliced_threads=0 nr=0 decimate=1 interlaced=0 bframes=3 b_pyramid=2 b_adapt=1 "
            + "weightp=2 keyint=250 scenecut=40 rc_lookahead=40 rc=abr mbtree=1 bitrate=800 qcomp=0.60 aq=1:1.00"
        let settings = try #require(X264Settings(text: text))
        let intra = try #require(settings.intraEncoderOptions)
        #expect(intra.options["preset"] == "superfast")
        let params = Set(try #require(intra.options["x264-params"]).split(separator: ":").map(String.init))
        #expect(params.isSuperset(of: ["mbtree=0", "subme=7", "trellis=1", "8x8dct=1", "psy-rd=1.00,0.15", "deblock=-1,-1",
                                       "deadzone-inter=21", "deadzone-intra=11", "aq-mode=1", "aq-strength=1.00", "cabac=1"]), "\(params)")
        let lookahead = Set(try #require(settings.lookaheadEncoderOptions?.options["x264-params"]).split(separator: ":").map(String.init))
        #expect(lookahead.isSuperset(of: ["mbtree=1", "rc-lookahead=40", "bframes=3", "qcomp=0.60"]), "\(lookahead)")
        #expect(settings.lookaheadFrames == 40)

        let ultrafast = try #require(X264Settings(text: "cabac=0 ref=1 deblock=0:0:0 analyse=0:0 me=dia subme=0 psy=1 psy_rd=1.00:0.00 trellis=0 8x8dct=0 cqm=0 mbtree=0 aq=0"))
        #expect(ultrafast.intraEncoderOptions?.options["preset"] == "ultrafast")
        #expect(ultrafast.intraEncoderOptions?.options["x264-params"]?.contains("no-deblock=1") == true)
        #expect(ultrafast.lookaheadEncoderOptions == nil)
        // Custom quantisation matrices cannot be reproduced: no judgement.
        #expect(X264Settings(text: text.replacingOccurrences(of: "cqm=0", with: "cqm=1"))?.intraEncoderOptions == nil)
        #expect(X264Settings(text: "not x264 settings") == nil)
        // The text is the farmer's: only plain numbers reach the reference encode, no extra options.
        let forged = try #require(X264Settings(text: "analyse=0x3:0x113 subme=7:qpmin=51 trellis=x deadzone=21,11:nr=9999 aq=1:1.00:qpmax=1 "
                                                  + "psy_rd=1.00:0.00 sliced_threads=1 threads=100000 rc_lookahead=100000 mbtree=1"))
        let forgedIntra = try #require(forged.intraEncoderOptions)
        let forgedParams = try #require(forgedIntra.options["x264-params"])
        #expect(!forgedParams.contains("qpmin") && !forgedParams.contains("qpmax") && !forgedParams.contains("nr=9999"), "\(forgedParams)")
        #expect(!forgedParams.contains("subme") && !forgedParams.contains("trellis") && !forgedParams.contains("deadzone"), "\(forgedParams)")
        #expect(forgedParams.contains("psy-rd=1.00,0.00") && forgedIntra.threads == X264Settings.maximumSlicedThreads)
        #expect(forged.lookaheadFrames == 250)
    }

    /// Slice bytes leave out parameter sets and SEI (x264's settings text), in MP4's length-prefixed form and
    /// in the start-code form of MPEG-TS: the same picture counts the same in both containers.
    @Test func sliceBytesAreTheSameInMP4AndMPEGTS() throws {
        let source = try Self.source()
        let mp4 = try TestClips.make("slices.mp4", ["-i", source, "-frames:v", "1", "-an", "-c:v", "libx264", "-preset", "veryfast", "-crf", "30"])
        let ts = try TestClips.make("slices.ts", ["-i", mp4, "-c", "copy", "-f", "mpegts"])
        func first(_ path: String) throws -> (size: Int, slices: Int, hasSettings: Bool) {
            let demuxer = try Demuxer(path: path)
            let packet = Packet()
            let video = try #require(demuxer.bestVideoStream())
            while try demuxer.read(into: packet) {
                guard packet.streamIndex == video.index else { continue }
                return (packet.size, H264SliceBytes.count(packet.data), X264Settings(packet: packet.data) != nil)
            }
            throw TestClips.ClipError.ffmpegFailed("no video packet in \(path)")
        }
        let a = try first(mp4), b = try first(ts)
        #expect(a.hasSettings && b.hasSettings)
        #expect(a.slices == b.slices, "mp4 \(a), ts \(b)")
        #expect(a.slices > 1000 && a.slices < a.size - 300, "mp4 \(a)")
        #expect(b.slices < b.size - 300, "ts \(b)")
    }

    /// x264 in ABR mode starves the frames right after each segment's keyframe (packets of a few hundred bytes)
    /// and catches up later; the quality floor gives its reference what the rendition spent on the compared
    /// stretch, so this honest segmented rendition (encoded segment by segment, as farmers do; no B-frames, so the
    /// separately made MPEG-TS segments line up in time) is accepted for every sample draw, and the budget is seen
    /// to follow the rendition's spend.
    @Test func qualityFloorBudgetFollowsWhatTheRenditionSpent() throws {
        let source = TestClips.fixture("single-keyframe-360p.mp4")
        var lines = ["#EXTM3U", "#EXT-X-VERSION:3", "#EXT-X-TARGETDURATION:2", "#EXT-X-MEDIA-SEQUENCE:0"]
        for k in 0..<4 {
            _ = try TestClips.make("starved-seg\(k).ts", ["-ss", "\(2 * k)", "-i", source, "-t", "2", "-an", "-c:v", "libx264", "-preset", "veryfast",
                                                         "-b:v", "800k", "-bf", "0", "-output_ts_offset", "\(2 * k)", "-f", "mpegts"])
            lines += ["#EXTINF:2.0,", "starved-seg\(k).ts"]
        }
        let playlist = TestClips.folder.appendingPathComponent("starved.m3u8")
        try (lines + ["#EXT-X-ENDLIST"]).joined(separator: "\n").write(to: playlist, atomically: true, encoding: .utf8)
        var budgets: [Int] = []
        for seed in UInt64(1)...12 {
            let result = try Self.verify(playlist.path, source: source, seed: seed)
            #expect(result.verdict == .accept, "seed \(seed): \(result.reasons)")
            #expect(result.frames.rendition == 200)
            if let floor = result.qualityFloor {
                #expect(floor.askedBitrate == 800_000 && floor.bitrate <= floor.askedBitrate)
                budgets.append(floor.bitrate)
            }
        }
        #expect(budgets.count >= 10)
        #expect(budgets.contains { $0 < 800_000 }, "\(budgets)")
    }

    /// On nearly still content an encoder's predicted frames are cheap, so a reference matched on bits per
    /// predicted frame ran at a rate factor of 6–7 after a keyframe that cost it nothing, and honest x264
    /// `medium` renditions of a slow 60 s pan were rejected as 11 dB below the floor (2 of 30 seeds). The
    /// reference's keyframe is now held to the rendition's keyframe size and its predicted frames are not
    /// quantised finer than that keyframe.
    @Test func stillContentIsJudgedAgainstAKeyframeThatWasPaidFor() throws {
        let still = try TestClips.make("still-frame.png", ["-i", TestClips.fixture("pan-720p.mp4"), "-frames:v", "1"])
        let source = try TestClips.make("still-720p.mp4", ["-loop", "1", "-framerate", "30", "-i", still, "-t", "4", "-vf",
                                                           "scale=w='trunc(iw*(1+0.02*n/120)/2)*2':h='trunc(ih*(1+0.02*n/120)/2)*2':eval=frame,crop=1280:720,noise=alls=4:allf=t,format=yuv420p",
                                                           "-c:v", "libx264", "-preset", "slow", "-crf", "18", "-g", "250"])
        let rendition = try TestClips.make("still-medium-720p.mp4", ["-i", source, "-c:v", "libx264", "-preset", "medium", "-b:v", "3000k", "-g", "60"])
        var held = 0
        for seed in UInt64(1)...8 {
            let result = try Self.verify(rendition, source: source, width: 1280, height: 720, bitrate: 3_000_000, seed: seed)
            #expect(result.verdict == .accept, "seed \(seed): \(result.reasons)")
            let floor = try #require(result.qualityFloor)
            let keyframeQP = try #require(floor.keyframeQP)
            #expect(floor.rateFactor >= Double(keyframeQP), "seed \(seed): \(floor)")
            if floor.rateFactor == Double(keyframeQP) { held += 1 }
        }
        #expect(held > 0, "the keyframe's QP never bounded the reference: the case this test is about did not occur")
    }
}
