import Foundation

/// Read-only host paths a dynamically linked host program needs to run inside a minimal root file
/// system: its own folder, the shared-library folders (the usual ones plus every folder `ldd` resolves
/// its libraries to, such as a Swift toolchain's runtime), the loader's cache and Debian's alternatives
/// (libblas and friends resolve through /etc/alternatives). The transcoder uses this to run a segment
/// task with the host's `prism` and FFmpeg libraries inside a busybox or image rootfs.
public enum HostRuntime {
    /// Folders and files searched by the dynamic loader on Debian-like hosts.
    static let libraryPaths = ["/usr/lib", "/lib", "/lib64", "/usr/lib64", "/usr/local/lib",
                               "/etc/ld.so.cache", "/etc/alternatives"]

    /// The existing paths to list in `JobSpec.hostBinds` so that `executable` runs in the sandbox.
    public static func binds(for executable: String) -> [String] {
        let resolved = URL(fileURLWithPath: executable).resolvingSymlinksInPath()
        // A program kept right in / or /tmp is bound alone: its folder would show the whole host inside the sandbox,
        // or cover the job's private /tmp with the host's, read-only.
        let folder = resolved.deletingLastPathComponent().path
        let own = ["/", "/tmp"].contains(folder) ? resolved.path : folder
        var binds: [String] = []
        for path in [own] + libraryPaths + linkedLibraryFolders(of: executable)
        where FileManager.default.fileExists(atPath: path) && !binds.contains(path) {
            // A folder already covered by an earlier bind (e.g. /lib/x86_64-linux-gnu under /lib) needs no bind of its own.
            if binds.contains(where: { path.hasPrefix($0 + "/") }) { continue }
            binds.append(path)
        }
        return binds
    }

    /// Folders of the shared libraries `ldd` resolves for `executable` (empty for static programs or without ldd).
    static func linkedLibraryFolders(of executable: String) -> [String] {
        guard let ldd = HostTools.find("ldd"), let result = try? HostTools.run(ldd, [executable]), result.status == 0 else { return [] }
        // Lines read "libfoo.so.1 => /path/libfoo.so.1 (0x…)" or "/lib64/ld-linux-x86-64.so.2 (0x…)".
        return result.output.split(separator: "\n").compactMap { line in
            let path = line.split(separator: " ").map(String.init).first { $0.hasPrefix("/") }
            return path.map { URL(fileURLWithPath: $0).deletingLastPathComponent().path }
        }
    }
}

extension JobSpec {
    /// A plain job that runs a host program (with its libraries bound read-only) inside `rootfs`.
    public static func hostProgram(_ executable: String, arguments: [String], rootfs: RootFileSystem,
                                   inputs: [JobInput] = [], output: String? = nil, limits: JobLimits = JobLimits()) -> JobSpec {
        let resolved = URL(fileURLWithPath: executable).resolvingSymlinksInPath().path
        return JobSpec(mode: .plain, rootfs: rootfs, command: [resolved] + arguments, inputs: inputs, output: output,
                       limits: limits, hostBinds: HostRuntime.binds(for: resolved))
    }
}
