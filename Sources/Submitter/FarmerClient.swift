import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import Wire

/// Why a call to a farmer did not give a usable answer.
public enum FarmerCallError: Error, CustomStringConvertible, Sendable {
    /// Connection refused, timed out, or a 5xx: the farmer is treated as gone.
    case unavailable(url: String, reason: String)
    /// 503 with Retry-After: full for now.
    case busy(url: String, retryAfter: Double)
    /// A 4xx: the farmer refused this request.
    case refused(url: String, status: Int, message: String)
    /// The answer was not what a signed, honest reply must be (bad signature, wrong hashes…).
    case badReply(url: String, reason: String)

    public var description: String {
        switch self {
        case let .unavailable(url, reason): return "\(url) unavailable: \(reason)"
        case let .busy(url, retry): return "\(url) busy (retry after \(retry) s)"
        case let .refused(url, status, message): return "\(url) refused (\(status)): \(message)"
        case let .badReply(url, reason): return "\(url) gave a bad reply: \(reason)"
        }
    }
}

/// Blocking HTTP calls to one farmer, every request signed by the submitter, every reply checked.
public final class FarmerClient: @unchecked Sendable {
    public let baseURL: String
    let identity: SigningIdentity
    let session: URLSession
    /// The key this client signs with (a challenger opens a second client with a longer timeout).
    public var identityForChallenges: SigningIdentity { identity }

    /// Filled by `capabilities()`: who this farmer proved to be.
    public private(set) var announcement: FarmerAnnouncement?

