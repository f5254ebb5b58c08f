import ArgumentParser
import Foundation
import Live
import Logging
import Media
import Registry
import Submitter
import Transcode

/// `prism live`: a live input to a verified live HLS ladder.
struct LiveCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "live",
        abstract: "Transcode a live stream (RTMP or SRT push, HTTP/HLS pull, or a file) into a live HLS ladder, here or on farmers.",
        discussion: """
        --input rtmp://HOST:PORT/APP/KEY listens for a broadcaster's push (ffmpeg -re -i clip.mp4 -c copy -f flv \
        rtmp://127.0.0.1:1935/live/key); srt://HOST:PORT is an SRT listener; an http(s):// URL (an HLS playlist or a \
        stream) is pulled; a file is read as fast as it decodes, or at its own pace with --realtime.

        Segments are cut as the stream arrives, at the source's keyframes once a segment is --segment-seconds long \
        (every --segment-seconds, primed from the keyframe before, when keyframes are further apart than \
        max(2 × --segment-seconds, 3 s)). Each goes to a farmer when --farmers or --registry is given — verified as \
        `prism submit` verifies, and redone here when the farm has not delivered a verified segment within half of \
        --deadline — or is encoded here. A segment is appended to every rung's playlist only once accepted, in order; \
        one with no verified rendition by --deadline seconds after its last frame arrived becomes an EXT-X-GAP and the \
        stream goes on.

        OUTDIR (new or empty) holds master.m3u8, one live playlist per rung (the last --window segments with \
        EXT-X-MEDIA-SEQUENCE; --window 0 keeps all as an EVENT playlist), audio/ (AAC), and live.json at the end. \
        A broadcaster that drops may push again within --reconnect-wait seconds: the playlists get a discontinuity, \
        and a new picture size reshapes the rungs. When the input ends (or on SIGINT/SIGTERM), every playlist gets \
        EXT-X-ENDLIST and the command exits 0.

        --json prints one line per published segment, {"event":"segment","index","period","frames", \
        "durationSeconds","latencySeconds","encodedBy","gap","note"}, then {"event":"end", ...live.json's summary}.
        """)

    @Option(help: ArgumentHelp("rtmp://HOST:PORT/APP/KEY or srt://HOST:PORT (listen), http(s)://… (pull), or a file.", valueName: "url"))
    var input: String

    @Option(name: .shortAndLong, help: "Output folder (new or empty).")
    var output: String

    @OptionGroup var ladderOptions: LadderOptions

    @OptionGroup var farm: FarmOptions

    @Option(help: "Segments each live playlist lists; 0 keeps every segment (an EVENT playlist).")
    var window: Int = 6

    @Option(help: ArgumentHelp("Seconds after a segment's last frame arrived by which it must be published, else it is a gap (default 3 × --segment-seconds + 4).",
                               valueName: "seconds"))
    var deadline: Double?

    @Flag(help: "Read a file input at its own pace (as ffmpeg -re does), not as fast as it decodes.")
    var realtime = false

    @Option(help: ArgumentHelp("Serve OUTDIR over HTTP at HOST:PORT while the stream runs (ffplay http://HOST:PORT/master.m3u8).", valueName: "host:port"))
    var serve: String?

    @Option(help: ArgumentHelp("With --serve: seconds to go on serving after the stream ended, so players behind the live edge reach its end (SIGINT stops sooner).",
                               valueName: "seconds"))
    var serveLinger: Double = 20

    @Option(help: ArgumentHelp("Seconds to wait for the first broadcaster (default: as long as it takes).", valueName: "seconds"))
    var connectTimeout: Double?

    @Option(help: ArgumentHelp("Seconds to wait for a dropped broadcaster to push again before the stream ends.", valueName: "seconds"))
    var reconnectWait: Double = 10

    @Option(help: ArgumentHelp("Seconds without a packet before a connected input counts as dropped.", valueName: "seconds"))
    var stallTimeout: Double = 10

    @OptionGroup var outputFlags: OutputFlags

    func run() throws {
        let logger = CLILogging.bootstrap(verbose: outputFlags.verbose, quiet: outputFlags.quiet)
        FFmpegLibrary.setLogLevel(verbose: outputFlags.verbose)
        let ladder = try ladderOptions.transcodeOptions()
        var options = LiveOptions()
        options.ladder = ladder.ladder
        options.codec = ladder.codec
        options.preset = ladder.preset
        options.segmentSeconds = ladder.segmentSeconds
        options.window = window
        options.deadlineSeconds = deadline
        options.connectTimeout = connectTimeout
        options.reconnectWait = reconnectWait
        options.stallTimeout = stallTimeout
        try options.validate()
        guard serveLinger.isFinite, (0...3600).contains(serveLinger) else { throw CommandFailure.badInput("--serve-linger must be 0 to 3600 seconds") }
        if realtime && input.contains("://") { throw CommandFailure.badInput("--realtime paces a file input; a stream comes at its own pace") }
        let source = try LiveSource(parsing: input, realtime: realtime)
        let serveAddress = try serve.map { text -> ListenAddress in
            do { return try ListenAddress(parsing: text) } catch { throw CommandFailure.badInput(String(describing: error).replacingOccurrences(of: "--listen", with: "--serve")) }
        }

        var dispatcher: FarmDispatcher?
        if farm.wanted {
            let connection = try farm.connect(taskTimeout: options.deadline, logger: logger)
            let farmDispatcher = connection.dispatcher
            // One other farmer at most before the segment is redone here: the deadline leaves no room for more.
            farmDispatcher.maximumAttempts = 2
            let replacement = SegmentReplacement()
            farmDispatcher.replacement = replacement
            options.segmentReplacement = replacement
            options.farm = farmDispatcher.executor
            // A thread per session, and two more so a segment redone here does not hold up the next farm call.
            options.workers = min(64, farmDispatcher.totalSessions + 2)
            dispatcher = farmDispatcher
            logger.info("live segments go to \(connection.farmerCount) farmer(s) with \(farmDispatcher.totalSessions) sessions, as \(connection.identity.publicIdentity)")
        }
        defer { dispatcher?.close() }

        let json = outputFlags.json
        let lines = JSONEncoder()
        lines.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let transcoder = LiveTranscoder(source: source, output: URL(fileURLWithPath: output), options: options, logger: logger) { record in
            if record.gap {
                logger.info("segment \(record.index): gap (\(record.note ?? ""))")
            } else {
                logger.info("segment \(record.index): \(record.frames) frames, \(String(format: "%.2f", record.durationSeconds)) s, published \(String(format: "%.2f", record.latencySeconds)) s after its last frame arrived (\(record.encodedBy ?? ""))")
            }
            if json, let data = try? lines.encode(LiveEventLine(event: "segment", body: record)) { print(String(decoding: data, as: UTF8.self)); StandardOutput.flush() }
        }
        let signalled = DispatchSemaphore(value: 0)
        let signals = [SIGINT, SIGTERM].map { number -> DispatchSourceSignal in
            signal(number, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: number, queue: .global())
            source.setEventHandler {
                logger.notice("signal \(number): ending the stream")
                transcoder.stop()
                signalled.signal()
            }
            source.resume()
            return source
        }
        defer { signals.forEach { $0.cancel() } }
        if let serveAddress {
            // The folder must exist before the server starts; the transcoder takes an empty one.
            try? FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            let port: Int
            do {
                port = try PlaylistServer.start(root: URL(fileURLWithPath: output), host: serveAddress.host, port: serveAddress.port, logger: logger)
            } catch { throw CommandFailure.badInput("\(error)") }
            logger.notice("serving \(output) at http://\(serveAddress.host):\(port)/master.m3u8")
        }
        let report = try transcoder.run()
        if let dispatcher {
            let summary = dispatcher.summary
            logger.info("farm: \(summary.accepted) segments accepted, \(summary.rejections.count) rejected, \(summary.retried) retried")
        }
        let median = report.latency.map { String(format: "%.2f s", $0.median) } ?? "none"
        logger.info("\(output)/master.m3u8: \(report.published) segments published, \(report.gaps) gaps, \(report.frames) frames; latency median \(median)")
        if json {
            var end = report
            end.records = []
            if let data = try? lines.encode(LiveEventLine(event: "end", body: end, farmers: dispatcher?.summary.farmers,
                                                         rejections: dispatcher?.summary.rejections)) {
                print(String(decoding: data, as: UTF8.self))
            }
        }
        if serveAddress != nil && serveLinger > 0 {
            logger.notice("the stream has ended; serving \(output) \(Int(serveLinger)) s more so players reach its end")
            _ = signalled.wait(timeout: .now() + serveLinger)
        }
    }
}

/// One `--json` line: `event` beside the fields of `body` (a published segment, or the run's summary), and with a
/// farm on the end line each farmer's tally and every rejection.
struct LiveEventLine<Body: Encodable>: Encodable {
    let event: String
    let body: Body
    var farmers: [DispatchSummary.FarmerTally]?
    var rejections: [DispatchSummary.Rejection]?

    func encode(to encoder: Swift.Encoder) throws {
        try body.encode(to: encoder)
        var container = encoder.container(keyedBy: Key.self)
        try container.encode(event, forKey: .event)
        try container.encodeIfPresent(farmers, forKey: .farmers)
        try container.encodeIfPresent(rejections, forKey: .rejections)
    }
    enum Key: String, CodingKey { case event, farmers, rejections }
}
