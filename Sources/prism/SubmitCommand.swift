import ArgumentParser
import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
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
        ladder is written exactly as `prism transcode` writes it. --json prints {"segments", "renditions", \
        "accepted", "retried", "farmers": [...], "rejections": [...]}.
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

    @OptionGroup var outputFlags: OutputFlags

    func run() throws {
        let logger = CLILogging.bootstrap(verbose: outputFlags.verbose, quiet: outputFlags.quiet)
        FFmpegLibrary.setLogLevel(verbose: outputFlags.verbose)
        guard farmers != nil || registry != nil else { throw CommandFailure.badInput("give --farmers URL,... or --registry URL") }
        guard taskTimeout > 0 else { throw CommandFailure.badInput("--task-timeout must be positive") }
        let identity = try KeyFileOption.load(key)
        var options = try ladderOptions.transcodeOptions()
        options.encoder = .software
        _ = try PresetScale.options(for: options.preset, encoder: options.codec.softwareEncoder, codec: options.codec)

        let urls = try farmers.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
            ?? Self.farmersFromRegistry(registry!, logger: logger)
        var clients: [FarmerClient] = []
        for url in urls {
            let client = FarmerClient(baseURL: url, identity: identity, timeout: taskTimeout)
            do {
                let announcement = try client.capabilities()
                if let misbehave = announcement.misbehave { logger.warning("\(url) says it misbehaves on purpose (\(misbehave))") }
                clients.append(client)
            } catch {
                logger.warning("skipping farmer \(url): \(error)")
            }
        }
        guard !clients.isEmpty else { throw CommandFailure.badInput("no usable farmer among \(urls.joined(separator: ", "))") }
        let registryURL = registry
        let dispatcher = FarmDispatcher(farmers: clients, identity: identity, judge: Self.judge(logger: logger),
                                        verdicts: registryURL.map { url in { RegistryPost.send($0, path: WirePath.verdicts, to: url, identity: identity, logger: logger) } },
                                        logger: logger)
        let journal = try SubmitJournal.open(forOutput: URL(fileURLWithPath: output), logger: logger)
        dispatcher.journal = journal
        defer { journal.close() }
        options.workers = min(64, max(1, dispatcher.totalSessions))
        options.taskExecutor = dispatcher.executor
        logger.info("submitting \(input) as \(identity.publicIdentity) to \(clients.count) farmer(s) with \(dispatcher.totalSessions) sessions")
        let report: TranscodeReport
        do {
            report = try LadderTranscoder(input: input, output: URL(fileURLWithPath: output), options: options, logger: logger).run()
        } catch let error as SubmitError {
            throw CommandFailure(exitCode: 1, message: error.description)
        }
        journal.discard()
        let summary = dispatcher.summary
        if summary.resumed > 0 { logger.info("resumed: \(summary.resumed) segments came from the interrupted run's journal") }
        logger.info("\(output)/master.m3u8: \(report.segments.count) segments accepted after \(summary.retried) retries")
        if outputFlags.json {
            let result = SubmitSummary(segments: report.segments.count, renditions: report.renditions.count, accepted: summary.accepted,
                                       retried: summary.retried, resumed: summary.resumed, networkSeconds: summary.networkSeconds,
                                       verifySeconds: summary.verifySeconds, bytesUp: summary.bytesUp, bytesDown: summary.bytesDown, farmers: summary.farmers, rejections: summary.rejections,
                                       master: "\(output)/master.m3u8")
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

    static func farmersFromRegistry(_ registry: String, logger: Logger) throws -> [String] {
        guard let url = URL(string: registry.trimmingCharacters(in: CharacterSet(charactersIn: "/")) + WirePath.farmers),
              let data = try? Data(contentsOf: url) else {
            throw CommandFailure.badInput("cannot reach registry \(registry)")
        }
        guard let list = try? JSONDecoder().decode(FarmerList.self, from: data) else {
            throw CommandFailure.badInput("\(registry) did not answer with a farmer list")
        }
        return list.farmers.map(\.url)
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
    let bytesUp: Int
    let bytesDown: Int
    let farmers: [DispatchSummary.FarmerTally]
    let rejections: [DispatchSummary.Rejection]
    let master: String
}
