import Foundation
import Wire

/// A farmer's reputation: what verified segments and challenges say about it.
public struct Reputation: Codable, Sendable, Equatable {
    /// Segments submitters accepted and rejected (one verdict per submitter and segment).
    public var verifiedSegments: Int
    public var rejectedSegments: Int
    /// Challenges the farmer passed and failed.
    public var challengesPassed: Int
    public var challengesFailed: Int
    /// What the latest challenge said about its claims.
    public var claims: ClaimStatus
    /// 0…1; higher is better. See `init(record:)`.
    public var score: Double

    /// Scores a stored farmer.
    ///
    /// The score is the Laplace-smoothed share of verified segments, (verified + 1) / (verified + rejected + 2),
    /// so a new farmer starts at 0.5 and one verdict cannot swing it to 0 or 1; it is halved when the latest
    /// challenge disproved the farmer's claims, because a farmer that lies about its hardware is likely to
    /// cut corners elsewhere.
    public init(record: FarmerRecord) {
        verifiedSegments = record.verifiedSegments
        rejectedSegments = record.rejectedSegments
        challengesPassed = record.challengesPassed
        challengesFailed = record.challengesFailed
        switch record.latestChallenge?.result.passed {
        case .some(true): claims = .proven
        case .some(false): claims = .disproven
        case .none: claims = .unchallenged
        }
        let share = Double(verifiedSegments + 1) / Double(verifiedSegments + rejectedSegments + 2)
        score = claims == .disproven ? share / 2 : share
    }
}

/// A live farmer as the registry presents it: its claims, the latest measurements, its reputation.
public struct FarmerStanding: Codable, Sendable, Equatable {
    /// The farmer's identity.
    public var id: PublicIdentity
    /// Where submitters reach it.
    public var url: String
    /// What its latest heartbeat claims.
    public var claimed: FarmerCapabilities
    /// Its `--misbehave` mode, when it announced one.
    public var misbehave: String?
    /// The latest challenge's measurements, when it has been challenged.
    public var measured: CapabilityFigures?
    /// The latest challenge's findings.
    public var findings: [String]?
    /// Seconds since 1970 when the registry received the latest challenge result; nil when never challenged.
    /// Submitters re-challenge a farmer when this is older than an interval they draw at random.
    public var lastChallengedAt: Int64?
    /// Its reputation.
    public var reputation: Reputation
    /// Seconds since 1970 of its latest heartbeat.
    public var lastSeen: Int64
    /// Seconds since 1970 of its first heartbeat.
    public var firstSeen: Int64

    public init(record: FarmerRecord) {
        id = record.announcement.farmer
        url = record.announcement.url
        claimed = record.announcement.capabilities
        misbehave = record.announcement.misbehave
        measured = record.latestChallenge?.result.measured
        findings = record.latestChallenge?.result.findings
        lastChallengedAt = record.latestChallenge?.receivedAt.storedSeconds
        reputation = Reputation(record: record)
        lastSeen = record.lastSeen.storedSeconds
        firstSeen = record.firstSeen.storedSeconds
    }

    /// Orders farmers best first: proven claims before unchallenged before disproven, then by score,
    /// then by the number of verified segments (more evidence first), then by id so the order is stable.
    public static func preferenceOrder(_ records: [FarmerRecord]) -> [FarmerStanding] {
        records.map(FarmerStanding.init(record:)).sorted { lhs, rhs in
            if lhs.reputation.claims != rhs.reputation.claims { return lhs.reputation.claims < rhs.reputation.claims }
            if lhs.reputation.score != rhs.reputation.score { return lhs.reputation.score > rhs.reputation.score }
            if lhs.reputation.verifiedSegments != rhs.reputation.verifiedSegments {
                return lhs.reputation.verifiedSegments > rhs.reputation.verifiedSegments
            }
            return lhs.id < rhs.id
        }
    }
}

/// The body of `GET /v1/farmers`.
public struct FarmerList: Codable, Sendable, Equatable {
    /// Live farmers, best first.
    public var farmers: [FarmerStanding]
    /// How long after its last heartbeat a farmer stays listed.
    public var heartbeatTTLSeconds: Int

    public init(farmers: [FarmerStanding], heartbeatTTLSeconds: Int) {
        self.farmers = farmers
        self.heartbeatTTLSeconds = heartbeatTTLSeconds
    }
}
