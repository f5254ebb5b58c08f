import ArgumentParser
import Exec
import Foundation

/// `prism attest verify`: chain, signature, binding and policy checks on one report.
struct AttestVerifyCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Verify an SEV-SNP attestation report against AMD's certificate chain and a policy.",
        discussion: """
        Checks, each printed as its own line: ARK pinned and self-signed, ARK→ASK (ASVK) → VCEK (VLEK) \
        RSASSA-PSS signatures, certificate validity, the report's ECDSA P-384 signature, TCB and chip-ID \
        binding to the VCEK, debug policy, VMPL, and any expected values given. Exit 0 valid, 1 invalid, 2 bad input.
        """
    )

    @Option(help: "Attestation report: raw 1184 bytes, hex text, or an Azure HCL report.")
    var report: String
    @Option(help: "VCEK or VLEK certificate (DER or PEM); a PEM bundle [VCEK, ASK, ARK] also works.")
    var vcek: String
    @Option(help: "ASK/ASVK and ARK certificates (PEM as AMD's key server returns them).")
    var chain: String?
    @Flag(help: "Accept a guest whose policy allows debugging.")
    var allowDebug = false
    @Option(help: "The VMPL the report must come from (default 0).")
    var vmpl: UInt32 = 0
    @Option(help: "Expected launch measurement, 96 hex digits.")
    var measurement: String?
    @Option(name: .customLong("report-data"), help: "Expected REPORT_DATA, up to 128 hex digits (zero-padded).")
    var reportData: String?
    @Option(name: .customLong("host-data"), help: "Expected HOST_DATA, up to 64 hex digits (zero-padded).")
    var hostData: String?
    @Option(name: .customLong("min-tcb"), help: "Minimum reported TCB, e.g. bl=3,tee=0,snp=8,ucode=115[,fmc=0].")
    var minTCB: String?
    @Option(help: "Check certificate validity at this RFC 3339 time instead of now.")
    var at: String?
    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        var policy = VerificationPolicy()
        policy.allowDebug = allowDebug
        policy.requiredVMPL = vmpl
        policy.expectedMeasurement = try measurement.map { try hex($0, "--measurement", max: 48) }
        policy.expectedReportData = try reportData.map { try hex($0, "--report-data", max: 64) }
        policy.expectedHostData = try hostData.map { try hex($0, "--host-data", max: 32) }
        policy.minimumTCB = try minTCB.map { try TCBVersion(parsing: $0) }
        if let at {
            guard let date = ISO8601DateFormatter().date(from: at) else {
                throw CommandFailure.badInput("--at '\(at)' is not an RFC 3339 time such as 2025-01-01T00:00:00Z")
            }
            policy.date = date
        }
        let parsedReport = try AttestationFiles.report(at: report)
        let certificates = try AttestationFiles.chain(leafPath: vcek, chainPath: chain)
        let verifier = ReportVerifier(endorsement: .chain(certificates, anchors: .amd), policy: policy)
        let output = VerificationReport(verifier.verify(parsedReport))
        print(json ? try output.json() : output.table())
        if !output.valid { throw ExitCode(1) }
    }

    func hex(_ text: String, _ option: String, max: Int) throws -> [UInt8] {
        guard let bytes = Hex.decode(text), !bytes.isEmpty, bytes.count <= max else {
            throw CommandFailure.badInput("\(option) must be at most \(max * 2) hex digits")
        }
        return bytes
    }
}
