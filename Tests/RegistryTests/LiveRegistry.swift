import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import PrismTestSupport
import Testing

/// A real `prism registry serve` process listening on a free loopback port.
final class LiveRegistry: @unchecked Sendable {
    let process = Process()
    let baseURL: URL
    private let stderrFile: URL

    /// Starts the binary with `--listen 127.0.0.1:0` and waits for its "listening on" line.
    init(db: String, extraArguments: [String] = []) throws {
        stderrFile = FileManager.default.temporaryDirectory.appendingPathComponent("prism-registry-\(UUID().uuidString).log")
        FileManager.default.createFile(atPath: stderrFile.path, contents: nil)
        process.executableURL = PrismBinary.url
        process.arguments = ["registry", "serve", "--listen", "127.0.0.1:0", "--db", db] + extraArguments
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: stderrFile)
        process.standardInput = FileHandle.nullDevice
        try process.run()

        // Read stdout on a background thread until the first line, with a deadline.
        let firstLine = LineBox()
        let done = DispatchSemaphore(value: 0)
        let reader = stdout.fileHandleForReading
        DispatchQueue.global().async {
            var buffer = Data()
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                if let newline = buffer.firstIndex(of: 0x0A) {
                    firstLine.value = String(decoding: buffer[..<newline], as: UTF8.self)
                    break
                }
            }
            done.signal()
        }
        guard done.wait(timeout: .now() + 60) == .success, let line = firstLine.value,
              line.hasPrefix("listening on "), let url = URL(string: String(line.dropFirst("listening on ".count))) else {
            process.terminate()
            process.waitUntilExit()
            let log = (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? ""
            throw LiveRegistryError.didNotStart("registry did not report listening (exit \(process.terminationStatus)): \(log)")
        }
        baseURL = url
    }

    /// Sends SIGTERM, waits, and returns the exit status.
    @discardableResult
    func stop() -> Int32 {
        if process.isRunning { process.terminate() }
        process.waitUntilExit()
        try? FileManager.default.removeItem(at: stderrFile)
        return process.terminationStatus
    }

    /// What the registry logged so far.
    var log: String { (try? String(contentsOf: stderrFile, encoding: .utf8)) ?? "" }

    /// A real HTTP request over the socket; returns status and body.
    func request(_ method: String, _ path: String, body: Data? = nil) async throws -> (status: Int, body: Data) {
        var request = URLRequest(url: baseURL.appendingPathComponent(path))
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

private final class LineBox: @unchecked Sendable { var value: String? }
