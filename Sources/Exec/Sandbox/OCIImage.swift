import Foundation

/// Unpacks OCI images into plain root file systems with umoci, rootless (no device nodes, no chown
/// to other users), so the sandbox can run them like any folder.
public enum OCIImage {
    /// Unpacks `image` (a layout folder or a tar of one) into `destination`, which must not exist yet.
    public static func unpack(_ image: RootFileSystem, into destination: URL) throws {
        guard let umoci = HostTools.find("umoci") else {
            throw SandboxError.engineMissing("umoci not found (install the umoci package) to unpack OCI images")
        }
        var layout = image.path
        var extracted: URL?
        defer { if let extracted { try? FileManager.default.removeItem(at: extracted) } }
        if image.kind == .ociArchive {
            let folder = destination.deletingLastPathComponent().appendingPathComponent(".layout-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
            extracted = folder
            guard let tar = HostTools.find("tar") else { throw SandboxError.engineMissing("tar not found to read OCI archives") }
            let result = try HostTools.run(tar, ["-xf", image.path, "-C", folder.path, "--no-same-owner"])
            guard result.status == 0 else { throw JobSpecError.badImage("cannot extract \(image.path): \(oneLine(result.output))") }
            guard FileManager.default.fileExists(atPath: folder.path + "/index.json") else {
                throw JobSpecError.badImage("\(image.path) holds no OCI layout (no index.json at its top)")
            }
            layout = folder.path
        }
        let reference = "\(layout):\(image.tag ?? "latest")"
        let result = try HostTools.run(umoci, ["raw", "unpack", "--rootless", "--image", reference, destination.path])
        guard result.status == 0 else { throw JobSpecError.badImage("umoci cannot unpack \(reference): \(oneLine(result.output))") }
    }

    static func oneLine(_ text: String) -> String {
        text.split(separator: "\n").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
    }
}
