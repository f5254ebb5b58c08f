import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// Which cgroup layout a host has. Hybrid hosts mount v1 controllers plus an empty v2 tree; the v1
/// controllers are what holds limits there.
public enum CgroupLayout: String, Codable, Sendable {
    case v1, hybrid, v2, none

    /// Reads the layout from the mount table.
    public static func current() -> CgroupLayout {
        let mounts = CgroupMount.all()
        let hasV1 = mounts.contains { !$0.isUnified }
        let hasV2 = mounts.contains { $0.isUnified }
        switch (hasV1, hasV2) {
        case (true, true): return .hybrid
        case (true, false): return .v1
        case (false, true): return .v2
        case (false, false): return .none
        }
    }
}

/// One mounted cgroup hierarchy (a v1 controller set or the v2 unified tree).
struct CgroupMount {
    let mountPoint: String
    let isUnified: Bool
    /// v1: the controllers this hierarchy carries (from the mount options); v2: from cgroup.controllers.
    let controllers: Set<String>

    static func all() -> [CgroupMount] {
        guard let table = try? String(contentsOfFile: "/proc/self/mounts", encoding: .utf8) else { return [] }
        return table.split(separator: "\n").compactMap { line in
            let fields = line.split(separator: " ").map(String.init)
            guard fields.count >= 4 else { return nil }
            let mountPoint = fields[1].replacingOccurrences(of: "\\040", with: " ")
            if fields[2] == "cgroup2" {
                let listed = (try? String(contentsOfFile: mountPoint + "/cgroup.controllers", encoding: .utf8)) ?? ""
                return CgroupMount(mountPoint: mountPoint, isUnified: true,
                                   controllers: Set(listed.split(whereSeparator: \.isWhitespace).map(String.init)))
            }
            guard fields[2] == "cgroup" else { return nil }
            return CgroupMount(mountPoint: mountPoint, isUnified: false, controllers: Set(fields[3].split(separator: ",").map(String.init)))
        }
    }

    /// This process's cgroup in this hierarchy, from /proc/self/cgroup.
    func ownPath() -> String? {
        guard let text = try? String(contentsOfFile: "/proc/self/cgroup", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 2, omittingEmptySubsequences: false)
            guard parts.count == 3 else { continue }
            if isUnified ? parts[0] == "0" && parts[1].isEmpty
                         : !Set(parts[1].split(separator: ",").map(String.init)).isDisjoint(with: controllers) {
                return String(parts[2])
            }
        }
        return nil
    }
}

/// A cgroup (one per v1 controller, or one v2 group) made for a single job: limits written before
/// the job starts, the job's processes joined into it, its OOM kills counted, everything in it killed
/// at the end, and the group removed.
final class ResourceGroup {
    /// The folders created, one per hierarchy; `cgroup.procs` in each is what the job joins.
    private(set) var folders: [String] = []
    private var memoryFolder: String?
    /// Where the job's CPU time is accounted (v1 `cpuacct.usage`, v2 `cpu.stat`).
    private var accountingFolder: String?
    private var isUnified = false
    /// How each asked-for limit ended up enforced, for the run's report.
    private(set) var notes: [String] = []
    /// Limits this group could not take; the caller falls back to rlimits for them.
    private(set) var memoryEnforced = false
    private(set) var pidsEnforced = false
    private(set) var cpuEnforced = false

    /// Creates the group under this process's own cgroup and writes the limits. Limits that cannot be
    /// written are left unenforced here, noted, and reported through the `*Enforced` flags.
    init(name: String, limits: JobLimits) {
        let mounts = CgroupMount.all()
        let v1 = mounts.filter { !$0.isUnified }
        if !v1.isEmpty {
            setUpV1(mounts: v1, name: name, limits: limits)
        } else if let unified = mounts.first(where: { $0.isUnified }) {
            setUpV2(mount: unified, name: name, limits: limits)
        }
    }

