import FarmClient
import Foundation
import Logging
import Media
import Transcode
import Verify
import Wire

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
        /// Share of its segments whose pixels were checked, and how many were.
        public var auditRate: Double
        public var audited: Int
        /// It failed an audit: every later segment of it audited, those accepted unaudited re-verified (and it is
        /// `dropped` when one of them fails too).
        public var caught: Bool
        /// Its announced price, and what its accepted segments cost: rendition pixels and microcredits at the price its
        /// receipts charge (what the registry credits it with once it has the verdicts).
        public var price: Price
        public var pixels: Int64
        public var owed: Int64
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
    /// Segments accepted on the cheap checks alone, and segments redone after their farmer was caught.
    public var screened: Int
    public var redone: Int
}

/// Sends segment tasks to farmers — respecting each one's session limit — verifies every rendition that
/// comes back, and moves a task to another farmer when one rejects, fails, stalls or vanishes.
public final class FarmDispatcher: @unchecked Sendable {  // unchecked: state behind `condition`, which threads wait on (Mutex has no wait)
    final class Farm: @unchecked Sendable {  // unchecked: its mutable fields change only under the dispatcher's `condition`
        let client: FarmerClient
        let id: PublicIdentity
        let sessions: Int
        /// Used only when no other farmer is left for a segment (its claims were disproven).
        let lastResort: Bool
        let auditRate: Double
        var busy = 0
        var dropped = false
        /// While it cannot be reached: when the outage began, how many calls failed, and when to try it again.
        var unreachableSince: Date?
        var unreachableCalls = 0
        var retryAt: Date?
        var accepted = 0
        var rejected = 0
        var failed = 0
        var audited = 0
        var caught = false
        /// Its segments accepted unaudited in this job.
        var held: [HeldSegment] = []
        /// Audit draws from a seed (to reproduce a run); nil draws from the system CSPRNG.
        var seeded: SeededGenerator?
        /// Pixels and microcredits of its accepted receipts.
        var pixels: Int64 = 0
        var owed: Int64 = 0
        init(client: FarmerClient, id: PublicIdentity, sessions: Int, lastResort: Bool, auditRate: Double) {
            self.client = client
            self.id = id
            self.sessions = sessions
            self.lastResort = lastResort
            self.auditRate = auditRate
        }
    }

