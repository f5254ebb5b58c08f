import Foundation
import Media
import Transcode
import Wire

/// The work a challenge sends, shared by the challenger and by the farmer measuring its own claim, so that the
/// claim and the measurement are the same quantity.
public enum ChallengeWork {
    /// The challenge's ladder for a clip of `height` lines: up to three standard rungs no taller than it.
    public static func ladder(height: Int) -> [LadderRung] { Array(Ladder.standardRungs.filter { $0.height <= height }.prefix(3)) }

    /// A 16:9 width for `height`, as the challenge's clips and rungs have.
    public static func width(height: Int) -> Int { LadderRung(height: height, bitrate: 1).width(forSourceWidth: 16, sourceHeight: 9) }

    /// Work in 720p-frame equivalents per source frame: the unit throughput is claimed and measured in.
    public static func pixelWork(_ ladder: [LadderRung]) -> Double {
        ladder.reduce(0.0) { $0 + Double($1.height * $1.height) } / Double(720 * 720)
    }

    /// Writes a camera-like clip from `seed` as a high-quality mezzanine segment; returns its frame count.
    public static func writeClip(height: Int, seconds: Double, seed: UInt64, to path: String) throws -> Int {
        let width = width(height: height)
        let clip = try SyntheticClip(width: width, height: height, frameRate: 30, seconds: seconds, seed: seed)
        return try MezzanineWriter(width: width, height: height, timeBase: Rational(num: 1, den: 30), frameRate: Rational(num: 30, den: 1))
            .write(to: path, frames: clip.next, onFrame: {})
    }
}

/// What a farmer claims as its throughput: one challenge-shaped task (a 2 s 480p clip, the challenge's three
/// rungs) run through its own executor — sandbox start, decode, encode and mux included — timed end to end,
/// in 720p-equivalent frames per second. A challenge measures the same thing plus the transfer.
public enum TaskThroughput {
    public static let clipHeight = 480
    public static let clipSeconds = 2.0

    public static func measure(executor: SegmentTaskExecutor) throws -> Double {
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("prism-throughput-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work.appendingPathComponent("out"), withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }
        let source = work.appendingPathComponent("source.media").path
        _ = try ChallengeWork.writeClip(height: clipHeight, seconds: clipSeconds, seed: UInt64.random(in: 0...UInt64.max), to: source)
        let ladder = ChallengeWork.ladder(height: clipHeight)
        let rungs = ladder.map { TranscodeTask.Rung(name: $0.name, width: ChallengeWork.width(height: $0.height), height: $0.height, bitrate: $0.bitrate) }
        let task = TranscodeTask(index: 0, source: source, rungs: rungs, codec: .h264, preset: "veryfast", encoder: .software,
                                         frameRate: Rational(num: 30, den: 1), output: work.appendingPathComponent("out").path)
        let started = Date()
        let result = try executor(task)
        let seconds = max(Date().timeIntervalSince(started), 1e-3)
        return Double(result.frames) * ChallengeWork.pixelWork(ladder) / seconds
    }
}

/// A farmer's claims: the encoders that really open here, the task throughput it measured on itself, and the
/// sessions a short bench says it can run at once.
public enum FarmerClaims {
    /// `inflation` multiplies the measured throughput (1 for an honest farmer; the `overclaim` and
    /// `inflate-throughput` test aids lie by 4 and 2), and `extraEncoders` are claimed without being there.
    /// `throughput`, when given, is taken as measured (a test aid: an honest farmer whose claim does not depend on
    /// how loaded the machine was when it started).
    public static func measure(executor: SegmentTaskExecutor, sessions: Int?, inflation: Double = 1, extraEncoders: [String] = [],
                               throughput: Double? = nil, price: Price = .free, version: String) throws -> FarmerCapabilities {
        var bench = HostBenchmark()
        bench.segmentSeconds = 1
        bench.rungs = [LadderRung(height: 720, bitrate: 3_000_000)]
        bench.encoders = ["libx264"]
        bench.maximumSessions = sessions == nil ? 4 : 1
        let measuredSessions = sessions == nil ? max(1, try bench.run().sessions?.capacity ?? 1) : 1
        let encoders = EncoderFamily.allCases.flatMap { family in
            VideoCodec.allCases.compactMap { codec -> String? in
                guard let name = family.encoderName(for: codec) else { return nil }
                if family == .software { return name }
                if case .success = EncoderSelection.openSession(family: family, codec: codec) { return name }
                return nil
            }
        }
        let fps = try (throughput ?? TaskThroughput.measure(executor: executor)) * inflation
        return FarmerCapabilities(encoders: encoders + extraEncoders, framesPerSecond: fps, sessions: sessions ?? measuredSessions,
                                  price: price, version: version)
    }
}
