import Foundation

/// The processor as /proc/cpuinfo and the scheduler report it.
public struct CPUInfo: Codable, Sendable, Equatable {
    /// "AuthenticAMD", "GenuineIntel", … (CPUID leaf 0 as the kernel read it).
    public var vendor: String?
    public var model: String?
    /// Logical CPUs this process may run on.
    public var logicalCores: Int
    /// Every flag the kernel lists for the first CPU.
    public var flags: Set<String>

    /// Reads /proc/cpuinfo (first processor block) and the online CPU count.
    public static func read() -> CPUInfo {
        let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        var fields: [String: String] = [:]
        for line in text.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.isEmpty, !fields.isEmpty { break }
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            fields[parts[0].trimmingCharacters(in: .whitespaces)] = parts[1].trimmingCharacters(in: .whitespaces)
        }
        return CPUInfo(vendor: fields["vendor_id"], model: fields["model name"],
                       logicalCores: ProcessInfo.processInfo.activeProcessorCount,
                       flags: Set((fields["flags"] ?? "").split(separator: " ").map(String.init)))
    }

    // Flags are many and rarely wanted in a report; encode only those that matter to Prism's placement.
    enum CodingKeys: String, CodingKey { case vendor, model, logicalCores, flags }
    static let reportedFlags: Set<String> = ["sev", "sev_es", "sev_snp", "svm", "vmx", "avx2", "avx512f", "aes", "sha_ni", "hypervisor"]

    public func encode(to encoder: Encoder) throws {
        var c = encoder.container(keyedBy: CodingKeys.self)
        try c.encodeIfPresent(vendor, forKey: .vendor)
        try c.encodeIfPresent(model, forKey: .model)
        try c.encode(logicalCores, forKey: .logicalCores)
        try c.encode(flags.intersection(Self.reportedFlags).sorted(), forKey: .flags)
    }
}
