import FarmClient
import Farmer
import Foundation
import Honesty
import Hummingbird
import HummingbirdTesting
import Logging
import PrismTestSupport
import Testing
import Transcode
import Verify
import Wire

/// A clock that moves only when the farmer's executor says work was done: the farmer really encodes, but it takes
/// exactly as long as a farmer of the injected throughput would, whatever else the test machine is doing.
final class WorkClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current = Date(timeIntervalSince1970: 1_800_000_000)
    var now: Date { lock.withLock { current } }
    func advance(_ seconds: TimeInterval) { lock.withLock { current += seconds } }
}

/// Challenges of in-process farmers (the real farmer service, on a real socket, encoding for real) whose true
/// throughput is injected and whose challenger times with the same clock, so every finding is asserted: the
/// honest farmer passes, and each lie is caught by the check meant for it.
@Suite(.serialized) struct InProcessChallengeTests {
    /// What the farmers really do per second, in 720p-frame equivalents (the unit of claims and challenges).
    static let trueThroughput = 2.0

    static let logger: Logger = {
        var logger = Logger(label: "in-process-challenge")
        logger.logLevel = .critical
        return logger
    }()

    /// Runs a farmer that claims `claimFactor` × its true throughput (and the extra encoders), challenges it once.
    static func challenge(misbehave: Misbehavior?, claimFactor: Double, extraEncoders: [String] = []) async throws -> ChallengeReport {
        let folder = try TemporaryFolder("in-process-challenge")
        defer { folder.remove() }
        let clock = WorkClock()
        let alteration = misbehave?.alteration
        let executor: SegmentTaskExecutor = { task in
            let result = try SegmentTaskRunner.run(task, alteration: alteration)
            let work = task.rungs.reduce(0.0) { $0 + Double($1.height * $1.height) } / Double(720 * 720)
            clock.advance(Double(result.frames) * work / trueThroughput)
            return result
        }
        let capabilities = FarmerCapabilities(encoders: ["libx264"] + extraEncoders, framesPerSecond: trueThroughput * claimFactor, sessions: 1,
                                              version: "test")
        var configuration = FarmerConfiguration(identity: SigningIdentity(), store: try TaskStore(root: URL(fileURLWithPath: folder.path("data"))),
                                                advertisedURL: "http://127.0.0.1", sessions: 1, capabilities: capabilities, executor: executor)
        configuration.misbehave = misbehave
        let service = FarmerService(configuration: configuration, logger: logger)
        let app = Application(router: service.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
        return try await app.test(.live) { client in
            let port = try #require(client.port)
            return try await withCheckedThrowingContinuation { continuation in
                // The challenge blocks on its calls: a thread of its own, off the pool the farmer's handlers run on.
                Thread {
                    do {
                        let farmerClient = FarmerClient(baseURL: "http://127.0.0.1:\(port)", identity: SigningIdentity(), timeout: 120)
                        var challenge = FarmerChallenge(client: farmerClient, judge: SegmentVerifier.judge(logger: logger), logger: logger)
                        challenge.clock = { clock.now }
                        continuation.resume(returning: try challenge.run())
                    } catch { continuation.resume(throwing: error) }
                }.start()
            }
        }
    }

    /// An honest farmer service claiming 30 frames/s, encoding for real, its data in `folder`.
    static func honestFarmer(in folder: TemporaryFolder) throws -> (FarmerService, FarmerConfiguration) {
        let capabilities = FarmerCapabilities(encoders: ["libx264"], framesPerSecond: 30, sessions: 1, version: "test")
        let configuration = FarmerConfiguration(identity: SigningIdentity(), store: try TaskStore(root: URL(fileURLWithPath: folder.path("data"))),
                                                advertisedURL: "http://127.0.0.1", sessions: 1, capabilities: capabilities,
                                                executor: { try SegmentTaskRunner.run($0) })
        return (FarmerService(configuration: configuration, logger: logger), configuration)
    }

    /// The claim follows the host: re-measured (when no task runs) once the load has moved or the last measurement is
    /// old, and announced from then on; a farmer at work is not interrupted to measure.
    @Test func claimsAreReMeasuredAndReAnnouncedWhenIdle() async throws {
        let folder = try TemporaryFolder("remeasure")
        defer { folder.remove() }
        let (service, configuration) = try Self.honestFarmer(in: folder)
        // Without a way to measure, the first claim stands.
        #expect(await service.refreshClaims(now: Date().addingTimeInterval(3600)) == nil)
        let executor = configuration.executor
        service.remeasure = { try TaskThroughput.measure(executor: executor) }
        let measured = try #require(await service.refreshClaims(now: Date().addingTimeInterval(FarmerService.remeasureInterval + 1)))
        #expect(measured > 0 && service.announcement.capabilities.framesPerSecond == measured)
        #expect(service.capabilities.framesPerSecond != 30)
    }

    @Test func anHonestFarmerPassesEveryCheck() async throws {
        let report = try await Self.challenge(misbehave: nil, claimFactor: 1)
        #expect(report.passed && report.findings.isEmpty, "\(report.findings)")
        #expect(report.measured.encoderInBitstream == "libx264" && report.measured.encoderInReceipt == "libx264")
        #expect((report.measured.roundTripSeconds ?? .infinity) < report.measured.deadlineSeconds)
        let measured = try #require(report.measured.framesPerSecond)
        #expect(abs(measured - Self.trueThroughput) < 0.01 * Self.trueThroughput, "measured \(measured) of a true \(Self.trueThroughput)")
        #expect(report.measured.verdicts.values.allSatisfy { $0 == "accept" }, "\(report.measured.verdicts)")
        #expect((report.measured.uploadBitsPerSecond ?? 0) > 0 && (report.measured.downloadBitsPerSecond ?? 0) > 0)
    }

    /// `--misbehave inflate-throughput`: twice what it can do claimed, every other answer honest. Only throughput shows.
    @Test func aFarmerClaimingTwiceItsThroughputFailsOnThroughputAlone() async throws {
        let report = try await Self.challenge(misbehave: .inflateThroughput, claimFactor: Misbehavior.inflateThroughput.throughputInflation)
        #expect(!report.passed)
        #expect(report.findings.count == 1 && report.findings[0].hasPrefix("throughput:"), "\(report.findings)")
        #expect(report.measured.encoderInBitstream == "libx264" && report.measured.verdicts.values.allSatisfy { $0 == "accept" })
    }

    /// `--misbehave overclaim`: four times its speed and a GPU encoder it lacks; asked for the GPU, it encodes with
    /// x264 and names nvenc in its receipt.
    @Test func anOverclaimingFarmerFailsOnItsEncoderAndItsThroughput() async throws {
        let report = try await Self.challenge(misbehave: .overclaim, claimFactor: Misbehavior.overclaim.throughputInflation, extraEncoders: ["h264_nvenc"])
        #expect(!report.passed)
        #expect(report.claimed.encoders.contains("h264_nvenc"))
        #expect(report.findings.contains { $0.hasPrefix("throughput:") }, "\(report.findings)")
        #expect(report.measured.encoderInReceipt == "h264_nvenc" && report.measured.encoderInBitstream == "libx264")
        #expect(report.findings.contains { $0.hasPrefix("encoder:") && $0.contains("x264 - core") }, "\(report.findings)")
    }
}