    public init(baseURL: String, identity: SigningIdentity, timeout: TimeInterval) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.identity = identity
        let configuration = URLSessionConfiguration.ephemeral
        configuration.timeoutIntervalForRequest = timeout
        configuration.timeoutIntervalForResource = timeout
        session = URLSession(configuration: configuration)
    }

    /// Fetches and checks the farmer's signed capabilities (the signer must be the farmer it names).
    @discardableResult
    public func capabilities() throws -> FarmerAnnouncement {
        let (status, body, _) = try send(method: "GET", path: FarmerPath.capabilities, body: nil, envelope: nil)
        guard status == 200 else { throw FarmerCallError.refused(url: baseURL, status: status, message: String(decoding: body, as: UTF8.self)) }
        let envelope = try decodeEnvelope(body)
        let announcement: FarmerAnnouncement = try open(envelope, path: FarmerPath.capabilities)
        guard announcement.farmer == envelope.signer else { throw FarmerCallError.badReply(url: baseURL, reason: "capabilities signed by another key") }
        self.announcement = announcement
        return announcement
    }

    /// Sends a task with its source bytes; returns the farmer's signed receipt after checking it.
    public func submit(_ task: SegmentTask, source: Data) throws -> SegmentReceipt {
        let envelope = try SignedEnvelope.sign(task, method: "POST", path: FarmerPath.tasks, by: identity)
        let (status, body, headers) = try send(method: "POST", path: FarmerPath.tasks, body: source, envelope: envelope)
        if status == 503 {
            let retry = headers["Retry-After"].flatMap(Double.init) ?? 1
            throw FarmerCallError.busy(url: baseURL, retryAfter: retry)
        }
        if status >= 500 { throw FarmerCallError.unavailable(url: baseURL, reason: "HTTP \(status): \(String(decoding: body.prefix(300), as: UTF8.self))") }
        guard status == 200 else { throw FarmerCallError.refused(url: baseURL, status: status, message: String(decoding: body.prefix(300), as: UTF8.self)) }
        let reply = try decodeEnvelope(body)
        let receipt: SegmentReceipt = try open(reply, path: FarmerPath.tasks)
        guard receipt.farmer == reply.signer, announcement.map({ $0.farmer == reply.signer }) ?? true else {
            throw FarmerCallError.badReply(url: baseURL, reason: "receipt not signed by the farmer")
        }
        guard receipt.input == task.source, receipt.task == (try task.address()) else {
            throw FarmerCallError.badReply(url: baseURL, reason: "receipt is for another task or input")
        }
        return receipt
    }

    /// Downloads one rung's output of a task this submitter sent.
    public func output(of task: SegmentTask, height: Int) throws -> Data {
        let key = FarmerPath.taskKey(task: try task.address(), submitter: identity.publicIdentity)
        let path = FarmerPath.output(task: key, height: height)
        let envelope = try SignedEnvelope.sign(body: Data(), method: "GET", path: path, by: identity)
        let (status, body, _) = try send(method: "GET", path: path, body: nil, envelope: envelope)
        guard status == 200 else {
            if status >= 500 { throw FarmerCallError.unavailable(url: baseURL, reason: "HTTP \(status)") }
            throw FarmerCallError.refused(url: baseURL, status: status, message: String(decoding: body.prefix(300), as: UTF8.self))
        }
        return body
    }

    /// Times `bytes` random bytes up to the farmer, then `bytes` down; returns bits per second each way.
    public func measureBandwidth(uploadBytes: Int, downloadBytes: Int) throws -> (up: Double, down: Double) {
        var generator = SystemRandomNumberGenerator()
        let payload = Data((0..<uploadBytes).map { _ in UInt8.random(in: 0...255, using: &generator) })
        func timed(_ probe: BandwidthProbe, body: Data) throws -> Double {
            let envelope = try SignedEnvelope.sign(probe, method: "POST", path: FarmerPath.bandwidth, by: identity)
            let started = Date()
            let (status, reply, _) = try send(method: "POST", path: FarmerPath.bandwidth, body: body, envelope: envelope)
            guard status == 200, reply.count == probe.downloadBytes else {
                throw FarmerCallError.badReply(url: baseURL, reason: "bandwidth probe answered HTTP \(status) with \(reply.count) bytes")
            }
            return max(Date().timeIntervalSince(started), 1e-6)
        }
        let up = try timed(BandwidthProbe(uploadBytes: uploadBytes, downloadBytes: 0), body: payload)
        let down = try timed(BandwidthProbe(uploadBytes: 0, downloadBytes: downloadBytes), body: Data())
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

    private func send(method: String, path: String, body: Data?, envelope: SignedEnvelope?) throws -> (Int, Data, [String: String]) {
        guard let url = URL(string: baseURL + path) else { throw FarmerCallError.refused(url: baseURL, status: 0, message: "not a URL") }
        var request = URLRequest(url: url)
        request.httpMethod = method
        if let envelope { request.setValue(try envelope.headerValue(), forHTTPHeaderField: SignedEnvelope.headerName) }
        if let body {
            request.httpBody = body
            request.setValue("application/octet-stream", forHTTPHeaderField: "Content-Type")
        }
        let done = DispatchSemaphore(value: 0)
        let box = ReplyBox()
        let call = session.dataTask(with: request) { data, response, error in
            box.set(data, response as? HTTPURLResponse, error)
            done.signal()
        }
        call.resume()
        done.wait()
        let (data, response, error) = box.get()
        if let error { throw FarmerCallError.unavailable(url: baseURL, reason: error.localizedDescription) }
        guard let response else { throw FarmerCallError.unavailable(url: baseURL, reason: "no response") }
        var headers: [String: String] = [:]
        for (key, value) in response.allHeaderFields { headers[String(describing: key)] = String(describing: value) }
        return (response.statusCode, data ?? Data(), headers)
    }
}

private final class ReplyBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: (Data?, HTTPURLResponse?, Error?) = (nil, nil, nil)
    func set(_ data: Data?, _ response: HTTPURLResponse?, _ error: Error?) { lock.lock(); value = (data, response, error); lock.unlock() }
    func get() -> (Data?, HTTPURLResponse?, Error?) { lock.lock(); defer { lock.unlock() }; return value }
}
