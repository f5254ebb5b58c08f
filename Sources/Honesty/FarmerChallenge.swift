import Foundation
import Logging
import Media
import FarmClient
import Transcode
import Verify
import Wire

/// What `prism challenge` found: DESIGN.md's `{"passed", "claimed", "measured", "findings"}`.
public struct ChallengeReport: Codable, Sendable {
    public struct Claimed: Codable, Sendable {
        public var farmer: String
        public var encoders: [String]
        public var framesPerSecond: Double
        public var sessions: Int
        public var misbehave: String?
    }

    public struct Measured: Codable, Sendable {
        public var encoderAsked: String
        public var encoderInReceipt: String?
        public var encoderInBitstream: String?
        public var bitstreamEvidence: String?
        public var deadlineSeconds: Double
        public var roundTripSeconds: Double?
        /// Source frames × rung pixels (in 720p equivalents) per second of round trip.
        public var framesPerSecond: Double?
        public var uploadBitsPerSecond: Double?
        public var downloadBitsPerSecond: Double?
        public var verdicts: [String: String]
    }

    public var passed: Bool
    public var seed: String
    public var claimed: Claimed
    public var measured: Measured
    public var findings: [String]

    /// What a registry keeps of this report, claimed figures beside measured ones: the encoder seen in the
    /// bitstream, the throughput with transfer, and the bandwidth each way.
    public func result(challenger: PublicIdentity, farmer: PublicIdentity) -> ChallengeResult {
        ChallengeResult(challenger: challenger, farmer: farmer, passed: passed,
                        claimed: CapabilityFigures(encoders: claimed.encoders, framesPerSecond: claimed.framesPerSecond, sessions: claimed.sessions),
                        measured: CapabilityFigures(encoders: measured.encoderInBitstream.map { [$0] } ?? [],
                                                    framesPerSecond: measured.framesPerSecond, sessions: nil,
                                                    uploadBitsPerSecond: measured.uploadBitsPerSecond,
                                                    downloadBitsPerSecond: measured.downloadBitsPerSecond),
                        findings: findings)
    }
}

/// Proves or disproves a farmer's claims with work it cannot predict: a clip made from a secret seed,
/// sent as an ordinary task with a deadline from the claimed throughput, verified, fingerprinted, and
/// a bandwidth probe of sizes only the challenger knows.
public struct FarmerChallenge {
    /// A farmer claims what a challenge measures (`TaskThroughput`: the same task shape through its own executor),
    /// so an honest farmer's challenge lands near its claim, short only by the transfer and by load that came after
    /// its measurement; claims are judged with 1.5× slack. A twofold overclaim lands near 0.5 and is caught.
    public static let throughputSlack = 1.5
    public static let deadlineSlack = 3.0
    /// Fixed allowance for sandbox start, upload and download on top of the encode time.
    public static let deadlineAllowanceSeconds = 8.0
    /// The clip is sized from the claims: a farmer claiming more work per second gets more pixels to do.
    static func clipHeight(forClaimedFPS fps: Double) -> Int { fps >= 60 ? 720 : fps >= 15 ? 480 : 360 }

    public let client: FarmerClient
    public let judge: RenditionJudge
    public var seed: UInt64 = UInt64.random(in: 0...UInt64.max)
    public var segmentSeconds = 2.0
    /// Multiplies the deadline's slack (tests that look at one lie at a time widen it).
    public var deadlineFactor = 1.0
    /// The clock the round trip is timed with; tests give one that advances only by the work done, so what a
    /// challenge measures does not depend on how loaded the machine running the test is.
    public var clock: @Sendable () -> Date = { Date() }
    let logger: Logger

    public init(client: FarmerClient, judge: @escaping RenditionJudge, logger: Logger) {
        self.client = client
        self.judge = judge
        self.logger = logger
    }

    /// Runs the challenge and hands its result, as the challenger's, to `publish` (a registry) when given.
    public func run(publishing publish: ((ChallengeResult) -> Void)?) throws -> ChallengeReport {
        let report = try run()
        if let publish, let farmer = client.announcement?.farmer {
            publish(report.result(challenger: client.identityForChallenges.publicIdentity, farmer: farmer))
        }
        return report
    }

