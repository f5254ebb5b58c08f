import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Honesty
import Logging
import Media
import Registry
import Submitter
import Transcode
import Verify
import Wire

/// `prism submit`: transcode through farmers, verifying every returned segment.
struct SubmitCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "submit",
        abstract: "Transcode a video on farmers, verifying every segment they return.",
        discussion: """
        Cuts INPUT into segments (each a lossless mezzanine that starts with a keyframe), sends each to a \
        farmer with a free session (from --farmers, or the registry's list best first), checks the signed \
        receipt and the output hashes, verifies every rendition against its source segment with \
        `prism verify`'s engine, and moves a rejected, failed or stalled segment to another farmer. The \
        ladder is written exactly as `prism transcode` writes it.

        With --registry, farmers whose claims were proven get segments first, unchallenged ones next, and \
        those whose claims were disproven only when no other farmer is left. Before the job, each farmer \
        whose latest challenge is older than an interval drawn at random (exponential, mean \
        --rechallenge-mean) is challenged as `prism challenge` does it, at most --rechallenge-limit of them; \
        results go to the registry, and a farmer that fails is left out of the job unless no other remains.

        --json prints {"segments", "renditions", "accepted", "retried", "farmers": [...], "rejections": [...], \
        "challenges": [{"farmer", "id", "passed", "findings"}]}.
        """)

    @Argument(help: "The video to transcode.")
    var input: String

    @Option(name: .shortAndLong, help: "Output folder.")
    var output: String

    @Option(help: "Farmer URLs, comma-separated.")
    var farmers: String?

    @Option(help: "Registry URL to find farmers at (and to report verdicts to).")
    var registry: String?

    @Option(help: "Submitter key file (default: a fresh identity for this run).")
    var key: String?

    @OptionGroup var ladderOptions: LadderOptions

    @Option(help: "Seconds a farmer may take for one segment before it counts as stalled.")
    var taskTimeout: Double = 120

    @Option(help: ArgumentHelp("With --registry: mean interval between challenges of a farmer, in seconds or as 90s, 30m, 2h, 1d; 0 or off: never re-challenge.",
                               valueName: "duration"))
    var rechallengeMean: String = "1h"

    @Option(help: "With --registry: farmers challenged at most before one job (picked at random among the due ones).")
    var rechallengeLimit: Int = ChallengeSchedule.defaultMaximumPerJob

    @OptionGroup var outputFlags: OutputFlags

    func run() throws {
        let logger = CLILogging.bootstrap(verbose: outputFlags.verbose, quiet: outputFlags.quiet)
        FFmpegLibrary.setLogLevel(verbose: outputFlags.verbose)
        guard farmers != nil || registry != nil else { throw CommandFailure.badInput("give --farmers URL,... or --registry URL") }
        guard taskTimeout > 0 else { throw CommandFailure.badInput("--task-timeout must be positive") }
        guard rechallengeLimit >= 0 else { throw CommandFailure.badInput("--rechallenge-limit must be 0 or more") }
        let rechallengeInterval: TimeInterval?
        do { rechallengeInterval = try ChallengeSchedule.parseMeanInterval(rechallengeMean) } catch { throw CommandFailure.badInput("\(error)") }
        let identity = try KeyFileOption.load(key)
        var options = try ladderOptions.transcodeOptions()
        options.encoder = .software
        _ = try PresetScale.options(for: options.preset, encoder: options.codec.softwareEncoder, codec: options.codec)

        let listed: [ListedFarmer] = try farmers.map { $0.split(separator: ",").map { ListedFarmer(url: String($0).trimmingCharacters(in: .whitespaces)) } }
            ?? Self.farmersFromRegistry(registry!, logger: logger)
        var reachable: [(farmer: ListedFarmer, client: FarmerClient)] = []
        for farmer in listed {
            let client = FarmerClient(baseURL: farmer.url, identity: identity, timeout: taskTimeout)
            do {
                let announcement = try client.capabilities()
                if let misbehave = announcement.misbehave { logger.warning("\(farmer.url) says it misbehaves on purpose (\(misbehave))") }
                reachable.append((farmer, client))
            } catch {
                logger.warning("skipping farmer \(farmer.url): \(error)")
            }
        }
        guard !reachable.isEmpty else { throw CommandFailure.badInput("no usable farmer among \(listed.map(\.url).joined(separator: ", "))") }
        var challenges: [ChallengeOutcome] = []
        if let registry, farmers == nil, let rechallengeInterval, rechallengeLimit > 0 {
            let schedule = ChallengeSchedule(meanInterval: rechallengeInterval, maximumPerJob: rechallengeLimit)
            (reachable, challenges) = Self.rechallenge(reachable, schedule: schedule, identity: identity, registry: registry, logger: logger)
        }
        // The registry's order, with this job's challenges moving a farmer into its new tier.
        let ranked = reachable.enumerated().sorted { ($0.element.farmer.tier, $0.offset) < ($1.element.farmer.tier, $1.offset) }.map(\.element)
        if registry != nil && farmers == nil {
            logger.info("farmers by claims: \(ranked.map { "\($0.farmer.url) \($0.farmer.claims?.rawValue ?? "unknown")" }.joined(separator: ", "))")
        }
        let claimsByURL = Dictionary(ranked.map { ($0.client.baseURL, $0.farmer.claims?.rawValue) }, uniquingKeysWith: { first, _ in first })
        let registryURL = registry
        let dispatcher = FarmDispatcher(farmers: ranked.filter { $0.farmer.claims != .disproven }.map(\.client),
                                        lastResort: ranked.filter { $0.farmer.claims == .disproven }.map(\.client),
                                        identity: identity, judge: Self.judge(logger: logger),
                                        verdicts: registryURL.map { url -> VerdictSink in
                                            { RegistryPost.send($0, path: WirePath.verdicts, to: url, identity: identity, logger: logger) }
                                        },
                                        logger: logger)
        let journal = try SubmitJournal.open(forOutput: URL(fileURLWithPath: output), logger: logger)
        dispatcher.journal = journal
        defer { journal.close() }
        options.workers = min(64, max(1, dispatcher.totalSessions))
        options.taskExecutor = dispatcher.executor
        logger.info("submitting \(input) as \(identity.publicIdentity) to \(ranked.count) farmer(s) with \(dispatcher.totalSessions) sessions")
        let report: TranscodeReport
        do {
            report = try LadderTranscoder(input: input, output: URL(fileURLWithPath: output), options: options, logger: logger).run()
        } catch let error as SubmitError {
            throw CommandFailure(exitCode: 1, message: error.description)
        }
        journal.discard()
        var summary = dispatcher.summary
        for index in summary.farmers.indices { summary.farmers[index].claims = claimsByURL[summary.farmers[index].url] ?? nil }
        if summary.resumed > 0 { logger.info("resumed: \(summary.resumed) segments came from the interrupted run's journal") }
        logger.info("\(output)/master.m3u8: \(report.segments.count) segments accepted after \(summary.retried) retries")
        if outputFlags.json {
            let result = SubmitSummary(segments: report.segments.count, renditions: report.renditions.count, accepted: summary.accepted,
                                       retried: summary.retried, resumed: summary.resumed, networkSeconds: summary.networkSeconds,
                                       verifySeconds: summary.verifySeconds, bytesUp: summary.bytesUp, bytesDown: summary.bytesDown, farmers: summary.farmers, rejections: summary.rejections,
                                       challenges: challenges, master: "\(output)/master.m3u8")
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        }
    }

    /// Every returned rendition goes through the full verifier against its source segment.
    static func judge(logger: Logger) -> RenditionJudge {
        { source, rendition, rung, codec in
            var request = VerificationRequest(source: source, rendition: rendition)
            request.width = rung.width
            request.height = rung.height
            request.bitrate = rung.bitrate
            request.codec = codec.rawValue
            let (result, _) = try SegmentVerifier(request: request, logger: logger).run()
            return RenditionJudgement(accepted: result.verdict == "accept", reasons: result.reasons.map(\.code))
        }
    }

    static func farmersFromRegistry(_ registry: String, logger: Logger) throws -> [ListedFarmer] {
        guard let url = URL(string: registry.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + WirePath.farmers),
              let data = try? Data(contentsOf: url) else {
            throw CommandFailure.badInput("cannot reach registry \(registry)")
        }
        guard let list = try? JSONDecoder().decode(FarmerList.self, from: data) else {
            throw CommandFailure.badInput("\(registry) did not answer with a farmer list")
        }
        return list.farmers.map { ListedFarmer(url: $0.url, claims: $0.reputation.claims,
                                               lastChallenged: $0.lastChallengedAt.map { Date(timeIntervalSince1970: TimeInterval($0)) }) }
    }

    /// Challenges the farmers `schedule` finds due (as `prism challenge --registry` would), posting each result;
    /// returns the farmers with their claims brought up to date, less those that failed (unless none would remain).
    static func rechallenge(_ farmers: [(farmer: ListedFarmer, client: FarmerClient)], schedule: ChallengeSchedule, identity: SigningIdentity,
                            registry: String, logger: Logger) -> ([(farmer: ListedFarmer, client: FarmerClient)], [ChallengeOutcome]) {
        let due = schedule.pick(Array(farmers.indices), lastChallenged: { farmers[$0].farmer.lastChallenged })
        guard !due.isEmpty else { return (farmers, []) }
        logger.info("re-challenging \(due.map { farmers[$0].farmer.url }.joined(separator: ", ")) before the job")
        var updated = farmers, outcomes: [ChallengeOutcome] = [], failed: Set<Int> = []
        for index in due {
            let (farmer, client) = farmers[index]
            let id = client.announcement?.farmer.description ?? ""
            do {
                let report = try ChallengeCommand.challenge(client, identity: identity, registry: registry, logger: logger)
                updated[index].farmer.claims = report.passed ? .proven : .disproven
                if !report.passed { failed.insert(index) }
                outcomes.append(ChallengeOutcome(farmer: farmer.url, id: id, passed: report.passed, findings: report.findings, error: nil))
                let verdict = report.passed ? "passed" : "failed: \(report.findings.joined(separator: "; "))"
                if report.passed { logger.info("challenge of \(farmer.url) \(verdict)") } else { logger.warning("challenge of \(farmer.url) \(verdict)") }
            } catch let error as FarmerCallError {
                // Gone or refusing: no result to publish, and no farmer to send segments to.
                failed.insert(index)
                outcomes.append(ChallengeOutcome(farmer: farmer.url, id: id, passed: false, findings: [], error: error.description))
                logger.warning("challenge of \(farmer.url) could not run: \(error)")
            } catch {
                // Our side failed (making the clip, writing files): the farmer keeps the standing it had.
                outcomes.append(ChallengeOutcome(farmer: farmer.url, id: id, passed: false, findings: [], error: "\(error)"))
                logger.warning("challenge of \(farmer.url) could not run here: \(error)")
            }
        }
        let remaining = updated.indices.filter { !failed.contains($0) }.map { updated[$0] }
        if remaining.isEmpty {
            logger.warning("every farmer failed its challenge: using them anyway, as last resorts")
            return (updated, outcomes)
        }
        for index in failed.sorted() { logger.warning("leaving \(updated[index].farmer.url) out of this job: it failed its challenge") }
        return (remaining, outcomes)
    }
}

/// A farmer to send segments to, with what the registry says of its claims (nil: given with --farmers).
struct ListedFarmer {
    var url: String
    var claims: ClaimStatus?
    var lastChallenged: Date?

    /// Proven first, then unchallenged (or unknown), then disproven.
    var tier: Int {
        switch claims {
        case .proven: return 0
        case .unchallenged, nil: return 1
        case .disproven: return 2
        }
    }
}

/// One challenge `prism submit` ran before its job.
struct ChallengeOutcome: Encodable {
    /// The farmer's URL and identity.
    let farmer: String
    let id: String
    let passed: Bool
    let findings: [String]
    /// Why the challenge could not run, when it could not.
    let error: String?
}

/// The `--json` summary of a submit (DESIGN.md's shape).
struct SubmitSummary: Encodable {
    let segments: Int
    let renditions: Int
    let accepted: Int
    let retried: Int
    let resumed: Int
    let networkSeconds: Double
    let verifySeconds: Double
    let bytesUp: Int
    let bytesDown: Int
    let farmers: [DispatchSummary.FarmerTally]
    let rejections: [DispatchSummary.Rejection]
    let challenges: [ChallengeOutcome]
    let master: String
}
