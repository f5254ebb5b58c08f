import ArgumentParser
import Foundation
import Media
import Transcode
import Verify

struct VerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Check a returned rendition against its source: structure, integrity and quality.",
        discussion: """
        RENDITION is a segment file or a media playlist (.m3u8); SOURCE the source segment or file. Frames are \
        aligned by time from each stream's first frame. By default a few frames are compared, at positions drawn \
        from the system's CSPRNG (--seed makes them repeatable), plus frames whose packet sizes look wrong; \
        --full compares every frame.

        Exit codes: 0 accepted, 1 rejected (reasons on stderr, or in the JSON), 2 the rendition could not be \
        checked (unreadable input, no frames, another aspect ratio, a source shorter than the rendition).

        Example: prism verify --source seg3.mp4 --rendition out/720p/index.m3u8 --width 1280 --height 720 \
        --bitrate 3000k --codec h264 --report seg3.html
        """)

    @Option(help: "The source video (segment or whole file).")
    var source: String

    @Option(help: "The rendition to check: a segment or a media playlist.")
    var rendition: String

    @Option(help: "Asked width in pixels.")
    var width: Int?

    @Option(help: "Asked height in pixels.")
    var height: Int?

    @Option(help: "Asked video bitrate (3000000, 3000k or 3M).")
    var bitrate: String?

    @Option(help: "Asked codec: h264, hevc, av1 or vp9.")
    var codec: String?

    @Flag(help: "Compare every frame instead of samples.")
    var full = false

    @Option(help: "Random frames to compare (default \(VerificationRequest.defaultSamples)); packet-size suspects and the fingerprint frames are compared too.")
    var samples: Int?

    @Option(help: "Seed for repeatable sample positions (default: unpredictable).")
    var seed: UInt64?

    @Option(help: "Write a self-contained HTML report here.")
    var report: String?

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    @Flag(name: .shortAndLong, help: "Log details, FFmpeg's warnings included.")
    var verbose = false

    func validate() throws {
        if full && samples != nil { throw ValidationError("--full and --samples exclude each other") }
        if let samples, samples < 1 { throw ValidationError("--samples must be at least 1") }
        if let width, width < 1 { throw ValidationError("--width must be positive") }
        if let height, height < 1 { throw ValidationError("--height must be positive") }
    }

    func run() throws {
        let logger = CLILogging.bootstrap(verbose: verbose, quiet: !verbose)
        FFmpegLibrary.setLogLevel(verbose: verbose)
        var request = VerificationRequest(source: source, rendition: rendition)
        request.width = width
        request.height = height
        if let bitrate {
            do { request.bitrate = try Bitrate.parse(bitrate) } catch { throw CommandFailure.badInput("--bitrate: cannot read '\(bitrate)' (write 3000000, 3000k or 3M)") }
        }
        request.codec = codec
        request.sampling = full ? .full : .samples(samples ?? VerificationRequest.defaultSamples)
        request.seed = seed
        request.keepReportData = report != nil
        let (result, data) = try SegmentVerifier(request: request, logger: logger).run()
        if let report {
            let page = VerificationReportPage.html(result: result, data: data, source: source, rendition: rendition)
            do { try page.write(toFile: report, atomically: true, encoding: .utf8) } catch {
                throw CommandFailure.badInput("cannot write report \(report): \(error.localizedDescription)")
            }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            print(String(decoding: try encoder.encode(result), as: UTF8.self))
        } else {
            print("\(result.verdict.rawValue)\(result.reasons.isEmpty ? "" : ": " + result.reasons.map(\.code.rawValue).joined(separator: ", "))")
            for reason in result.reasons { print("  \(reason.code.rawValue): \(reason.message)") }
        }
        if !result.accepted { throw ExitCode(1) }
    }
}
