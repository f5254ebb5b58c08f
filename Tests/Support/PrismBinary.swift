import Foundation

/// Locates and runs the built `prism` binary for tests of the command-line contract.
/// Uses $PRISM_BINARY when set, else the debug build beside the package.
public enum PrismBinary {
    public static var url: URL {
        if let path = ProcessInfo.processInfo.environment["PRISM_BINARY"] { return URL(fileURLWithPath: path) }
        return PackageRoot.url.appendingPathComponent(".build/debug/prism")
    }

    public struct Result: Sendable {
        public let status: Int32
        public let stdout: String
        public let stderr: String
        public init(status: Int32, stdout: String, stderr: String) {
            self.status = status
            self.stdout = stdout
            self.stderr = stderr
        }
    }

    /// Runs `prism ARGS...` and collects exit status and both streams.
    public static func run(_ arguments: [String], environment: [String: String]? = nil) throws -> Result {
        try ChildProcess.run(url, arguments, environment: environment)
    }
}

/// Runs a program to its end, collecting exit status and both output streams.
enum ChildProcess {
    static func run(_ executable: URL, _ arguments: [String], environment: [String: String]? = nil) throws -> PrismBinary.Result {
        let process = Process()
        process.executableURL = executable
        process.arguments = arguments
        if let environment { process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 } }
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Drain both pipes concurrently so a chatty child cannot block on a full pipe.
        let outBox = DataBox()
        let group = DispatchGroup()
        group.enter()
        DispatchQueue.global().async { outBox.data = out.fileHandleForReading.readDataToEndOfFile(); group.leave() }
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        group.wait()
        process.waitUntilExit()
        return PrismBinary.Result(status: process.terminationStatus, stdout: String(decoding: outBox.data, as: UTF8.self),
                                  stderr: String(decoding: errData, as: UTF8.self))
    }
}

private final class DataBox: @unchecked Sendable { var data = Data() }

/// The package's root folder, found from this file's place in it.
public enum PackageRoot {
    public static let url = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
}

/// The bundled clips under fixtures/.
public enum Fixtures {
    public static func path(_ name: String) -> String { PackageRoot.url.appendingPathComponent("fixtures").appendingPathComponent(name).path }

    /// The first 4 s of the 720p fixture as a phone stores a portrait clip: the same pixels with a 90° display matrix
    /// (stream copy, so the turn lives only in the container).
    public static func portraitCopy(to path: String) throws {
        try HostTool.succeed("ffmpeg", ["-v", "error", "-i", Fixtures.path("pan-720p.mp4"), "-t", "4", "-an", "-c", "copy",
                                        "-metadata:s:v:0", "rotate=90", path])
    }
}

/// A host tool that had to succeed did not.
public struct HostToolFailure: Error, CustomStringConvertible {
    public let description: String
}

/// A fresh temporary folder, removed by `remove()`.
public struct TemporaryFolder: Sendable {
    public let url: URL
    public init(_ label: String = "prism-test") throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("\(label)-\(UUID().uuidString.prefix(8))")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    public func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    public func remove() { try? FileManager.default.removeItem(at: url) }
}

/// Runs a host tool (ffmpeg, ffprobe…) and returns its status and output.
public enum HostTool {
    @discardableResult
    public static func run(_ tool: String, _ arguments: [String]) throws -> PrismBinary.Result {
        try ChildProcess.run(URL(fileURLWithPath: "/usr/bin/env"), [tool] + arguments)
    }

    /// Runs a tool that must succeed (making a test clip with the ffmpeg CLI, say); throws with what it said otherwise.
    public static func succeed(_ tool: String, _ arguments: [String]) throws {
        let result = try run(tool, arguments)
        guard result.status == 0 else { throw HostToolFailure(description: "\(tool) \(arguments.joined(separator: " ")): \(result.stderr)") }
    }

    /// PSNR (luma and chroma, average) of the first frame of `a` and `b`, both scaled to `width`x`height`, by FFmpeg's own
    /// filter (the ffmpeg CLI turns a source with a display matrix upright on its own).
    public static func firstFramePSNR(_ a: String, _ b: String, width: Int, height: Int) throws -> Double {
        try psnr(a, b, width: width, height: height, frames: 1)
    }

    /// FFmpeg's average PSNR of `b` against `a`, both scaled to `width`x`height`, over their first `frames` frames (nil: all).
    public static func psnr(_ a: String, _ b: String, width: Int, height: Int, frames: Int? = nil) throws -> Double {
        let limit = frames.map { ["-frames:v", String($0)] } ?? []
        let result = try run("ffmpeg", ["-v", "info", "-i", a, "-i", b] + limit + ["-lavfi",
                                        "[0:v]scale=\(width):\(height)[a];[1:v]scale=\(width):\(height)[b];[a][b]psnr", "-f", "null", "-"])
        let line = result.stderr.split(separator: "\n").first { $0.contains("PSNR") } ?? ""
        return line.split(separator: " ").first { $0.hasPrefix("average:") }.flatMap { Double($0.dropFirst("average:".count)) } ?? 0
    }

    /// Whether `tool` is on PATH.
    public static func exists(_ tool: String) -> Bool {
        (try? run("sh", ["-c", "command -v \(tool)"]))?.status == 0
    }
}
