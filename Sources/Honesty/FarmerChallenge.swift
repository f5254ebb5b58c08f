import CFFmpeg
import Foundation
import Logging
import Media
import Submitter
import Transcode
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
    /// Real hosts are noisy: an honest farmer's round trip (upload of a lossless segment, sandbox start, three
    /// rungs, download) measured 0.25–0.35 of its claimed encode rate on a quiet 2-core machine, and down to
    /// 0.13 while the whole test suite ran beside it (load average above 4 on 2 cores). Claims are judged with
    /// 5× slack: a fourfold overclaim lands near 1/12 and is caught; an honest farmer on a machine loaded past
    /// twice its cores can be accused too, which the report's load average lets a reader see.
    public static let throughputSlack = 5.0
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
        let announcement = try client.capabilities()
        let claims = announcement.capabilities
        var findings: [String] = []
        let work = FileManager.default.temporaryDirectory.appendingPathComponent("prism-challenge-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: work) }

        // The clip: camera-like, from the secret seed, written as a lossless segment like any submitter's.
        let height = Self.clipHeight(forClaimedFPS: claims.framesPerSecond)
        let width = LadderRung(height: height, bitrate: 1).width(forSourceWidth: 16, sourceHeight: 9)
        let ladder = Ladder.standardRungs.filter { $0.height <= height }.prefix(3)
        let clip = try SyntheticClip(width: width, height: height, frameRate: 30, seconds: segmentSeconds, seed: seed)
        let source = work.appendingPathComponent("source.ts").path
        let frames = try MezzanineWriter(width: width, height: height, timeBase: AVRational(num: 1, den: 30), frameRate: AVRational(num: 30, den: 1))
            .write(to: source, frames: clip.next, onFrame: {})
        let sourceBytes = try Data(contentsOf: URL(fileURLWithPath: source))

        // Ask for the best encoder it claims: a hardware one if it claims one.
        let claimedHardware = claims.encoders.first { $0.hasSuffix("_nvenc") || $0.hasSuffix("_vaapi") || $0.hasSuffix("_qsv") }
        let family = claimedHardware.map { String($0.split(separator: "_").last!) } ?? "software"
        let askedEncoder = claimedHardware ?? "libx264"
        // Work in 720p-frame equivalents, the unit the farmer's throughput claim is in.
        let pixelWork = ladder.reduce(0.0) { $0 + Double($1.height * $1.height) } / Double(720 * 720)
        let expected = Double(frames) * pixelWork / max(claims.framesPerSecond, 0.1)
        let deadline = (expected * Self.deadlineSlack + Self.deadlineAllowanceSeconds) * deadlineFactor
        let rungs = ladder.map { TaskRung(height: $0.height, width: $0.width(forSourceWidth: 16, sourceHeight: 9), bitrate: $0.bitrate) }
        let task = SegmentTask(source: ContentAddress(hashing: sourceBytes), ladder: rungs, codec: "h264", preset: "veryfast",
                               options: ["encoder": family])
        var measured = ChallengeReport.Measured(encoderAsked: askedEncoder, deadlineSeconds: deadline, verdicts: [:])
        let timed = FarmerClient(baseURL: client.baseURL, identity: client.identityForChallenges, timeout: deadline)
        _ = try? timed.capabilities()
        let started = Date()
        do {
            let receipt = try timed.submit(task, source: sourceBytes)
            let roundTrip = Date().timeIntervalSince(started)
            measured.roundTripSeconds = roundTrip
            measured.encoderInReceipt = receipt.encoder
            measured.framesPerSecond = Double(frames) * pixelWork / roundTrip
            for rung in rungs {
                let bytes = try timed.output(of: task, height: rung.height)
                let file = work.appendingPathComponent("\(rung.height)p.ts")
                try bytes.write(to: file)
                let identified = BitstreamFingerprint.identify(bytes)
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
                let asked = Transcode.SegmentTask.Rung(name: "\(rung.height)p", width: rung.width ?? 0, height: rung.height, bitrate: rung.bitrate)
                let judgement = (try? judge(source, file.path, asked, .h264)) ?? RenditionJudgement(accepted: false, reasons: ["unverifiable"])
                measured.verdicts[asked.name] = judgement.accepted ? "accept" : "reject: " + judgement.reasons.joined(separator: ",")
                if !judgement.accepted { findings.append("verification: \(asked.name) rejected (\(judgement.reasons.joined(separator: ", ")))") }
            }
            if let fps = measured.framesPerSecond, fps * Self.throughputSlack < claims.framesPerSecond {
                findings.append(String(format: "throughput: claims %.1f fps at 720p, measured %.1f (with transfer) — more than %.1f× short", claims.framesPerSecond, fps, Self.throughputSlack))
            }
        } catch let error as FarmerCallError {
            let elapsed = Date().timeIntervalSince(started)
            let timedOut: Bool
            if case .unavailable(_, let reason) = error { timedOut = reason.contains("-1001") || reason.lowercased().contains("timed out") } else { timedOut = false }
            if timedOut || elapsed >= deadline * 0.95 {
                findings.append(String(format: "deadline: no answer within %.1f s (claimed %.1f fps implies about %.1f s of work)", deadline, claims.framesPerSecond, expected))
            } else {
                findings.append("task: \(error)")
            }
        }
        var generator = SystemRandomNumberGenerator()
        let upload = Int.random(in: 2_000_000...6_000_000, using: &generator), download = Int.random(in: 2_000_000...6_000_000, using: &generator)
        do {
            let (up, down) = try client.measureBandwidth(uploadBytes: upload, downloadBytes: download)
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
