import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Wire

/// Calls for general jobs on one farmer: blobs up (only those it lacks), the signed order, the signed receipt checked
/// against the order, and outputs and logs streamed down and hashed on the way.
public struct JobClient: Sendable {
    public let baseURL: String
    let identity: SigningIdentity
    public let timeout: Double
    /// Largest output or log file taken from a farmer.
    public static let maximumFileBytes = 4 << 30

    public init(baseURL: String, identity: SigningIdentity, timeout: Double) {
        self.baseURL = baseURL.hasSuffix("/") ? String(baseURL.dropLast()) : baseURL
        self.identity = identity
        self.timeout = timeout
    }

    private func signedHeaders(method: String, path: String, body: Data = Data()) throws -> HTTPHeaders {
        let envelope = try SignedEnvelope.sign(body: body, method: method, path: path, by: identity)
        var headers = HTTPHeaders()
        headers.add(name: SignedEnvelope.headerName, value: try envelope.headerValue())
        return headers
    }

    /// Uploads `file` as the blob `address` unless the farmer holds it already; returns the bytes sent (0: it had it).
    public func upload(_ file: String, address: ContentAddress) async throws -> Int {
        let path = JobPath.blob(address)
        let held = try await FarmHTTP.send(baseURL + path, method: .HEAD, timeout: timeout)
        if held.status == 200 { return 0 }
        guard held.status == 404 else { throw FarmerCallError.refused(url: baseURL, status: held.status, message: held.text) }
        var headers = try signedHeaders(method: "PUT", path: path)
        headers.add(name: "Content-Type", value: "application/octet-stream")
        let reply = try await FarmHTTP.send(baseURL + path, method: .PUT, headers: headers, file: file, timeout: timeout)
        guard reply.status == 200 else { throw FarmerCallError.refused(url: baseURL, status: reply.status, message: reply.text) }
        return PlainFile.size(of: file) ?? 0
    }

    /// Sends the order and waits for the job to end; returns the farmer's receipt after checking its signature and that
    /// it is for this order, this submitter and the farmer `farmer` (when known).
    public func run(_ order: JobOrder, farmer: PublicIdentity?) async throws -> (receipt: JobReceipt, envelope: SignedEnvelope) {
        let headers = try signedHeaders(method: "POST", path: JobPath.jobs, body: try WireCoding.canonicalBytes(order))
        let reply = try await FarmHTTP.send(baseURL + JobPath.jobs, method: .POST, headers: headers, timeout: timeout)
        if reply.status == 503 {
            let retry = reply.headers.first(name: "Retry-After").flatMap(Double.init).map { min(max($0, 0.1), 60) } ?? 1
            throw FarmerCallError.busy(url: baseURL, retryAfter: retry)
        }
        guard reply.status == 200 else { throw FarmerCallError.refused(url: baseURL, status: reply.status, message: reply.text) }
        let envelope: SignedEnvelope
        do { envelope = try WireCoding.decode(SignedEnvelope.self, from: reply.bytes) } catch {
            throw FarmerCallError.badReply(url: baseURL, reason: "the answer is not a signed receipt")
        }
        let receipt: JobReceipt
        do {
            // A stored receipt answers a repeated order: its age does not matter, its signature does.
            try EnvelopeVerifier(window: 10 * 365 * 86_400).authenticate(envelope, method: SignedEnvelope.responseMethod, path: JobPath.jobs)
            receipt = try envelope.decodeBody(JobReceipt.self)
            try receipt.validate()
        } catch {
            throw FarmerCallError.badReply(url: baseURL, reason: "the job receipt does not check out: \(error)")
        }
        guard receipt.farmer == envelope.signer, farmer.map({ $0 == envelope.signer }) ?? true, receipt.submitter == identity.publicIdentity,
              receipt.order == (try order.address()), receipt.image == order.image, receipt.inputs == order.inputs else {
            throw FarmerCallError.badReply(url: baseURL, reason: "the job receipt is for another order, submitter or farmer")
        }
        return (receipt, envelope)
    }

    /// Streams the job's `index`-th output (or its `stdout`/`stderr` log) into `file`; fails unless it hashes to what the
    /// receipt says.
    public func download(_ order: JobOrder, item: JobFile, index: Int?, to file: String) async throws {
        let key = FarmerPath.taskKey(task: try order.address(), submitter: identity.publicIdentity)
        let path = index.map { JobPath.output(job: key, index: $0) } ?? "\(JobPath.jobs)/\(key)/log/\(item.name)"
        let headers = try signedHeaders(method: "GET", path: path)
        try FileManager.default.createDirectory(at: URL(fileURLWithPath: file).deletingLastPathComponent(), withIntermediateDirectories: true)
        let (reply, address, _) = try await FarmHTTP.download(baseURL + path, headers: headers, to: file, timeout: timeout,
                                                              maximumBytes: Self.maximumFileBytes)
        guard let address else { throw FarmerCallError.refused(url: baseURL, status: reply.status, message: reply.text) }
        guard address == item.content else {
            try? FileManager.default.removeItem(atPath: file)
            throw FarmerCallError.badReply(url: baseURL, reason: "\(item.name) does not hash to what the receipt says")
        }
    }
}