    private func makeFolder(_ mount: CgroupMount, name: String) -> String? {
        guard let own = mount.ownPath() else { return nil }
        let parent = mount.mountPoint + (own == "/" ? "" : own)
        Self.sweepStale(in: parent)
        let folder = parent + "/" + name
        guard mkdir(folder, 0o755) == 0 || errno == EEXIST else { return nil }
        folders.append(folder)
        return folder
    }

    private func setUpV1(mounts: [CgroupMount], name: String, limits: JobLimits) {
        func hierarchy(_ controller: String) -> CgroupMount? { mounts.first { $0.controllers.contains(controller) } }
        // Memory is always set up when writable, even unlimited, so an OOM kill can be told apart.
        if let mount = hierarchy("memory"), let folder = makeFolder(mount, name: name) {
            memoryFolder = folder
            if let bytes = limits.memoryBytes {
                memoryEnforced = write("\(bytes)", to: folder + "/memory.limit_in_bytes")
                // With swap accounting, memsw caps memory+swap so the job cannot page out to grow past the limit.
                if memoryEnforced, FileManager.default.fileExists(atPath: folder + "/memory.memsw.limit_in_bytes") {
                    _ = write("\(bytes)", to: folder + "/memory.memsw.limit_in_bytes")
                }
                if memoryEnforced { notes.append("memory: cgroup v1 memory.limit_in_bytes=\(bytes)") }
            }
        }
        // The pids group is made even without a limit: its cgroup.procs is the list the final sweep kills.
        if let mount = hierarchy("pids"), let folder = makeFolder(mount, name: name), let pids = limits.pids {
            pidsEnforced = write("\(pids)", to: folder + "/pids.max")
            if pidsEnforced { notes.append("pids: cgroup v1 pids.max=\(pids)") }
        }
        // The CPU-accounting group is made even without a limit: it measures the job's CPU seconds.
        if let mount = hierarchy("cpuacct"), let folder = makeFolder(mount, name: name) { accountingFolder = folder }
        if let cpus = limits.cpus, let mount = hierarchy("cpu"), let folder = mount.controllers.contains("cpuacct") ? accountingFolder : makeFolder(mount, name: name) {
            let period = 100_000
            cpuEnforced = write("\(period)", to: folder + "/cpu.cfs_period_us")
                && write("\(Int((cpus * Double(period)).rounded()))", to: folder + "/cpu.cfs_quota_us")
            if cpuEnforced { notes.append("cpus: cgroup v1 cpu.cfs_quota_us/cfs_period_us=\(cpus)") }
        }
    }

    private func setUpV2(mount: CgroupMount, name: String, limits: JobLimits) {
        isUnified = true
        guard let own = mount.ownPath() else { return }
        let ownFolder = mount.mountPoint + (own == "/" ? "" : own)
        let available = Set(((try? String(contentsOfFile: ownFolder + "/cgroup.controllers", encoding: .utf8)) ?? "")
            .split(whereSeparator: \.isWhitespace).map(String.init))
        // v2 forbids processes in a cgroup whose controllers are handed to children (except at the root),
        // and our own cgroup holds us. So the job's group goes beside ours, under a parent that already
        // hands down the controllers we have (a delegated subtree, or a service's slice as root); at the
        // root of a cgroup namespace it goes below, with the controllers enabled there.
        var parent = ownFolder
        if own != "/", !available.isDisjoint(with: ["memory", "pids", "cpu"]) {
            parent = URL(fileURLWithPath: ownFolder).deletingLastPathComponent().path
        } else {
            for controller in ["memory", "pids", "cpu"] { _ = write("+\(controller)", to: ownFolder + "/cgroup.subtree_control") }
        }
        Self.sweepStale(in: parent)
        let folder = parent + "/" + name
        guard mkdir(folder, 0o755) == 0 || errno == EEXIST else { return }
        folders.append(folder)
        memoryFolder = folder
        accountingFolder = folder
        if let bytes = limits.memoryBytes {
            memoryEnforced = write("\(bytes)", to: folder + "/memory.max")
            _ = write("0", to: folder + "/memory.swap.max")
            if memoryEnforced { notes.append("memory: cgroup v2 memory.max=\(bytes)") }
        }
        if let pids = limits.pids {
            pidsEnforced = write("\(pids)", to: folder + "/pids.max")
            if pidsEnforced { notes.append("pids: cgroup v2 pids.max=\(pids)") }
        }
        if let cpus = limits.cpus {
            cpuEnforced = write("\(Int((cpus * 100_000).rounded())) 100000", to: folder + "/cpu.max")
            if cpuEnforced { notes.append("cpus: cgroup v2 cpu.max=\(cpus)") }
        }
    }

