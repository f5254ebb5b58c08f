import Foundation

/// Finds host programs (bwrap, umoci, prlimit, qemu) on PATH plus the usual system folders, since a
/// farmer started from a service manager may have a thin PATH.
enum HostTools {
    static func find(_ name: String) -> String? {
        let path = ProcessInfo.processInfo.environment["PATH"] ?? ""
        let folders = path.split(separator: ":").map(String.init) + ["/usr/local/bin", "/usr/bin", "/bin", "/usr/sbin", "/sbin"]
        for folder in folders where !folder.isEmpty {
            let candidate = folder + "/" + name
            if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
        }
        return nil
    }

    /// Runs a host tool to completion and returns its status and combined output. For short helper
    /// runs (umoci, tar, --version) only; jobs go through `PlainSandbox`.
    static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: data, as: UTF8.self))
    }
}

/// What general jobs this host can run in the plain sandbox.
public enum JobHost {
    /// Tools the plain sandbox needs for an OCI image that are missing here (empty: it can run them).
    public static var missingForImages: [String] {
        ["bwrap", "umoci", "tar"].filter { HostTools.find($0) == nil }
    }
}
