import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// How a job ended, with the exit status `prism run` passes on.
public struct JobResult: Sendable, Equatable {
    public enum Ending: Sendable, Equatable {
        /// The job's own exit (or bwrap's 128+signal when a signal ended it).
        case exited
        /// Killed at its time limit, with all its children.
        case timedOut
        /// Killed by the kernel for going past its memory limit.
        case memoryLimit
        /// Left more in `/out` than allowed; the partial output was removed.
        case outputTooLarge(bytes: UInt64)
    }

    /// 124 on timeout (as timeout(1)), 137 on the memory limit, else the job's status.
    public var status: Int32
    public var ending: Ending
    /// How each asked-for limit was enforced on this host (or why it was not).
    public var enforcement: [String]
    /// Paths (relative to /out) the job left that were neither plain files nor folders (links, fifos,
    /// sockets, devices); they were not delivered.
    public var droppedFromOutput: [String] = []
    /// Paths delivered only after being made safe: setuid, setgid or sticky bits cleared, hard links
    /// replaced by a copy of their own.
    public var sanitizedInOutput: [String] = []
    /// CPU seconds the job's processes used (from its cgroup; nil where no cgroup accounts for them), and the
    /// wall-clock seconds from start to end.
    public var cpuSeconds: Double?
    public var wallSeconds: Double = 0

    /// One line for the person running the job, when the ending is not a plain exit.
    public var message: String? {
        if case .outputTooLarge(let bytes) = ending { return "output over its size limit (\(bytes) bytes written); partial output removed" }
        return Self.message(endingNamed: ending.name)
    }

    /// The same line for an ending known only by its name (a farmer's job receipt carries the name).
    public static func message(endingNamed name: String) -> String? {
        switch name {
        case "timed-out": return "time limit reached: job and all its processes killed"
        case "memory-limit": return "memory limit reached: job killed by the kernel's OOM killer"
        case "output-too-large": return "output over its size limit; partial output removed"
        default: return nil
        }
    }
}

extension JobResult.Ending {
    /// How a job receipt names the ending: `exited`, `timed-out`, `memory-limit`, `output-too-large`.
    public var name: String {
        switch self {
        case .exited: return "exited"
        case .timedOut: return "timed-out"
        case .memoryLimit: return "memory-limit"
        case .outputTooLarge: return "output-too-large"
        }
    }
}

/// Runs plain-mode jobs in a rootless bubblewrap sandbox: read-only root, inputs read-only at /in,
/// writable /out, private /tmp, unprivileged uid with no capabilities, fresh pid/ipc/uts/net namespaces,
/// limits from a per-job cgroup (rlimits where no cgroup is writable) and a wall-clock deadline.
public struct PlainSandbox: Sendable {
    /// The uid and gid the job sees; the user namespace maps them to the caller, so what the job writes
    /// is owned by the caller and it holds no capability over anything else.
    public static let jobUID = 65534
    /// Names that the sandbox itself provides at the top of the root; a rootfs's own are hidden.
    static let reservedTopLevel: Set<String> = ["in", "out", "dev", "proc", "tmp"]
    /// How often the deadline and the output size are looked at.
    static let pollInterval: TimeInterval = 0.1

    public let bwrapPath: String
    /// Where unpacked OCI images are kept by manifest digest and shared between jobs; nil unpacks
    /// each job's image afresh and removes it afterwards.
    public let imageCache: URL?

    /// Finds bwrap on this host.
    public init(imageCache: URL? = nil) throws {
        guard let path = HostTools.find("bwrap") else {
            throw SandboxError.engineMissing("bwrap not found (install the bubblewrap package) for plain-mode jobs")
        }
        bwrapPath = path
        self.imageCache = imageCache
    }

