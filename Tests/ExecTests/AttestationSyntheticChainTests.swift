import Crypto
import Exec
import Foundation
import Testing

/// Full verification through an injected trust anchor, with a generated chain and a report signed by its VCEK:
/// covers the Turin layouts no public Turin report exists for.
struct AttestationSyntheticChainTests {
    static func report(signedBy key: P384.Signing.PrivateKey, reportedTCB: UInt64, chipID: [UInt8], family: UInt8, model: UInt8,
                       policy: UInt64 = 0x30000, reportData: [UInt8] = [UInt8](repeating: 0, count: 64)) throws -> AttestationReport {
        var firmware = KeyReleaseTests.FakeFirmware(signingKey: key)
        firmware.policy = policy
        firmware.version = 3
        firmware.reportedTCB = reportedTCB
        firmware.chipID = chipID
        firmware.cpuid = (family, model)
        return try firmware.report(reportData: reportData)
    }

    static var date: Date { ISO8601DateFormatter().date(from: "2026-01-01T00:00:00Z")! }

    func verify(_ chain: TestAMDChain, _ report: AttestationReport, anchors: TrustAnchors? = nil) -> VerificationResult {
        var policy = VerificationPolicy()
        policy.date = Self.date
        return ReportVerifier(endorsement: .chain(chain.chain, anchors: anchors ?? chain.anchors), policy: policy).verify(report)
    }

    @Test func turinReportBindsFMCFirstTCBAndEightByteChipID() throws {
        let tcb = TCBVersion(bootloader: 7, tee: 1, snp: 3, microcode: 0x44, fmc: 2)
        let hwID: [UInt8] = [0x1e, 0x55, 0x0a, 0x8e, 0xe5, 0xcf, 0x9f, 0x4d]
        let chain = try TestAMDChain(product: .turin, tcb: tcb, hardwareID: hwID, wrapHardwareID: true)
        // Turin REPORTED_TCB bytes: [fmc, bl, tee, snp, 0, 0, 0, ucode].
        let raw = UInt64(littleEndianBytes: [2, 7, 1, 3, 0, 0, 0, 0x44])
        let report = try Self.report(signedBy: chain.vcekKey, reportedTCB: raw, chipID: hwID + [UInt8](repeating: 0, count: 56), family: 0x1a, model: 0x02)
        let result = verify(chain, report)
        #expect(result.valid, "\(result.failures)")
        #expect(result.product == .turin)
        #expect(result.check("tcb_binding") == true && result.check("chip_id_binding") == true && result.check("product") == true)

        let wrongFMC = try Self.report(signedBy: chain.vcekKey, reportedTCB: UInt64(littleEndianBytes: [3, 7, 1, 3, 0, 0, 0, 0x44]),
                                       chipID: hwID + [UInt8](repeating: 0, count: 56), family: 0x1a, model: 0x02)
        #expect(verify(chain, wrongFMC).failedNames == ["tcb_binding"])
        // A Milan-layout TCB with the same numbers does not bind on Turin.
        let milanLayout = try Self.report(signedBy: chain.vcekKey, reportedTCB: UInt64(littleEndianBytes: [7, 1, 0, 0, 0, 0, 3, 0x44]),
                                          chipID: hwID + [UInt8](repeating: 0, count: 56), family: 0x1a, model: 0x02)
        #expect(verify(chain, milanLayout).failedNames == ["tcb_binding"])
        let otherChip = try Self.report(signedBy: chain.vcekKey, reportedTCB: raw, chipID: [0xff] + hwID.dropFirst() + [UInt8](repeating: 0, count: 56),
                                        family: 0x1a, model: 0x02)
        #expect(verify(chain, otherChip).failedNames == ["chip_id_binding"])
    }

