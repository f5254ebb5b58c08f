import Foundation

/// What this host offers for AMD SEV, SEV-ES and SEV-SNP guests, from the places the kernel and QEMU
/// actually expose it. Only what was read is claimed; unread facts stay nil.
public struct SEVSupport: Codable, Sendable, Equatable {
    /// The first QEMU release with the `sev-snp-guest` object.
    public static let firstQEMUWithSNP = "9.1"

    /// /dev/sev (the PSP firmware interface) exists.
    public var devSev: Bool
    /// /dev/kvm exists.
    public var devKvm: Bool
    /// kvm_amd's module parameters as the kernel reports them ("Y"/"N"/"1"/"0"); nil when kvm_amd is not loaded.
    public var kvmAmd: [String: String]?
    /// Which of sev, sev_es, sev_snp appear in /proc/cpuinfo's flags.
    public var cpuFlags: [String]
    public var qemu: QEMUInfo?

    /// QEMU as found on this host.
    public struct QEMUInfo: Codable, Sendable, Equatable {
        public var path: String
        /// From `--version`, e.g. "7.2.19".
        public var version: String?
        /// Whether `-object help` lists `sev-snp-guest`.
        public var hasSevSnpGuest: Bool

        public init(path: String, version: String?, hasSevSnpGuest: Bool) {
            self.path = path
            self.version = version
            self.hasSevSnpGuest = hasSevSnpGuest
        }
    }

    public init(devSev: Bool, devKvm: Bool, kvmAmd: [String: String]?, cpuFlags: [String], qemu: QEMUInfo?) {
        self.devSev = devSev
        self.devKvm = devKvm
        self.kvmAmd = kvmAmd
        self.cpuFlags = cpuFlags
        self.qemu = qemu
    }

    public var snpUsable: Bool { missingForSNP.isEmpty }

    /// One phrase per missing piece, in the order an operator would fix them.
    public var missingForSNP: [String] {
        var missing: [String] = []
        if !cpuFlags.contains("sev_snp") { missing.append("CPU does not report sev_snp in /proc/cpuinfo") }
        if !devKvm { missing.append("/dev/kvm absent") }
        if !devSev { missing.append("/dev/sev absent") }
        if let kvmAmd {
            let value = kvmAmd["sev_snp"]
            if value != "Y" && value != "1" { missing.append("kvm_amd sev_snp not enabled") }
        } else {
            missing.append("kvm_amd not loaded (so sev_snp not enabled)")
        }
        if let qemu {
            if !qemu.hasSevSnpGuest {
                missing.append("QEMU \(qemu.version ?? "(unknown version)") lacks sev-snp-guest (needs \(Self.firstQEMUWithSNP))")
            }
        } else {
            missing.append("qemu-system-x86_64 absent (needs QEMU \(Self.firstQEMUWithSNP) with sev-snp-guest)")
        }
        return missing
    }

    /// Reads this host.
    public static func probe() -> SEVSupport {
        let fileManager = FileManager.default
        var kvmAmd: [String: String]?
        let parameters = "/sys/module/kvm_amd/parameters"
        if fileManager.fileExists(atPath: parameters) {
            var values: [String: String] = [:]
            for name in ["sev", "sev_es", "sev_snp"] {
                if let text = try? String(contentsOfFile: "\(parameters)/\(name)", encoding: .utf8) {
                    values[name] = text.trimmingCharacters(in: .whitespacesAndNewlines)
                }
            }
            kvmAmd = values
        }
        let flags = CPUInfo.read().flags
        return SEVSupport(devSev: fileManager.fileExists(atPath: "/dev/sev"),
                          devKvm: fileManager.fileExists(atPath: "/dev/kvm"),
                          kvmAmd: kvmAmd,
                          cpuFlags: ["sev", "sev_es", "sev_snp"].filter(flags.contains),
                          qemu: probeQEMU())
    }

    static func probeQEMU() -> QEMUInfo? {
        guard let path = HostTools.find("qemu-system-x86_64") else { return nil }
        let versionText = (try? HostTools.run(path, ["--version"]))?.output ?? ""
        // "QEMU emulator version 7.2.19 (Debian 1:7.2+dfsg-7+deb12u18)"
        let version = versionText.split(separator: "\n").first.flatMap { line -> String? in
            guard let range = line.range(of: "version ") else { return nil }
            return line[range.upperBound...].split(separator: " ").first.map(String.init)
        }
        let objects = (try? HostTools.run(path, ["-machine", "none", "-object", "help"]))?.output ?? ""
        let hasSNP = objects.split(whereSeparator: \.isNewline).contains { $0.trimmingCharacters(in: .whitespaces) == "sev-snp-guest" }
        return QEMUInfo(path: path, version: version, hasSevSnpGuest: hasSNP)
    }
}
