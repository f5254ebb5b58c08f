import Crypto
import Foundation

/// One named verification step and its outcome.
public struct VerificationCheck: Sendable, Codable, Equatable {
    public let name: String
    public let ok: Bool
    public let detail: String

    public init(name: String, ok: Bool, detail: String) {
        self.name = name
        self.ok = ok
        self.detail = detail
    }
}

/// What the verifier demands of a report beyond a valid signature and binding.
public struct VerificationPolicy: Sendable {
    /// Accept a guest launched with the DEBUG policy bit (its memory is readable by the host).
    public var allowDebug = false
    /// The VMPL the report must come from (0 is the most privileged level).
    public var requiredVMPL: UInt32 = 0
    /// Every component of REPORTED_TCB must be at least this.
    public var minimumTCB: TCBVersion?
    /// Expected MEASUREMENT (48 bytes), REPORT_DATA (64 bytes; shorter values are zero-padded) and HOST_DATA (32 bytes).
    public var expectedMeasurement: [UInt8]?
    public var expectedReportData: [UInt8]?
    public var expectedHostData: [UInt8]?
    /// The time certificates must be valid at.
    public var date = Date()

    public init() {}
}

/// How the report's signing key is established.
// swift-crypto 3.12 keys are immutable values but not yet marked Sendable.
public enum Endorsement: @unchecked Sendable {
    /// Through AMD's certificate chain, its ARK pinned by `anchors`.
    case chain(CertificateChain, anchors: TrustAnchors)
    /// A signing key trusted out of band (tests, or a key already checked); TCB and chip binding are then not checked.
    case trustedKey(P384.Signing.PublicKey, product: AMDProduct)
}

/// The outcome of verifying one report: every check, and the parsed report.
public struct VerificationResult: Sendable {
    public let report: AttestationReport
    public let checks: [VerificationCheck]
    /// The product whose TCB layout was used to decode the report's TCB values.
    public let product: AMDProduct
    /// Whether the report was signed by a VCEK or a VLEK, per the endorsement.
    public let signer: AttestationReport.SigningKey
    /// True only when every check passed.
    public var valid: Bool { checks.allSatisfy(\.ok) }
    /// The checks that failed.
    public var failures: [VerificationCheck] { checks.filter { !$0.ok } }
}

/// Verifies an SEV-SNP report: endorsement chain, report signature, TCB and chip binding, and policy.
/// Every step runs and is reported, so a caller sees all reasons a report fails, not only the first.
public struct ReportVerifier: Sendable {
    public let endorsement: Endorsement
    public let policy: VerificationPolicy

    public init(endorsement: Endorsement, policy: VerificationPolicy) {
        self.endorsement = endorsement
        self.policy = policy
    }

    /// Runs every check on `report`.
    public func verify(_ report: AttestationReport) -> VerificationResult {
        var checks: [VerificationCheck] = []
        let signingKey: P384.Signing.PublicKey?
        var product: AMDProduct
        let signer: AttestationReport.SigningKey

        switch endorsement {
        case .trustedKey(let key, let p):
            checks.append(.init(name: "trusted_signing_key", ok: true, detail: "signing key supplied by the caller as trusted"))
            signingKey = key
            product = p
            signer = report.signingKey
        case .chain(let chain, let anchors):
            let (chainChecks, chainProduct) = chain.verify(anchors: anchors, at: policy.date)
            checks += chainChecks
            product = chainProduct ?? report.productFromCPUID ?? .milan
            signer = chain.leafIsVLEK ? .vlek : .vcek
            if case .p384(let key) = chain.leaf.publicKey { signingKey = key } else { signingKey = nil }
        }

        checks.append(signatureCheck(report, key: signingKey))
        checks.append(.init(name: "signer_kind", ok: report.signingKey == signer,
                            detail: "report says \(report.signingKey.rawValue), endorsement is a \(signer.rawValue)"))
        if let cpuidProduct = report.productFromCPUID {
            checks.append(.init(name: "product", ok: cpuidProduct == product,
                                detail: "report CPUID family 0x\(String(report.cpuidFamily!, radix: 16)) model 0x\(String(report.cpuidModel!, radix: 16)) is \(cpuidProduct.rawValue); chain is \(product.rawValue)"))
        }
        if case .chain(let chain, _) = endorsement {
            checks += bindingChecks(report, chain: chain, product: product)
        }
        checks += policyChecks(report, product: product)
        return VerificationResult(report: report, checks: checks, product: product, signer: signer)
    }

