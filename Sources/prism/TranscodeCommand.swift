import ArgumentParser
import Foundation
import Media
import Transcode

struct TranscodeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "transcode",
        abstract: "Transcode a video into an HLS adaptive-bitrate ladder on this machine.",
        discussion: """
        Writes OUTDIR/master.m3u8, one media playlist and its segments per rung (OUTDIR/720p/...), an AAC \
        rendition (OUTDIR/audio/) when the source has audio, and OUTDIR/report.json. The folder appears only \
        when the whole ladder is complete.

        Ladder rungs are HEIGHTp with an optional @BITRATE (3000000, 3000k or 3M); the width keeps the \
        source's aspect, rounded to even. Default: 1080p@5000k, 720p@3000k, 480p@1600k, 360p@800k, \
        240p@250k, those no taller than the source.

        Example: prism transcode talk.mp4 -o talk-hls --ladder 720p@3000k,480p,360p --codec h264
        """)

    @Argument(help: "The video to transcode.")
    var input: String

    @Option(name: .shortAndLong, help: "Output folder (created; an earlier Prism output there is replaced).")
    var output: String

    @OptionGroup var ladderOptions: LadderOptions

    @Option(help: "auto (hardware if a session opens, else software), software, nvenc, vaapi or qsv.")
    var encoder: String = "auto"

    @Option(help: "Segments encoded at once, each into every rung (default: one per core, fewer for ladders whose encoders would hold more than about 512 MiB of pictures; the cores are shared out as encoder threads).")
    var workers: Int?

    @Option(help: "none: encode in this process; plain: run each segment as a task in the plain sandbox.")
    var sandbox: String = "none"

    @Option(help: "Passes over each segment with x264: 2 (an analysis pass, then the encode that spends the segment's bits where it found them needed) or 1 (faster, lower quality at the same bitrate).")
    var passes: Int = 2

    @OptionGroup var outputFlags: OutputFlags

    func run() throws {
        let logger = CLILogging.bootstrap(verbose: outputFlags.verbose, quiet: outputFlags.quiet)
        FFmpegLibrary.setLogLevel(verbose: outputFlags.verbose)
        var options = try ladderOptions.transcodeOptions()
        options.encoder = try EncoderPreference.parse(encoder)
        options.workers = workers
        options.passes = passes
        switch sandbox {
        case "none": break
        case "plain":
            options.taskExecutor = try SandboxTaskExecutor.make()
            logger.info("each segment is cut to a lossless mezzanine and transcoded by a task in the plain sandbox")
        default: throw CommandFailure.badInput("unknown sandbox '\(sandbox)': choose none or plain")
        }
        var progress: (@Sendable (TranscodeProgress) -> Void)?
        if ProgressLine.shared.enabled {
            progress = { @Sendable step in ProgressLine.shared.update(TranscodeCommand.describe(step)) }
        }
        let transcoder = LadderTranscoder(input: input, output: URL(fileURLWithPath: output), options: options, logger: logger, progress: progress)
        let report = try transcoder.run()
        ProgressLine.shared.interrupt()
        let speed = report.wallSeconds > 0 ? report.source.durationSeconds / report.wallSeconds : 0
        logger.info("\(output)/master.m3u8: \(report.renditions.map(\.name).joined(separator: ", ")), \(report.segments.count) segments, \(report.source.frames) frames per rung, \(String(format: "%.2f", report.wallSeconds)) s (\(String(format: "%.2f", speed))x realtime)")
        if outputFlags.json {
            let summary = TranscodeSummary(output: output, report: report)
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        }
    }

    static func describe(_ progress: TranscodeProgress) -> String {
        let fps = progress.elapsedSeconds > 0 ? Double(progress.framesDone) / progress.elapsedSeconds : 0
        let speed = progress.elapsedSeconds > 0 ? progress.mediaSecondsDone / progress.elapsedSeconds : 0
        var eta = "--:--"
        if let total = progress.mediaSecondsExpected, speed > 0 {
            let left = max(0, (total - progress.mediaSecondsDone) / speed)
            eta = String(format: "%02d:%02d", Int(left) / 60, Int(left) % 60)
        }
        return String(format: "frame=%6d fps=%5.1f time=%@ speed=%.2fx eta %@", progress.framesDone, fps,
                      timecode(progress.mediaSecondsDone), speed, eta)
    }

    static func timecode(_ seconds: Double) -> String {
        let whole = Int(seconds)
        return String(format: "%02d:%02d:%02d.%02d", whole / 3600, whole / 60 % 60, whole % 60, Int((seconds - Double(whole)) * 100))
    }
}

/// The `--json` summary of a transcode.
struct TranscodeSummary: Encodable {
    struct Rung: Encodable {
        let name: String, width: Int, height: Int, bitrate: Int, frames: Int, bytes: Int, averageBitrate: Int, playlist: String
    }
    let output: String
    let master: String
    let segments: Int
    let sourceFrames: Int
    let durationSeconds: Double
    let encoder: String
    let fallbackReason: String?
    let renditions: [Rung]
    let audio: Bool
    let wallSeconds: Double
    let cpuSeconds: Double

    init(output: String, report: TranscodeReport) {
        self.output = output
        master = "\(output)/master.m3u8"
        segments = report.segments.count
        sourceFrames = report.source.frames
        durationSeconds = report.source.durationSeconds
        encoder = report.encoding.encoder
        fallbackReason = report.encoding.fallbackReason
        renditions = report.renditions.map { Rung(name: $0.name, width: $0.width, height: $0.height, bitrate: $0.bitrate, frames: $0.frames,
                                                  bytes: $0.bytes, averageBitrate: $0.averageBitrate, playlist: $0.playlist) }
        audio = report.audio != nil
        wallSeconds = report.wallSeconds
        cpuSeconds = report.cpuSeconds
    }
}
