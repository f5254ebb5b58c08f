import PrismTestSupport
import Foundation

/// Test clips made from the fixtures with the ffmpeg CLI (the oracle), cached for the test run in one
/// temporary folder so several tests can share an expensive encode.
enum TestClips {
    static let fixtures: URL = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("fixtures")
    static let folder: URL = {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("prism-verify-tests-\(ProcessInfo.processInfo.processIdentifier)")
        try? FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }()
    private static let lock = NSLock()
    /// Guarded by `lock`.
    nonisolated(unsafe) private static var building: [String: NSLock] = [:]

    static func fixture(_ name: String) -> String { fixtures.appendingPathComponent(name).path }

    /// The path of `name` in the cache folder, made once with `ffmpeg -v error -y ARGS... OUT`.
    static func make(_ name: String, _ arguments: [String]) throws -> String {
        let output = folder.appendingPathComponent(name).path
        lock.lock()
        let clipLock = building[name] ?? NSLock()
        building[name] = clipLock
        lock.unlock()
        clipLock.lock()
        defer { clipLock.unlock() }
        if FileManager.default.fileExists(atPath: output) { return output }
        let partial = output + ".part." + (name as NSString).pathExtension
        try ffmpeg(arguments + [partial])
        try FileManager.default.moveItem(atPath: partial, toPath: output)
        return output
    }

    /// Runs the ffmpeg CLI and throws with its stderr when it fails.
    static func ffmpeg(_ arguments: [String]) throws {
        let result = try HostTool.run("ffmpeg", ["-nostdin", "-v", "error", "-y"] + arguments)
        if result.status != 0 { throw ClipError.ffmpegFailed(result.stderr) }
    }

    /// ffmpeg's own psnr and ssim summary for DIST against REF, parsed from its log.
    static func ffmpegMetrics(reference: String, distorted: String) throws -> (ssim: [String: Double], psnr: [String: Double]) {
        let result = try HostTool.run("ffmpeg", ["-nostdin", "-hide_banner", "-i", distorted, "-i", reference,
                                                 "-lavfi", "[0][1]ssim;[0][1]psnr", "-f", "null", "-"])
        func values(after marker: String) -> [String: Double] {
            guard let line = result.stderr.split(separator: "\n").first(where: { $0.contains(marker) }) else { return [:] }
            var out: [String: Double] = [:]
            for token in line.split(separator: " ") {
                let parts = token.split(separator: ":")
                if parts.count == 2, let value = Double(parts[1]) { out[parts[0].lowercased()] = value }
            }
            return out
        }
        return (values(after: "SSIM Y:"), values(after: "PSNR y:"))
    }

    enum ClipError: Error { case ffmpegFailed(String) }
}
