import FarmClient
import Foundation
import Honesty
import Logging
import Wire

/// A farmer to send segments to, with what the registry says of its claims (nil: given with --farmers).
public struct ListedFarmer: Sendable {
    public var url: String
    public var claims: ClaimStatus?
    public var lastChallenged: Date?

    public init(url: String, claims: ClaimStatus? = nil, lastChallenged: Date? = nil) {
        self.url = url
        self.claims = claims
        self.lastChallenged = lastChallenged
    }

    /// Proven first, then unchallenged (or unknown), then disproven.
    public var tier: Int {
        switch claims {
        case .proven: return 0
        case .unchallenged, nil: return 1
        case .disproven: return 2
        }
    }
}

/// One challenge `prism submit` ran before its job.
public struct ChallengeOutcome: Encodable, Sendable {
    /// The farmer's URL and identity.
    public let farmer: String
    public let id: String
    public let passed: Bool
    public let findings: [String]
    /// Why the challenge could not run, when it could not.
    public let error: String?
}

/// The farmers of one job: who answered, in which order they get segments, and who was re-challenged first.
public struct FarmerRoster {
    public typealias Entry = (farmer: ListedFarmer, client: FarmerClient)
    public private(set) var entries: [Entry]
    public private(set) var challenges: [ChallengeOutcome] = []

    /// The registry's farmers, best first.
    public static func fromRegistry(_ registry: String) throws -> [ListedFarmer] {
        let listing = try FarmHTTP.wait { try await RegistryClient(baseURL: registry).farmers() }
        return listing.farmers.map { ListedFarmer(url: $0.url, claims: $0.reputation.claims,
                                                  lastChallenged: $0.lastChallengedAt.map { Date(timeIntervalSince1970: TimeInterval($0)) }) }
    }

    /// Keeps the farmers that answer with valid signed capabilities (one client each, `timeout` per call).
    public init(_ listed: [ListedFarmer], identity: SigningIdentity, timeout: Double, logger: Logger) {
        entries = []
        for farmer in listed {
            let client = FarmerClient(baseURL: farmer.url, identity: identity, timeout: timeout)
            do {
                let announcement = try FarmHTTP.wait { try await client.capabilities() }
                if let misbehave = announcement.misbehave { logger.warning("\(farmer.url) says it misbehaves on purpose (\(misbehave))") }
                entries.append((farmer, client))
            } catch {
                logger.warning("skipping farmer \(farmer.url): \(error)")
            }
        }
    }

    /// By tier (this job's challenges moving a farmer into its new one), the cheaper first within a tier, then in
    /// the registry's order.
    public var ranked: [Entry] {
        entries.enumerated().sorted {
            ($0.element.farmer.tier, Self.price($0.element).microcreditsPerMegapixel, $0.offset)
                < ($1.element.farmer.tier, Self.price($1.element).microcreditsPerMegapixel, $1.offset)
        }.map(\.element)
    }

    /// What a farmer announced it asks per megapixel.
    static func price(_ entry: Entry) -> Price { entry.client.announcement?.capabilities.price ?? .free }

    /// Leaves out the farmers asking more than `ceiling` (`--max-price`).
    public mutating func keep(pricedAtMost ceiling: Price, logger: Logger) {
        for entry in entries where Self.price(entry) > ceiling {
            logger.info("skipping \(entry.farmer.url): it asks \(Self.price(entry)), above --max-price \(ceiling)")
        }
        entries.removeAll { Self.price($0) > ceiling }
    }

    /// Challenges the farmers `schedule` finds due (as `prism challenge --registry` would), posting each result;
    /// brings their claims up to date and leaves out those that failed (unless none would remain).
    public mutating func rechallenge(schedule: ChallengeSchedule, identity: SigningIdentity, registry: String, logger: Logger) {
        let farmers = entries
        let due = schedule.pick(Array(farmers.indices), lastChallenged: { farmers[$0].farmer.lastChallenged })
        guard !due.isEmpty else { return }
        logger.info("re-challenging \(due.map { farmers[$0].farmer.url }.joined(separator: ", ")) before the job")
        var updated = farmers, failed: Set<Int> = []
        for index in due {
            let (farmer, client) = farmers[index]
            let id = client.announcement?.farmer.description ?? ""
            do {
                let report = try FarmerChallenge.challenge(client, identity: identity, registry: registry, logger: logger)
                updated[index].farmer.claims = report.passed ? .proven : .disproven
                if !report.passed { failed.insert(index) }
                challenges.append(ChallengeOutcome(farmer: farmer.url, id: id, passed: report.passed, findings: report.findings, error: nil))
                let verdict = report.passed ? "passed" : "failed: \(report.findings.joined(separator: "; "))"
                if report.passed { logger.info("challenge of \(farmer.url) \(verdict)") } else { logger.warning("challenge of \(farmer.url) \(verdict)") }
            } catch let error as FarmerCallError {
                // Gone or refusing: no result to publish, and no farmer to send segments to.
                failed.insert(index)
                challenges.append(ChallengeOutcome(farmer: farmer.url, id: id, passed: false, findings: [], error: error.description))
                logger.warning("challenge of \(farmer.url) could not run: \(error)")
            } catch {
                // Our side failed (making the clip, writing files): the farmer keeps the standing it had.
                challenges.append(ChallengeOutcome(farmer: farmer.url, id: id, passed: false, findings: [], error: "\(error)"))
                logger.warning("challenge of \(farmer.url) could not run here: \(error)")
            }
        }
        let remaining = updated.indices.filter { !failed.contains($0) }.map { updated[$0] }
        if remaining.isEmpty {
            logger.warning("every farmer failed its challenge: using them anyway, as last resorts")
            entries = updated
            return
        }
        for index in failed.sorted() { logger.warning("leaving \(updated[index].farmer.url) out of this job: it failed its challenge") }
        entries = remaining
    }
}
