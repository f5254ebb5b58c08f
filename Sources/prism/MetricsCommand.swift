import ArgumentParser
import Foundation
import Media
import Verify

struct MetricsCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "metrics",
        abstract: "Full-reference PSNR and SSIM of a distorted video against its reference.",
        discussion: """
        The numbers are those of FFmpeg's psnr and ssim filters (same windows, constants and averaging), so \
        `prism metrics --reference REF --distorted DIST` agrees with \
        `ffmpeg -i DIST -i REF -lavfi "[0][1]ssim;[0][1]psnr" -f null -`. Both videos must have the same size; \
        frames are paired in order.
        """)

    @Option(help: "The original video.")
    var reference: String

    @Option(help: "The video to measure against it.")
    var distorted: String

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    @Flag(name: .shortAndLong, help: "Log details, FFmpeg's warnings included.")
    var verbose = false

    func run() throws {
        _ = CLILogging.bootstrap(verbose: verbose, quiet: !verbose)
        FFmpegLibrary.setLogLevel(verbose: verbose)
        let accumulator = try VideoComparison(reference: reference, distorted: distorted).run()
        guard let summary = accumulator.summary else { throw CommandFailure.badInput("\(distorted) has no frames to compare") }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            encoder.nonConformingFloatEncodingStrategy = .convertToString(positiveInfinity: "inf", negativeInfinity: "-inf", nan: "nan")
            print(String(decoding: try encoder.encode(summary), as: UTF8.self))
        } else {
            let p = summary.psnr, s = summary.ssim
            print(String(format: "SSIM Y:%.6f U:%.6f V:%.6f All:%.6f", s.y, s.u, s.v, s.all))
            print(String(format: "PSNR y:%.6f u:%.6f v:%.6f average:%.6f min:%.6f max:%.6f", p.y, p.u, p.v, p.average, p.min, p.max))
            print("frames: \(summary.frames)")
        }
    }
}