    public func run() throws -> ChallengeReport {
        let client = self.client
        let announcement = try FarmHTTP.wait { try await client.capabilities() }
        let claims = announcement.capabilities
        var findings: [String] = []
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("prism-challenge-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        // The clip: camera-like, from the secret seed, written as a high-quality mezzanine segment.
        let height = Self.clipHeight(forClaimedFPS: claims.framesPerSecond)
        let ladder = ChallengeWork.ladder(height: height)
        let source = work.appendingPathComponent("source.media").path
        let frames = try ChallengeWork.writeClip(height: height, seconds: segmentSeconds, seed: seed, to: source)

        // Ask for the best encoder it claims: a hardware one if it claims one.
        let claimedHardware = claims.encoders.first { $0.hasSuffix("_nvenc") || $0.hasSuffix("_vaapi") || $0.hasSuffix("_qsv") }
        let family = claimedHardware.map { String($0.split(separator: "_").last!) } ?? "software"
        let askedEncoder = claimedHardware ?? "libx264"
        // Work in 720p-frame equivalents, the unit the farmer's throughput claim is in.
        let pixelWork = ChallengeWork.pixelWork(ladder)
        let expected = Double(frames) * pixelWork / max(claims.framesPerSecond, 0.1)
        let deadline = (expected * Self.deadlineSlack + Self.deadlineAllowanceSeconds) * deadlineFactor
        let rungs = ladder.map { TaskRung(height: $0.height, width: ChallengeWork.width(height: $0.height), bitrate: $0.bitrate) }
        let task = SegmentTask(source: try PlainFile.address(of: source), ladder: rungs, codec: "h264", preset: "veryfast",
                               options: ["encoder": family])
        var measured = ChallengeReport.Measured(encoderAsked: askedEncoder, deadlineSeconds: deadline, verdicts: [:])
        let timed = FarmerClient(baseURL: client.baseURL, identity: client.identityForChallenges, timeout: deadline)
        _ = try? FarmHTTP.wait { try await timed.capabilities() }
        let started = clock()
        do {
            let receipt = try FarmHTTP.wait { try await timed.submit(task, sourceFile: source) }
            let roundTrip = max(clock().timeIntervalSince(started), 1e-3)
            measured.roundTripSeconds = roundTrip
            measured.encoderInReceipt = receipt.encoder
            measured.framesPerSecond = Double(frames) * pixelWork / roundTrip
            for rung in rungs {
                let file = work.appendingPathComponent("\(rung.height)p.ts")
                let (address, _) = try FarmHTTP.wait { try await timed.output(of: task, height: rung.height, to: file.path) }
                guard address == receipt.rungs.first(where: { $0.height == rung.height })?.output else {
                    throw FarmerCallError.badReply(url: timed.baseURL, reason: "\(rung.height)p output does not match its receipt")
                }
                let identified = BitstreamFingerprint.identify(try Data(contentsOf: file))
                if rung.height == rungs[0].height {
                    measured.encoderInBitstream = identified.encoder
                    measured.bitstreamEvidence = identified.evidence
                    if BitstreamFingerprint.contradicts(identified, named: receipt.encoder) {
                        findings.append("encoder: the receipt names \(receipt.encoder) but the bitstream was made by \(identified.encoder ?? "an encoder that leaves no x264/x265 mark")\(identified.evidence.map { " (\($0))" } ?? "")")
                    }
                    if let claimedHardware, identified.encoder != nil {
                        findings.append("encoder: claims \(claimedHardware) but asked to use it produced a \(identified.encoder!) bitstream")
                    }
                }
                let asked = TranscodeTask.Rung(name: "\(rung.height)p", width: rung.width ?? 0, height: rung.height, bitrate: rung.bitrate)
                var request = VerificationRequest(source: source, rendition: file.path)
                (request.width, request.height, request.bitrate, request.codec) = (asked.width, asked.height, asked.bitrate, "h264")
                let judgement = (try? judge(request)) ?? RenditionJudgement(accepted: false, reasons: [.unverifiable])
                measured.verdicts[asked.name] = judgement.accepted ? "accept" : "reject: " + judgement.reasons.map(\.rawValue).joined(separator: ",")
                if !judgement.accepted { findings.append("verification: \(asked.name) rejected (\(judgement.reasons.map(\.rawValue).joined(separator: ", ")))") }
            }
            if let fps = measured.framesPerSecond, fps * Self.throughputSlack < claims.framesPerSecond {
                findings.append(String(format: "throughput: claims %.1f fps at 720p, measured %.1f (with transfer) — more than %.1f× short", claims.framesPerSecond, fps, Self.throughputSlack))
            }
        } catch let error as FarmerCallError {
            let elapsed = clock().timeIntervalSince(started)
            let timedOut: Bool
            if case .timedOut = error { timedOut = true } else { timedOut = false }
            if timedOut || elapsed >= deadline * 0.95 {
                findings.append(String(format: "deadline: no answer within %.1f s (claimed %.1f fps implies about %.1f s of work)", deadline, claims.framesPerSecond, expected))
            } else {
                findings.append("task: \(error)")
            }
        }
        var generator = SystemRandomNumberGenerator()
        let upload = Int.random(in: 2_000_000...6_000_000, using: &generator), download = Int.random(in: 2_000_000...6_000_000, using: &generator)
        do {
            let (up, down) = try FarmHTTP.wait { try await client.measureBandwidth(uploadBytes: upload, downloadBytes: download) }
            measured.uploadBitsPerSecond = up
            measured.downloadBitsPerSecond = down
        } catch {
            findings.append("bandwidth: probe failed (\(error))")
        }
        let claimed = ChallengeReport.Claimed(farmer: announcement.farmer.description, encoders: claims.encoders, framesPerSecond: claims.framesPerSecond,
                                              sessions: claims.sessions, misbehave: announcement.misbehave)
        return ChallengeReport(passed: findings.isEmpty, seed: String(format: "%016llx", seed), claimed: claimed, measured: measured, findings: findings)
    }
}

extension FarmerChallenge {
    /// One challenge of a farmer whose capabilities `client` has fetched, every rendition through the full verifier,
    /// the signed result posted to `registry` when given (`prism challenge`, and `prism submit`'s re-challenges).
    public static func challenge(_ client: FarmerClient, identity: SigningIdentity, registry: String?, logger: Logger,
                                 adjust: (inout FarmerChallenge) -> Void = { _ in }) throws -> ChallengeReport {
        var challenge = FarmerChallenge(client: client, judge: SegmentVerifier.judge(logger: logger), logger: logger)
        adjust(&challenge)
        return try challenge.run(publishing: registry.map { url in
            { result in
                try? FarmHTTP.wait { await RegistryClient(baseURL: url).postLogged(result, path: WirePath.challenges, identity: identity, logger: logger) }
            }
        })
    }
}
