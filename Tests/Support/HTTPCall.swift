import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// One plain HTTP request from a test, waited for: the status (-1 when no answer came) and the body.
public enum HTTPCall {
    /// Not `URLSession.shared`: tests that hold connections to a stalling server open must not queue other tests'
    /// calls to 127.0.0.1 behind them (a live test's calls waited out 60 s timeouts that way).
    private static let session: URLSession = {
        let configuration = URLSessionConfiguration.ephemeral
        configuration.httpMaximumConnectionsPerHost = 64
        configuration.timeoutIntervalForRequest = 30
        return URLSession(configuration: configuration)
    }()

    public static func send(_ method: String, _ url: String, headers: [String: String] = [:], body: Data? = nil) -> (status: Int, body: Data) {
        var request = URLRequest(url: URL(string: url)!)
        request.cachePolicy = .reloadIgnoringLocalCacheData  // ports are reused between tests' servers
        request.httpMethod = method
        request.httpBody = body
        for (name, value) in headers { request.setValue(value, forHTTPHeaderField: name) }
        let done = DispatchSemaphore(value: 0)
        let box = Box()
        session.dataTask(with: request) { data, response, _ in
            box.value = ((response as? HTTPURLResponse)?.statusCode ?? -1, data ?? Data())
            done.signal()
        }.resume()
        done.wait()
        return box.value
    }

    private final class Box: @unchecked Sendable { var value: (Int, Data) = (0, Data()) }  // unchecked: set before `done` signals
}
