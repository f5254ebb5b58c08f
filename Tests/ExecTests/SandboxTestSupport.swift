import Exec
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Host tools the sandbox tests need; tests that lack one are skipped with the reason shown.
enum HostTool {
    static func path(_ name: String) -> String? {
        for folder in ["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"] {
            if FileManager.default.isExecutableFile(atPath: "\(folder)/\(name)") { return "\(folder)/\(name)" }
        }
        return nil
    }
    static var hasBwrap: Bool { path("bwrap") != nil }
    static var hasBusybox: Bool { FileManager.default.fileExists(atPath: "/bin/busybox") }
    static var canSandbox: Bool { hasBwrap && hasBusybox }
    static var canUnpackImages: Bool { canSandbox && path("umoci") != nil }
}

/// A scratch folder removed when the test is done with it.
final class Scratch {
    let url: URL
    init() throws {
        url = FileManager.default.temporaryDirectory.appendingPathComponent("prism-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    }
    deinit { try? FileManager.default.removeItem(at: url) }
    func path(_ name: String) -> String { url.appendingPathComponent(name).path }
    func write(_ name: String, _ text: String) throws -> String {
        try Data(text.utf8).write(to: url.appendingPathComponent(name))
        return path(name)
    }
    func read(_ name: String) -> String? { try? String(contentsOfFile: path(name), encoding: .utf8) }
}

/// Builds the test root file system from the host's static busybox: only /bin (busybox plus an applet
/// link per command), no /in, /out, /dev, /proc or /tmp, so the sandbox has to make those itself.
enum BusyboxRootfs {
    static func make(in scratch: Scratch) throws -> String {
        let root = scratch.path("rootfs")
        let bin = root + "/bin"
        if FileManager.default.fileExists(atPath: bin + "/busybox") { return root }
        try FileManager.default.createDirectory(atPath: bin, withIntermediateDirectories: true)
        try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: bin + "/busybox")
        for applet in ["sh", "echo", "cat", "id", "sleep", "head", "tail", "nc", "ls", "seq", "wc", "touch",
                       "dd", "grep", "stat", "mkdir", "true", "false", "kill", "ps"] {
            try FileManager.default.createSymbolicLink(atPath: bin + "/" + applet, withDestinationPath: "busybox")
        }
        return root
    }
}

/// Runs a job and captures its stdout and stderr (through files, so a chatty job cannot block on a pipe).
struct CapturedRun {
    let result: JobResult
    let stdout: String
    let stderr: String
    let seconds: Double

    static func run(_ spec: JobSpec) throws -> CapturedRun {
        let scratch = try Scratch()
        _ = FileManager.default.createFile(atPath: scratch.path("stdout"), contents: nil)
        _ = FileManager.default.createFile(atPath: scratch.path("stderr"), contents: nil)
        let out = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.path("stdout")))
        let err = try FileHandle(forWritingTo: URL(fileURLWithPath: scratch.path("stderr")))
        let start = Date()
        let result = try PlainSandbox().run(spec, standardOutput: out, standardError: err)
        let seconds = Date().timeIntervalSince(start)
        try out.close()
        try err.close()
        return CapturedRun(result: result, stdout: scratch.read("stdout") ?? "", stderr: scratch.read("stderr") ?? "", seconds: seconds)
    }
}

/// Host processes whose command line is exactly `words` (NUL-separated in /proc/PID/cmdline).
func hostProcesses(withCommandLine words: [String]) -> [Int32] {
    let wanted = Data((words.joined(separator: "\0") + "\0").utf8)
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc")) ?? []
    return entries.compactMap { entry in
        guard let pid = Int32(entry), let cmdline = FileManager.default.contents(atPath: "/proc/\(entry)/cmdline") else { return nil }
        return cmdline == wanted ? pid : nil
    }
}

/// A TCP listener on the host's 127.0.0.1 that accepts connections in its backlog without serving them.
final class LoopbackListener {
    let fd: Int32
    let port: UInt16

    init() throws {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = 0
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 16) == 0 else { throw POSIXError(.EADDRNOTAVAIL) }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        self.fd = fd
        port = UInt16(bigEndian: address.sin_port)
        // Accept and hang up at once, so a client that got through sees EOF instead of waiting.
        Thread.detachNewThread {
            while true {
                let client = accept(fd, nil, nil)
                if client < 0 { return }
                close(client)
            }
        }
    }

    deinit {
        shutdown(fd, Int32(SHUT_RDWR))
        close(fd)
    }
}
