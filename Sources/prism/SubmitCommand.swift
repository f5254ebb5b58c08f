import ArgumentParser
import FarmClient
import Foundation
import Honesty
import Logging
import Media
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
        Cuts INPUT into segments without decoding it: at its own keyframes when they come at least every \
        max(2 × --segment-seconds, 3 s), each segment sent as exactly its own packets; otherwise every \
        --segment-seconds, each sent as the packets from the keyframe before it with the frames to encode named, \
        or as a high-quality mezzanine when that is fewer bytes. Audio stays here. Each segment goes to a farmer \
        with a free session (from --farmers, or the registry's list best first); the signed receipt, the output \
        hashes and each rendition's structure are always checked, and its pixels with `prism verify`'s engine for \
        the share of segments --audit-rate draws at random (all of them for farmers not proven). A rejected, \
        failed or stalled segment moves to another farmer; a farmer that fails an audit is dropped and its other \
        segments are verified in full and redone where they fail. The ladder is written as `prism transcode` writes it.

        With --registry, farmers whose claims were proven get segments first, unchallenged ones next, and \
        those whose claims were disproven only when no other farmer is left. Before the job, each farmer \
        whose latest challenge is older than an interval drawn at random (exponential, mean \
        --rechallenge-mean) is challenged as `prism challenge` does it, at most --rechallenge-limit of them; \
        results go to the registry, and a farmer that fails is left out of the job unless no other remains.

        --json prints {"segments", "renditions", "accepted", "retried", "bytesUp", "bytesDown", "verifySeconds", \
        "cpuSeconds", "audit", "cutting", "farmers": [...], "rejections": [...], "challenges": [{"farmer", "id", "passed", "findings"}]}.
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

    @OptionGroup var outputFlags: OutputFlags

    func run() throws {
        let logger = CLILogging.bootstrap(verbose: outputFlags.verbose, quiet: outputFlags.quiet)
        FFmpegLibrary.setLogLevel(verbose: outputFlags.verbose)
        guard farmers != nil || registry != nil else { throw CommandFailure.badInput("give --farmers URL,... or --registry URL") }
        guard taskTimeout > 0 else { throw CommandFailure.badInput("--task-timeout must be positive") }
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
        let cpuAtStart = processCPUSeconds()
        let identity = try KeyFileOption.load(key)
        var options = try ladderOptions.transcodeOptions()
        options.encoder = .software
        _ = try PresetScale.options(for: options.preset, encoder: options.codec.softwareEncoder, codec: options.codec)

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
        let challenges = roster.challenges
        if registry != nil && farmers == nil {
            logger.info("farmers by claims: \(ranked.map { "\($0.farmer.url) \($0.farmer.claims?.rawValue ?? "unknown")" }.joined(separator: ", "))")
        }
        let claimsByURL = Dictionary(ranked.map { ($0.client.baseURL, $0.farmer.claims?.rawValue) }, uniquingKeysWith: { first, _ in first })
        let verdictSink: VerdictSink? = registry.map { url in
            { verdict in
                try? FarmHTTP.wait { await RegistryClient(baseURL: url).postLogged(verdict, path: WirePath.verdicts, identity: identity, logger: logger) }
            }
        }
        let claimsOf = Dictionary(ranked.map { (ObjectIdentifier($0.client), $0.farmer.claims) }, uniquingKeysWith: { first, _ in first })
        let dispatcher = FarmDispatcher(farmers: ranked.filter { $0.farmer.claims != .disproven }.map(\.client),
                                        lastResort: ranked.filter { $0.farmer.claims == .disproven }.map(\.client),
                                        identity: identity, judge: SegmentVerifier.judge(logger: logger),
                                        auditRate: { policy.rate(claims: claimsOf[ObjectIdentifier($0)] ?? nil) },
                                        verdicts: verdictSink, logger: logger)
        defer { dispatcher.close() }
        dispatcher.auditSeed = seedValue
        dispatcher.maxPrice = ceiling
        let replacement = SegmentReplacement()
        dispatcher.replacement = replacement
        options.segmentReplacement = replacement
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
                                       verifySeconds: summary.verifySeconds, cpuSeconds: processCPUSeconds() - cpuAtStart,
                                       bytesUp: summary.bytesUp, bytesDown: summary.bytesDown,
                                       audit: .init(mode: audit, rate: policy.fixedRate, screened: summary.screened, redone: summary.redone),
                                       cutting: report.cutting, farmers: summary.farmers, rejections: summary.rejections,
                                       challenges: challenges, maxPrice: ceiling, spent: summary.farmers.reduce(0) { $0 + $1.owed },
                                       master: "\(output)/master.m3u8")
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        }
    }

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
    /// CPU seconds (user + system) this submit process used, start to finish.
    let cpuSeconds: Double
    let bytesUp: Int
    let bytesDown: Int
    /// How pixels were audited: the mode, the rate asked for every farmer (nil: by standing, each farmer's rate in
    /// `farmers`), segments accepted on the cheap checks alone, segments redone after their farmer was caught.
    struct Audit: Encodable {
        let mode: String
        let rate: Double?
        let screened: Int
        let redone: Int
    }
    let audit: Audit
    /// How the source was cut: keyframes or nominal, segments by carriage, bytes of source video and sent.
    let cutting: TranscodeReport.Cutting?
    let farmers: [DispatchSummary.FarmerTally]
    let rejections: [DispatchSummary.Rejection]
    let challenges: [ChallengeOutcome]
    /// The price ceiling asked for (microcredits per megapixel; absent: none), and what the accepted segments cost in
    /// microcredits at the prices in their receipts (the sum of the farmers' `owed`).
    let maxPrice: Price?
    let spent: Int64
    let master: String
}
