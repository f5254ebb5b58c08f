import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Wire

/// Why a call to a farmer or registry did not give a usable answer.
public enum FarmerCallError: Error, CustomStringConvertible, Sendable {
    /// Connection refused or reset, or a 5xx: the peer is treated as gone.
    case unavailable(url: String, reason: String)
    /// No complete answer within the call's time limit.
    case timedOut(url: String, seconds: Double)
    /// 503 with Retry-After: full for now.
    case busy(url: String, retryAfter: Double)
    /// A 4xx: the peer refused this request.
    case refused(url: String, status: Int, message: String)
    /// The answer was not what a signed, honest reply must be (bad signature, wrong hashes, too large…).
    case badReply(url: String, reason: String)

    public var description: String {
        switch self {
        case let .unavailable(url, reason): return "\(url) unavailable: \(reason)"
        case let .timedOut(url, seconds): return "\(url) did not answer within \(seconds) s"
        case let .busy(url, retry): return "\(url) busy (retry after \(retry) s)"
        case let .refused(url, status, message): return "\(url) refused (\(status)): \(message)"
        case let .badReply(url, reason): return "\(url) gave a bad reply: \(reason)"
        }
    }
}

/// The farm's HTTP transport: one shared async-http-client, bodies streamed from and to files, every failure a
/// `FarmerCallError`.
public enum FarmHTTP {
    /// Largest reply kept in memory (signed envelopes, lists); bodies meant for files are streamed instead.
    public static let maximumInMemoryReply = 16 << 20

    public struct Reply: Sendable {
        public let status: Int
        public let headers: HTTPHeaders
        public let body: ByteBuffer
        public var bytes: Data { Data(body.readableBytesView) }
        public var text: String { String(decoding: body.readableBytesView.prefix(300), as: UTF8.self) }
    }

    /// Runs async farm calls from a thread that may block (the transcode pipeline's worker threads): the call
    /// runs as a task on an event loop's executor and this thread waits on its future. Never call it from an
    /// event loop or from async code.
    public static func wait<T: Sendable>(_ call: @escaping @Sendable () async throws -> T) throws -> T {
        try HTTPClient.shared.eventLoopGroup.any().makeFutureWithTask(call).wait()
    }

    /// Sends one request and collects the reply (at most `maximumBytes`).
    public static func send(_ url: String, method: HTTPMethod, headers: HTTPHeaders = [:], body: HTTPClientRequest.Body? = nil,
                            timeout: Double, maximumBytes: Int = maximumInMemoryReply) async throws -> Reply {
        let response = try await execute(url, method: method, headers: headers, body: body, timeout: timeout)
        do {
            let buffer = try await response.body.collect(upTo: maximumBytes)
            return Reply(status: Int(response.status.code), headers: response.headers, body: buffer)
        } catch is NIOTooManyBytesError {
            throw FarmerCallError.badReply(url: url, reason: "reply larger than \(maximumBytes) bytes")
        } catch {
            throw mapped(error, url: url, timeout: timeout)
        }
    }

    /// Sends one request and streams a 200 reply's body into `path` while hashing it (at most `maximumBytes`);
    /// any other status comes back with its (short) body and nothing written.
    public static func download(_ url: String, headers: HTTPHeaders, to path: String, timeout: Double, maximumBytes: Int,
                                on loop: EventLoop? = nil) async throws -> (reply: Reply, address: ContentAddress?, bytes: Int) {
        try await exchange(url, method: .GET, headers: headers, timeout: timeout, on: loop,
                           into: DownloadSink(url: url, path: path, maximumBytes: maximumBytes))
    }

    /// Sends one request whose body is `file`, streamed as the connection takes it, and collects the (short) reply.
    public static func send(_ url: String, method: HTTPMethod, headers: HTTPHeaders, file: String, timeout: Double,
                            on loop: EventLoop? = nil) async throws -> Reply {
        try await exchange(url, method: method, headers: headers, body: try fileBody(file, to: url), timeout: timeout, on: loop,
                           into: CollectingSink(url: url, maximumBytes: maximumInMemoryReply))
    }

    private static func execute(_ url: String, method: HTTPMethod, headers: HTTPHeaders, body: HTTPClientRequest.Body?,
                                timeout: Double) async throws -> HTTPClientResponse {
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers = headers
        request.body = body
        do {
            return try await HTTPClient.shared.execute(request, timeout: .milliseconds(Int64((timeout * 1000).rounded(.up))))
        } catch {
            throw mapped(error, url: url, timeout: timeout)
        }
    }

    /// Time limits become `.timedOut`; everything else that broke the exchange, `.unavailable`.
    static func mapped(_ error: Error, url: String, timeout: Double) -> FarmerCallError {
        if let error = error as? FarmerCallError { return error }
        if let error = error as? HTTPClientError,
           [HTTPClientError.deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout].contains(error) {
            return .timedOut(url: url, seconds: timeout)
        }
        return .unavailable(url: url, reason: String(describing: error))
    }
}
