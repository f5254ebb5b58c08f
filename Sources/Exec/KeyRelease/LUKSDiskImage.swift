import Foundation

/// A LUKS2-encrypted disk image handled with `qemu-img` (Debian's qemu-utils), unlocked by a released disk key.
/// The key reaches qemu through a 0600 secret file, never the command line; its hex form is the LUKS passphrase
/// because qemu requires passphrases to be UTF-8.
public struct LUKSDiskImage: Sendable {
    /// A failure of qemu-img, with its last stderr line.
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    /// The image file.
    public let path: String
    /// The qemu-img binary to run.
    public let qemuImg: String

    public init(path: String, qemuImg: String = "/usr/bin/qemu-img") {
        self.path = path
        self.qemuImg = qemuImg
    }

    /// The qemu-img to use: `$PRISM_QEMU_IMG`, else the first `qemu-img` on PATH or in /usr/bin; nil if none.
    public static func findQemuImg() -> String? {
        let env = ProcessInfo.processInfo.environment
        if let explicit = env["PRISM_QEMU_IMG"] { return FileManager.default.isExecutableFile(atPath: explicit) ? explicit : nil }
        let dirs = (env["PATH"] ?? "").split(separator: ":").map(String.init) + ["/usr/bin", "/usr/local/bin"]
        return dirs.map { $0 + "/qemu-img" }.first { FileManager.default.isExecutableFile(atPath: $0) }
    }

    /// Creates an empty LUKS image of `size` bytes keyed by `key`.
    /// `iterationTimeMilliseconds` sets the PBKDF cost; nil keeps qemu's default (2 s).
    public func create(size: Int, key: [UInt8], iterationTimeMilliseconds: Int? = nil) throws {
        var options = "key-secret=sec0"
        if let ms = iterationTimeMilliseconds { options += ",iter-time=\(ms)" }
        // qemu-img times its PBKDF calibration in thread CPU time; on a VM with coarse accounting the first
        // round can read 0 ms ("Unable to get accurate CPU usage"). That is transient: try again.
        for attempt in 1...LUKSDiskImage.calibrationAttempts {
            do {
                try withSecret(key) { secret in
                    try run(["create", "-q", "-f", "luks", "--object", secret, "-o", options, path, String(size)])
                }
                return
            } catch where attempt < LUKSDiskImage.calibrationAttempts && String(describing: error).contains("accurate CPU usage") {
                try? FileManager.default.removeItem(atPath: path)
            }
        }
    }

    static let calibrationAttempts = 5

    /// Writes the raw file `source` into the decrypted image from offset 0.
    public func write(from source: String, key: [UInt8]) throws {
        try withSecret(key) { secret in
            try run(["convert", "-n", "--object", secret, "-f", "raw", source,
                     "--target-image-opts", "driver=luks,file.filename=\(path),key-secret=sec0"])
        }
    }

    /// Decrypts the whole image into the raw file `destination`; fails if `key` does not unlock it.
    public func read(into destination: String, key: [UInt8]) throws {
        try withSecret(key) { secret in
            try run(["convert", "--object", secret, "--image-opts", "driver=luks,file.filename=\(path),key-secret=sec0",
                     "-O", "raw", destination])
        }
    }

    private func withSecret<T>(_ key: [UInt8], _ body: (String) throws -> T) throws -> T {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("prism-luks-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: false, attributes: [.posixPermissions: 0o700])
        defer { try? FileManager.default.removeItem(at: dir) }
        let file = dir.appendingPathComponent("key")
        guard FileManager.default.createFile(atPath: file.path, contents: Data(Hex.encode(key).utf8), attributes: [.posixPermissions: 0o600]) else {
            throw Failure(description: "cannot write the LUKS key file in \(dir.path)")
        }
        return try body("secret,id=sec0,file=\(file.path),format=raw")
    }

    private func run(_ arguments: [String]) throws {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: qemuImg)
        process.arguments = arguments
        let err = Pipe()
        process.standardError = err
        process.standardOutput = FileHandle.nullDevice
        process.standardInput = FileHandle.nullDevice
        do { try process.run() } catch { throw Failure(description: "cannot run \(qemuImg): \(error.localizedDescription)") }
        let stderr = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            let lines = String(decoding: stderr, as: UTF8.self).split(separator: "\n")
            throw Failure(description: "qemu-img \(arguments[0]) failed: \(lines.last.map(String.init) ?? "exit \(process.terminationStatus)")")
        }
    }
}
