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

    @OptionGroup var farm: FarmOptions

    @OptionGroup var ladderOptions: LadderOptions

    @Option(help: "Seconds a farmer may take for one segment before it counts as stalled.")
    var taskTimeout: Double = 120

    @OptionGroup var outputFlags: OutputFlags

    func run() throws {
        let logger = CLILogging.bootstrap(verbose: outputFlags.verbose, quiet: outputFlags.quiet)
        FFmpegLibrary.setLogLevel(verbose: outputFlags.verbose)
        guard farm.wanted else { throw CommandFailure.badInput("give --farmers URL,... or --registry URL") }
        guard taskTimeout > 0 else { throw CommandFailure.badInput("--task-timeout must be positive") }
        let cpuAtStart = processCPUSeconds()
        var options = try ladderOptions.transcodeOptions()
        options.encoder = .software
        _ = try PresetScale.options(for: options.preset, encoder: options.codec.softwareEncoder, codec: options.codec)
        let connection = try farm.connect(taskTimeout: taskTimeout, logger: logger)
        let dispatcher = connection.dispatcher
        defer { dispatcher.close() }
        let replacement = SegmentReplacement()
        dispatcher.replacement = replacement
        options.segmentReplacement = replacement
        let journal = try SubmitJournal.open(forOutput: URL(fileURLWithPath: output), logger: logger)
        dispatcher.journal = journal
        defer { journal.close() }
        options.workers = min(64, max(1, dispatcher.totalSessions))
        options.taskExecutor = dispatcher.executor
        logger.info("submitting \(input) as \(connection.identity.publicIdentity) to \(connection.farmerCount) farmer(s) with \(dispatcher.totalSessions) sessions")
        let report: TranscodeReport
        do {
            report = try LadderTranscoder(input: input, output: URL(fileURLWithPath: output), options: options, logger: logger).run()
        } catch let error as SubmitError {
            throw CommandFailure(exitCode: 1, message: error.description)
        }
        journal.discard()
        var summary = dispatcher.summary
        for index in summary.farmers.indices { summary.farmers[index].claims = connection.claimsByURL[summary.farmers[index].url] ?? nil }
        if summary.resumed > 0 { logger.info("resumed: \(summary.resumed) segments came from the interrupted run's journal") }
        logger.info("\(output)/master.m3u8: \(report.segments.count) segments accepted after \(summary.retried) retries")
        if outputFlags.json {
            let result = SubmitSummary(segments: report.segments.count, renditions: report.renditions.count, accepted: summary.accepted,
                                       retried: summary.retried, resumed: summary.resumed, networkSeconds: summary.networkSeconds,
                                       verifySeconds: summary.verifySeconds, cpuSeconds: processCPUSeconds() - cpuAtStart,
                                       bytesUp: summary.bytesUp, bytesDown: summary.bytesDown,
                                       audit: .init(mode: farm.audit, rate: connection.policy.fixedRate, screened: summary.screened, redone: summary.redone),
                                       cutting: report.cutting, farmers: summary.farmers, rejections: summary.rejections,
                                       challenges: connection.challenges, maxPrice: connection.ceiling, spent: summary.farmers.reduce(0) { $0 + $1.owed },
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
