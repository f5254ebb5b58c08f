import Exec
import FarmClient
import Foundation
import Hummingbird
import Logging
import Media
import NIOCore
import NIOPosix
import Transcode
import Wire
import Synchronization

/// How a farmer is set up.
public struct FarmerConfiguration: Sendable {
    public var identity: SigningIdentity
    public var store: TaskStore
    /// The URL submitters reach this farmer at (announced to the registry).
    public var advertisedURL: String
    /// Tasks run at once; more get 503 with Retry-After.
    public var sessions: Int
    /// Largest source segment accepted: a 2 s lossless 1080p mezzanine is about 40 MB.
    public var maxUploadBytes: Int = 256 << 20
    /// Submitters allowed to send tasks; nil allows anyone.
    public var allowList: Set<PublicIdentity>?
    public var misbehave: Misbehavior?
    public var capabilities: FarmerCapabilities
    public var replayWindow: TimeInterval = 120
    /// A connection that sends no complete request part for this long is closed (headers trickled a byte at a
    /// time included); a running task's wait for its answer is not idleness.
    public var idleTimeoutSeconds = 30
    public var executor: SegmentTaskExecutor
    /// General jobs this farmer takes (`POST /v1/jobs`); nil: none.
    public var jobs: JobOffer?
    /// Launches confidential jobs' SEV-SNP guests; set only where the host has everything SEV-SNP needs (`jobs`
    /// then offers `confidential`).
    public var confidential: ConfidentialRunner?
    /// Largest blob (an image or an input) accepted.
    public var maxBlobBytes: Int = 2 << 30
    /// Answers a task with its outputs when the submitter asks for a `TaskBundle`; false answers the receipt alone,
    /// as farmers did before bundles (the submitter then fetches each output on its own), so a submitter's dealings
    /// with such a farmer can be exercised.
    public var bundlesAnswers = true

    public init(identity: SigningIdentity, store: TaskStore, advertisedURL: String, sessions: Int, capabilities: FarmerCapabilities,
                executor: @escaping SegmentTaskExecutor) {
        self.identity = identity
        self.store = store
        self.advertisedURL = advertisedURL
        self.sessions = sessions
        self.capabilities = capabilities
        self.executor = executor
    }
}

/// An error answered as `{"error": CODE, "message": TEXT}`.
struct FarmerAPIError: HTTPResponseError {
    let status: HTTPResponse.Status
    let code: String
    let message: String
    var retryAfter: Int?

    init(_ status: HTTPResponse.Status, _ code: String, _ message: String, retryAfter: Int? = nil) {
        self.status = status
        self.code = code
        self.message = message
        self.retryAfter = retryAfter
    }

    func response(from request: Request, context: some RequestContext) throws -> Response {
        var response = FarmerService.json(status: status, ["error": code, "message": message])
        if let retryAfter { response.headers[.retryAfter] = String(retryAfter) }
        return response
    }
}

/// The farmer's HTTP API: signed capabilities, signed segment tasks in, signed receipts out, outputs
/// served only to the submitter who sent the task.
public final class FarmerService: @unchecked Sendable {  // unchecked: session state behind `lock`, held across calls that are not Sendable
    public let configuration: FarmerConfiguration
    let verifier: EnvelopeVerifier
    let logger: Logger
    let metrics = FarmerMetrics()
    private let lock = NSLock()
    private var busy = 0
    private var boundURL: String?
    /// The claims as last measured (throughput changes as the host's load does).
    private var claimed: FarmerCapabilities
    /// Measures the end-to-end task throughput again (what a challenge measures); nil keeps the first claim.
    public var remeasure: (@Sendable () throws -> Double)?
    private var measuredAt = Date()
    private var measuredLoad = FarmerService.loadAverage()

    /// Where blocking work runs (`onThread`): one thread per session.
    private let blockingPool: NIOThreadPool

    public init(configuration: FarmerConfiguration, logger: Logger) {
        self.configuration = configuration
        blockingPool = NIOThreadPool(numberOfThreads: max(1, configuration.sessions))
        blockingPool.start()
        verifier = EnvelopeVerifier(window: configuration.replayWindow)
        self.logger = logger
        claimed = configuration.capabilities
    }

    deinit { blockingPool.shutdownGracefully { _ in } }

    /// Claims are re-measured when the host's load has moved by more than this since the last measurement
    /// (load average over one minute), or after `remeasureInterval` anyway.
    public static let remeasureLoadChange = 1.0
    public static let remeasureInterval: TimeInterval = 600

