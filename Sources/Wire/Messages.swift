import Foundation

/// The HTTP paths Wire messages are posted to; signatures bind to these.
public enum WirePath {
    /// Farmers post signed `FarmerAnnouncement`s here.
    public static let heartbeats = "/v1/heartbeats"
    /// Live farmers, best first.
    public static let farmers = "/v1/farmers"
    /// Submitters post signed `Verdict`s here.
    public static let verdicts = "/v1/verdicts"
    /// Challengers post signed `ChallengeResult`s here.
    public static let challenges = "/v1/challenges"
}

/// What a farmer says it can do. Claims only: challenges measure them.
public struct FarmerCapabilities: Codable, Sendable, Equatable {
    /// Encoder names that open on the farmer (`libx264`, `h264_nvenc`, …).
    public var encoders: [String]
    /// Frames per second it claims to encode at 720p with its best encoder.
    public var framesPerSecond: Double
    /// Concurrent encode sessions it accepts.
    public var sessions: Int
    /// Asking price per megapixel of output (`prism farmer serve --price`); free when it sets none.
    public var price: Price
    /// The `prism` version it runs.
    public var version: String
    /// The general jobs it takes (`POST /v1/jobs`): modes and the most a job may ask; nil: none.
    public var jobs: JobOffer?

    public init(encoders: [String], framesPerSecond: Double, sessions: Int, price: Price = .free, version: String, jobs: JobOffer? = nil) {
        self.encoders = encoders
        self.framesPerSecond = framesPerSecond
        self.sessions = sessions
        self.price = price
        self.version = version
        self.jobs = jobs
    }

    private enum CodingKeys: String, CodingKey { case encoders, framesPerSecond, sessions, price, version, jobs }

    /// Announcements from farmers (and rows stored) before prices existed carry none: they are free.
    public init(from decoder: Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        encoders = try container.decode([String].self, forKey: .encoders)
        framesPerSecond = try container.decode(Double.self, forKey: .framesPerSecond)
        sessions = try container.decode(Int.self, forKey: .sessions)
        price = try container.decodeIfPresent(Price.self, forKey: .price) ?? .free
        version = try container.decode(String.self, forKey: .version)
        jobs = try container.decodeIfPresent(JobOffer.self, forKey: .jobs)
    }
}

/// A farmer's signed heartbeat: who it is, where to reach it and what it claims.
public struct FarmerAnnouncement: Codable, Sendable, Equatable {
    /// The farmer's identity; must be the envelope's signer.
    public var farmer: PublicIdentity
    /// Base URL submitters reach the farmer at.
    public var url: String
    /// Claimed capabilities.
    public var capabilities: FarmerCapabilities
    /// The `--misbehave` mode the farmer runs with, when it is a deliberately dishonest test farmer.
    public var misbehave: String?

    public init(farmer: PublicIdentity, url: String, capabilities: FarmerCapabilities, misbehave: String? = nil) {
        self.farmer = farmer
        self.url = url
        self.capabilities = capabilities
        self.misbehave = misbehave
    }
}

/// A submitter's judgement of one segment a farmer returned.
public struct Verdict: Codable, Sendable, Equatable {
    /// The submitter's identity; must be the envelope's signer.
    public var submitter: PublicIdentity
    /// The farmer judged.
    public var farmer: PublicIdentity
    /// Content address of the source segment.
    public var segment: ContentAddress
    /// Whether every rendition of the segment passed verification.
    public var accepted: Bool
    /// Reason codes from `prism verify` when rejected (`watermark`, `quality-floor`, …).
    public var reasons: [String]
    /// Content address of the task the farmer was sent (the receipt's `task`).
    public var task: ContentAddress?
    /// The farmer-signed `SegmentReceipt` envelope for that task, naming this submitter, task and segment: the
    /// proof that the work judged was real. A registry counts a verdict only with it, one per task.
    public var receipt: SignedEnvelope?

    public init(submitter: PublicIdentity, farmer: PublicIdentity, segment: ContentAddress, accepted: Bool, reasons: [String] = [],
                task: ContentAddress? = nil, receipt: SignedEnvelope? = nil) {
        self.submitter = submitter
        self.farmer = farmer
        self.segment = segment
        self.accepted = accepted
        self.reasons = reasons
        self.task = task
        self.receipt = receipt
    }
}