    func signatureCheck(_ report: AttestationReport, key: P384.Signing.PublicKey?) -> VerificationCheck {
        let name = "report_signature"
        guard report.signatureAlgorithm == 1 else {
            return .init(name: name, ok: false, detail: "signature algorithm \(report.signatureAlgorithm) is not ECDSA P-384 SHA-384 (1)")
        }
        guard let key else { return .init(name: name, ok: false, detail: "the leaf certificate has no P-384 key") }
        guard let raw = report.signatureRawBigEndian else {
            return .init(name: name, ok: false, detail: "signature R or S has non-zero bytes above bit 384")
        }
        guard let signature = try? P384.Signing.ECDSASignature(rawRepresentation: raw) else {
            return .init(name: name, ok: false, detail: "signature R/S are not a valid P-384 signature")
        }
        let digest = SHA384.hash(data: report.bytes[AttestationReport.signedRange])
        let ok = key.isValidSignature(signature, for: digest)
        return .init(name: name, ok: ok, detail: ok ? "ECDSA P-384 SHA-384 over bytes 0x000..0x2A0 verifies"
                                                    : "ECDSA P-384 SHA-384 signature does not verify")
    }

    func bindingChecks(_ report: AttestationReport, chain: CertificateChain, product: AMDProduct) -> [VerificationCheck] {
        let ext = AMDExtensions(chain.leaf)
        let reported = TCBVersion(raw: report.reportedTCBRaw, product: product)
        var checks: [VerificationCheck] = []
        if let certTCB = ext.tcb {
            // The fmc component exists only on Turin; elsewhere the certificate has none to compare.
            let expected = product == .turin ? certTCB : TCBVersion(bootloader: certTCB.bootloader, tee: certTCB.tee, snp: certTCB.snp, microcode: certTCB.microcode)
            checks.append(.init(name: "tcb_binding", ok: expected == reported,
                                detail: "certificate TCB \(expected), report REPORTED_TCB \(reported)"))
        } else {
            checks.append(.init(name: "tcb_binding", ok: false, detail: "certificate lacks the TCB extensions 1.3.6.1.4.1.3704.1.3.{1,2,3,8}"))
        }
        if chain.leafIsVLEK {
            checks.append(.init(name: "chip_id_binding", ok: true, detail: "not applicable: a VLEK is not bound to one chip"))
        } else if let hwID = ext.hardwareID {
            // Turin's hwID is 8 bytes; the report's CHIP_ID then holds them first, zero-padded.
            let reportPart = Array(report.chipID.prefix(hwID.count))
            let rest = report.chipID.dropFirst(hwID.count)
            let ok = !hwID.isEmpty && reportPart == hwID && rest.allSatisfy { $0 == 0 }
            checks.append(.init(name: "chip_id_binding", ok: ok,
                                detail: ok ? "hwID equals CHIP_ID \(Bytes.hex(hwID.prefix(8)))…"
                                    : "hwID \(Bytes.hex(hwID.prefix(8)))… differs from CHIP_ID \(Bytes.hex(report.chipID.prefix(8)))…"))
        } else {
            checks.append(.init(name: "chip_id_binding", ok: false, detail: "VCEK lacks the hwID extension 1.3.6.1.4.1.3704.1.4"))
        }
        return checks
    }

    func policyChecks(_ report: AttestationReport, product: AMDProduct) -> [VerificationCheck] {
        var checks: [VerificationCheck] = []
        let debug = report.policy.debugAllowed
        checks.append(.init(name: "debug_policy", ok: !debug || policy.allowDebug,
                            detail: debug ? (policy.allowDebug ? "DEBUG set, allowed by --allow-debug" : "policy 0x\(String(report.policy.raw, radix: 16)) allows DEBUG: the host can read guest memory")
                                : "DEBUG not set (policy 0x\(String(report.policy.raw, radix: 16)))"))
        checks.append(.init(name: "vmpl", ok: report.vmpl == policy.requiredVMPL,
                            detail: "report VMPL \(report.vmpl), required \(policy.requiredVMPL)"))
        if let minimum = policy.minimumTCB {
            let reported = TCBVersion(raw: report.reportedTCBRaw, product: product)
            checks.append(.init(name: "minimum_tcb", ok: reported.meets(minimum),
                                detail: "REPORTED_TCB \(reported), minimum \(minimum)"))
        }
        func compare(_ name: String, _ expected: [UInt8]?, _ actual: [UInt8]) {
            guard let expected else { return }
            let padded = expected.count < actual.count ? expected + [UInt8](repeating: 0, count: actual.count - expected.count) : expected
            let ok = padded == actual
            checks.append(.init(name: name, ok: ok, detail: ok ? "matches \(Bytes.hex(actual))" : "report has \(Bytes.hex(actual)), expected \(Bytes.hex(padded))"))
        }
        compare("measurement", policy.expectedMeasurement, report.measurement)
        compare("report_data", policy.expectedReportData, report.reportData)
        compare("host_data", policy.expectedHostData, report.hostData)
        return checks
    }
}
