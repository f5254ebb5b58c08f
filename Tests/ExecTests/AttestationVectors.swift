import Exec
import Foundation

/// The SEV test vectors in ../shared/sev-vectors beside the package (or $PRISM_SEV_VECTORS).
/// They come from other projects and are read in place, never copied into this repository.
enum SEVVectors {
    static let directory: URL = {
        if let path = ProcessInfo.processInfo.environment["PRISM_SEV_VECTORS"] { return URL(fileURLWithPath: path) }
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        return root.appendingPathComponent("../shared/sev-vectors").standardizedFileURL
    }()

    /// Whether the vectors are present; prints why tests are skipped when they are not.
    static let available: Bool = {
        let ok = FileManager.default.fileExists(atPath: directory.appendingPathComponent("README.md").path)
        if !ok { print("SEV vector tests skipped: no test vectors at \(directory.path) (set PRISM_SEV_VECTORS)") }
        return ok
    }()

    static func path(_ name: String) -> String { directory.appendingPathComponent(name).path }

    static func bytes(_ name: String) throws -> [UInt8] { try AttestationFiles.read(path(name), as: name) }

    static func report(_ name: String) throws -> AttestationReport { try AttestationFiles.report(at: path(name)) }

    static func certificates(_ name: String) throws -> [AMDCertificate] {
        try AMDCertificate.loadAll(fileContents: bytes(name), name: name)
    }

    static func chain(leaf: String, chain: String?) throws -> CertificateChain {
        try AttestationFiles.chain(leafPath: path(leaf), chainPath: chain.map(path))
    }

    /// A fixed time inside every vector certificate's validity (the VLEK expired 2025-12-10).
    static let validDate = ISO8601DateFormatter().date(from: "2025-06-01T00:00:00Z")!

    static func verify(report name: String, leaf: String, chain chainName: String?, configure: (inout VerificationPolicy) -> Void = { _ in }) throws -> VerificationResult {
        try verify(report(name), leaf: leaf, chain: chainName, configure: configure)
    }

    static func verify(bytes: [UInt8], leaf: String, chain chainName: String?, configure: (inout VerificationPolicy) -> Void = { _ in }) throws -> VerificationResult {
        try verify(AttestationReport(bytes: bytes), leaf: leaf, chain: chainName, configure: configure)
    }

    /// Verifies against AMD's pins at ``validDate`` unless `configure` changes the policy.
    static func verify(_ report: AttestationReport, leaf: String, chain chainName: String?, configure: (inout VerificationPolicy) -> Void) throws -> VerificationResult {
        var policy = VerificationPolicy()
        policy.date = validDate
        configure(&policy)
        return ReportVerifier(endorsement: .chain(try chain(leaf: leaf, chain: chainName), anchors: .amd), policy: policy).verify(report)
    }
}

extension VerificationResult {
    /// The outcome of the named check, nil when it did not run.
    func check(_ name: String) -> Bool? { checks.first { $0.name == name }?.ok }
    var failedNames: [String] { failures.map(\.name) }
}

/// A small deterministic generator so fuzz runs are reproducible from their seed (SplitMix64).
struct SeededGenerator: RandomNumberGenerator {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}
