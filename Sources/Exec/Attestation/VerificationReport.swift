import Foundation

/// The JSON shape `prism attest verify --json` prints: `{"valid", "checks", "report"}`.
public struct VerificationReport: Encodable {
    public let valid: Bool
    public let checks: [VerificationCheck]
    public let report: ReportFields

    /// The parsed report fields, hex for byte strings, TCBs decoded for the product.
    public struct ReportFields: Encodable {
        let version: UInt32
        let guest_svn: UInt32
        let policy: Policy
        let family_id: String
        let image_id: String
        let vmpl: UInt32
        let signature_algo: UInt32
        let signature_algo_name: String
        let platform_info: String
        let signer: String
        let product: String
        let cpuid_family: UInt8?
        let cpuid_model: UInt8?
        let cpuid_stepping: UInt8?
        let current_tcb: TCBVersion
        let reported_tcb: TCBVersion
        let committed_tcb: TCBVersion
        let launch_tcb: TCBVersion
        let current_firmware: String
        let committed_firmware: String
        let report_data: String
        let measurement: String
        let host_data: String
        let id_key_digest: String
        let author_key_digest: String
        let report_id: String
        let chip_id: String
        let launch_mitigation_vector: UInt64?
        let current_mitigation_vector: UInt64?
    }

    /// The guest policy as hex plus its decoded flags.
    public struct Policy: Encodable {
        let hex: String
        let abi_major: UInt8
        let abi_minor: UInt8
        let smt: Bool
        let migrate_ma: Bool
        let debug: Bool
        let single_socket: Bool
    }

    public init(_ result: VerificationResult) {
        let r = result.report
        let p = result.product
        valid = result.valid
        checks = result.checks
        report = ReportFields(
            version: r.version, guest_svn: r.guestSVN,
            policy: Policy(hex: "0x" + String(r.policy.raw, radix: 16), abi_major: r.policy.abiMajor, abi_minor: r.policy.abiMinor,
                           smt: r.policy.smtAllowed, migrate_ma: r.policy.migrateMA, debug: r.policy.debugAllowed,
                           single_socket: r.policy.singleSocket),
            family_id: Bytes.hex(r.familyID), image_id: Bytes.hex(r.imageID), vmpl: r.vmpl,
            signature_algo: r.signatureAlgorithm,
            signature_algo_name: r.signatureAlgorithm == 1 ? "ECDSA P-384 with SHA-384" : "unknown",
            platform_info: "0x" + String(r.platformInfo, radix: 16), signer: result.signer.rawValue, product: p.rawValue,
            cpuid_family: r.cpuidFamily, cpuid_model: r.cpuidModel, cpuid_stepping: r.cpuidStepping,
            current_tcb: TCBVersion(raw: r.currentTCBRaw, product: p), reported_tcb: TCBVersion(raw: r.reportedTCBRaw, product: p),
            committed_tcb: TCBVersion(raw: r.committedTCBRaw, product: p), launch_tcb: TCBVersion(raw: r.launchTCBRaw, product: p),
            current_firmware: "\(r.currentMajor).\(r.currentMinor).\(r.currentBuild)",
            committed_firmware: "\(r.committedMajor).\(r.committedMinor).\(r.committedBuild)",
            report_data: Bytes.hex(r.reportData), measurement: Bytes.hex(r.measurement), host_data: Bytes.hex(r.hostData),
            id_key_digest: Bytes.hex(r.idKeyDigest), author_key_digest: Bytes.hex(r.authorKeyDigest),
            report_id: Bytes.hex(r.reportID), chip_id: Bytes.hex(r.chipID),
            launch_mitigation_vector: r.launchMitigationVector, current_mitigation_vector: r.currentMitigationVector)
    }

    /// One JSON object, keys sorted so output is stable.
    public func json() throws -> String {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        return String(decoding: try encoder.encode(self), as: UTF8.self)
    }

    /// A readable table: one line per check, then the main report fields.
    public func table() -> String {
        var lines: [String] = []
        let width = max(12, checks.map(\.name.count).max() ?? 0)
        for c in checks {
            lines.append("\(c.ok ? "PASS" : "FAIL")  \(c.name.padding(toLength: width, withPad: " ", startingAt: 0))  \(c.detail)")
        }
        let r = report
        lines.append("")
        lines.append("report v\(r.version) \(r.product) signer=\(r.signer) vmpl=\(r.vmpl) policy=\(r.policy.hex) debug=\(r.policy.debug) smt=\(r.policy.smt) migrate_ma=\(r.policy.migrate_ma)")
        lines.append("firmware current \(r.current_firmware) committed \(r.committed_firmware); reported TCB \(r.reported_tcb); current TCB \(r.current_tcb); committed TCB \(r.committed_tcb)")
        lines.append("measurement \(r.measurement)")
        lines.append("report_data \(r.report_data)")
        lines.append("host_data   \(r.host_data)")
        lines.append("chip_id     \(r.chip_id)")
        lines.append(valid ? "VALID" : "INVALID: " + checks.filter { !$0.ok }.map(\.name).joined(separator: ", "))
        return lines.joined(separator: "\n")
    }
}