    /// The one-minute load average (0 where /proc/loadavg cannot be read).
    static func loadAverage() -> Double {
        (try? String(contentsOfFile: "/proc/loadavg", encoding: .utf8)).flatMap { $0.split(separator: " ").first.flatMap { Double($0) } } ?? 0
    }

    /// Before a heartbeat: when the load has moved or the last measurement is old, and no task is running, measures
    /// the task throughput again (holding a session, so no task shares the machine with it) and claims the new
    /// figure. Returns it when it re-measured.
    @discardableResult
    public func refreshClaims(now: Date = Date()) async -> Double? {
        guard let remeasure else { return nil }
        let load = Self.loadAverage()
        let due = lock.withLock { abs(load - measuredLoad) > Self.remeasureLoadChange || now.timeIntervalSince(measuredAt) > Self.remeasureInterval }
        guard due, acquireSession() else { return nil }
        defer { releaseSession() }
        guard lock.withLock({ busy == 1 }) else { return nil }
        do {
            let fps = try await onThread { try remeasure() }
            guard fps.isFinite, fps > 0 else { return nil }
            let before = lock.withLock { () -> Double in
                defer { claimed.framesPerSecond = fps; measuredAt = now; measuredLoad = Self.loadAverage() }
                return claimed.framesPerSecond
            }
            logger.info("task throughput re-measured at load \(String(format: "%.2f", load)): \(String(format: "%.1f", fps)) fps at 720p (was \(String(format: "%.1f", before)))")
            return fps
        } catch {
            logger.warning("re-measuring task throughput failed: \(error)")
            return nil
        }
    }

    /// What this farmer claims now.
    public var capabilities: FarmerCapabilities { lock.withLock { claimed } }

    /// The announcement this farmer signs: its id, URL and claims (with the misbehaviour shown).
    public var announcement: FarmerAnnouncement {
        FarmerAnnouncement(farmer: configuration.identity.publicIdentity, url: advertisedURL,
                           capabilities: capabilities, misbehave: configuration.misbehave?.rawValue)
    }

    /// Where submitters reach this farmer: the configured URL, or the address it bound when told so.
    public var advertisedURL: String {
        lock.lock()
        defer { lock.unlock() }
        return boundURL ?? configuration.advertisedURL
    }

    /// Advertises the address the server actually bound (listening on port 0 picks a free port, which the
    /// configured URL cannot know); call before the first heartbeat.
    public func advertiseBoundURL(_ url: String) {
        lock.lock()
        boundURL = url
        lock.unlock()
    }