    /// Validates and runs `spec`, waiting for it to end. The job's stdout and stderr go to the handles given.
    public func run(_ spec: JobSpec, standardOutput: FileHandle = .standardOutput,
                    standardError: FileHandle = .standardError) throws -> JobResult {
        guard spec.mode == .plain else { throw SandboxError.wrongMode("PlainSandbox runs plain-mode jobs only") }
        try spec.validate()
        var spec = spec
        spec.limits = spec.limits.withDefaults()
        let fileManager = FileManager.default
        let scratch = fileManager.temporaryDirectory.appendingPathComponent("prism-job-\(UUID().uuidString)")
        try fileManager.createDirectory(at: scratch, withIntermediateDirectories: true)
        defer { try? fileManager.removeItem(at: scratch) }

        let rootfs: String
        if spec.rootfs.kind == .directory {
            rootfs = spec.rootfs.path
        } else if let imageCache {
            rootfs = try OCIImage.cachedRootfs(spec.rootfs, cache: imageCache)
        } else {
            let unpacked = scratch.appendingPathComponent("rootfs")
            try OCIImage.unpack(spec.rootfs, into: unpacked)
            rootfs = unpacked.path
        }

        // The job writes into a staging folder beside the output, moved into place only if it is within its limit.
        let staging: URL
        if let output = spec.output {
            let outputURL = URL(fileURLWithPath: output)
            try fileManager.createDirectory(at: outputURL, withIntermediateDirectories: true)
            staging = outputURL.deletingLastPathComponent().appendingPathComponent(".\(outputURL.lastPathComponent).prism-\(UUID().uuidString)")
        } else {
            staging = scratch.appendingPathComponent("out")
        }
        try fileManager.createDirectory(at: staging, withIntermediateDirectories: true)
        defer { try? fileManager.removeItem(at: staging) }

        let group = ResourceGroup(name: "prism-\(UUID().uuidString)", limits: spec.limits)
        defer { group.remove() }
        var enforcement = group.notes
        let fallback = rlimitFallback(spec.limits, group: group, notes: &enforcement)
        if let seconds = spec.limits.timeSeconds { enforcement.append("time: \(seconds)s wall clock, then SIGKILL to the whole pid namespace and cgroup") }
        if let bytes = spec.limits.outputBytes { enforcement.append("output: /out polled while running and measured after; over \(bytes) bytes kills the job and removes the output") }

        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/bin/sh")
        // The shell joins the job's cgroups before exec'ing the engine, so nothing the job forks escapes them.
        process.arguments = ["-c", Self.joinScript, "prism-sandbox"] + group.procsFiles + ["--"]
            + fallback + [bwrapPath] + bubblewrapArguments(for: spec, rootfs: rootfs, output: staging.path)
        process.environment = ["PATH": "/usr/sbin:/usr/bin:/sbin:/bin"]
        process.standardInput = FileHandle.nullDevice
        process.standardOutput = standardOutput
        process.standardError = standardError
        let ended = DispatchSemaphore(value: 0)
        process.terminationHandler = { _ in ended.signal() }
        let started = Date()
        try process.run()

        let deadline = spec.limits.timeSeconds.map { Date().addingTimeInterval($0) }
        var ending = JobResult.Ending.exited
        var lastSizeCheck = Date.distantPast
        while ended.wait(timeout: .now() + Self.pollInterval) == .timedOut {
            if let deadline, Date() >= deadline {
                ending = .timedOut
            } else if let limit = spec.limits.outputBytes, Date().timeIntervalSince(lastSizeCheck) > 0.5 {
                lastSizeCheck = Date()
                let bytes = Self.size(of: staging)
                if bytes > limit { ending = .outputTooLarge(bytes: bytes) }
            }
            if ending != .exited {
                // Killing bwrap takes the sandbox's pid 1 with it (--die-with-parent), which ends the
                // pid namespace; the cgroup sweep catches anything that got out of the namespace.
                kill(process.processIdentifier, SIGKILL)
                group.killAll()
                ended.wait()
                break
            }
        }
        process.waitUntilExit()
        group.killAll()
        let wallSeconds = Date().timeIntervalSince(started)
        let cpuSeconds = group.cpuSeconds
        var status = process.terminationStatus
        if process.terminationReason == .uncaughtSignal { status = 128 + status }

        if ending == .exited, group.oomKills > 0 { ending = .memoryLimit }
        if ending == .exited, let limit = spec.limits.outputBytes {
            let bytes = Self.size(of: staging)
            if bytes > limit { ending = .outputTooLarge(bytes: bytes) }
        }
        switch ending {
        case .timedOut: status = 124
        case .memoryLimit: status = 137
        case .outputTooLarge: status = 2
        case .exited: break
        }
        var dropped: [String] = [], sanitized: [String] = []
        if case .outputTooLarge = ending {
            // The staging folder is removed by the defer; the output folder is left as it was.
        } else if let output = spec.output {
            (dropped, sanitized) = try Self.prepareDelivery(of: staging)
            try Self.moveContents(of: staging, into: URL(fileURLWithPath: output))
        }
        return JobResult(status: status, ending: ending, enforcement: enforcement, droppedFromOutput: dropped, sanitizedInOutput: sanitized,
                         cpuSeconds: cpuSeconds, wallSeconds: wallSeconds)
    }

