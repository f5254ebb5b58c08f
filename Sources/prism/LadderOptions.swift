import ArgumentParser
import Foundation
import Transcode
import Wire

/// The ladder options `prism transcode` and `prism submit` share.
struct LadderOptions: ParsableArguments {
    @Option(help: "Rungs, e.g. 720p@3000k,480p,360p.")
    var ladder: String?

    @Option(help: "h264, hevc, av1 or vp9.")
    var codec: String = "h264"

    @Option(help: "Speed/quality: ultrafast … veryslow (mapped onto each encoder's scale), or the encoder's own value.")
    var preset: String = PresetScale.defaultName

    @Option(help: "Segment length in seconds.")
    var segmentSeconds: Double = 2

    /// The options as a job, with every value checked (bad ones throw the one-line errors).
    func transcodeOptions() throws -> TranscodeOptions {
        var options = TranscodeOptions()
        options.ladder = try ladder.map(Ladder.parse)
        options.codec = try VideoCodec.parse(codec)
        options.preset = preset
        options.segmentSeconds = segmentSeconds
        return options
    }
}

/// Reads an identity from a key file made by `prism keys generate`, or a fresh one when none is given.
enum KeyFileOption {
    static func load(_ path: String?) throws -> SigningIdentity {
        guard let path else { return SigningIdentity() }
        guard let data = FileManager.default.contents(atPath: path) else { throw CommandFailure.badInput("cannot read key file \(path)") }
        return try KeyFile.decode(data)
    }
}

/// `--json`, `-v` and `-q`, as every job-running command spells them.
struct OutputFlags: ParsableArguments {
    @Flag(help: "Print one JSON summary on stdout.")
    var json = false

    @Flag(name: .shortAndLong, help: "Log details, FFmpeg's warnings included.")
    var verbose = false

    @Flag(name: .shortAndLong, help: "Log only warnings and errors.")
    var quiet = false
}
