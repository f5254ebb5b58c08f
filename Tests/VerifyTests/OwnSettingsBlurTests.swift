import PrismTestSupport
import Foundation
import Media
import Testing
@testable import Verify

/// A region that reads as blurred is checked against an encode of the clean source with the rendition's own x264
/// settings: an encoder that smooths fine texture away at a low rung is honest, a farmer's blur is not, and settings
/// past any x264 preset's or tune's (written by the farmer) are not trusted to explain one.
@Suite struct OwnSettingsBlurTests {
    @Test func aRealBlurStaysCaughtAsABlurWhileTheHonestEncodePasses() throws {
        let source = try KeyframeCostTests.source()
        // 2 % of the picture boxblurred before scaling, as the verification corpus does: the blocks read as blurred, and an
        // encode of the clean source with the rendition's own (veryfast) settings keeps their texture, so the blur stands.
        let blur = "[0:v]split[a][b];[b]crop=214:144:640:240,boxblur=10:2[c];[a][c]overlay=640:240,scale=640:360[v]"
        let blurred = try TestClips.make("blur2-360p.mp4", ["-i", source, "-filter_complex", blur, "-map", "[v]", "-an",
                                                            "-c:v", "libx264", "-preset", "veryfast", "-b:v", "800k"])
        let honest = try TestClips.make("honest-veryfast-360p.mp4", ["-i", source, "-vf", "scale=640:360", "-an",
                                                                     "-c:v", "libx264", "-preset", "veryfast", "-b:v", "800k"])
        for seed: UInt64 in [3, 11, 29] {
            let tampered = try KeyframeCostTests.verify(blurred, source: source, seed: seed)
            #expect(tampered.reasons.map(\.code).contains(.blurredRegion), "seed \(seed): \(tampered.reasons)")
            let kept = try KeyframeCostTests.verify(honest, source: source, seed: seed)
            #expect(kept.verdict == .accept, "seed \(seed): \(kept.reasons)")
        }
    }

    @Test func onlySettingsAPresetOrTuneCouldChooseAreTrustedToExplainLostTexture() throws {
        let base = "cabac=1 ref=3 deblock=1:0:0 analyse=0x3:0x113 me=hex subme=7 psy=1 psy_rd=1.00:0.00 trellis=1 8x8dct=1 cqm=0 "
            + "deadzone=21,11 nr=0 mbtree=1 aq=1:1.00"
        #expect(try #require(X264Settings(text: base)).isPlausibleForTexture)
        // x264's own tunes: grain (deblock -2, dead zones 6,6, aq 0.5), stillimage (deblock -3, aq 1.2), no deblocking.
        for tune in ["deblock=1:-2:-2", "deblock=1:-3:-3", "deblock=0:6:6", "deadzone=6,6", "aq=1:1.20", "aq=0:9.00"] {
            let key = String(tune.split(separator: "=")[0])
            let text = base.split(separator: " ").map { $0.hasPrefix(key + "=") ? tune : String($0) }.joined(separator: " ")
            #expect(try #require(X264Settings(text: text)).isPlausibleForTexture, "\(tune)")
        }
        // Settings that smooth texture by design.
        for forged in ["nr=1000", "deblock=1:6:6", "deblock=1:4:0", "deadzone=32,11", "deadzone=21,20", "aq=1:3.00", "aq=2:1.60"] {
            let key = String(forged.split(separator: "=")[0])
            let text = base.split(separator: " ").map { $0.hasPrefix(key + "=") ? forged : String($0) }.joined(separator: " ")
            #expect(try #require(X264Settings(text: text)).isPlausibleForTexture == false, "\(forged)")
        }
    }
}
