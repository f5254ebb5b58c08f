import Exec
import Foundation
import Testing

/// Report parsing and end-to-end verification against the vectors README expectations.
@Suite(.enabled(if: SEVVectors.available, "needs ../shared/sev-vectors or PRISM_SEV_VECTORS"))
struct AttestationReportTests {
    @Test func milanHexReportParsesWithItsDocumentedFields() throws {
        let r = try SEVVectors.report("virtee-sev/report_milan.hex")
        #expect(r.version == 2)
        #expect(r.policy.raw == 0x30000)
        #expect(!r.policy.debugAllowed && r.policy.smtAllowed)
        #expect((r.currentMajor, r.currentMinor, r.currentBuild) == (1, 52, 4))
        #expect(TCBVersion(raw: r.reportedTCBRaw, product: .milan) == TCBVersion(bootloader: 3, tee: 0, snp: 8, microcode: 115))
        #expect(r.signingKey == .vcek)
        #expect(r.cpuidFamily == nil)
    }

    @Test func milanReportVerifiesWithSignatureTCBAndChipBinding() throws {
        let result = try SEVVectors.verify(report: "virtee-sev/report_milan.hex", leaf: "virtee-sev/vcek_milan.der", chain: "virtee-sev/cert_chain_milan")
        #expect(result.valid, "\(result.failures)")
        #expect(result.check("report_signature") == true)
        #expect(result.check("tcb_binding") == true)
        #expect(result.check("chip_id_binding") == true)
        #expect(result.product == .milan)
    }

    @Test func flippingByte21OfTheMilanReportFailsTheSignature() throws {
        var bytes = try SEVVectors.report("virtee-sev/report_milan.hex").bytes
        bytes[21] ^= 0x01
        let result = try SEVVectors.verify(bytes: bytes, leaf: "virtee-sev/vcek_milan.der", chain: "virtee-sev/cert_chain_milan")
        #expect(!result.valid)
        #expect(result.check("report_signature") == false)
    }

