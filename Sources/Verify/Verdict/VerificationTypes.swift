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
    /// Where the reference searches of earlier renditions of the job ended (shared by every request of a job).
    public var searchHints: SearchHints?

    /// The shared source when it is this request's source, else a fresh one (read for this rendition alone).
    var sourceFrames: SourceFrames {
        sharedSource.flatMap { $0.path == source ? $0 : nil } ?? SourceFrames(path: source)
    }

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
    public let code: ReasonCode
    public let message: String
    public init(_ code: ReasonCode, _ message: String) {
        self.code = code
        self.message = message
    }
}

/// Every reason code `prism verify` can give.
public enum ReasonCode: String, Codable, Sendable, CaseIterable {
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
    /// Not `prism verify`'s (it exits 2 instead): a submitter's or challenger's judge could not check the rendition.
    case unverifiable = "unverifiable"
    /// The farmer's signed receipt disagrees with the rendition it delivered (frames or size): it claims work it did not do.
    case receiptMismatch = "receipt-mismatch"
}

/// `prism verify`'s answer; its JSON shape is part of the command-line contract.
public struct VerificationResult: Codable, Sendable {
    /// The verdict on one rendition (in JSON: "accept" or "reject").
    public enum Verdict: String, Codable, Sendable {
        case accept, reject
    }

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
        /// On a rendition keyframe, the share of the source's finest octave it carries.
        public var keyframeRetention: Double?
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

    public var verdict: Verdict
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

    public var accepted: Bool { verdict == .accept }
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
