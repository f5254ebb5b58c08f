import ArgumentParser
import FarmClient
import Foundation
import Honesty
import Logging
import Submitter
import Transcode
import Verify
import Wire

/// Which farmers to use and how to check them: what `prism submit` and `prism live` share.
struct FarmOptions: ParsableArguments {
    @Option(help: "Farmer URLs, comma-separated.")
    var farmers: String?

    @Option(help: "Registry URL to find farmers at (and to report verdicts to).")
    var registry: String?

    @Option(help: "Submitter key file (default: a fresh identity for this run).")
    var key: String?

    @Option(help: ArgumentHelp("With --registry: mean interval between challenges of a farmer, in seconds or as 90s, 30m, 2h, 1d; 0 or off: never re-challenge.",
                               valueName: "duration"))
    var rechallengeMean: String = "1h"

    @Option(help: "With --registry: farmers challenged at most before one job (picked at random among the due ones).")
    var rechallengeLimit: Int = ChallengeSchedule.defaultMaximumPerJob

    @Option(help: ArgumentHelp("Share of each farmer's segments whose pixels are checked (0.01 to 1); default 1 for unknown farmers, \(AuditPolicy.provenRate) for proven ones. Every rendition always gets the receipt, hash and structure checks.",
                               valueName: "rate"))
    var auditRate: String?

    @Option(help: ArgumentHelp("all: check every segment's pixels whatever the farmer's standing; sampled: by --audit-rate (default).", valueName: "mode"))
    var audit: String = "sampled"

    @Option(help: ArgumentHelp("Draw audits and their sample positions from this seed (hex) to reproduce a run, instead of the system's CSPRNG.", valueName: "hex"))
    var auditSeed: String?

    @Option(help: ArgumentHelp("The most to pay a farmer, in \(Price.unit)s per megapixel of output (as in 0.1/megapixel); farmers asking more are skipped.",
                               discussion: "Among farmers of equal standing the cheaper get segments first; tasks carry this ceiling, so no farmer can charge above it."))
    var maxPrice: String?

    var wanted: Bool { farmers != nil || registry != nil }

    /// The farm as this job sees it: the dispatcher that sends, verifies and retries, and what the summary reports.
    struct Connection {
        let dispatcher: FarmDispatcher
        let identity: SigningIdentity
        let policy: AuditPolicy
        let ceiling: Price?
        let farmerCount: Int
        let claimsByURL: [String: String?]
        let challenges: [ChallengeOutcome]
    }

    /// Checks every option (bad ones throw the one-line errors), reads the farmer list, re-challenges the farmers that
    /// are due, and makes the dispatcher (`taskTimeout`: seconds a farmer may take for one segment).
    func connect(taskTimeout: Double, logger: Logger) throws -> Connection {
        guard wanted else { throw CommandFailure.badInput("give --farmers URL,... or --registry URL") }
        guard rechallengeLimit >= 0 else { throw CommandFailure.badInput("--rechallenge-limit must be 0 or more") }
        let rechallengeInterval: TimeInterval?
        do { rechallengeInterval = try ChallengeSchedule.parseMeanInterval(rechallengeMean) } catch { throw CommandFailure.badInput("\(error)") }
        guard audit == "all" || audit == "sampled" else { throw CommandFailure.badInput("--audit must be all or sampled, not '\(audit)'") }
        let policy: AuditPolicy
        do { policy = AuditPolicy(fixedRate: try auditRate.map(AuditPolicy.parseRate), everything: audit == "all") } catch {
            throw CommandFailure.badInput("\(error)")
        }
        let seedValue = try auditSeed.map { text -> UInt64 in
            guard let value = UInt64(text, radix: 16) else { throw CommandFailure.badInput("--audit-seed must be hex, not '\(text)'") }
            return value
        }
        let ceiling: Price?
        do { ceiling = try maxPrice.map { try Price(parsing: $0) } } catch { throw CommandFailure.badInput("--max-price: \(error)") }
        let identity = try KeyFileOption.load(key)

        let listed: [ListedFarmer]
        if let farmers {
            listed = farmers.split(separator: ",").map { ListedFarmer(url: String($0).trimmingCharacters(in: .whitespaces)) }
        } else {
            do { listed = try FarmerRoster.fromRegistry(registry!) } catch { throw CommandFailure.badInput("cannot read the farmer list of registry \(registry!): \(error)") }
        }
        var roster = FarmerRoster(listed, identity: identity, timeout: taskTimeout, logger: logger)
        guard !roster.entries.isEmpty else { throw CommandFailure.badInput("no usable farmer among \(listed.map(\.url).joined(separator: ", "))") }
        if let ceiling {
            roster.keep(pricedAtMost: ceiling, logger: logger)
            guard !roster.entries.isEmpty else { throw CommandFailure.badInput("no farmer asks at most \(ceiling) (--max-price)") }
        }
        if let registry, farmers == nil, let rechallengeInterval, rechallengeLimit > 0 {
            roster.rechallenge(schedule: ChallengeSchedule(meanInterval: rechallengeInterval, maximumPerJob: rechallengeLimit),
                               identity: identity, registry: registry, logger: logger)
        }
        let ranked = roster.ranked
        if registry != nil && farmers == nil {
            logger.info("farmers by claims: \(ranked.map { "\($0.farmer.url) \($0.farmer.claims?.rawValue ?? "unknown")" }.joined(separator: ", "))")
        }
        var verdictSink: VerdictSink?
        if let registry {
            verdictSink = { @Sendable verdict in
                _ = try? FarmHTTP.wait { await RegistryClient(baseURL: registry).postLogged(verdict, path: WirePath.verdicts, identity: identity, logger: logger) }
            }
        }
        let claimsOf = Dictionary(ranked.map { (ObjectIdentifier($0.client), $0.farmer.claims) }, uniquingKeysWith: { first, _ in first })
        let dispatcher = FarmDispatcher(farmers: ranked.filter { $0.farmer.claims != .disproven }.map(\.client),
                                        lastResort: ranked.filter { $0.farmer.claims == .disproven }.map(\.client),
                                        identity: identity, judge: SegmentVerifier.judge(logger: logger),
                                        auditRate: { policy.rate(claims: claimsOf[ObjectIdentifier($0)] ?? nil) },
                                        verdicts: verdictSink, logger: logger)
        dispatcher.auditSeed = seedValue
        dispatcher.maxPrice = ceiling
        return Connection(dispatcher: dispatcher, identity: identity, policy: policy, ceiling: ceiling, farmerCount: ranked.count,
                          claimsByURL: Dictionary(ranked.map { ($0.client.baseURL, $0.farmer.claims?.rawValue) }, uniquingKeysWith: { first, _ in first }),
                          challenges: roster.challenges)
    }
}