    public func router() -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/healthz") { _, _ in
            FarmerService.json(["status": "ok", "busy": String(self.busyCount), "sessions": String(self.configuration.sessions)])
        }
        router.get("/metrics") { _, _ in
            Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4"],
                     body: .init(byteBuffer: ByteBuffer(string: self.metrics.exposition(busy: self.busyCount, sessions: self.configuration.sessions))))
        }
        router.get(RouterPath(FarmerPath.capabilities)) { _, _ in
            let envelope = try SignedEnvelope.sign(self.announcement, method: SignedEnvelope.responseMethod, path: FarmerPath.capabilities,
                                                   by: self.configuration.identity)
            return FarmerService.json(envelope)
        }
        router.post(RouterPath(FarmerPath.tasks)) { request, _ in
            do { return try await self.acceptTask(request) } catch let error as FarmerAPIError {
                if error.status.code < 500 && error.code != "busy" { self.logger.notice("task refused (\(error.code)): \(error.message)") }
                throw error
            }
        }
        router.post(RouterPath(FarmerPath.bandwidth)) { request, _ in try await self.bandwidth(request) }
        addJobRoutes(to: router)
        router.get("/v1/tasks/:task/outputs/:height") { request, context in
            try self.serveOutput(request, task: context.parameters.get("task") ?? "", height: context.parameters.get("height") ?? "")
        }
        return router
    }

    var busyCount: Int { lock.lock(); defer { lock.unlock() }; return busy }

    func acquireSession() -> Bool {
        lock.lock()
        defer { lock.unlock() }
        guard busy < configuration.sessions else { return false }
        busy += 1
        return true
    }

    func releaseSession() {
        lock.lock()
        busy -= 1
        lock.unlock()
    }

    /// Verifies the header envelope of a request with a raw or empty body.
    func authenticate(_ request: Request, method: String, path: String) throws -> (PublicIdentity, SignedEnvelope) {
        let wanted = SignedEnvelope.headerName.lowercased()
        guard let value = request.headers.first(where: { $0.name.canonicalName == wanted })?.value else {
            throw FarmerAPIError(.unauthorized, "unsigned", "requests must carry a signed \(SignedEnvelope.headerName) header")
        }
        guard let envelope = SignedEnvelope(headerValue: value) else {
            throw FarmerAPIError(.unauthorized, "malformed-envelope", "\(SignedEnvelope.headerName) is not a signed envelope")
        }
        do {
            let signer = try verifier.verify(envelope, method: method, path: path)
            return (signer, envelope)
        } catch let error as EnvelopeError {
            throw FarmerAPIError(.unauthorized, error.code, error.description)
        }
    }

    private func acceptTask(_ request: Request) async throws -> Response {
        let (submitter, envelope) = try authenticate(request, method: "POST", path: FarmerPath.tasks)
        if let allowed = configuration.allowList, !allowed.contains(submitter) {
            throw FarmerAPIError(.forbidden, "not-allowed", "\(submitter) is not on this farmer's allow-list")
        }
        let task: Wire.SegmentTask
        do { task = try envelope.decodeBody(Wire.SegmentTask.self) } catch {
            throw FarmerAPIError(.badRequest, "malformed-task", "the signed body is not a segment task")
        }
        // Everything the task says is checked before a byte of its source is stored.
        do { try task.validate() } catch let error as MessageLimitError {
            throw FarmerAPIError(.badRequest, "bad-task", error.description)
        }
        // The task says the most its submitter pays; a farmer asking more does not take it (and never charges more
        // than it announced: its receipt carries its own price).
        if let ceiling = task.maxPrice, configuration.capabilities.price > ceiling {
            throw FarmerAPIError(.init(code: 402, reasonPhrase: "Payment Required"), "price-above-ceiling",
                                 "this farmer asks \(configuration.capabilities.price), above the task's \(ceiling)")
        }
        guard let codec = try? VideoCodec.parse(task.codec) else {
            throw FarmerAPIError(.badRequest, "bad-task", "unknown codec \"\(task.codec.prefix(32))\" (h264, hevc, av1 or vp9)")
        }
        let window = task.window.map {  // checked by `task.validate()`
            SegmentWindow(start: $0.start, end: $0.end, timeBase: Rational(num: $0.timeBaseNumerator, den: $0.timeBaseDenominator))
        }
        if let length = request.headers[.contentLength].flatMap(Int.init), length > configuration.maxUploadBytes {
            throw FarmerAPIError(.contentTooLarge, "upload-too-large", "source segment of \(length) bytes exceeds \(configuration.maxUploadBytes)")
        }
        let key = TaskStore.key(task: try task.address(), submitter: submitter)
        let bundled = configuration.bundlesAnswers && request.headers[values: .accept].contains { $0.contains(TaskBundle.mediaType) }
        if let receipt = configuration.store.receipt(key) {
            // Already done (perhaps before a restart): the same signed receipt again.
            return try taskReply(receipt, rungs: nil, key: key, bundled: bundled)
        }
        // A session is taken before the upload is read: a busy farmer takes no bytes, and uploads in flight are
        // never more than its sessions.
        guard acquireSession() else {
            metrics.count("refused_busy")
            throw FarmerAPIError(.serviceUnavailable, "busy", "all \(configuration.sessions) sessions are busy", retryAfter: 2)
        }
        defer { releaseSession() }
        let folder = configuration.store.folder(key)
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("out"), withIntermediateDirectories: true)
        do {
            let receipt = try await runTask(task, key: key, codec: codec, window: window, submitter: submitter, body: request.body, folder: folder)
            return try taskReply(receipt, rungs: task.ladder.map(\.height), key: key, bundled: bundled)
        } catch {
            // Nothing of a task that did not finish stays on disk.
            try? FileManager.default.removeItem(at: folder)
            if error is FarmerAPIError { throw error }
            metrics.count("failed")
            logger.error("task \(key.prefix(12)) failed: \(error)")
            throw FarmerAPIError(.internalServerError, "task-failed", String(describing: error))
        }
    }

    /// The answer to a finished task: its signed receipt, and its outputs after it when the submitter asked for a
    /// `TaskBundle`. `rungs`: the heights the receipt lists, in its order (read from it when nil).
    private func taskReply(_ receipt: Data, rungs: [Int]?, key: String, bundled: Bool) throws -> Response {
        guard bundled else {
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: receipt)))
        }
        guard receipt.count <= TaskBundle.maximumReceiptBytes,
              let heights = rungs ?? (try? JSONDecoder().decode(SignedEnvelope.self, from: receipt).decodeBody(SegmentReceipt.self))?.rungs.map(\.height) else {
            throw FarmerAPIError(.internalServerError, "storage", "this task's stored receipt cannot be read")
        }
        let files = configuration.store.outputs(key)
        let outputs = try heights.map { height in
            guard let file = files[height], let size = PlainFile.size(of: file.path) else {
                throw FarmerAPIError(.internalServerError, "storage", "this task's \(height)p output is missing")
            }
            return (file: file, size: size)
        }
        var head = ByteBuffer()
        head.writeInteger(UInt32(receipt.count))
        head.writeBytes(receipt)
        var parts = [AnswerPart.bytes(head)]
        for output in outputs {
            var length = ByteBuffer()
            length.writeInteger(UInt64(output.size))
            parts += [.bytes(length), .file(output.file, size: output.size)]
        }
        return Response(status: .ok, headers: [.contentType: TaskBundle.mediaType], body: Self.answer(parts))
    }

    /// Part of an answer's body: bytes at hand, or a stored file of a known size.
    enum AnswerPart {
        case bytes(ByteBuffer)
        case file(URL, size: Int)

        var size: Int {
            switch self {
            case let .bytes(buffer): return buffer.readableBytes
            case let .file(_, size): return size
            }
        }
    }

    /// A body made of `parts` back to back, sent a megabyte at a time: each file read straight into the buffer that
    /// goes out, and small parts packed with what follows them, so a bundle's receipt, lengths and outputs leave in
    /// as few writes (and reach the submitter in as few wake-ups) as their bytes allow.
    static func answer(_ parts: [AnswerPart]) -> ResponseBody {
        ResponseBody(contentLength: parts.reduce(0) { $0 + $1.size }) { writer in
            let chunk = PlainFile.chunkBytes
            var pending = ByteBufferAllocator().buffer(capacity: chunk)
            for part in parts {
                var left = part.size
                var file: PlainFile?
                defer { file?.close() }
                if case let .file(url, _) = part { file = try PlainFile.reading(url.path) }
                // Into `pending` up to a full chunk at a time; each full chunk goes out.
                while left > 0 {
                    let wanted = min(left, chunk - pending.readableBytes)
                    switch part {
                    case let .bytes(bytes):
                        pending.writeImmutableBuffer(bytes.getSlice(at: bytes.readerIndex + bytes.readableBytes - left, length: wanted)!)
                        left -= wanted
                    case .file:
                        let count = try file!.read(into: &pending, atMost: wanted)
                        // A file that changed since it was measured: the answer ends short of its length, which the
                        // submitter sees.
                        guard count > 0 else { throw FarmerAPIError(.internalServerError, "storage", "an output changed while it was sent") }
                        left -= count
                    }
                    if pending.readableBytes >= chunk {
                        try await writer.write(pending)
                        pending = ByteBufferAllocator().buffer(capacity: chunk)
                    }
                }
            }
            if pending.readableBytes > 0 { try await writer.write(pending) }
            try await writer.finish(nil)
        }
    }

    /// Streams the source to disk while hashing it, then runs the task, signs its receipt and files it; returns the
    /// signed receipt's bytes.
    private func runTask(_ task: Wire.SegmentTask, key: String, codec: VideoCodec, window: SegmentWindow?, submitter: PublicIdentity,
                         body: RequestBody, folder: URL) async throws -> Data {
        let started = Date()
        let sourcePath = folder.appendingPathComponent("source.media").path
        let received = try await Self.receive(body, to: sourcePath, maximumBytes: configuration.maxUploadBytes)
        guard received.address == task.source else {
            throw FarmerAPIError(.badRequest, "source-mismatch", "uploaded bytes do not hash to the task's source \(task.source)")
        }
        if configuration.misbehave == .stall {
            logger.warning("MISBEHAVING (stall): holding task \(key.prefix(12)) without answering")
            try await Task.sleep(for: .seconds(3600))
        }
        // A challenger may ask for a claimed encoder by family; an overclaiming farmer quietly uses software
        // and still names the claimed one in its receipt (what the bitstream fingerprint is there to catch).
        let asked = task.options["encoder"].flatMap(EncoderPreference.init(rawValue:)) ?? .software
        let lying = configuration.misbehave == .overclaim && asked != .software && asked != .auto
        let localTask: TranscodeTask
        do {
            localTask = try makeLocalTask(task, codec: codec, window: window, encoder: lying ? .software : asked, source: sourcePath,
                                          output: folder.appendingPathComponent("out").path)
        } catch {
            throw FarmerAPIError(.badRequest, "bad-source", "the source segment cannot be read as video: \(error)")
        }
        logger.info("task \(key.prefix(12)) from \(submitter): \(task.ladder.count) rungs \(task.codec), \(received.bytes) bytes")
        let executor = configuration.executor
        let result = try await onThread { try executor(localTask) }
        var rungs: [RungReceipt] = []
        for rung in localTask.rungs {
            let file = folder.appendingPathComponent("out").appendingPathComponent(localTask.outputFile(for: rung))
            let frames = result.renditions.first { $0.rung == rung.name }?.frames ?? 0
            rungs.append(RungReceipt(height: rung.height, width: rung.width, bitrate: rung.bitrate, output: try PlainFile.address(of: file.path),
                                     frames: frames, pixels: Int64(frames) * Int64(rung.width) * Int64(rung.height)))
        }
        let encodeSeconds = result.renditions.map(\.encodeSeconds).reduce(0, +)
        let reportedEncoder = lying ? (EncoderFamily(rawValue: asked.rawValue)?.encoderName(for: codec) ?? result.encoder) : result.encoder
        let receipt = SegmentReceipt(farmer: configuration.identity.publicIdentity, submitter: submitter, task: try task.address(), input: task.source, rungs: rungs,
                                     encoder: reportedEncoder, timings: TaskTimings(decodeSeconds: max(0, result.wallSeconds - encodeSeconds),
                                                                                   encodeSeconds: encodeSeconds, totalSeconds: Date().timeIntervalSince(started)),
                                     price: configuration.capabilities.price)
        let signed = try SignedEnvelope.sign(receipt, method: SignedEnvelope.responseMethod, path: FarmerPath.tasks, by: configuration.identity)
        let body = try WireCoding.canonicalBytes(signed)
        try? FileManager.default.removeItem(atPath: sourcePath)
        try configuration.store.finish(key, owner: submitter, receipt: body)
        metrics.count("completed", frames: result.frames)
        return body
    }

    /// Writes a request body to `path` as it arrives, hashing it on the way; never holds more than a chunk.
    static func receive(_ body: RequestBody, to path: String, maximumBytes: Int) async throws -> (address: ContentAddress, bytes: Int) {
        guard let file = try? PlainFile.writing(path) else {
            throw FarmerAPIError(.internalServerError, "storage", "cannot write the upload to the data folder")
        }
        defer { file.close() }
        var hasher = ContentHasher()
        var written = 0
        for try await chunk in body {
            written += chunk.readableBytes
            guard written <= maximumBytes else {
                throw FarmerAPIError(.contentTooLarge, "upload-too-large", "the upload exceeds \(maximumBytes) bytes")
            }
            try chunk.withUnsafeReadableBytes {
                hasher.update($0)
                try file.write($0)
            }
        }
        try file.finish()
        return (hasher.finalize(), written)
    }

    /// The execution task for a wire task: geometry fixed from the source when the submitter left widths out.
    private func makeLocalTask(_ task: Wire.SegmentTask, codec: VideoCodec, window: SegmentWindow?, encoder: EncoderPreference, source: String,
                               output: String) throws -> TranscodeTask {
        let reader = try VideoFrameReader(path: source)
        let stream = reader.stream
        let rungs = task.ladder.map { rung in
            TranscodeTask.Rung(name: "\(rung.height)p",
                                       width: rung.width ?? LadderRung(height: rung.height, bitrate: rung.bitrate).width(forSourceWidth: stream.displayWidth, sourceHeight: stream.height),
                                       height: rung.height, bitrate: rung.bitrate)
        }
        let rate = task.frameRate.map { Rational(num: $0.numerator, den: $0.denominator) }
            ?? (stream.frameRate > 0 ? stream.averageFrameRate : Rational(num: 25, den: 1))
        let local = TranscodeTask(index: 0, source: source, window: window, rungs: rungs, codec: codec, preset: task.preset ?? PresetScale.defaultName,
                                          encoder: encoder, frameRate: rate, output: output)
        try local.validate()
        return local
    }

    /// Bandwidth probe: the body (random bytes from the challenger) is read and discarded; the answer is
    /// as many random bytes as the signed request asks for, so both directions can be timed.
    private func bandwidth(_ request: Request) async throws -> Response {
        let (_, envelope) = try authenticate(request, method: "POST", path: FarmerPath.bandwidth)
        guard let probe = try? envelope.decodeBody(BandwidthProbe.self), (0...BandwidthProbe.maximumBytes).contains(probe.downloadBytes),
              probe.uploadBytes <= BandwidthProbe.maximumBytes else {
            throw FarmerAPIError(.badRequest, "bad-probe", "a bandwidth probe asks for 0 to \(BandwidthProbe.maximumBytes) bytes each way")
        }
        let body = try await request.body.collect(upTo: BandwidthProbe.maximumBytes)
        guard body.readableBytes == probe.uploadBytes else {
            throw FarmerAPIError(.badRequest, "bad-probe", "uploaded \(body.readableBytes) bytes, the probe says \(probe.uploadBytes)")
        }
        var generator = SystemRandomNumberGenerator()
        var bytes = [UInt8](repeating: 0, count: probe.downloadBytes)
        for index in stride(from: 0, to: bytes.count, by: 8) {
            let word = generator.next()
            for offset in 0..<min(8, bytes.count - index) { bytes[index + offset] = UInt8(truncatingIfNeeded: word >> (offset * 8)) }
        }
        return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: .init(byteBuffer: ByteBuffer(bytes: bytes)))
    }

    private func serveOutput(_ request: Request, task key: String, height: String) throws -> Response {
        guard TaskStore.isKey(key), let rungHeight = Int(height) else {
            throw FarmerAPIError(.notFound, "no-such-output", "no such task output")
        }
        let (signer, _) = try authenticate(request, method: "GET", path: FarmerPath.output(task: key, height: rungHeight))
        guard configuration.store.receipt(key) != nil, let owner = configuration.store.owner(key), let file = configuration.store.output(key, height: rungHeight) else {
            throw FarmerAPIError(.notFound, "no-such-output", "no such task output")
        }
        guard owner == signer.description else {
            throw FarmerAPIError(.forbidden, "not-yours", "this task's outputs belong to the submitter that sent it")
        }
        guard let size = PlainFile.size(of: file.path) else {
            throw FarmerAPIError(.notFound, "no-such-output", "no such task output")
        }
        return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: Self.answer([.file(file, size: size)]))
    }

    static func json(status: HTTPResponse.Status = .ok, _ value: some Encodable) -> Response {
        let body = (try? WireCoding.canonicalBytes(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// Runs blocking work (FFmpeg, the sandbox) on the farmer's blocking pool, off the server's event loops and Swift's
    /// task pool. Every such call holds a session, so a pool of one thread per session never makes one wait.
    func onThread<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await blockingPool.runIfActive(work)
    }}

/// Counters for `/metrics` in Prometheus' text format.
final class FarmerMetrics: Sendable {
    /// Tasks by outcome, and source frames transcoded.
    private let counts = Mutex<(tasks: [String: Int], frames: Int)>(([:], 0))

    func count(_ outcome: String, frames: Int = 0) {
        counts.withLock {
            $0.tasks[outcome, default: 0] += 1
            $0.frames += frames
        }
    }

    func exposition(busy: Int, sessions: Int) -> String {
        let (tasks, frames) = counts.withLock { ($0.tasks, $0.frames) }
        var lines = ["# HELP prism_farmer_tasks_total Segment tasks by outcome.", "# TYPE prism_farmer_tasks_total counter"]
        for outcome in ["completed", "failed", "refused_busy"] {
            lines.append("prism_farmer_tasks_total{outcome=\"\(outcome)\"} \(tasks[outcome, default: 0])")
        }
        lines += ["# HELP prism_farmer_frames_total Source frames transcoded.", "# TYPE prism_farmer_frames_total counter",
                  "prism_farmer_frames_total \(frames)",
                  "# HELP prism_farmer_sessions_busy Tasks running now.", "# TYPE prism_farmer_sessions_busy gauge",
                  "prism_farmer_sessions_busy \(busy)",
                  "# HELP prism_farmer_sessions Session limit.", "# TYPE prism_farmer_sessions gauge", "prism_farmer_sessions \(sessions)"]
        return lines.joined(separator: "\n") + "\n"
    }
}
