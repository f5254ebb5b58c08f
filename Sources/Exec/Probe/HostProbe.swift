import Foundation

/// What this host can really do, each claim from a reading or a trial run on it — never from a model
/// name or a configuration file's say-so.
public struct HostProbe: Codable, Sendable {
    /// When the probe ran (ISO 8601).
    public var probedAt: String
    public var cpu: CPUInfo
    /// MemTotal from /proc/meminfo.
    public var memoryBytes: UInt64?
    public var sev: SEVSupport
    /// Why a confidential (SEV-SNP) job cannot run here; empty when it can.
    public var confidentialMissing: [String]
    public var gpus: [PCIGPU]
    /// From NVIDIA's NVML when libnvidia-ml.so.1 loads and initialises; nil otherwise.
    public var nvml: NVMLReport?
    /// `nvidia-smi --query-gpu=name,driver_version,memory.total` lines when nvidia-smi is present and succeeds.
    public var nvidiaSmi: [String]?
    public var cgroups: CgroupReport
    /// Each sandbox engine tried with a trivial job.
    public var sandboxEngines: [EngineCheck]
    /// Encoders that actually open on this host, name → detail. Exec knows nothing of video: this stays
    /// empty here and the video layer (Media/Transcode, from FFmpeg) fills it in.
    public var encoders: [String: String]
    /// Hardware decoder devices by trial (filled in by the video layer too), name → detail.
    public var decoders: [String: String] = [:]

    /// The cgroup layout and which limits a per-job group could really be given (a group was made,
    /// written and removed to find out).
    public struct CgroupReport: Codable, Sendable, Equatable {
        public var layout: CgroupLayout
        public var memory: Bool
        public var pids: Bool
        public var cpu: Bool
    }

    /// One engine's trial: whether a trivial job ran, and why not when it did not.
    public struct EngineCheck: Codable, Sendable, Equatable {
        public var name: String
        public var path: String?
        public var version: String?
        public var works: Bool
        public var detail: String
    }

    /// Probes this host. Takes well under a second: the engine trials are the slow part.
    public static func run() -> HostProbe {
        let sev = SEVSupport.probe()
        let formatter = ISO8601DateFormatter()
        return HostProbe(probedAt: formatter.string(from: Date()),
                         cpu: CPUInfo.read(),
                         memoryBytes: memoryTotal(),
                         sev: sev,
                         confidentialMissing: sev.missingForSNP,
                         gpus: PCIGPU.scan(),
                         nvml: NVMLReport.read(),
                         nvidiaSmi: nvidiaSmi(),
                         cgroups: cgroupReport(),
                         sandboxEngines: [EngineTrial.bubblewrap(), EngineTrial.runc()],
                         encoders: [:])
    }

    static func memoryTotal() -> UInt64? {
        guard let text = try? String(contentsOfFile: "/proc/meminfo", encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix("MemTotal:") {
            let fields = line.split(separator: " ")
            if fields.count >= 2, let kib = UInt64(fields[1]) { return kib * 1024 }
        }
        return nil
    }

    static func nvidiaSmi() -> [String]? {
        guard let path = HostTools.find("nvidia-smi"),
              let result = try? HostTools.run(path, ["--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"]),
              result.status == 0 else { return nil }
        return result.output.split(separator: "\n").map { $0.trimmingCharacters(in: .whitespaces) }
    }

    static func cgroupReport() -> CgroupReport {
        let group = ResourceGroup(name: "prism-probe-\(UUID().uuidString)",
                                  limits: JobLimits(cpus: 1, memoryBytes: 64 << 20, pids: 64))
        defer { group.remove() }
        return CgroupReport(layout: .current(), memory: group.memoryEnforced, pids: group.pidsEnforced, cpu: group.cpuEnforced)
    }

    /// A readable multi-line report.
    public var summary: String {
        var lines: [String] = []
        lines.append("CPU        \(cpu.vendor ?? "?") \(cpu.model ?? "?"), \(cpu.logicalCores) logical cores")
        if let memoryBytes { lines.append("memory     \(memoryBytes >> 20) MiB") }
        lines.append("SEV flags  " + (sev.cpuFlags.isEmpty ? "none in /proc/cpuinfo" : sev.cpuFlags.joined(separator: ", ")))
        lines.append("/dev/sev   \(sev.devSev ? "present" : "absent"); /dev/kvm \(sev.devKvm ? "present" : "absent")")
        if let kvmAmd = sev.kvmAmd {
            lines.append("kvm_amd    " + kvmAmd.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))
        } else {
            lines.append("kvm_amd    not loaded")
        }
        if let qemu = sev.qemu {
            lines.append("QEMU       \(qemu.version ?? "?") at \(qemu.path), sev-snp-guest \(qemu.hasSevSnpGuest ? "available" : "missing")")
        } else {
            lines.append("QEMU       qemu-system-x86_64 absent")
        }
        lines.append("SEV-SNP    " + (confidentialMissing.isEmpty ? "usable" : "unusable: " + confidentialMissing.joined(separator: "; ")))
        if gpus.isEmpty { lines.append("GPUs       no display-class PCI devices") }
        for gpu in gpus {
            lines.append("GPU        \(gpu.address) vendor \(gpu.vendorID) device \(gpu.deviceID) class \(gpu.classCode) driver \(gpu.driver ?? "none")")
        }
        if let nvml {
            lines.append("NVML       driver \(nvml.driverVersion ?? "?"): " + (nvml.devices.isEmpty ? "no devices" : nvml.devices.joined(separator: ", ")))
        } else {
            lines.append("NVML       not available")
        }
        for line in nvidiaSmi ?? [] { lines.append("nvidia-smi \(line)") }
        lines.append("cgroups    \(cgroups.layout.rawValue); per-job memory \(cgroups.memory ? "yes" : "no"), pids \(cgroups.pids ? "yes" : "no"), cpu \(cgroups.cpu ? "yes" : "no")")
        for engine in sandboxEngines {
            lines.append("engine     \(engine.name) \(engine.version ?? ""): \(engine.works ? "works" : "failed") (\(engine.detail))")
        }
        if encoders.isEmpty { lines.append("encoders   not probed (the video layer fills this in)") }
        for (name, detail) in encoders.sorted(by: { $0.key < $1.key }) { lines.append("encoder    \(name): \(detail)") }
        for (name, detail) in decoders.sorted(by: { $0.key < $1.key }) { lines.append("decoder    \(name): \(detail)") }
        return lines.joined(separator: "\n")
    }
}
