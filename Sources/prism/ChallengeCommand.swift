import ArgumentParser
import FarmClient
import Foundation
import Honesty
import Logging
import Media
import Submitter
import Wire

/// `prism challenge FARMER_URL`: prove or disprove a farmer's claims.
struct ChallengeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "challenge",
        abstract: "Check a farmer's claims (encoder, throughput, bandwidth) with work it cannot predict.",
        discussion: """
        Makes a camera-like clip from a secret seed, sends it as an ordinary segment task (asking for the \
        hardware encoder the farmer claims, if any) with a deadline from its claimed throughput, times the \
        round trip, verifies every rendition, identifies the encoder from marks in the bitstream, and times \
        random payloads of secret sizes both ways. Exit 0 passed, 1 failed (findings name each lie), 2 the \
        farmer could not be reached. With --registry the result is posted there, signed.
        """)

    @Argument(help: "The farmer's URL.")
    var farmer: String

    @Option(help: "Challenger key file (default: a fresh identity).")
    var key: String?

    @Option(help: "Registry URL to post the signed result to.")
    var registry: String?

    @Option(help: "Seed for the clip, to reproduce a challenge (hex); default: random and secret.")
    var seed: String?

    @Option(help: ArgumentHelp("Widen the deadline by this factor (for looking at one claim at a time).", visibility: .hidden))
    var deadlineFactor: Double = 1

    @Flag(help: "Print one JSON object on stdout.")
    var json = false

    func run() throws {
        let logger = CLILogging.bootstrap(verbose: false, quiet: json)
        FFmpegLibrary.setLogLevel(verbose: false)
        let identity = try KeyFileOption.load(key)
        let client = FarmerClient(baseURL: farmer, identity: identity, timeout: 30)
        do { _ = try FarmHTTP.wait { try await client.capabilities() } } catch { throw CommandFailure.badInput("cannot reach farmer \(farmer): \(error)") }
        let seedValue = try seed.map { text -> UInt64 in
            guard let value = UInt64(text, radix: 16) else { throw CommandFailure.badInput("--seed must be hex") }
            return value
        }
        let report = try FarmerChallenge.challenge(client, identity: identity, registry: registry, logger: logger) { challenge in
            challenge.deadlineFactor = deadlineFactor
            if let seedValue { challenge.seed = seedValue }
        }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(report.passed ? "PASSED" : "FAILED", "\(report.claimed.farmer) at \(farmer)")
            print(String(format: "claimed: %@; %.1f fps at 720p; %d sessions", report.claimed.encoders.joined(separator: ","), report.claimed.framesPerSecond, report.claimed.sessions))
            print(String(format: "measured: %@ in the bitstream; round trip %.2f s (deadline %.1f s); up %.0f Mbit/s, down %.0f Mbit/s",
                         report.measured.encoderInBitstream ?? "no software mark", report.measured.roundTripSeconds ?? -1, report.measured.deadlineSeconds,
                         (report.measured.uploadBitsPerSecond ?? 0) / 1e6, (report.measured.downloadBitsPerSecond ?? 0) / 1e6))
            for finding in report.findings { print("finding: \(finding)") }
        }
        if !report.passed { throw ExitCode(1) }
    }
}