/// Capability figures as claimed or as measured; a field is nil when not claimed or not measured.
public struct CapabilityFigures: Codable, Sendable, Equatable {
    /// Encoder names (claimed to open, or seen to open).
    public var encoders: [String]?
    /// Frames per second at 720p with the best encoder.
    public var framesPerSecond: Double?
    /// Concurrent encode sessions.
    public var sessions: Int?
    /// Bits per second from the challenger to the farmer and back (farmers claim none yet; challenges measure both).
    public var uploadBitsPerSecond: Double?
    public var downloadBitsPerSecond: Double?

    public init(encoders: [String]? = nil, framesPerSecond: Double? = nil, sessions: Int? = nil,
                uploadBitsPerSecond: Double? = nil, downloadBitsPerSecond: Double? = nil) {
        self.encoders = encoders
        self.framesPerSecond = framesPerSecond
        self.sessions = sessions
        self.uploadBitsPerSecond = uploadBitsPerSecond
        self.downloadBitsPerSecond = downloadBitsPerSecond
    }
}

/// The outcome of `prism challenge` against a farmer.
public struct ChallengeResult: Codable, Sendable, Equatable {
    /// The challenger's identity; must be the envelope's signer.
    public var challenger: PublicIdentity
    /// The farmer challenged.
    public var farmer: PublicIdentity
    /// Whether the measurements bore out the claims.
    public var passed: Bool
    /// What the farmer claimed at the time of the challenge.
    public var claimed: CapabilityFigures
    /// What the challenger measured.
    public var measured: CapabilityFigures
    /// Human-readable findings, one per discrepancy or check.
    public var findings: [String]

    public init(challenger: PublicIdentity, farmer: PublicIdentity, passed: Bool, claimed: CapabilityFigures,
                measured: CapabilityFigures, findings: [String] = []) {
        self.challenger = challenger
        self.farmer = farmer
        self.passed = passed
        self.claimed = claimed
        self.measured = measured
        self.findings = findings
    }
}

/// One rung a segment task asks for.
public struct TaskRung: Codable, Sendable, Equatable {
    /// Output height in pixels.
    public var height: Int
    /// Width; nil keeps the source's aspect, rounded to even.
    public var width: Int?
    /// Target bitrate in bits per second.
    public var bitrate: Int

    public init(height: Int, width: Int? = nil, bitrate: Int) {
        self.height = height
        self.width = width
        self.bitrate = bitrate
    }
}

/// Work a submitter hands a farmer: one source segment and the ladder to encode it into.
public struct SegmentTask: Codable, Sendable, Equatable {
    /// Content address of the source segment bytes the farmer will receive.
    public var source: ContentAddress
    /// Rungs to encode, tallest first.
    public var ladder: [TaskRung]
    /// Codec name (`h264`, `hevc`, `av1`, `vp9`).
    public var codec: String
    /// Encoder preset, when the submitter asks for one.
    public var preset: String?
    /// Extra encoder options by name.
    public var options: [String: String]
    /// The frames of the source to encode when it holds more (it starts at an earlier keyframe); nil: every frame.
    public var window: TaskWindow?
    /// The job's frame rate, which the encoders' rate control runs at; nil: what the source file says (a segment of
    /// a few frames cannot say it reliably).
    public var frameRate: TaskFrameRate?
    /// The most the submitter pays per megapixel (`prism submit --max-price`); a farmer asking more refuses the
    /// task. nil: the farmer's announced price, whatever it is.
    public var maxPrice: Price?

    public init(source: ContentAddress, ladder: [TaskRung], codec: String, preset: String? = nil, options: [String: String] = [:],
                window: TaskWindow? = nil, frameRate: TaskFrameRate? = nil, maxPrice: Price? = nil) {
        self.source = source
        self.ladder = ladder
        self.codec = codec
        self.preset = preset
        self.options = options
        self.window = window
        self.frameRate = frameRate
        self.maxPrice = maxPrice
    }