    /// `sh -c` program: write our pid into each file up to `--`, then exec the rest.
    static let joinScript = """
        for f; do shift; [ "$f" = -- ] && break; echo $$ > "$f" || { echo "prism-sandbox: cannot join cgroup $f" >&2; exit 125; }; done; exec "$@"
        """

    /// prlimit in front of bwrap for limits no cgroup took: RLIMIT_AS for memory (per process, so a
    /// weaker bound), RLIMIT_NPROC for pids (counted per host uid, and not enforced for root).
    private func rlimitFallback(_ limits: JobLimits, group: ResourceGroup, notes: inout [String]) -> [String] {
        var options: [String] = []
        if let bytes = limits.memoryBytes, !group.memoryEnforced { options.append("--as=\(bytes)") }
        if let pids = limits.pids, !group.pidsEnforced { options.append("--nproc=\(pids)") }
        if limits.cpus != nil, !group.cpuEnforced { notes.append("cpus: not enforced (no writable cpu cgroup)") }
        guard !options.isEmpty else { return [] }
        guard let prlimit = HostTools.find("prlimit") else {
            notes.append("memory/pids: not enforced (no writable cgroup and no prlimit)")
            return []
        }
        for option in options {
            notes.append(option.hasPrefix("--as") ? "memory: RLIMIT_AS per process (no writable memory cgroup)"
                                                  : "pids: RLIMIT_NPROC per host uid (no writable pids cgroup)")
        }
        return [prlimit] + options + ["--"]
    }

