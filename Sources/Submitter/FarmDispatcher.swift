import Foundation
import Logging
import Transcode
import Wire

/// A verifier's answer on one returned rendition.
public struct RenditionJudgement: Sendable {
    public var accepted: Bool
    public var reasons: [String]
    public init(accepted: Bool, reasons: [String]) {
        self.accepted = accepted
        self.reasons = reasons
    }
}

/// Checks a rendition file against its source segment, given the rung and codec that were asked for.
public typealias RenditionJudge = @Sendable (_ source: String, _ rendition: String, _ rung: Transcode.SegmentTask.Rung, _ codec: VideoCodec) throws -> RenditionJudgement

/// Where verdicts go (a registry), if anywhere.
public typealias VerdictSink = @Sendable (Verdict) -> Void

/// What the submitter records of each farmer and each rejection, for `report.json` and `--json`.
public struct DispatchSummary: Codable, Sendable {
    public struct FarmerTally: Codable, Sendable {
        public var url: String
        public var id: String
        public var accepted: Int
        public var rejected: Int
        public var failed: Int
        public var dropped: Bool
        /// What the registry (or this job's own challenge) says of its claims: proven, unchallenged, disproven.
        public var claims: String?
    }

    public struct Rejection: Codable, Sendable {
        public var segment: Int
        public var farmer: String
        public var url: String
        public var rung: String?
        public var reasons: [String]
    }

    public var accepted: Int
    public var retried: Int
    /// Segments taken from the journal of an interrupted earlier run.
    public var resumed: Int
    /// For accepted segments: seconds between sending a task and holding its checked outputs, minus the
    /// farmer's own time on it (transfer, HTTP, signing, hashing), summed; and the bytes moved each way.
    public var networkSeconds: Double
    public var bytesUp: Int
    public var bytesDown: Int
    /// Seconds spent verifying renditions, summed.
    public var verifySeconds: Double
    public var farmers: [FarmerTally]
    public var rejections: [Rejection]
}

/// Sends segment tasks to farmers — respecting each one's session limit — verifies every rendition that
/// comes back, and moves a task to another farmer when one rejects, fails, stalls or vanishes.
public final class FarmDispatcher: @unchecked Sendable {
    final class Farm: @unchecked Sendable {
        let client: FarmerClient
        let id: PublicIdentity
        let sessions: Int
        /// Used only when no other farmer is left for a segment (its claims were disproven).
        let lastResort: Bool
        var busy = 0
        var dropped = false
        var accepted = 0
        var rejected = 0
        var failed = 0
        init(client: FarmerClient, id: PublicIdentity, sessions: Int, lastResort: Bool) {
            self.client = client
            self.id = id
            self.sessions = sessions
            self.lastResort = lastResort
        }
    }

    let farms: [Farm]
    let identity: SigningIdentity
    let judge: RenditionJudge
    let verdicts: VerdictSink?
    let logger: Logger
    /// Verified segments from an earlier run of the same job, and where new ones are recorded.
    public var journal: SubmitJournal?
    /// Tries per segment before the job fails: each farmer at most once, and no more than this.
    public var maximumAttempts = 4
    private let condition = NSCondition()
    private var retried = 0
    private var acceptedSegments = 0
    private var resumed = 0
    private var networkSeconds = 0.0
    private var verifySeconds = 0.0
    private var bytesUp = 0
    private var bytesDown = 0
    private var rejections: [DispatchSummary.Rejection] = []

    /// Farmers in order of preference; each must have answered `capabilities()`. A segment goes to the first
    /// with a free session (so earlier farmers' sessions fill first); `lastResort` farmers (those whose claims
    /// were disproven) get one only when every other farmer is gone or has already tried that segment.
    public init(farmers: [FarmerClient], lastResort: [FarmerClient] = [], identity: SigningIdentity, judge: @escaping RenditionJudge,
                verdicts: VerdictSink?, logger: Logger) {
        farms = (farmers.map { ($0, false) } + lastResort.map { ($0, true) }).compactMap { client, lastResort in
            client.announcement.map { Farm(client: client, id: $0.farmer, sessions: max(1, $0.capabilities.sessions), lastResort: lastResort) }
        }
        self.identity = identity
        self.judge = judge
        self.verdicts = verdicts
        self.logger = logger
    }

