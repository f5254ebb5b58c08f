import PrismTestSupport
import Foundation
import Media
import Testing
@testable import Verify

/// Prism's PSNR and SSIM against FFmpeg's own psnr and ssim filters on real encodes of the fixtures.
@Suite struct MetricsTests {
    @Test func ssimConstantsAreFFmpegs() {
        // vf_ssim: ssim_c1 = (int)(.01*.01*255*255*64 + .5), ssim_c2 = (int)(.03*.03*255*255*64*63 + .5).
        #expect(SSIMKernel.c1 == 416)
        #expect(SSIMKernel.c2 == 235963)
    }

    @Test func identicalPlanesHaveSSIMOneAndNoError() {
        let plane = PlaneImage(width: 37, height: 21, pixels: (0..<(37 * 21)).map { UInt8(truncatingIfNeeded: $0 * 7) })
        let (sum, windows) = plane.withView { SSIMKernel.plane($0, $0) }
        #expect(windows == 8 * 4)
        #expect(abs(sum / Double(windows) - 1) < 1e-6)
        #expect(plane.withView { PSNRKernel.squaredError($0, $0) } == 0)
    }

    @Test func ssimMapAveragesToThePlaneSSIMAndFindsALocalChange() throws {
        // A textured plane and a copy with a bright 24x24 patch: the map's mean is the plane SSIM, and its
        // worst windows sit on the patch.
        var generator = SeededGenerator(seed: 11)
        let reference = PlaneImage(width: 96, height: 64, pixels: (0..<(96 * 64)).map { _ in UInt8.random(in: 60...190, using: &generator) })
        var distorted = reference
        for y in 20..<44 { for x in 50..<74 { distorted.pixels[y * 96 + x] = 250 } }
        let map = SSIMMap(distorted: distorted, reference: reference)
        let (sum, windows) = distorted.withView { d in reference.withView { r in SSIMKernel.plane(d, r) } }
        #expect(map.columns == 23 && map.rows == 15)
        #expect(abs(map.mean - sum / Double(windows)) < 1e-4)
        let worst = map.values.indices.min { map.values[$0] < map.values[$1] }!
        let x = (worst % map.columns) * SSIMMap.windowStep, y = (worst / map.columns) * SSIMMap.windowStep
        #expect((44...74).contains(x) && (16...44).contains(y), "worst window at \(x),\(y)")
    }

    static let pairs: [(name: String, reference: String, arguments: [String])] = [
        ("pan-x264-400k.mp4", "pan-720p.mp4", ["-an", "-c:v", "libx264", "-preset", "veryfast", "-b:v", "400k", "-t", "2"]),
        ("odd-x264-crf40.mp4", "odd-642x362.mp4", ["-c:v", "libx264", "-preset", "ultrafast", "-crf", "40"]),
        ("vertical-vp9.mp4", "vertical-360x640.mp4", ["-c:v", "libvpx-vp9", "-b:v", "150k", "-deadline", "realtime", "-cpu-used", "8"]),
        ("keyframe-x265.mp4", "single-keyframe-360p.mp4", ["-c:v", "libx265", "-preset", "ultrafast", "-b:v", "200k", "-t", "3", "-x265-params", "log-level=error"]),
    ]

    @Test(arguments: 0..<pairs.count) func metricsAgreeWithFFmpegFilters(index: Int) throws {
        let pair = Self.pairs[index]
        var reference = TestClips.fixture(pair.reference)
        if let cut = pair.arguments.firstIndex(of: "-t").map({ pair.arguments[$0 + 1] }) {
            // Compare like with like: the reference cut to the same length, losslessly, in the same kind of
            // container (Matroska's millisecond timestamps would make FFmpeg's framesync pair wrong frames).
            reference = try TestClips.make("ref-" + pair.name, ["-i", reference, "-an", "-t", cut,
                                                                "-c:v", "libx264", "-preset", "ultrafast", "-qp", "0"])
        }
        let distorted = try TestClips.make(pair.name, ["-i", TestClips.fixture(pair.reference)] + pair.arguments)
        let ours = try #require(try VideoComparison(reference: reference, distorted: distorted).run().summary)
        let theirs = try TestClips.ffmpegMetrics(reference: reference, distorted: distorted)
        #expect(ours.frames > 20)
        for (key, value) in [("y", ours.ssim.y), ("u", ours.ssim.u), ("v", ours.ssim.v), ("all", ours.ssim.all)] {
            let expected = try #require(theirs.ssim[key], "ffmpeg printed no SSIM \(key)")
            #expect(abs(value - expected) < 0.0005, "SSIM \(key): prism \(value), ffmpeg \(expected)")
        }
        for (key, value) in [("y", ours.psnr.y), ("u", ours.psnr.u), ("v", ours.psnr.v), ("average", ours.psnr.average),
                             ("min", ours.psnr.min), ("max", ours.psnr.max)] {
            let expected = try #require(theirs.psnr[key], "ffmpeg printed no PSNR \(key)")
            #expect(abs(value - expected) < 0.02, "PSNR \(key): prism \(value), ffmpeg \(expected)")
        }
    }

    @Test func differentSizesAreRefusedLikeFFmpeg() throws {
        let small = try TestClips.make("pan-small.mp4", ["-i", TestClips.fixture("pan-720p.mp4"), "-an", "-t", "0.5", "-vf", "scale=640:360",
                                                         "-c:v", "libx264", "-preset", "ultrafast"])
        #expect(throws: ComparisonError.self) { try VideoComparison(reference: TestClips.fixture("pan-720p.mp4"), distorted: small).run() }
    }

    @Test func metricsCommandPrintsFFmpegShapedJSONAndRefusesSizeMismatch() throws {
        let distorted = try TestClips.make("odd-x264-crf40.mp4", ["-i", TestClips.fixture("odd-642x362.mp4"), "-c:v", "libx264", "-preset", "ultrafast", "-crf", "40"])
        let result = try PrismBinary.run(["metrics", "--reference", TestClips.fixture("odd-642x362.mp4"), "--distorted", distorted, "--json"])
        #expect(result.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(result.stdout.utf8)) as? [String: Any])
        #expect(object["frames"] as? Int == 72)
        let psnr = try #require(object["psnr"] as? [String: Double])
        #expect(Set(psnr.keys) == ["y", "u", "v", "average", "min", "max"])
        let ssim = try #require(object["ssim"] as? [String: Double])
        #expect(Set(ssim.keys) == ["y", "u", "v", "all"])

        let mismatch = try PrismBinary.run(["metrics", "--reference", TestClips.fixture("pan-720p.mp4"), "--distorted", distorted])
        #expect(mismatch.status == 2)
        #expect(mismatch.stderr.hasPrefix("prism: reference is 1280x720 but distorted is 642x362"))
        #expect(mismatch.stderr.split(separator: "\n").count == 1)
    }
}
