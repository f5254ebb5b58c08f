import Foundation
import Transcode
import Wire

/// How often a farmer's segments get the pixel-level checks (sample decoding, tamper evidence, quality floor).
/// Every rendition always gets the cheap ones: the signed receipt, the output hashes, and the structure read from
/// its packets (codec, size, frame count, duration, keyframe, bitrate). Which segments are audited is drawn from
/// the system CSPRNG after the farmer has answered, so it cannot know.
///
/// A farmer that cheats on k segments of a job escapes only if none of them is audited: (1 − rate)^k — at the
/// proven rate of 0.25, 0.75 for one segment, 0.24 for 5, 0.06 for 10, 0.003 for 20. One failed audit re-verifies
/// every segment of it accepted unaudited, redoes those that fail elsewhere and then drops it from the job; every
/// later segment of it is audited.
public struct AuditPolicy: Sendable, Equatable {
    /// Farmers the submitter knows nothing good of (unchallenged, disproven, or given with --farmers): everything.
    public static let unknownRate = 1.0
    /// Farmers whose claims their latest challenge proved.
    public static let provenRate = 0.25
    /// The lowest rate accepted: never zero, so no farmer is ever sure it is not being checked.
    public static let minimumRate = 0.01

    /// One rate for every farmer (`--audit-rate`), instead of the defaults by standing.
    public var fixedRate: Double?
    /// Check every segment of every farmer (`--audit all`).
    public var everything = false

    public init(fixedRate: Double? = nil, everything: Bool = false) {
        self.fixedRate = fixedRate
        self.everything = everything
    }

    /// The share of a farmer's segments audited, by what is known of its claims.
    public func rate(claims: ClaimStatus?) -> Double {
        if everything { return 1 }
        if let fixedRate { return fixedRate }
        return claims == .proven ? Self.provenRate : Self.unknownRate
    }

    /// Parses `--audit-rate`: a number in [0.01, 1].
    public static func parseRate(_ text: String) throws -> Double {
        guard let value = Double(text), value.isFinite, value >= minimumRate, value <= 1 else {
            throw AuditPolicyError(message: "--audit-rate must be a number from \(minimumRate) to 1, not '\(text)'")
        }
        return value
    }
}

public struct AuditPolicyError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}

/// A segment accepted on the cheap checks alone, kept (its source and renditions copied aside) until the job
/// ends, so it can be verified in full and redone if its farmer is caught cheating on another segment.
struct HeldSegment {
    let task: TranscodeTask
    let address: ContentAddress
    /// The content address of its source segment (what verdicts name).
    let source: ContentAddress
    /// Held copies of the renditions, by rung name.
    let renditions: [String: String]
    /// The farmer's signed receipt for the task (a verdict's proof).
    let receipt: SignedEnvelope
}