    /// Sessions offered by the farmers segments go to first (all of them when only last resorts are left):
    /// how many segments may usefully be in flight.
    public var totalSessions: Int {
        let preferred = farms.filter { !$0.lastResort }
        return (preferred.isEmpty ? farms : preferred).reduce(0) { $0 + $1.sessions }
    }

    public var summary: DispatchSummary {
        condition.lock()
        defer { condition.unlock() }
        return DispatchSummary(accepted: acceptedSegments, retried: retried, resumed: resumed, networkSeconds: networkSeconds,
                               bytesUp: bytesUp, bytesDown: bytesDown, verifySeconds: verifySeconds,
                               farmers: farms.map { .init(url: $0.client.baseURL, id: $0.id.description, accepted: $0.accepted,
                                                          rejected: $0.rejected, failed: $0.failed, dropped: $0.dropped) },
                               rejections: rejections)
    }

    /// The executor `LadderTranscoder` calls for each segment.
    public var executor: SegmentTaskExecutor { { [self] task in try self.execute(task) } }

    func execute(_ task: Transcode.SegmentTask) throws -> SegmentTaskResult {
        let source = try Data(contentsOf: URL(fileURLWithPath: task.source))
        let wireTask = SegmentTask(source: ContentAddress(hashing: source),
                                   ladder: task.rungs.map { TaskRung(height: $0.height, width: $0.width, bitrate: $0.bitrate) },
                                   codec: task.codec.rawValue, preset: task.preset)
        let address = try wireTask.address()
        if let journal, let restored = try journal.restore(task: address, into: URL(fileURLWithPath: task.output)) {
            bump(\.resumed)
            bump(\.acceptedSegments)
            logger.info("segment \(task.index) was verified by an earlier run: taken from the journal")
            return restored
        }
        var tried: Set<PublicIdentity> = []
        var lastProblem = "no farmer available"
        for attempt in 1...maximumAttempts {
            guard let farm = acquire(excluding: tried) else { break }
            tried.insert(farm.id)
            if attempt > 1 { bump(\.retried) }
            let started = Date()
            do {
                let receipt = try farm.client.submit(wireTask, source: source)
                var renditions: [SegmentTaskResult.Rendition] = []
                var problems: [(String, [String])] = []
                var judging = 0.0, downloaded = 0
                for rung in task.rungs {
                    guard let produced = receipt.rungs.first(where: { $0.height == rung.height }) else {
                        problems.append((rung.name, ["missing-rendition"]))
                        continue
                    }
                    let bytes = try farm.client.output(of: wireTask, height: rung.height)
                    guard ContentAddress(hashing: bytes) == produced.output else {
                        throw FarmerCallError.badReply(url: farm.client.baseURL, reason: "\(rung.name) output does not match its receipt")
                    }
                    let file = URL(fileURLWithPath: task.output).appendingPathComponent(task.outputFile(for: rung))
                    try bytes.write(to: file)
                    // A rendition that cannot be checked is not accepted.
                    downloaded += bytes.count
                    let judgeStarted = Date()
                    let judgement = (try? judge(task.source, file.path, rung, task.codec))
                        ?? RenditionJudgement(accepted: false, reasons: ["unverifiable"])
                    judging += Date().timeIntervalSince(judgeStarted)
                    if !judgement.accepted { problems.append((rung.name, judgement.reasons)) }
                    renditions.append(.init(rung: rung.name, file: task.outputFile(for: rung), frames: produced.frames, bytes: bytes.count,
                                            encodeSeconds: receipt.timings.encodeSeconds / Double(max(1, task.rungs.count))))
                }
                let accepted = problems.isEmpty
                verdicts?(Verdict(submitter: identity.publicIdentity, farmer: farm.id, segment: wireTask.source, accepted: accepted,
                                  reasons: problems.flatMap(\.1)))
                if accepted {
                    let network = Date().timeIntervalSince(started) - judging - receipt.timings.totalSeconds
                    addCosts(network: network, verify: judging, up: source.count, down: downloaded)
                    release(farm, outcome: .accepted)
                    bump(\.acceptedSegments)
                    let frames = renditions.map(\.frames).min() ?? 0
                    let result = SegmentTaskResult(index: task.index, frames: frames, encoder: receipt.encoder, family: "farmer",
                                                   renditions: renditions, decodeErrors: 0, wallSeconds: Date().timeIntervalSince(started))
                    try journal?.record(task: address, result: result, files: URL(fileURLWithPath: task.output), farmer: farm.id.description)
                    return result
                }
                release(farm, outcome: .rejected)
                let reasons = problems.map { "\($0.0): \($0.1.joined(separator: ","))" }
                lastProblem = "\(farm.client.baseURL) rejected: \(reasons.joined(separator: "; "))"
                logger.warning("segment \(task.index) from \(farm.client.baseURL) rejected (\(reasons.joined(separator: "; "))); moving it to another farmer")
                record(.init(segment: task.index, farmer: farm.id.description, url: farm.client.baseURL, rung: problems.first?.0,
                             reasons: problems.flatMap(\.1)))
            } catch let error as FarmerCallError {
                lastProblem = error.description
                switch error {
                case .busy(_, let retryAfter):
                    release(farm, outcome: .none)
                    tried.remove(farm.id)
                    Thread.sleep(forTimeInterval: min(retryAfter, 5))
                case .unavailable, .badReply:
                    logger.warning("dropping farmer \(farm.client.baseURL) for segment \(task.index): \(error)")
                    release(farm, outcome: .dropped)
                case .refused:
                    release(farm, outcome: .failed)
                }
            }
        }
        throw SubmitError.segmentUndelivered(index: task.index, reason: lastProblem)
    }