    let farms: [Farm]
    let identity: SigningIdentity
    let judge: RenditionJudge
    let screen: RenditionJudge
    let verdicts: VerdictSink?
    let logger: Logger
    /// Verified segments from an earlier run of the same job, and where new ones are recorded.
    public var journal: SubmitJournal?
    /// Tries per segment before the job fails: each farmer at most once, and no more than this.
    public var maximumAttempts = 4
    /// A farmer that cannot be reached (restarting, a network blip) is tried again after 1, 2, 4, 8 … s (at most 16)
    /// and dropped from the job only once it has been unreachable this long: a restarted farmer serves what it finished.
    public var unreachableGrace: TimeInterval = 60
    /// Where a segment redone after its farmer was caught goes (the transcoder rewrites it).
    public var replacement: SegmentReplacement?
    /// Makes each farmer's audit draws reproducible (its n-th answered segment gets the n-th draw of a generator
    /// seeded with this plus its place in the farmer list); nil: the system CSPRNG.
    public var auditSeed: UInt64? {
        didSet { for (place, farm) in farms.enumerated() { farm.seeded = auditSeed.map { SeededGenerator(seed: $0 &+ UInt64(place)) } } }
    }
    /// The most this job pays a farmer per megapixel (`--max-price`); tasks carry it, and a farmer asking more refuses.
    public var maxPrice: Price?
    /// Copies of segments accepted unaudited, removed by `close()`.
    let holding: URL
    /// Where the reference searches of this job's renditions ended, so the next segment of a rung starts there.
    let searchHints = SearchHints()
    /// One decoder per source file that primed segments were copied from (`TranscodeTask.origin`), under `condition`.
    private var originDecoders: [String: OriginDecoder] = [:]
    private let condition = NSCondition()
    private var screened = 0
    private var redone = 0
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
    /// `judge` runs every check; `screen` only the cheap ones (a rendition its farmer's audit rate did not pick);
    /// `auditRate` gives each farmer's share of audited segments.
    public init(farmers: [FarmerClient], lastResort: [FarmerClient] = [], identity: SigningIdentity, judge: @escaping RenditionJudge,
                screen: RenditionJudge? = nil, auditRate: (FarmerClient) -> Double = { _ in 1 },
                verdicts: VerdictSink?, logger: Logger) {
        farms = (farmers.map { ($0, false) } + lastResort.map { ($0, true) }).compactMap { client, lastResort in
            client.announcement.map { Farm(client: client, id: $0.farmer, sessions: max(1, $0.capabilities.sessions), lastResort: lastResort,
                                           auditRate: min(1, max(AuditPolicy.minimumRate, auditRate(client)))) }
        }
        holding = FileManager.default.temporaryDirectory.appendingPathComponent("prism-held-\(UUID().uuidString.prefix(12))")
        self.identity = identity
        self.judge = judge
        self.screen = screen ?? SegmentVerifier.screen(logger: logger)
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
                                                          rejected: $0.rejected, failed: $0.failed, dropped: $0.dropped, auditRate: $0.auditRate,
                                                          audited: $0.audited, caught: $0.caught,
                                                          price: $0.client.announcement?.capabilities.price ?? .free, pixels: $0.pixels, owed: $0.owed) },
                               rejections: rejections, screened: screened, redone: redone)
    }

    /// Removes the held copies (call once the job is over).
    public func close() { try? FileManager.default.removeItem(at: holding) }

    /// The executor `LadderTranscoder` calls for each segment.
    public var executor: SegmentTaskExecutor { { [self] task in try self.execute(task) } }

    /// What the verifier is asked about one rung of a task.
    static func request(for task: TranscodeTask, rendition: String, rung: TranscodeTask.Rung) -> VerificationRequest {
        var request = VerificationRequest(source: task.source, rendition: rendition)
        request.sourceWindow = task.window
        request.width = rung.width
        request.height = rung.height
        request.bitrate = rung.bitrate
        request.codec = task.codec.rawValue
        return request
    }

    func execute(_ task: TranscodeTask) throws -> SegmentTaskResult {
        let sourceAddress = try PlainFile.address(of: task.source)
        let sourceBytes = PlainFile.size(of: task.source) ?? 0
        let wireTask = SegmentTask(source: sourceAddress,
                                   ladder: task.rungs.map { TaskRung(height: $0.height, width: $0.width, bitrate: $0.bitrate) },
                                   codec: task.codec.rawValue, preset: task.preset,
                                   window: task.window.map { TaskWindow(start: $0.start, end: $0.end, timeBaseNumerator: $0.timeBaseNumerator,
                                                                        timeBaseDenominator: $0.timeBaseDenominator) },
                                   frameRate: TaskFrameRate(numerator: task.frameRateNumerator, denominator: task.frameRateDenominator),
                                   maxPrice: maxPrice)
        let address = try wireTask.address()
        if let journal, let restored = try journal.restore(task: address, into: URL(fileURLWithPath: task.output)) {
            bump(\.resumed)
            bump(\.acceptedSegments)
            logger.info("segment \(task.index) was verified by an earlier run: taken from the journal")
            return restored
        }
        var tried: Set<PublicIdentity> = []
        var lastProblem = "no farmer available"
        var attempt = 0
        while attempt < maximumAttempts {
            attempt += 1
            guard let farm = acquire(excluding: tried) else { break }
            tried.insert(farm.id)
            if attempt > 1 { bump(\.retried) }
            let started = Date()
            do {
                let client = farm.client
                // The outputs come in the task's own answer (one round trip); from a farmer that does not bundle them,
                // every rung's output at once, each streamed to its file and hashed on the way.
                let wanted = Dictionary(task.rungs.map { ($0.height, URL(fileURLWithPath: task.output).appendingPathComponent(task.outputFile(for: $0)).path) }) { first, _ in first }
                let (receipt, signedReceipt, bundled) = try client.submitBundledWaiting(wireTask, sourceFile: task.source, outputs: wanted)
                let answered = Date()
                reachable(farm)
                var renditions: [SegmentTaskResult.Rendition] = []
                var files: [String: String] = [:]
                var missing: [(String, [String])] = []
                var downloaded = 0
                let outputs = task.rungs.compactMap { rung in
                    receipt.rungs.first { $0.height == rung.height }.map { (rung: rung, produced: $0, file: wanted[rung.height]!) }
                }
                for rung in task.rungs where !outputs.contains(where: { $0.rung == rung }) { missing.append((rung.name, ["missing-rendition"])) }
                let fetched: [Int: (address: ContentAddress, bytes: Int)]
                if let bundled {
                    fetched = bundled
                    logger.debug("segment \(task.index) from \(farm.client.baseURL): task and its \(outputs.count) outputs answered in \(Self.milliseconds(answered.timeIntervalSince(started))) ms (\(Self.milliseconds(receipt.timings.totalSeconds)) ms of it the farmer's own)")
                } else {
                    fetched = try FarmHTTP.wait {
                        try await withThrowingTaskGroup(of: (Int, ContentAddress, Int).self) { group in
                            for output in outputs {
                                group.addTask {
                                    let (address, bytes) = try await client.output(of: wireTask, height: output.rung.height, to: output.file)
                                    return (output.rung.height, address, bytes)
                                }
                            }
                            var results: [Int: (address: ContentAddress, bytes: Int)] = [:]
                            for try await (height, address, bytes) in group { results[height] = (address, bytes) }
                            return results
                        }
                    }
                    logger.debug("segment \(task.index) from \(farm.client.baseURL): task answered in \(Self.milliseconds(answered.timeIntervalSince(started))) ms (\(Self.milliseconds(receipt.timings.totalSeconds)) ms of it the farmer's own), \(outputs.count) outputs fetched in \(Self.milliseconds(Date().timeIntervalSince(answered))) ms")
                }
                for output in outputs {
                    guard let (outputAddress, bytes) = fetched[output.rung.height], outputAddress == output.produced.output else {
                        throw FarmerCallError.badReply(url: farm.client.baseURL, reason: "\(output.rung.name) output does not match its receipt")
                    }
                    downloaded += bytes
                    files[output.rung.name] = output.file
                    renditions.append(.init(rung: output.rung.name, file: task.outputFile(for: output.rung), frames: output.produced.frames, bytes: bytes,
                                            encodeSeconds: receipt.timings.encodeSeconds / Double(max(1, task.rungs.count))))
                }
                // Drawn after the farmer answered, so it cannot know which of its segments are looked at closely.
                var audited = mustAudit(farm)
                let judgeStarted = Date()
                let claimed = Dictionary(outputs.map { ($0.rung.name, $0.produced) }) { first, _ in first }
                var problems = missing + judged(task, files: files, full: audited, claimed: claimed)
                if problems.isEmpty && !audited && !hold(task, address: address, source: sourceAddress, files: files, receipt: signedReceipt, from: farm) {
                    // Its farmer was caught meanwhile: this segment gets the full checks now.
                    audited = true
                    problems = missing + judged(task, files: files, full: true, claimed: claimed)
                }
                let judging = Date().timeIntervalSince(judgeStarted)
                let accepted = problems.isEmpty
                verdicts?(Verdict(submitter: identity.publicIdentity, farmer: farm.id, segment: wireTask.source, accepted: accepted,
                                  reasons: problems.flatMap(\.1), task: address, receipt: signedReceipt))
                if accepted {
                    let network = Date().timeIntervalSince(started) - judging - receipt.timings.totalSeconds
                    addCosts(network: network, verify: judging, up: sourceBytes, down: downloaded)
                    release(farm, outcome: .accepted, audited: audited)
                    charge(farm, receipt, sign: 1)
                    bump(\.acceptedSegments)
                    if !audited { bump(\.screened) }
                    let frames = renditions.map(\.frames).min() ?? 0
                    let result = SegmentTaskResult(index: task.index, frames: frames, encoder: receipt.encoder, family: "farmer",
                                                   renditions: renditions, decodeErrors: 0, wallSeconds: Date().timeIntervalSince(started))
                    try journal?.record(task: address, result: result, files: URL(fileURLWithPath: task.output), farmer: farm.id.description)
                    return result
                }
                release(farm, outcome: .rejected, audited: audited)
                let reasons = problems.map { "\($0.0): \($0.1.joined(separator: ","))" }
                lastProblem = "\(farm.client.baseURL) rejected: \(reasons.joined(separator: "; "))"
                logger.warning("segment \(task.index) from \(farm.client.baseURL) rejected (\(reasons.joined(separator: "; "))); moving it to another farmer")
                record(.init(segment: task.index, farmer: farm.id.description, url: farm.client.baseURL, rung: problems.first?.0,
                             reasons: problems.flatMap(\.1)))
                if audited { try caught(farm) }
            } catch let error as FarmerCallError {
                lastProblem = error.description
                switch error {
                case .busy(_, let retryAfter):
                    release(farm, outcome: .none, audited: false)
                    tried.remove(farm.id)
                    Thread.sleep(forTimeInterval: min(retryAfter, 5))
                case .unavailable:
                    if let delay = unreachable(farm) {
                        // Not this segment's fault: the same farmer gets it again once it is back (the task is the
                        // same, so one that finished before a restart answers with its stored receipt).
                        logger.warning("\(farm.client.baseURL) unreachable for segment \(task.index) (\(error)); trying it again in \(Int(delay)) s")
                        tried.remove(farm.id)
                        attempt -= 1
                    } else {
                        logger.warning("dropping farmer \(farm.client.baseURL): unreachable for \(Int(unreachableGrace)) s (\(error))")
                    }
                case .badReply, .timedOut:
                    logger.warning("dropping farmer \(farm.client.baseURL) for segment \(task.index): \(error)")
                    release(farm, outcome: .dropped, audited: false)
                case .refused:
                    release(farm, outcome: .failed, audited: false)
                }
            }
        }
        throw SubmitError.segmentUndelivered(index: task.index, reason: lastProblem)
    }

    /// The verifier's problems with each rung's rendition: every check (`full`), or the cheap ones; and, where the
    /// farmer's receipt is given (`claimed`, by rung name), whether it claims the frames and size delivered, since the
    /// registry pays for the pixels a receipt names.
    func judged(_ task: TranscodeTask, files: [String: String], full: Bool, claimed: [String: RungReceipt] = [:]) -> [(String, [String])] {
        var problems: [(String, [String])] = []
        // Every rung is compared at the same unpredictable moments, so the source is read and decoded once for all;
        // a primed segment's frames come from the job's one decoder of the file it was copied from.
        let shared = task.origin.map { SourceFrames(path: task.source, origin: originDecoder($0.path), ptsShift: $0.ptsShift) }
            ?? SourceFrames(path: task.source)
        // With --audit-seed the sample positions are reproducible too (per segment), else the system CSPRNG's.
        var seeded = auditSeed.map { SeededGenerator(seed: $0 ^ (UInt64(task.index) &* 0x9E37_79B9_7F4A_7C15)) }
        let seed = seeded != nil ? seeded!.next() : UInt64.random(in: 0...UInt64.max)
        for rung in task.rungs {
            guard let file = files[rung.name] else { continue }
            var request = Self.request(for: task, rendition: file, rung: rung)
            request.sharedSource = shared
            request.searchHints = searchHints
            request.seed = seed
            // A rendition that cannot be checked is not accepted.
            let judgement: RenditionJudgement
            do { judgement = try (full ? judge : screen)(request) } catch {
                logger.warning("segment \(task.index) \(rung.name) cannot be verified: \(error)")
                judgement = RenditionJudgement(accepted: false, reasons: [.unverifiable])
            }
            var reasons = judgement.reasons
            if let receipt = claimed[rung.name], receipt.frames != judgement.renditionFrames ?? receipt.frames
                || receipt.width != rung.width || receipt.height != rung.height {
                reasons.append(.receiptMismatch)
            }
            if !judgement.accepted || !reasons.isEmpty { problems.append((rung.name, reasons.map(\.rawValue))) }
        }
        return problems
    }

    private static func milliseconds(_ seconds: Double) -> String { String(format: "%.1f", seconds * 1000) }

    private func originDecoder(_ path: String) -> OriginDecoder {
        condition.lock()
        defer { condition.unlock() }
        if let known = originDecoders[path] { return known }
        let made = OriginDecoder(path: path)
        originDecoders[path] = made
        return made
    }

    private func mustAudit(_ farm: Farm) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        if farm.caught || farm.auditRate >= 1 { return true }
        if farm.seeded != nil { return Double.random(in: 0..<1, using: &farm.seeded!) < farm.auditRate }
        var generator = SystemRandomNumberGenerator()
        return Double.random(in: 0..<1, using: &generator) < farm.auditRate
    }

    /// Keeps copies of an unaudited segment for the rest of the job; false (nothing kept) once its farmer is caught.
    private func hold(_ task: TranscodeTask, address: ContentAddress, source: ContentAddress, files: [String: String],
                      receipt: SignedEnvelope, from farm: Farm) -> Bool {
        let folder = holding.appendingPathComponent("segment_\(task.index)_\(farm.id.description.suffix(8))")
        var kept = task
        var renditions: [String: String] = [:]
        do {
            try? FileManager.default.removeItem(at: folder)
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            kept.source = folder.appendingPathComponent("source.media").path
            try FileManager.default.copyItem(atPath: task.source, toPath: kept.source)
            for (rung, file) in files {
                let copy = folder.appendingPathComponent(URL(fileURLWithPath: file).lastPathComponent).path
                try FileManager.default.copyItem(atPath: file, toPath: copy)
                renditions[rung] = copy
            }
        } catch {
            logger.warning("cannot keep segment \(task.index) aside (\(error)): checking it in full now")
            return false
        }
        condition.lock()
        defer { condition.unlock() }
        guard !farm.caught else { return false }
        farm.held.append(HeldSegment(task: kept, address: address, source: source, renditions: renditions, receipt: receipt))
        return true
    }

    /// A farmer failed an audit: from now on every segment of it is audited, and every one accepted unaudited is
    /// verified in full now; those that fail are redone by other farmers and replace what was written, and the
    /// farmer is dropped from the job. (One rejection alone, with everything else of it clean, may be the verifier's
    /// mistake: the segment moves, the farmer stays, checked in full.)
    private func caught(_ farm: Farm) throws {
        condition.lock()
        let held = farm.held
        farm.held = []
        farm.caught = true
        condition.unlock()
        if !held.isEmpty { logger.warning("\(farm.client.baseURL) failed an audit: re-verifying its \(held.count) segment(s) accepted unaudited") }
        for segment in held {
            let problems = judged(segment.task, files: segment.renditions, full: true)
            guard !problems.isEmpty else { continue }
            condition.lock()
            if !farm.dropped { logger.warning("\(farm.client.baseURL) cheated on more than one segment: dropped from this job") }
            farm.dropped = true
            condition.broadcast()
            condition.unlock()
            let reasons = problems.map { "\($0.0): \($0.1.joined(separator: ","))" }.joined(separator: "; ")
            logger.warning("segment \(segment.task.index) from \(farm.client.baseURL) fails re-verification (\(reasons)): redoing it")
            record(.init(segment: segment.task.index, farmer: farm.id.description, url: farm.client.baseURL, rung: problems.first?.0,
                         reasons: problems.flatMap(\.1)))
            verdicts?(Verdict(submitter: identity.publicIdentity, farmer: farm.id, segment: segment.source, accepted: false,
                              reasons: problems.flatMap(\.1), task: segment.address, receipt: segment.receipt))
            if let receipt = try? segment.receipt.decodeBody(SegmentReceipt.self) { charge(farm, receipt, sign: -1) }
            try redo(segment)
        }
    }

    private func redo(_ segment: HeldSegment) throws {
        guard let replacement else {
            throw SubmitError.segmentUndelivered(index: segment.task.index, reason: "its farmer was caught cheating and it cannot be replaced here")
        }
        try journal?.forget(task: segment.address)
        var task = segment.task
        let output = holding.appendingPathComponent("redo_\(task.index)_\(UUID().uuidString.prefix(6))")
        try FileManager.default.createDirectory(at: output, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: output) }
        task.output = output.path
        let result = try execute(task)
        try replacement.replace(task, with: result)
        bump(\.redone)
        condition.lock()
        acceptedSegments -= 1
        condition.unlock()
    }

    /// Adds an accepted receipt's pixels and price to its farmer's tally (`sign` -1 takes back one found bad later).
    private func charge(_ farm: Farm, _ receipt: SegmentReceipt, sign: Int64) {
        let pixels = receipt.payablePixels ?? 0
        let amount = (receipt.price ?? .free).amount(forPixels: pixels) ?? 0
        condition.lock()
        farm.pixels += sign * pixels
        farm.owed += sign * amount
        condition.unlock()
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
            let now = Date()
            if let free = candidates.first(where: { $0.busy < $0.sessions && ($0.retryAt ?? now) <= now }) {
                free.busy += 1
                return free
            }
            // Farmers backing off after an outage are woken for at their retry time.
            if let next = candidates.compactMap(\.retryAt).filter({ $0 > now }).min() {
                _ = condition.wait(until: next)
            } else {
                condition.wait()
            }
        }
    }

    /// Records a failed call to an unreachable farmer and releases its session: the delay before it is tried
    /// again, or nil when it has been unreachable past `unreachableGrace` and is dropped from the job.
    private func unreachable(_ farm: Farm) -> TimeInterval? {
        condition.lock()
        let now = Date()
        let since = farm.unreachableSince ?? now
        farm.unreachableSince = since
        farm.unreachableCalls += 1
        let delay = now.timeIntervalSince(since) < unreachableGrace ? min(16, pow(2, Double(farm.unreachableCalls - 1))) : nil
        farm.retryAt = delay.map { now.addingTimeInterval($0) }
        condition.unlock()
        release(farm, outcome: delay == nil ? .dropped : .none, audited: false)
        return delay
    }

    /// The farmer answered: any outage is over.
    private func reachable(_ farm: Farm) {
        condition.lock()
        farm.unreachableSince = nil
        farm.unreachableCalls = 0
        farm.retryAt = nil
        condition.unlock()
    }

    private func release(_ farm: Farm, outcome: Outcome, audited: Bool) {
        condition.lock()
        farm.busy -= 1
        if audited { farm.audited += 1 }
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