    /// The bwrap command line for `spec` with its root file system at `rootfs` and `/out` at `output`.
    /// Pure, so tests can read exactly what the sandbox is made of.
    public func bubblewrapArguments(for spec: JobSpec, rootfs: String, output: String) -> [String] {
        var args = ["--unshare-user", "--unshare-ipc", "--unshare-pid", "--unshare-uts", "--unshare-cgroup-try"]
        if spec.network == .none { args.append("--unshare-net") }
        args += ["--uid", "\(Self.jobUID)", "--gid", "\(Self.jobUID)", "--hostname", "prism-job",
                 // No capabilities even for a root caller; die with us; own session so no TIOCSTI into our tty.
                 "--cap-drop", "ALL", "--die-with-parent", "--new-session"]
        // The root is a tmpfs holding the rootfs's entries, so /in, /out, /dev, /proc and /tmp can be
        // made even when the rootfs lacks them; it is remounted read-only once everything is in place.
        args += ["--tmpfs", "/"]
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: rootfs)) ?? []).sorted()
        for name in entries where !Self.reservedTopLevel.contains(name) {
            let path = rootfs + "/" + name
            if let target = try? FileManager.default.destinationOfSymbolicLink(atPath: path) {
                args += ["--symlink", target, "/" + name]
            } else {
                args += ["--ro-bind", path, "/" + name]
            }
        }
        args += ["--dev", "/dev", "--proc", "/proc"]
        if let bytes = spec.limits.tmpBytes { args += ["--size", "\(bytes)"] }
        args += ["--tmpfs", "/tmp"]
        // Host binds after the private /tmp, so a host program kept under /tmp (a checkout there) stays visible.
        for path in spec.hostBinds { args += ["--ro-bind", path, path] }
        args += ["--dir", "/in"]
        for input in spec.inputs { args += ["--ro-bind", input.path, "/in/" + input.name] }
        args += ["--bind", output, "/out"]
        for device in spec.devices { args += ["--dev-bind", device, device] }
        args += ["--remount-ro", "/", "--chdir", "/", "--clearenv"]
        var environment = ["PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "HOME": "/tmp"]
        environment.merge(spec.env) { $1 }
        for (key, value) in environment.sorted(by: { $0.key < $1.key }) { args += ["--setenv", key, value] }
        args.append("--")
        return args + spec.command
    }

    /// Bytes in regular files under `folder` (links not followed).
    static func size(of folder: URL) -> UInt64 {
        var total: UInt64 = 0
        walk(folder.path) { _, attributes in
            if attributes[.type] as? FileAttributeType == .typeRegular { total += (attributes[.size] as? NSNumber)?.uint64Value ?? 0 }
        }
        return total
    }

    /// Makes what the job left in `folder` safe to hand to the host, where it is owned by the caller (root, for a
    /// farmer run as root), in one walk: anything neither a regular file nor a folder is removed (a link the job left
    /// in /out would point into the host once delivered, `/out/pw -> /etc/passwd`; a fifo or device has no business
    /// there), setuid, setgid and sticky bits are cleared from every file and folder, and a file with more than one
    /// link gets a copy of its own, so nothing delivered shares an inode with anything else. Returns the relative
    /// paths removed and those changed.
    static func prepareDelivery(of folder: URL) throws -> (dropped: [String], sanitized: [String]) {
        var dropped: [String] = [], sanitized: [String] = []
        var failure: Error?
        walk(folder.path) { path, attributes in
            guard failure == nil else { return }
            let relative = String(path.dropFirst(folder.path.count + 1))
            let type = attributes[.type] as? FileAttributeType
            guard type == .typeRegular || type == .typeDirectory else {
                try? FileManager.default.removeItem(atPath: path)
                dropped.append(relative)
                return
            }
            do {
                if try sanitize(path, type: type, links: (attributes[.referenceCount] as? NSNumber)?.intValue ?? 1) { sanitized.append(relative) }
            } catch { failure = error }
        }
        if let failure { throw failure }
        return (dropped.sorted(), sanitized.sorted())
    }

    /// Gives a hard-linked file an inode of its own and clears special mode bits; whether it changed anything.
    private static func sanitize(_ path: String, type: FileAttributeType?, links: Int) throws -> Bool {
        var touched = false
        if type == .typeRegular, links > 1 {
            let copy = path + ".prism-unlink"
            try FileManager.default.copyItem(atPath: path, toPath: copy)
            guard rename(copy, path) == 0 else { throw SandboxError.setupFailed("cannot replace hard link \(path): \(String(cString: strerror(errno)))") }
            touched = true
        }
        var status = stat()
        guard lstat(path, &status) == 0 else { return touched }
        if status.st_mode & mode_t(S_ISUID | S_ISGID | S_ISVTX) != 0 {
            guard chmod(path, status.st_mode & 0o777) == 0 else {
                throw SandboxError.setupFailed("cannot clear the special bits of \(path): \(String(cString: strerror(errno)))")
            }
            touched = true
        }
        return touched
    }

    /// Calls `visit` with each entry below `root` and its lstat attributes; descends into real folders only.
    private static func walk(_ root: String, _ visit: (String, [FileAttributeKey: Any]) -> Void) {
        var pending = [root]
        while let folder = pending.popLast() {
            for name in (try? FileManager.default.contentsOfDirectory(atPath: folder)) ?? [] {
                let path = folder + "/" + name
                guard let attributes = try? FileManager.default.attributesOfItem(atPath: path) else { continue }
                visit(path, attributes)
                if attributes[.type] as? FileAttributeType == .typeDirectory { pending.append(path) }
            }
        }
    }

    /// Moves what the job wrote into the output folder, replacing same-named entries.
    static func moveContents(of staging: URL, into output: URL) throws {
        let fileManager = FileManager.default
        for name in try fileManager.contentsOfDirectory(atPath: staging.path) {
            let destination = output.appendingPathComponent(name)
            if (try? fileManager.attributesOfItem(atPath: destination.path)) != nil { try fileManager.removeItem(at: destination) }
            try fileManager.moveItem(at: staging.appendingPathComponent(name), to: destination)
        }
    }
}