    enum Outcome { case accepted, rejected, failed, dropped, none }

    /// Waits for a free session on the most preferred live farmer not yet tried for this segment; a last
    /// resort only when no other farmer is left to try.
    private func acquire(excluding tried: Set<PublicIdentity>) -> Farm? {
        condition.lock()
        defer { condition.unlock() }
        while true {
            let untried = farms.filter { !$0.dropped && !tried.contains($0.id) }
            let preferred = untried.filter { !$0.lastResort }
            let candidates = preferred.isEmpty ? untried : preferred
            if candidates.isEmpty { return nil }
            if let free = candidates.first(where: { $0.busy < $0.sessions }) {
                free.busy += 1
                return free
            }
            condition.wait()
        }
    }

    private func release(_ farm: Farm, outcome: Outcome) {
        condition.lock()
        farm.busy -= 1
        switch outcome {
        case .accepted: farm.accepted += 1
        case .rejected: farm.rejected += 1
        case .failed: farm.failed += 1
        case .dropped: farm.failed += 1; farm.dropped = true
        case .none: break
        }
        condition.broadcast()
        condition.unlock()
    }

    private func bump(_ counter: ReferenceWritableKeyPath<FarmDispatcher, Int>) {
        condition.lock()
        self[keyPath: counter] += 1
        condition.unlock()
    }

    private func addCosts(network: Double, verify: Double, up: Int, down: Int) {
        condition.lock()
        networkSeconds += network
        verifySeconds += verify
        bytesUp += up
        bytesDown += down
        condition.unlock()
    }

    private func record(_ rejection: DispatchSummary.Rejection) {
        condition.lock()
        rejections.append(rejection)
        condition.unlock()
    }
}

/// What `prism submit` refuses or cannot finish.
public enum SubmitError: Error, CustomStringConvertible, Sendable {
    case noFarmers(String)
    case segmentUndelivered(index: Int, reason: String)

    public var description: String {
        switch self {
        case let .noFarmers(reason): return "no usable farmer: \(reason)"
        case let .segmentUndelivered(index, reason): return "segment \(index) could not be delivered by any farmer: \(reason)"
        }
    }
}