    /// CPU seconds (user and system) the group's processes used so far; nil where no group accounts for them.
    var cpuSeconds: Double? {
        guard let folder = accountingFolder else { return nil }
        if isUnified {
            guard let stat = try? String(contentsOfFile: folder + "/cpu.stat", encoding: .utf8),
                  let line = stat.split(separator: "\n").first(where: { $0.hasPrefix("usage_usec ") }),
                  let micro = Double(line.dropFirst("usage_usec ".count)) else { return nil }
            return micro / 1e6
        }
        guard let text = try? String(contentsOfFile: folder + "/cpuacct.usage", encoding: .utf8),
              let nano = Double(text.trimmingCharacters(in: .whitespacesAndNewlines)) else { return nil }
        return nano / 1e9
    }

    /// A group older than this with no process in it was left by a runner that was killed before it
    /// could remove it (a live group is joined within milliseconds of being made).
    static let staleAge: TimeInterval = 60

    /// Removes empty job groups that killed runners left behind in `parent`.
    static func sweepStale(in parent: String) {
        let names = (try? FileManager.default.contentsOfDirectory(atPath: parent)) ?? []
        for name in names where name.hasPrefix("prism-") {
            let folder = parent + "/" + name
            guard let made = (try? FileManager.default.attributesOfItem(atPath: folder))?[.modificationDate] as? Date,
                  Date().timeIntervalSince(made) > staleAge,
                  let procs = try? String(contentsOfFile: folder + "/cgroup.procs", encoding: .utf8),
                  procs.isEmpty else { continue }
            rmdir(folder)
        }
    }

    /// The `cgroup.procs` files a process writes its pid into to join the group.
    var procsFiles: [String] { folders.map { $0 + "/cgroup.procs" } }

    /// How many times the kernel's OOM killer killed a process in this group.
    var oomKills: Int {
        guard let memoryFolder else { return 0 }
        let file = isUnified ? memoryFolder + "/memory.events" : memoryFolder + "/memory.oom_control"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8) else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("oom_kill ") {
            return Int(line.split(separator: " ")[1]) ?? 0
        }
        return 0
    }

    /// The pids still in the group.
    func members() -> [pid_t] {
        var pids = Set<pid_t>()
        for file in procsFiles {
            let text = (try? String(contentsOfFile: file, encoding: .utf8)) ?? ""
            for line in text.split(separator: "\n") { if let pid = pid_t(line) { pids.insert(pid) } }
        }
        return Array(pids)
    }

    /// Kills every process in the group and waits (briefly) until it is empty.
    func killAll() {
        if isUnified, let folder = folders.first { _ = write("1", to: folder + "/cgroup.kill") }
        let deadline = Date().addingTimeInterval(5)
        while Date() < deadline {
            let left = members()
            if left.isEmpty { return }
            for pid in left { kill(pid, SIGKILL) }
            usleep(10_000)
        }
    }

    /// Kills what is left and removes the group's folders.
    func remove() {
        killAll()
        for folder in folders.reversed() {
            // A just-killed group can stay busy for a moment while the kernel reaps it.
            var tries = 0
            while rmdir(folder) != 0, errno == EBUSY, tries < 100 {
                tries += 1
                usleep(10_000)
            }
        }
        folders = []
    }

    private func write(_ value: String, to file: String) -> Bool {
        let fd = open(file, O_WRONLY)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        return value.withCString { Glibc.write(fd, $0, strlen($0)) } == value.utf8.count
    }
}
