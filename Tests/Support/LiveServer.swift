import Foundation

/// A real `prism … serve` process on a free loopback port, started by a test and stopped by it.
public final class LiveServer: @unchecked Sendable {
    public let process = Process()
    /// `http://127.0.0.1:PORT` from the server's "listening on URL[ as ID]" line.
    public let url: String
    /// The rest of that line (a farmer prints `as ed25519:…`).
    public let banner: String
    public let logFile: URL

    public enum StartError: Error, CustomStringConvertible {
        case didNotStart(String)
        public var description: String { if case .didNotStart(let text) = self { return text }; return "" }
    }

    /// Runs `prism ARGUMENTS` and waits up to `timeout` seconds for its listening line.
    public init(_ arguments: [String], timeout: TimeInterval = 120) throws {
        logFile = FileManager.default.temporaryDirectory.appendingPathComponent("prism-server-\(UUID().uuidString).log")
        _ = FileManager.default.createFile(atPath: logFile.path, contents: nil)
        process.executableURL = PrismBinary.url
        process.arguments = arguments
        let stdout = Pipe()
        process.standardOutput = stdout
        process.standardError = try FileHandle(forWritingTo: logFile)
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let box = LineBox()
        let done = DispatchSemaphore(value: 0)
        let reader = stdout.fileHandleForReading
        DispatchQueue.global().async {
            var buffer = Data()
            while true {
                let chunk = reader.availableData
                if chunk.isEmpty { break }
                buffer.append(chunk)
                if let newline = buffer.firstIndex(of: 0x0A) {
                    box.set(String(decoding: buffer[..<newline], as: UTF8.self))
                    break
                }
            }
            done.signal()
        }
        guard done.wait(timeout: .now() + timeout) == .success, let line = box.get(), line.hasPrefix("listening on ") else {
            process.terminate()
            process.waitUntilExit()
            throw StartError.didNotStart("\(arguments.prefix(2).joined(separator: " ")) did not start: \((try? String(contentsOf: logFile, encoding: .utf8)) ?? "")")
        }
        let rest = line.dropFirst("listening on ".count).split(separator: " ", maxSplits: 1)
        url = String(rest[0])
        banner = rest.count > 1 ? String(rest[1]) : ""
    }

    /// SIGTERM (graceful) or SIGKILL; waits for the exit.
    public func stop(kill: Bool = false) {
        if process.isRunning {
            if kill { Foundation.kill(process.processIdentifier, SIGKILL) } else { process.terminate() }
        }
        process.waitUntilExit()
    }

    public var log: String { (try? String(contentsOf: logFile, encoding: .utf8)) ?? "" }

    deinit {
        if process.isRunning { Foundation.kill(process.processIdentifier, SIGKILL); process.waitUntilExit() }
        try? FileManager.default.removeItem(at: logFile)
    }
}

private final class LineBox: @unchecked Sendable {
    private let lock = NSLock()
    private var value: String?
    func set(_ line: String) { lock.lock(); value = line; lock.unlock() }
    func get() -> String? { lock.lock(); defer { lock.unlock() }; return value }
}
