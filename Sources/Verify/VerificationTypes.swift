import Foundation
import Media

/// What the submitter asked a farmer for, and how hard to look.
public struct VerificationRequest: Sendable {
    public enum Sampling: Sendable, Equatable {
        /// Every frame compared.
        case full
        /// This many frames at positions the farmer cannot predict.
        case samples(Int)
    }

    public var source: String
    /// The source frames the rendition was made from, when the source file holds more (decoder priming).
    public var sourceWindow: SegmentWindow?
    public var rendition: String
    public var width: Int?
    public var height: Int?
    /// Asked video bitrate, bits per second.
    public var bitrate: Int?
    /// Asked codec (h264, hevc, av1, vp9 or FFmpeg's codec name).
    public var codec: String?
    public var sampling: Sampling = .samples(VerificationRequest.defaultSamples)
    /// Makes sample positions reproducible; nil draws them from the system's CSPRNG.
    public var seed: UInt64?
    /// Keep what the HTML report needs (per-frame values, an error map and a thumbnail).
    public var keepReportData = false
    /// Source frames already decoded for another rendition of the same source (and window): shared, not decoded again.
    public var sharedSource: SourceFrames?

    /// Random frames compared by default; the packet-size suspects (at most 2) and the 4 fingerprint frames
    /// at fixed positions are compared as well.
    public static let defaultSamples = 4

    public init(source: String, rendition: String) {
        self.source = source
        self.rendition = rendition
    }
}

/// Why a rendition was rejected, in words a person understands.
public struct VerificationReason: Codable, Sendable, Equatable {
    public let code: String
    public let message: String
    public init(_ code: ReasonCode, _ message: String) {
        self.code = code.rawValue
        self.message = message
    }
}

/// Every reason code `prism verify` can give.
public enum ReasonCode: String, Sendable, CaseIterable {
    case watermarkRegion = "watermark-region"
    case blurredRegion = "blurred-region"
    case framesDropped = "frames-dropped"
    case framesAdded = "frames-added"
    case framesFrozen = "frames-frozen"
    case blackFrames = "black-frames"
    case timeShift = "time-shift"
    case flipped = "flipped"
    case contentSubstituted = "content-substituted"
    case chromaShift = "chroma-shift"
    case addedNoise = "added-noise"
    case alteredBeforeEncoding = "altered-before-encoding"
    case qualityBelowFloor = "quality-below-floor"
    case resolutionCheat = "resolution-cheat"
    case wrongDimensions = "wrong-dimensions"
    case wrongCodec = "wrong-codec"
    case bitrateOutOfBounds = "bitrate-out-of-bounds"
    case durationMismatch = "duration-mismatch"
    case decodeErrors = "decode-errors"
    case noKeyframeAtStart = "no-keyframe-at-start"
}

