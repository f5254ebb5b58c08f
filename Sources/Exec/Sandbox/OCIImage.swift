import Foundation

/// Unpacks OCI images into plain root file systems with umoci, rootless (no device nodes, no chown
/// to other users), so the sandbox can run them like any folder.
public enum OCIImage {
    /// Unpacks `image` (a layout folder or a tar of one) into `destination`, which must not exist yet.
    public static func unpack(_ image: RootFileSystem, into destination: URL) throws {
        try withLayout(of: image, besides: destination) { layout in
            try unpackLayout(layout, tag: image.tag, into: destination)
        }
    }

    /// The root file system of `image` inside `cache`, unpacked on first use and kept under its manifest
    /// digest, so the many jobs a farmer runs in one image share one read-only copy. umoci checks every
    /// blob against its digest while unpacking, so the folder name vouches for the content.
    public static func cachedRootfs(_ image: RootFileSystem, cache: URL) throws -> String {
        try FileManager.default.createDirectory(at: cache, withIntermediateDirectories: true)
        return try withLayout(of: image, besides: cache.appendingPathComponent("unused")) { layout in
            let digest = try manifestDigest(layout: layout, tag: image.tag ?? "latest")
            let entry = cache.appendingPathComponent(digest.replacingOccurrences(of: ":", with: "-"))
            if FileManager.default.fileExists(atPath: entry.path + "/rootfs") { return entry.path + "/rootfs" }
            // Unpacked beside and renamed into place, so a concurrent job never sees half an image.
            let partial = cache.appendingPathComponent(".partial-\(UUID().uuidString)")
            defer { try? FileManager.default.removeItem(at: partial) }
            try FileManager.default.createDirectory(at: partial, withIntermediateDirectories: true)
            try unpackLayout(layout, tag: image.tag, into: partial.appendingPathComponent("rootfs"))
            do {
                try FileManager.default.moveItem(at: partial, to: entry)
            } catch where FileManager.default.fileExists(atPath: entry.path + "/rootfs") {
                // Another job unpacked the same image first; its copy is as good as ours.
            }
            return entry.path + "/rootfs"
        }
    }

    /// The digest (e.g. `sha256:…`) of the manifest `tag` names in a layout's index.json.
    static func manifestDigest(layout: String, tag: String) throws -> String {
        guard let data = FileManager.default.contents(atPath: layout + "/index.json"),
              let index = try? JSONSerialization.jsonObject(with: data) as? [String: Any],
              let manifests = index["manifests"] as? [[String: Any]] else {
            throw JobSpecError.badImage("\(layout)/index.json is not an OCI index")
        }
        for manifest in manifests {
            let annotations = manifest["annotations"] as? [String: String] ?? [:]
            if annotations["org.opencontainers.image.ref.name"] == tag, let digest = manifest["digest"] as? String,
               digest.hasPrefix("sha256:"), digest.dropFirst(7).allSatisfy(\.isHexDigit) {
                return digest
            }
        }
        throw JobSpecError.badImage("no tag \"\(tag)\" in \(layout)")
    }

    /// Runs `body` with the path of a layout folder: the image itself, or a tar archive extracted for the call.
    private static func withLayout<T>(of image: RootFileSystem, besides neighbour: URL, _ body: (String) throws -> T) throws -> T {
        guard image.kind == .ociArchive else { return try body(image.path) }
        let folder = neighbour.deletingLastPathComponent().appendingPathComponent(".layout-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        guard let tar = HostTools.find("tar") else { throw SandboxError.engineMissing("tar not found to read OCI archives") }
        let result = try HostTools.run(tar, ["-xf", image.path, "-C", folder.path, "--no-same-owner"])
        guard result.status == 0 else { throw JobSpecError.badImage("cannot extract \(image.path): \(oneLine(result.output))") }
        guard FileManager.default.fileExists(atPath: folder.path + "/index.json") else {
            throw JobSpecError.badImage("\(image.path) holds no OCI layout (no index.json at its top)")
        }
        return try body(folder.path)
    }

    private static func unpackLayout(_ layout: String, tag: String?, into destination: URL) throws {
        guard let umoci = HostTools.find("umoci") else {
            throw SandboxError.engineMissing("umoci not found (install the umoci package) to unpack OCI images")
        }
        let reference = "\(layout):\(tag ?? "latest")"
        let result = try HostTools.run(umoci, ["raw", "unpack", "--rootless", "--image", reference, destination.path])
        guard result.status == 0 else { throw JobSpecError.badImage("umoci cannot unpack \(reference): \(oneLine(result.output))") }
    }

    static func oneLine(_ text: String) -> String {
        text.split(separator: "\n").last.map { $0.trimmingCharacters(in: .whitespaces) } ?? ""
    }
}