    /// Each field flip must be caught: by the signature always, and by the binding checks where they apply.
    @Test(arguments: [
        ("measurement", 0x90), ("report_data", 0x50), ("policy", 0x08), ("reported_tcb", 0x180),
        ("chip_id", 0x1A0), ("signature_r", 0x2A0), ("signature_s", 0x2E8 + 47), ("signature_r_high", 0x2A0 + 60),
        ("host_data", 0xC0), ("vmpl", 0x30), ("guest_svn", 0x04),
    ])
    func mutatedReportFieldIsRejected(field: String, offset: Int) throws {
        var bytes = try SEVVectors.report("virtee-sev/report_milan.hex").bytes
        bytes[offset] ^= 0x04
        let result = try SEVVectors.verify(bytes: bytes, leaf: "virtee-sev/vcek_milan.der", chain: "virtee-sev/cert_chain_milan")
        #expect(!result.valid, "\(field)")
        #expect(result.check("report_signature") == false, "\(field)")
        if field == "reported_tcb" { #expect(result.check("tcb_binding") == false) }
        if field == "chip_id" { #expect(result.check("chip_id_binding") == false) }
    }

    @Test func goSevGuestReportSignsButIsRejectedForDebugUnlessAllowed() throws {
        let r = try SEVVectors.report("go-sev-guest/attestation.bin")
        #expect(r.policy.raw == 0xb0000 && r.policy.debugAllowed)
        #expect(Array(r.reportData.prefix(6)) == [1, 2, 3, 4, 5, 0])
        #expect((r.currentMajor, r.currentMinor, r.currentBuild) == (1, 49, 3))
        #expect(TCBVersion(raw: r.reportedTCBRaw, product: .milan) == TCBVersion(bootloader: 2, tee: 0, snp: 5, microcode: 68))
        let strict = try SEVVectors.verify(report: "go-sev-guest/attestation.bin", leaf: "go-sev-guest/vcek.testcer", chain: "go-sev-guest/milan.testcer")
        #expect(strict.check("report_signature") == true)
        #expect(strict.failedNames == ["debug_policy"])
        let lenient = try SEVVectors.verify(report: "go-sev-guest/attestation.bin", leaf: "go-sev-guest/vcek.testcer", chain: "go-sev-guest/milan.testcer") { $0.allowDebug = true }
        #expect(lenient.valid)
    }

    @Test func expectedValuesAreCompared() throws {
        let r = try SEVVectors.report("go-sev-guest/attestation.bin")
        let good = try SEVVectors.verify(report: "go-sev-guest/attestation.bin", leaf: "go-sev-guest/vcek.testcer", chain: "go-sev-guest/milan.testcer") {
            $0.allowDebug = true
            $0.expectedReportData = [1, 2, 3, 4, 5]
            $0.expectedMeasurement = r.measurement
            $0.expectedHostData = [UInt8](repeating: 0, count: 32)
            $0.minimumTCB = TCBVersion(bootloader: 2, tee: 0, snp: 5, microcode: 68)
        }
        #expect(good.valid, "\(good.failures)")
        let bad = try SEVVectors.verify(report: "go-sev-guest/attestation.bin", leaf: "go-sev-guest/vcek.testcer", chain: "go-sev-guest/milan.testcer") {
            $0.allowDebug = true
            $0.expectedReportData = [1, 2, 3, 4, 6]
            $0.expectedMeasurement = [UInt8](repeating: 0xaa, count: 48)
            $0.expectedHostData = [1]
            $0.minimumTCB = TCBVersion(bootloader: 2, tee: 0, snp: 6, microcode: 68)
        }
        #expect(Set(bad.failedNames) == ["report_data", "measurement", "host_data", "minimum_tcb"])
    }

    @Test func trusteeReportVerifiesWithTrusteeVCEK() throws {
        let result = try SEVVectors.verify(report: "trustee/test-report.bin", leaf: "trustee/test-vcek.der", chain: "go-sev-guest/milan.testcer")
        #expect(result.valid, "\(result.failures)")
        #expect(result.report.policy.raw == 0x3001f)
    }

    @Test func vlekReportIsRejectedAtVMPL0AndAcceptedAtVMPL1() throws {
        let r = try SEVVectors.report("trustee/test-vlek-report.bin")
        #expect(r.version == 3 && r.vmpl == 1 && r.signingKey == .vlek && r.signerInfo == 0x4)
        #expect(r.chipID.allSatisfy { $0 == 0 })
        #expect((r.cpuidFamily, r.cpuidModel, r.cpuidStepping) == (0x19, 0x01, 1))
        #expect((r.currentMajor, r.currentMinor, r.currentBuild) == (1, 55, 29))
        let strict = try SEVVectors.verify(report: "trustee/test-vlek-report.bin", leaf: "trustee/test-vlek.der", chain: "go-sev-guest/milanvlek.testcer")
        #expect(strict.check("report_signature") == true)
        #expect(strict.failedNames == ["vmpl"])
        #expect(strict.signer == .vlek)
        let vmpl1 = try SEVVectors.verify(report: "trustee/test-vlek-report.bin", leaf: "trustee/test-vlek.der", chain: "go-sev-guest/milanvlek.testcer") { $0.requiredVMPL = 1 }
        #expect(vmpl1.valid, "\(vmpl1.failures)")
        let today = try SEVVectors.verify(report: "trustee/test-vlek-report.bin", leaf: "trustee/test-vlek.der", chain: "go-sev-guest/milanvlek.testcer") {
            $0.requiredVMPL = 1
            $0.date = ISO8601DateFormatter().date(from: "2026-01-01T00:00:00Z")!
        }
        #expect(today.failedNames == ["certificates_valid"])
    }

    @Test func vlekReportFailsWhenTheVLEKIsOfferedUnderTheASK() throws {
        let result = try SEVVectors.verify(report: "trustee/test-vlek-report.bin", leaf: "trustee/test-vlek.der", chain: "go-sev-guest/milan.testcer") { $0.requiredVMPL = 1 }
        #expect(!result.valid)
        #expect(result.check("vlek_signed_by_asvk") == false)
    }

    @Test func azureHCLReportIsDetectedAndVerifiesWithTheBundledVCEK() throws {
        let hcl = try SEVVectors.bytes("trustee/hcl-report.bin")
        let r = try AttestationReport(fileContents: hcl)
        #expect(r.bytes == Array(hcl[0x20..<(0x20 + 1184)]))
        let result = try SEVVectors.verify(report: "trustee/hcl-report.bin", leaf: "trustee/vcek.pem", chain: nil)
        #expect(result.valid, "\(result.failures)")
        #expect(try SEVVectors.certificates("trustee/vcek.pem").count == 3)
    }

    @Test(arguments: ["trustee/hcl-report-genoa.bin", "trustee/snp-report-genoa-from-hcl.bin"])
    func genoaReportVerifiesWithGenoaVCEK(name: String) throws {
        let r = try SEVVectors.report(name)
        #expect(r.version == 3)
        #expect((r.currentMajor, r.currentMinor, r.currentBuild) == (1, 55, 40))
        #expect((r.cpuidFamily, r.cpuidModel) == (0x19, 0x11))
        #expect(r.productFromCPUID == .genoa)
        #expect(TCBVersion(raw: r.reportedTCBRaw, product: .genoa) == TCBVersion(bootloader: 10, tee: 0, snp: 23, microcode: 84))
        let result = try SEVVectors.verify(report: name, leaf: "trustee/vcek-genoa.pem", chain: "trustee/genoa_ask_ark_asvk.pem")
        #expect(result.valid, "\(result.failures)")
        #expect(result.product == .genoa)
        #expect(result.check("product") == true)
    }

    @Test func genoaReportFailsUnderTheMilanChain() throws {
        let result = try SEVVectors.verify(report: "trustee/snp-report-genoa-from-hcl.bin", leaf: "trustee/vcek-genoa.pem", chain: "go-sev-guest/milan.testcer")
        #expect(!result.valid)
        #expect(result.check("vcek_signed_by_ask") == false)
    }

    @Test func reportWithTheWrongVCEKFailsSignatureAndBinding() throws {
        let result = try SEVVectors.verify(report: "virtee-sev/report_milan.hex", leaf: "go-sev-guest/vcek.testcer", chain: "go-sev-guest/milan.testcer")
        #expect(result.check("vcek_signed_by_ask") == true)
        #expect(result.check("report_signature") == false)
        #expect(result.check("tcb_binding") == false)
        #expect(result.check("chip_id_binding") == false)
    }

    @Test func turinTCBLayoutPutsFMCFirst() throws {
        // Turin: [fmc, bl, tee, snp, 0, 0, 0, ucode]; Milan/Genoa: [bl, tee, 0, 0, 0, 0, snp, ucode].
        let raw: UInt64 = 0x4800_0000_0305_0201
        #expect(TCBVersion(raw: raw, product: .turin) == TCBVersion(bootloader: 2, tee: 5, snp: 3, microcode: 0x48, fmc: 1))
        #expect(TCBVersion(raw: raw, product: .milan) == TCBVersion(bootloader: 1, tee: 2, snp: 0, microcode: 0x48))
        #expect(try TCBVersion(parsing: "bl=3,tee=0,snp=8,ucode=115") == TCBVersion(bootloader: 3, tee: 0, snp: 8, microcode: 115))
        #expect(throws: AttestationInputError.self) { try TCBVersion(parsing: "bl=three") }
    }

    @Test func shortUnknownAndTrailingReportsAreRefusedWithClearErrors() throws {
        let good = try SEVVectors.report("virtee-sev/report_milan.hex").bytes
        #expect(throws: AttestationInputError("attestation report is 1183 bytes, expected 1184")) { try AttestationReport(bytes: Array(good.dropLast())) }
        #expect(throws: AttestationInputError.self) { try AttestationReport(bytes: good + [0]) }
        var v4 = good
        v4[0] = 4
        #expect(throws: AttestationInputError("attestation report version 4 is not supported (known: 2, 3, 5)")) { try AttestationReport(bytes: v4) }
        #expect(throws: AttestationInputError("attestation report is empty")) { try AttestationReport(fileContents: []) }
        #expect(throws: AttestationInputError.self) { try AttestationReport(fileContents: Array("HCLA".utf8) + [UInt8](repeating: 0, count: 100)) }
    }

    @Test func version5ReportExposesMitigationVectors() throws {
        var bytes = try SEVVectors.report("virtee-sev/report_milan.hex").bytes
        bytes[0] = 5
        bytes[0x1F8] = 0x03
        bytes[0x200] = 0x07
        let r = try AttestationReport(bytes: bytes)
        #expect(r.launchMitigationVector == 3 && r.currentMitigationVector == 7)
    }
}
