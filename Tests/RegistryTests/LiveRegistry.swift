import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PrismTestSupport
import Testing

/// A real `prism registry serve` process listening on a free loopback port.
final class LiveRegistry: @unchecked Sendable {
    let server: LiveServer
    let baseURL: URL
    var process: Process { server.process }

    /// Starts the binary with `--listen 127.0.0.1:0` and waits for its "listening on" line.
    init(db: String, extraArguments: [String] = []) throws {
        do {
            server = try LiveServer(["registry", "serve", "--listen", "127.0.0.1:0", "--db", db] + extraArguments, timeout: 60)
        } catch {
            throw LiveRegistryError.didNotStart("registry did not report listening: \(error)")
        }
        baseURL = URL(string: server.url)!
    }

    /// Sends SIGTERM, waits, and returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        server.stop()
        return server.process.terminationStatus
    }

    /// What the registry logged so far.
    var log: String { server.log }

    /// A real HTTP request over the socket; returns status and body.
    func request(_ method: String, _ path: String, body: Data? = nil) async throws -> (status: Int, body: Data) {
        var request = URLRequest(url: baseURL.appendingPathComponent(path))
        // Ports are reused between the tests' registries: a page cached from another one must never answer.
        request.cachePolicy = .reloadIgnoringLocalCacheData
        request.httpMethod = method
        if let body {
            request.httpBody = body
            request.setValue("application/json", forHTTPHeaderField: "Content-Type")
        }
        let (data, response) = try await URLSession.shared.data(for: request)
        return ((response as? HTTPURLResponse)?.statusCode ?? -1, data)
    }
}

enum LiveRegistryError: Error { case didNotStart(String) }