    @Test func milanLookalikeVerifiesOnlyUnderItsInjectedPin() throws {
        let tcb = TCBVersion(bootloader: 3, tee: 0, snp: 8, microcode: 115)
        let hwID = (0..<64).map { UInt8($0) }
        let chain = try TestAMDChain(product: .milan, tcb: tcb, hardwareID: hwID, wrapHardwareID: false)
        let report = try Self.report(signedBy: chain.vcekKey, reportedTCB: UInt64(littleEndianBytes: [3, 0, 0, 0, 0, 0, 8, 115]),
                                     chipID: hwID, family: 0x19, model: 0x01)
        #expect(verify(chain, report).valid)
        // AMD's real pins do not cover a generated root, however well it is signed.
        let underAMD = verify(chain, report, anchors: .amd)
        #expect(underAMD.failedNames == ["ark_pinned"])
        // A Genoa CPUID in the report contradicts the Milan chain.
        let genoaCPU = try Self.report(signedBy: chain.vcekKey, reportedTCB: UInt64(littleEndianBytes: [3, 0, 0, 0, 0, 0, 8, 115]),
                                       chipID: hwID, family: 0x19, model: 0x11)
        #expect(verify(chain, genoaCPU).failedNames == ["product"])
    }

    @Test func vcekSignedWithAnotherPSSSaltIsRefused() throws {
        let chain = try TestAMDChain(product: .milan, tcb: TCBVersion(bootloader: 1, tee: 0, snp: 1, microcode: 1),
                                     hardwareID: [UInt8](repeating: 9, count: 64), wrapHardwareID: false, saltLength: 32)
        #expect(chain.vcek.pssParameters?.saltLength == 32)
        #expect(!chain.vcek.isSigned(by: chain.ask))
        #expect(chain.ask.isSigned(by: chain.ark))
    }

    @Test func brokerWithInjectedAnchorsReleasesThroughTheCertificateChain() throws {
        let tcb = TCBVersion(bootloader: 3, tee: 0, snp: 8, microcode: 115)
        let hwID = [UInt8](repeating: 0xab, count: 64)
        let chain = try TestAMDChain(product: .milan, tcb: tcb, hardwareID: hwID, wrapHardwareID: true)
        var policy = VerificationPolicy()
        policy.date = Self.date
        let broker = KeyBroker(trust: .amdChain(chain.anchors), policy: policy)
        let diskKey = [UInt8](repeating: 0x5a, count: 32)
        broker.register(jobID: "job-1", diskKey: diskKey)
        let guest = Curve25519.KeyAgreement.PrivateKey()
        let nonce = broker.challenge()
        let report = try Self.report(signedBy: chain.vcekKey, reportedTCB: UInt64(littleEndianBytes: [3, 0, 0, 0, 0, 0, 8, 115]), chipID: hwID,
                                     family: 0x19, model: 0x01, reportData: KeyBroker.reportData(nonce: nonce, guestPublicKey: guest.publicKey))
        let wrapped = try broker.release(.init(jobID: "job-1", report: report, guestPublicKey: guest.publicKey, nonce: nonce, certificates: chain.chain))
        #expect(try wrapped.unwrap(with: guest) == diskKey)

        let strict = KeyBroker(trust: .amdChain(.amd), policy: policy)
        strict.register(jobID: "job-1", diskKey: diskKey)
        let nonce2 = strict.challenge()
        let report2 = try Self.report(signedBy: chain.vcekKey, reportedTCB: UInt64(littleEndianBytes: [3, 0, 0, 0, 0, 0, 8, 115]), chipID: hwID,
                                      family: 0x19, model: 0x01, reportData: KeyBroker.reportData(nonce: nonce2, guestPublicKey: guest.publicKey))
        #expect(throws: KeyBroker.Refusal.reportRejected(["ark_pinned"])) {
            try strict.release(.init(jobID: "job-1", report: report2, guestPublicKey: guest.publicKey, nonce: nonce2, certificates: chain.chain))
        }
    }
}

extension UInt64 {
    init(littleEndianBytes b: [UInt8]) {
        self = b.enumerated().reduce(0) { $0 | UInt64($1.element) << (8 * UInt64($1.offset)) }
    }
}