    /// Content address of this task's canonical bytes, which a receipt refers to.
    public func address() throws -> ContentAddress {
        ContentAddress(hashing: try WireCoding.canonicalBytes(self))
    }
}

/// Frames per second as numerator/denominator.
public struct TaskFrameRate: Codable, Sendable, Equatable {
    public var numerator: Int32
    public var denominator: Int32

    public init(numerator: Int32, denominator: Int32) {
        self.numerator = numerator
        self.denominator = denominator
    }
}

/// Presentation times [start, end) in a time base of numerator/denominator seconds per tick.
public struct TaskWindow: Codable, Sendable, Equatable {
    public var start: Int64
    public var end: Int64
    public var timeBaseNumerator: Int32
    public var timeBaseDenominator: Int32

    public init(start: Int64, end: Int64, timeBaseNumerator: Int32, timeBaseDenominator: Int32) {
        self.start = start
        self.end = end
        self.timeBaseNumerator = timeBaseNumerator
        self.timeBaseDenominator = timeBaseDenominator
    }
}

/// What a farmer produced for one rung.
public struct RungReceipt: Codable, Sendable, Equatable {
    /// Output size in pixels and target bitrate in bits per second, as encoded.
    public var height: Int
    public var width: Int
    public var bitrate: Int
    /// Content address of the output segment bytes.
    public var output: ContentAddress
    /// Frames in the output segment.
    public var frames: Int
    /// Luma pixels encoded (frames × width × height), the unit work is counted in.
    public var pixels: Int64

    public init(height: Int, width: Int, bitrate: Int, output: ContentAddress, frames: Int, pixels: Int64) {
        self.height = height
        self.width = width
        self.bitrate = bitrate
        self.output = output
        self.frames = frames
        self.pixels = pixels
    }
}

/// Wall-clock seconds a farmer spent on a task.
public struct TaskTimings: Codable, Sendable, Equatable {
    /// Time spent decoding the source, encoding all rungs, and on the whole task.
    public var decodeSeconds: Double
    public var encodeSeconds: Double
    public var totalSeconds: Double

    public init(decodeSeconds: Double, encodeSeconds: Double, totalSeconds: Double) {
        self.decodeSeconds = decodeSeconds
        self.encodeSeconds = encodeSeconds
        self.totalSeconds = totalSeconds
    }
}

/// A farmer's account of a finished task; sent inside a `SignedEnvelope` so it is a signed receipt.
public struct SegmentReceipt: Codable, Sendable, Equatable {
    /// The farmer; must be the envelope's signer.
    public var farmer: PublicIdentity
    /// The submitter that signed the task (whose verdict on it a registry will count).
    public var submitter: PublicIdentity?
    /// Content address of the task's canonical bytes.
    public var task: ContentAddress
    /// Content address of the input segment the farmer actually decoded.
    public var input: ContentAddress
    /// One entry per rung of the task, in the task's order.
    public var rungs: [RungReceipt]
    /// Encoder that produced the outputs (`libx264`, `h264_nvenc`, …).
    public var encoder: String
    /// How long the work took.
    public var timings: TaskTimings
    /// What the farmer charges per megapixel for this task (its price when it took it); nil: nothing. A registry
    /// pays `payablePixels` at this price when the submitter's verdict accepts the segment.
    public var price: Price?

    public init(farmer: PublicIdentity, submitter: PublicIdentity? = nil, task: ContentAddress, input: ContentAddress, rungs: [RungReceipt],
                encoder: String, timings: TaskTimings, price: Price? = nil) {
        self.farmer = farmer
        self.submitter = submitter
        self.task = task
        self.input = input
        self.rungs = rungs
        self.encoder = encoder
        self.timings = timings
        self.price = price
    }
}

/// How far a farmer's claims have been borne out by challenges.
public enum ClaimStatus: String, Codable, Sendable, Comparable {
    /// Its latest challenge passed.
    case proven
    /// Never challenged.
    case unchallenged
    /// Its latest challenge failed.
    case disproven

    private var rank: Int {
        switch self {
        case .proven: return 0
        case .unchallenged: return 1
        case .disproven: return 2
        }
    }

    public static func < (lhs: ClaimStatus, rhs: ClaimStatus) -> Bool { lhs.rank < rhs.rank }
}