/// `prism verify`'s answer; its JSON shape is part of the command-line contract.
public struct VerificationResult: Codable, Sendable {
    public struct Metrics: Codable, Sendable {
        public var psnr: QualitySummary.PSNR
        public var ssim: QualitySummary.SSIM
    }
    public struct Frames: Codable, Sendable {
        public var source: Int
        public var rendition: Int
        public var compared: Int
    }
    /// One compared frame, for plots and for people reading the JSON.
    public struct Sample: Codable, Sendable {
        public var rendition: Int
        public var source: Int
        public var time: Double
        public var psnrY: Double
        public var ssimY: Double
        public var hashDistance: Int
        /// Source frame offset whose thumbnail matched best (0 when aligned).
        public var bestOffset: Int
        /// The frame counts as shifted: a neighbour matched clearly better in the thumbnails and again at full
        /// resolution (only this is evidence of a time shift; thumbnails alone are fooled by slow zooms).
        public var shifted: Bool
        /// Chosen because its packet size looked wrong, not at random.
        public var suspect: Bool
        /// Fine-detail energy over the source's, all pixels and inside coding blocks only.
        public var detailRatio: Double
        public var interiorDetailRatio: Double
        /// Error in the flattest quarter of blocks over the most textured quarter's.
        public var flatToTexturedError: Double
        /// Frame-to-frame change of the rendition over the source's (reported for people; not judged: it did
        /// not separate added noise from honest ultrafast encodes in the corpus).
        public var temporalChangeRatio: Double?
        /// Fine-detail energy of the rendition's chroma over the source's (the larger of U and V): encoders
        /// smooth chroma, added colour noise survives in it.
        public var chromaDetailRatio: Double
        /// U and V of the rendition as a mix of the source's chroma (see `PictureStatistics.chromaMix`).
        public var chromaGain: [Double]
        public var chromaCross: [Double]
        public var chromaOffset: [Double]
    }
    public struct QualityFloor: Codable, Sendable {
        public var referenceEncoder: String
        /// The reference encode's budget: the asked bitrate, or what the rendition spent on the compared
        /// stretch where that was less.
        public var bitrate: Int
        public var askedBitrate: Int
        /// The constant rate factor the reference encode ended at (what the asked bitrate buys here).
        public var rateFactor: Double
        /// The QP that holds the reference's keyframe to the size of the rendition's (nil: not held); the rate
        /// factor is never below it.
        public var keyframeQP: Int?
        public var referencePsnrY: Double
        public var renditionPsnrY: Double
        /// Share of the source's finest octave kept (`PictureStatistics.topOctaveRetention`), reference and rendition.
        public var referenceDetail: Double
        public var renditionDetail: Double
        /// Correlation of the rendition's error with the reference encode's error (both against the source);
        /// reported, not judged (honest 0.10–0.33, added noise 0.10–0.15 in the corpus: they overlap).
        public var errorCorrelation: Double
        /// The rendition spent under `VerdictThresholds.bitrateLow` of the asked rate: the reference got the
        /// asked rate, and the rendition is judged by the quality it reached against it.
        public var underspent: Bool? = nil
    }
    public struct KeyframeCostFinding: Codable, Sendable {
        /// The encoder settings read from the rendition (x264's SEI), as passed to libx264 for the reference.
        public var settings: String
        /// The swscale kernel that best explains the rendition as a scaled source.
        public var scaler: String
        /// Bytes of slice data in the rendition's first keyframe, which the reference intra frame is made to match.
        public var bytes: Int
        public var renditionPsnrY: Double
        public var referencePsnrY: Double
        public var encodes: Int
        /// Source frames after the keyframe given to the reference's lookahead (0: intra settings alone).
        public var lookaheadFrames: Int
        public var gapDb: Double { referencePsnrY - renditionPsnrY }
    }
    public struct Structure: Codable, Sendable {
        public var codec: String
        public var width: Int
        public var height: Int
        public var bitrate: Int
        public var durationSeconds: Double
        public var sourceDurationSeconds: Double
        public var startsWithKeyframe: Bool
        public var decodeErrors: Int
    }

    public var verdict: String
    public var reasons: [VerificationReason]
    public var metrics: Metrics?
    public var frames: Frames
    public var regions: [RegionFinding]
    public var fingerprint: String
    public var structure: Structure
    public var qualityFloor: QualityFloor?
    /// The first keyframe against the same encoder settings given the clean source (x264 renditions only).
    public var keyframeCost: KeyframeCostFinding?
    public var samples: [Sample]
    public var seed: String?
    public var cost: Cost

    public struct Cost: Codable, Sendable {
        public var sourceFramesDecoded: Int
        public var renditionFramesDecoded: Int
        /// Frames the verifier encoded itself: the quality reference (with the one-frame encodes that hold its
        /// keyframe to the rendition's size) and the keyframe check.
        public var referenceFramesEncoded: Int
        public var seconds: Double
    }

    public var accepted: Bool { verdict == "accept" }
}

/// What the report page needs beyond the JSON: a picture and where it departs from the source.
public struct VerificationReportData: Sendable {
    /// A rendition frame's luma (one of the samples), for the heatmap's background.
    public var thumbnail: PlaneImage
    /// Mean excess error per block over the compared frames.
    public var excess: [Float]
    public var columns: Int
    public var rows: Int
    public var blockSize: Int
}

/// Input that cannot be checked at all (exit 2), as opposed to a rendition that was checked and failed.
public enum VerificationInputError: Error, CustomStringConvertible, Equatable, Sendable {
    case noFrames(path: String)
    case aspectMismatch(source: String, rendition: String)
    case sourceShorter(source: Double, rendition: Double)
    case nothingDecoded(path: String)
    case badArgument(String)

    public var description: String {
        switch self {
        case let .noFrames(path): return "\(path) has no video frames"
        case let .aspectMismatch(source, rendition):
            return "rendition is \(rendition) but source is \(source): another aspect ratio cannot be compared"
        case let .sourceShorter(source, rendition):
            return String(format: "source lasts %.2f s but rendition %.2f s: the source must cover the rendition", source, rendition)
        case let .nothingDecoded(path): return "no frame of \(path) could be decoded for comparison"
        case let .badArgument(text): return text
        }
    }
}

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
}
