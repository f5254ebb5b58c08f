import Foundation

/// The decision thresholds, each with where its value comes from. Measured on the corpus of
/// benchmarks/verify (honest x264/x265/SVT-AV1/VP9 renditions of natural footage, 240p@250k to 720p@3000k).
public enum VerdictThresholds {
    /// Below this MSE a block's error is rounding, not evidence (≈ 1.4 levels RMS).
    public static let excessErrorFloor: Float = 2
    /// A block stands out when its error is this many times the typical error of its texture class (honest
    /// renditions in the corpus never kept such blocks at one place; 0.25-opacity overlays reach 6–10×).
    public static let excessErrorFlag: Float = 6
    /// ... in at least this share of the compared frames (a pan moves honest hard spots around; overlays stay).
    public static let persistence = 0.6
    /// Frames where the source block is flatter than this variance (5 levels RMS) and the block is not flagged do
    /// not count against persistence: a tamper there has nothing to alter.
    public static let showableVariance: Float = 25
    /// ... and its mean error is at least this (MSE ≈ 3 levels RMS): faint overlays on flat areas still pass it.
    public static let minimumRegionError: Float = 9
    /// Regions smaller than this share of the frame (half the smallest watermark the corpus plants, 0.5%) need
    /// the single-block evidence below.
    public static let minimumRegionShare: Float = 0.0025
    /// Regions smaller than this share (the smallest watermark the corpus plants, 0.5%) must be flagged in most of
    /// all compared frames, not only in those where the source shows texture there: an honest 180p rendition's
    /// 16x16-pixel patch of hard detail was flagged in 7 of the 9 frames where it showed, 7 of 18 compared.
    public static let smallRegionShare: Float = 0.005
    /// A region of a single block needs this much stronger evidence.
    public static let singleBlockExcess: Float = 25
    /// ... and a mean squared error of at least this (10 levels RMS) over the compared frames. An honest 240p rung at
    /// 250 kbit/s of the 642x362 fixture's 1 s second segment left single blocks of hard detail at 25–30× their
    /// texture class's error but only 56–58 in MSE (9 of 300 sample draws rejected it); the faint (0.25-opacity)
    /// 0.5 % logo that single blocks catch at 360p in the corpus shows 149–226. (Its 180p rung's stale block reached
    /// 136: that one was clean on the keyframe, which such a region must not be.)
    public static let singleBlockError: Float = 100
    /// Constant offset (an overlay's other mark): a block whose mean rendition − source difference has the same
    /// sign, at least `offsetPerFrame` levels, in all but one in six compared frame, averages at least `offsetMean` levels and
    /// at least `offsetScore` times the frame's typical block offset (median |offset|, floored at 0.5 levels).
    /// Encoders keep block means: on the corpus's 96 honest renditions (240p@250k to 720p) the largest such
    /// score was 2.4 and the largest consistent offset 4.5 levels; 0.25-opacity text and logos of 0.5–2 % of a
    /// 360p frame score 8–20 on several blocks.
    public static let offsetPerFrame: Float = 1
    public static let offsetMean: Float = 2.5
    public static let offsetScore: Float = 4
    /// … on at least this many touching blocks, and seen in at least this many compared frames.
    public static let offsetRegionBlocks = 3
    public static let offsetMinimumFrames = 3
    /// Blocks whose rendition kept less than this share of the source's texture count as blurred.
    public static let blurredDetailShare: Float = 0.35
    /// ... unless the rendition kept at least this share of what the verifier's own encode at the same size and rate
    /// keeps there on the same frames (an honest encoder smooths sub-pixel detail away at low rungs too).
    public static let blurredAgainstReference: Float = 0.5
    /// Bitrate outside [low, high] × asked is out of bounds. Honest ABR encoders of 2–4 s segments land within
    /// 0.6–1.4× (libvpx realtime at 240p@250k overshoots to 2.2×); a cut to ¼ or ⅙ lands far below.
    public static let bitrateLow = 0.45
    public static let bitrateHigh = 3.0
    /// A rendition under `bitrateLow` is not rejected for the bits it saved when the quality holds: its luma PSNR
    /// reaches this, x264's default quality (CRF 23 capped at the asked rate: 40.6 dB at 0.31× on a still textured
    /// 360p picture, 55.7 dB at 0.12× on a slow clean 480p pan, where the asked rate bought 59.6) …
    public static let underspentTransparentPsnr = 40.0
    /// … or it lands within this of the verifier's own encode at the asked rate. A bitrate cut to ¼ cost 6 dB on a
    /// noisy 480p pan (31.5 against 37.4 dB at the asked 1200k) and ½ cost 2.7.
    public static let underspentMarginDb = 2.0
    /// Rendition and source durations may differ by this many frame periods (rounding of the last frame).
    public static let durationFrames = 1.5
    /// Aspect ratios within this relative difference are the same shape (even-rounded widths at 240p).
    public static let aspectTolerance = 0.03
    /// A rendition frame counts as frozen when it moved less than this share of what its source moved …
    public static let frozenMotionShare = 0.08
    /// … and the source moved at least this much (thumbnail MSE), so still scenes are not "frozen".
    public static let frozenSourceMotion = 3.0
    /// A freeze must show on at least this many compared frames: x264 at 240p@250k skips a few whole frames after
    /// a segment's keyframe (packets of 19–68 bytes), which one sample can land on (prism's own 240p output of
    /// fixtures/single-keyframe-360p.mp4: 3 of 30 seeds). Every frozen tamper in the corpus showed on 2–5 of its
    /// 8–10 compared frames (the small packets of a freeze make its frames suspects).
    public static let frozenMinimumFrames = 2
    /// Black: luma mean and spread below these while the source's are not.
    public static let blackLumaMean = 24.0
    public static let blackLumaDeviation = 5.0
    /// Time shift: the best-matching source neighbour's error must be below this share of the aligned frame's.
    public static let shiftedErrorShare = 0.6
    /// Flip: the mirrored source must match this much better than the source as is.
    public static let mirroredErrorShare = 0.5
    /// … and the picture as is must differ clearly (thumbnail MSE): symmetric scenes do not count as flipped.
    public static let mirroredMinimumError = 20.0
    /// Perceptual-hash distance beyond which two frames are different pictures.
    public static let substitutedHashDistance = 20
    /// A frame is substituted when, besides the hash, its luma PSNR against the source is below this.
    public static let substitutedPsnr = 20.0
    /// Chroma: a change of the mean U or V larger than this (levels, median over compared frames) is a colour
    /// cast, not coding error (encoders keep plane means while smoothing colour).
    public static let chromaBias = 3.0
    /// Chroma rotation (antisymmetric cross-talk, ≈ sin of a hue turn) beyond this; honest encodes measure under 0.05.
    public static let chromaCrossTalk = 0.1
    /// Chroma gain above this is a saturation boost (encoders only lose saturation: 0.5–1.0 measured).
    public static let chromaGainHigh = 1.25
    /// Added noise: in-block detail energy above this multiple of the source's (x264 ultrafast's own
    /// artefacts reach ≈ 2.7× at 720p, so this alone is not enough) …
    public static let addedNoiseDetail = 1.5
    /// … together with error on the flattest blocks near that of the most textured (encoders: 0.4–0.55).
    public static let addedNoiseFlatError = 0.75
    /// Added noise, second sign: the rendition's chroma carries this many times the source's fine chroma detail
    /// (median over compared frames, larger of U and V). Encoders smooth chroma: on the corpus's honest
    /// renditions the ratio stayed ≤ 1.5 (SVT-AV1 at 720p the highest); temporal noise of strength 20 added at the
    /// rendition's size measured 1.9–36.
    public static let addedNoiseChromaDetail = 3.0
    /// Added noise, third sign: a keyframe (coded on its own) carrying more fine luma detail inside its coding
    /// blocks than the source has. Encoders only lose detail there: the corpus's 160 honest renditions (seven x264
    /// presets, x265, SVT-AV1, VP9, 240p–720p) measured ≤ 0.97 at their first frame; temporal noise of strength 8
    /// at 720p 1.18–1.81, of strength 20 1.6–7.5 (strength 8 at 360p is averaged away: 0.83–0.92).
    public static let addedNoiseKeyframeDetail = 1.15
    /// Altered before encoding (x264 renditions): the first keyframe's luma PSNR this far below what libx264 with
    /// the settings from the rendition's own SEI reaches on the clean source (scaled by the swscale kernel that
    /// explains it best; with the rendition's lookahead when it used mbtree) at the same size in slice bytes
    /// (`KeyframeCost`). Honest x264 renditions of the corpus (seven presets, eight tunes, CRF, five kernels) measured
    /// ≤ 0.12 dB with lookahead and ≤ 0.56 without; strength-8 noise added at 360p, which no other check sees,
    /// 1.6–2.7 dB.
    public static let keyframeCostGapDb = 1.0
    /// Chroma detail energies get this added before dividing, so near-grey pictures do not make ratios of noise.
    public static let chromaDetailFloor = 2.0
    /// Quality floor: the rendition's luma PSNR may fall this far below the verifier's own reference encode
    /// (x264 ultrafast, constant rate factor matched to the asked bits per frame). A real x264 ultrafast ABR
    /// encode of a noisy 720p pan lands up to ≈ 7 dB below it (ABR start-up, no lookahead), and must pass.
    public static let qualityMarginDb = 8.0
    /// Resolution cheat: the rendition keeps less than this share of the finest-octave detail the reference
    /// encode keeps at the same size and bits (honest encodes measured ≥ 0.8 of it; 2x-upscaled ≈ 0.5).
    public static let resolutionCheatDetailShare = 0.65
    /// ... unless the rendition's keyframe before the compared frames carries at least this share of the source's
    /// finest octave (`PictureStatistics.topOctaveRetention`). A picture made at half size cannot: the corpus's and
    /// the farm economics clips' 2x upscales measured 0.16–0.45 at their keyframe. The reference holds its own fresh
    /// keyframe to the rendition's keyframe bytes a few frames before the compared ones, so a two-pass rendition
    /// (x264's macroblock tree: one large keyframe, cheap predicted frames far from it that drop the source's
    /// temporal noise) keeps less detail there than the reference without having been scaled: such keyframes
    /// measured 0.79–0.96.
    public static let resolutionCheatKeyframeRetention = 0.65
    /// ... unless the rendition is near-transparent (`underspentTransparentPsnr` or more) and no more than this far
    /// below the reference's PSNR.
    public static let resolutionCheatTransparentGapDb = 1.0
    /// Flipped: more than this share of the compared frames must look mirrored. A majority, because a single
    /// near-symmetric picture can look as much like its mirror image as like itself.
    public static let mirroredFrameShare = 0.5
    /// Time shift: at least this many compared frames, and at least this share of the ordinary ones, must match the
    /// same neighbouring source frame better than their own (a real shift moves every frame by the same amount;
    /// slow, noisy content makes single frames match a neighbour slightly better in either direction).
    public static let shiftedMinimumFrames = 2
    public static let shiftedFrameShare = 0.5
    /// Local regions: a block's flagged share counts over the frames where it could show, once it showed in at
    /// least this many (fewer compared frames: in all of them).
    public static let regionMinimumShowings = 2
}
