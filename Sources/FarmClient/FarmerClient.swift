import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Wire
import Synchronization

/// Calls to one farmer, every request signed by the caller, every reply checked; bodies stream from and to files.
public final class FarmerClient: Sendable {
    public let baseURL: String
    let identity: SigningIdentity
    /// Seconds one call may take, from connecting to the last byte of the reply.
    public let timeout: Double
    /// Largest rendition accepted from a farmer (a 10 s 4K segment at 50 Mbit/s is about 60 MB).
    public static let maximumOutputBytes = 256 << 20
    /// The key this client signs with (a challenger opens a second client with a longer timeout).
    public var identityForChallenges: SigningIdentity { identity }
    private let announced = Mutex<FarmerAnnouncement?>(nil)
    /// The event loop this farmer's tasks and outputs travel on (see `FarmHTTP.exchange`).
    private let loop = HTTPClient.shared.eventLoopGroup.next()

    /// Filled by `capabilities()`: who this farmer proved to be.
    public var announcement: FarmerAnnouncement? { announced.withLock { $0 } }

    public init(baseURL: String, identity: SigningIdentity, timeout: TimeInterval) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.identity = identity
        self.timeout = timeout
    }

    /// Fetches and checks the farmer's signed capabilities (the signer must be the farmer it names).
    @discardableResult
    public func capabilities() async throws -> FarmerAnnouncement {
        let reply = try await FarmHTTP.send(baseURL + FarmerPath.capabilities, method: .GET, timeout: timeout)
        guard reply.status == 200 else { throw FarmerCallError.refused(url: baseURL, status: reply.status, message: reply.text) }
        let envelope = try decodeEnvelope(reply.bytes)
        let announcement: FarmerAnnouncement = try open(envelope, path: FarmerPath.capabilities)
        guard announcement.farmer == envelope.signer else { throw FarmerCallError.badReply(url: baseURL, reason: "capabilities signed by another key") }
        announced.withLock { $0 = announcement }
        return announcement
    }

    /// Sends a task with its source segment (streamed from `sourceFile`); returns the farmer's signed receipt after checking it.
    public func submit(_ task: SegmentTask, sourceFile: String) async throws -> SegmentReceipt {
        try await submitSigned(task, sourceFile: sourceFile).receipt
    }

    /// `submit`, with the receipt's signed envelope too (what a verdict carries to the registry as proof of the task).
    public func submitSigned(_ task: SegmentTask, sourceFile: String) async throws -> (receipt: SegmentReceipt, envelope: SignedEnvelope) {
        let reply = try await FarmHTTP.send(baseURL + FarmerPath.tasks, method: .POST, headers: try taskHeaders(task, bundled: false),
                                            file: sourceFile, timeout: timeout, on: loop)
        return try checkedReceipt(reply, for: task, address: try task.address())
    }

    /// `submitSigned`, with the outputs in the same answer (`TaskBundle`): one round trip for the whole segment. Each
    /// rung's output streams into `outputs[height]` (those of other heights are read and dropped), hashed on the way;
    /// nothing is written before the receipt is checked. `fetched` is nil when the farmer answered with the receipt
    /// alone (it does not bundle): the outputs are then fetched with `output(of:height:to:)`.
    public func submitBundled(_ task: SegmentTask, sourceFile: String, outputs: [Int: String]) async throws -> BundledAnswer {
        try await bundledAnswer(task, sourceFile: sourceFile, outputs: outputs).get()
    }

    /// `submitBundled` for a thread that may block (the dispatcher's): it waits on the connection's future itself.
    public func submitBundledWaiting(_ task: SegmentTask, sourceFile: String, outputs: [Int: String]) throws -> BundledAnswer {
        try bundledAnswer(task, sourceFile: sourceFile, outputs: outputs).wait()
    }

    public typealias BundledAnswer = (receipt: SegmentReceipt, envelope: SignedEnvelope, fetched: [Int: (address: ContentAddress, bytes: Int)]?)

    private func bundledAnswer(_ task: SegmentTask, sourceFile: String, outputs: [Int: String]) -> EventLoopFuture<BundledAnswer> {
        let url = baseURL + FarmerPath.tasks
        let checked = Mutex<(receipt: SegmentReceipt, envelope: SignedEnvelope)?>(nil)
        let headers: HTTPHeaders, body: HTTPClient.Body, address: ContentAddress
        do {
            address = try task.address()
            headers = try taskHeaders(task, bundled: true)
            body = try FarmHTTP.fileBody(sourceFile, to: url)
        } catch {
            return loop.makeFailedFuture(error)
        }
        let reader = TaskBundleReader(url: url, outputs: outputs, maximumOutputBytes: Self.maximumOutputBytes) { [self] bytes in
            let opened = try checkedReceipt(.init(status: 200, headers: [:], body: ByteBuffer(bytes: bytes)), for: task, address: address)
            checked.withLock { $0 = opened }
            return opened.receipt.rungs.map(\.height)
        }
        return FarmHTTP.answer(url, method: .POST, headers: headers, body: body, timeout: timeout, on: loop, into: TaskAnswerSink(reader: reader))
            .flatMapThrowing { [self] outcome in
                switch outcome {
                case let .reply(reply):
                    let (receipt, envelope) = try checkedReceipt(reply, for: task, address: address)
                    return (receipt, envelope, nil)
                case let .bundle(fetched):
                    guard let (receipt, envelope) = checked.withLock({ $0 }) else { throw FarmerCallError.badReply(url: baseURL, reason: "bundle without a receipt") }
                    return (receipt, envelope, fetched)
                }
            }
    }

    private func taskHeaders(_ task: SegmentTask, bundled: Bool) throws -> HTTPHeaders {
        let envelope = try SignedEnvelope.sign(task, method: "POST", path: FarmerPath.tasks, by: identity)
        var headers = HTTPHeaders()
        headers.add(name: SignedEnvelope.headerName, value: try envelope.headerValue())
        headers.add(name: "Content-Type", value: "application/octet-stream")
        if bundled { headers.add(name: "Accept", value: "\(TaskBundle.mediaType), application/json") }
        return headers
    }

    /// A task's answer: busy, refused, or a signed receipt that must be the farmer's, for this task, input and
    /// submitter, at no more than was agreed.
    private func checkedReceipt(_ reply: FarmHTTP.Reply, for task: SegmentTask, address: ContentAddress) throws -> (receipt: SegmentReceipt, envelope: SignedEnvelope) {
        if reply.status == 503 {
            let retry = reply.headers.first(name: "Retry-After").flatMap(Double.init).map { min(max($0, 0.1), 60) } ?? 1
            throw FarmerCallError.busy(url: baseURL, retryAfter: retry)
        }
        // A 5xx is the farmer answering that it failed: refused, not unreachable (the task moves to another farmer).
        guard reply.status == 200 else { throw FarmerCallError.refused(url: baseURL, status: reply.status, message: reply.text) }
        let signed = try decodeEnvelope(reply.bytes)
        let receipt: SegmentReceipt = try open(signed, path: FarmerPath.tasks)
        guard receipt.farmer == signed.signer, announcement.map({ $0.farmer == signed.signer }) ?? true else {
            throw FarmerCallError.badReply(url: baseURL, reason: "receipt not signed by the farmer")
        }
        guard receipt.input == task.source, receipt.task == address, receipt.submitter.map({ $0 == identity.publicIdentity }) ?? true else {
            throw FarmerCallError.badReply(url: baseURL, reason: "receipt is for another task, input or submitter")
        }
        // What the receipt charges is what a registry will pay: never above what the farmer announced, nor above the
        // task's ceiling; and its figures must multiply out, or a registry would refuse the verdict that carries it.
        let charged = receipt.price ?? .free
        if let ceiling = [task.maxPrice, announcement?.capabilities.price].compactMap({ $0 }).min(), charged > ceiling {
            throw FarmerCallError.badReply(url: baseURL, reason: "receipt charges \(charged) where \(ceiling) was agreed")
        }
        guard (try? charged.validate()) != nil, receipt.payablePixels != nil, receipt.rungs.count == task.ladder.count else {
            throw FarmerCallError.badReply(url: baseURL, reason: "receipt's rungs, pixels or price are out of range")
        }
        return (receipt, signed)
    }

    /// Streams one rung's output of a task this client sent into `file`; returns its content address and size.
    public func output(of task: SegmentTask, height: Int, to file: String) async throws -> (address: ContentAddress, bytes: Int) {
        let key = FarmerPath.taskKey(task: try task.address(), submitter: identity.publicIdentity)
        let path = FarmerPath.output(task: key, height: height)
        let envelope = try SignedEnvelope.sign(body: Data(), method: "GET", path: path, by: identity)
        var headers = HTTPHeaders()
        headers.add(name: SignedEnvelope.headerName, value: try envelope.headerValue())
        let (reply, address, bytes) = try await FarmHTTP.download(baseURL + path, headers: headers, to: file, timeout: timeout,
                                                                  maximumBytes: Self.maximumOutputBytes, on: loop)
        guard let address else {
            throw FarmerCallError.refused(url: baseURL, status: reply.status, message: reply.text)
        }
        return (address, bytes)
    }

    /// Times `bytes` random bytes up to the farmer, then `bytes` down; returns bits per second each way.
    public func measureBandwidth(uploadBytes: Int, downloadBytes: Int) async throws -> (up: Double, down: Double) {
        var generator = SystemRandomNumberGenerator()
        var payload = [UInt8](repeating: 0, count: uploadBytes)
        for index in payload.indices { payload[index] = UInt8.random(in: 0...255, using: &generator) }
        func timed(_ probe: BandwidthProbe, body: [UInt8]) async throws -> Double {
            let envelope = try SignedEnvelope.sign(probe, method: "POST", path: FarmerPath.bandwidth, by: identity)
            var headers = HTTPHeaders()
            headers.add(name: SignedEnvelope.headerName, value: try envelope.headerValue())
            let started = Date()
            let reply = try await FarmHTTP.send(baseURL + FarmerPath.bandwidth, method: .POST, headers: headers,
                                                body: .bytes(ByteBuffer(bytes: body)), timeout: timeout, maximumBytes: BandwidthProbe.maximumBytes)
            guard reply.status == 200, reply.body.readableBytes == probe.downloadBytes else {
                throw FarmerCallError.badReply(url: baseURL, reason: "bandwidth probe answered HTTP \(reply.status) with \(reply.body.readableBytes) bytes")
            }
            return max(Date().timeIntervalSince(started), 1e-6)
        }
        let up = try await timed(BandwidthProbe(uploadBytes: uploadBytes, downloadBytes: 0), body: payload)
        let down = try await timed(BandwidthProbe(uploadBytes: 0, downloadBytes: downloadBytes), body: [])
        return (Double(uploadBytes * 8) / up, Double(downloadBytes * 8) / down)
    }

    private func decodeEnvelope(_ body: Data) throws -> SignedEnvelope {
        do { return try JSONDecoder().decode(SignedEnvelope.self, from: body) } catch {
            throw FarmerCallError.badReply(url: baseURL, reason: "reply is not a signed envelope")
        }
    }

    /// Checks a signed response envelope (signature and freshness) and decodes its body.
    private func open<Message: Decodable>(_ envelope: SignedEnvelope, path: String) throws -> Message {
        let verifier = EnvelopeVerifier()
        do {
            _ = try verifier.verify(envelope, method: SignedEnvelope.responseMethod, path: path)
            return try envelope.decodeBody(Message.self)
        } catch {
            throw FarmerCallError.badReply(url: baseURL, reason: "\(error)")
        }
    }
}
