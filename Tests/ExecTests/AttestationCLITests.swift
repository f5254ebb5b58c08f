import PrismTestSupport
import Foundation
import Testing

/// The `prism attest verify` contract: exit codes, one-line errors, the JSON object.
@Suite(.enabled(if: SEVVectors.available, "needs ../shared/sev-vectors or PRISM_SEV_VECTORS"))
struct AttestationCLITests {
    let v = SEVVectors.path

    func tempFile(_ bytes: [UInt8]) throws -> String {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("prism-attest-\(UUID().uuidString)")
        try Data(bytes).write(to: url)
        return url.path
    }

    @Test func validMilanReportExitsZeroWithAPassLinePerCheck() throws {
        let r = try PrismBinary.run(["attest", "verify", "--report", v("virtee-sev/report_milan.hex"),
                                     "--vcek", v("virtee-sev/vcek_milan.der"), "--chain", v("virtee-sev/cert_chain_milan")])
        #expect(r.status == 0, "\(r.stderr)")
        for name in ["ark_pinned", "ark_self_signed", "ask_signed_by_ark", "vcek_signed_by_ask", "report_signature", "tcb_binding", "chip_id_binding", "debug_policy", "vmpl"] {
            #expect(r.stdout.contains("PASS  \(name)"), "\(name)")
        }
        #expect(r.stdout.contains("VALID"))
    }

    @Test func jsonOutputIsOneObjectWithChecksAndReportFields() throws {
        let r = try PrismBinary.run(["attest", "verify", "--report", v("go-sev-guest/attestation.bin"), "--vcek", v("go-sev-guest/vcek.testcer"),
                                     "--chain", v("go-sev-guest/milan.testcer"), "--json"])
        #expect(r.status == 1)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any])
        #expect(object["valid"] as? Bool == false)
        let checks = try #require(object["checks"] as? [[String: Any]])
        #expect(checks.first { $0["name"] as? String == "debug_policy" }?["ok"] as? Bool == false)
        #expect(checks.first { $0["name"] as? String == "report_signature" }?["ok"] as? Bool == true)
        let report = try #require(object["report"] as? [String: Any])
        #expect(report["version"] as? Int == 2)
        let policy = try #require(report["policy"] as? [String: Any])
        #expect(policy["hex"] as? String == "0xb0000" && policy["debug"] as? Bool == true)
        #expect((report["report_data"] as? String)?.hasPrefix("0102030405") == true)
        #expect(report["signer"] as? String == "vcek")
        let tcb = try #require(report["reported_tcb"] as? [String: Any])
        #expect(tcb["snp"] as? Int == 5 && tcb["microcode"] as? Int == 68)
    }

    @Test func debugReportIsAcceptedWithAllowDebug() throws {
        let r = try PrismBinary.run(["attest", "verify", "--report", v("go-sev-guest/attestation.bin"), "--vcek", v("go-sev-guest/vcek.testcer"),
                                     "--chain", v("go-sev-guest/milan.testcer"), "--allow-debug", "--report-data", "0102030405"])
        #expect(r.status == 0, "\(r.stdout)")
    }

    @Test func vlekReportNeedsVMPL1AndAFixedClock() throws {
        let base = ["attest", "verify", "--report", v("trustee/test-vlek-report.bin"), "--vcek", v("trustee/test-vlek.der"),
                    "--chain", v("trustee/milan_ask_ark_asvk.pem"), "--at", "2025-06-01T00:00:00Z"]
        #expect(try PrismBinary.run(base).status == 1)
        let ok = try PrismBinary.run(base + ["--vmpl", "1"])
        #expect(ok.status == 0, "\(ok.stdout)")
        #expect(ok.stdout.contains("PASS  vlek_signed_by_asvk"))
    }

    @Test func azureAndGenoaReportsVerifyFromTheCLI() throws {
        #expect(try PrismBinary.run(["attest", "verify", "--report", v("trustee/hcl-report.bin"), "--vcek", v("trustee/vcek.pem")]).status == 0)
        #expect(try PrismBinary.run(["attest", "verify", "--report", v("trustee/hcl-report-genoa.bin"), "--vcek", v("trustee/vcek-genoa.pem"),
                                     "--chain", v("trustee/genoa_ask_ark_asvk.pem"), "--min-tcb", "bl=10,tee=0,snp=23,ucode=84"]).status == 0)
        let tooNew = try PrismBinary.run(["attest", "verify", "--report", v("trustee/hcl-report-genoa.bin"), "--vcek", v("trustee/vcek-genoa.pem"),
                                          "--chain", v("trustee/genoa_ask_ark_asvk.pem"), "--min-tcb", "bl=10,tee=0,snp=24,ucode=84"])
        #expect(tooNew.status == 1)
        #expect(tooNew.stdout.contains("FAIL  minimum_tcb"))
    }

    @Test func missingReportFileExitsTwoWithOneLine() throws {
        let r = try PrismBinary.run(["attest", "verify", "--report", "/nonexistent/report.bin", "--vcek", v("virtee-sev/vcek_milan.der"),
                                     "--chain", v("virtee-sev/cert_chain_milan")])
        #expect(r.status == 2)
        #expect(r.stderr == "prism: cannot read report /nonexistent/report.bin: no such file\n")
        #expect(r.stdout.isEmpty)
    }

    @Test func truncatedReportExitsTwoWithOneLine() throws {
        let path = try tempFile(Array(try SEVVectors.bytes("trustee/test-report.bin").prefix(700)))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try PrismBinary.run(["attest", "verify", "--report", path, "--vcek", v("trustee/test-vcek.der"), "--chain", v("go-sev-guest/milan.testcer")])
        #expect(r.status == 2)
        #expect(r.stderr == "prism: report \(path): attestation report is 700 bytes, expected 1184\n")
    }

    @Test func garbageCertificateExitsTwoWithOneLine() throws {
        let path = try tempFile(Array("this is not a certificate\n".utf8))
        defer { try? FileManager.default.removeItem(atPath: path) }
        let r = try PrismBinary.run(["attest", "verify", "--report", v("trustee/test-report.bin"), "--vcek", path, "--chain", v("go-sev-guest/milan.testcer")])
        #expect(r.status == 2)
        #expect(r.stderr == "prism: VCEK/VLEK \(path) is neither a PEM nor a DER certificate\n")
        let der = try tempFile([0x30, 0x82, 0x05, 0x00, 0x01, 0x02])
        defer { try? FileManager.default.removeItem(atPath: der) }
        let truncated = try PrismBinary.run(["attest", "verify", "--report", v("trustee/test-report.bin"), "--vcek", v("trustee/test-vcek.der"), "--chain", der])
        #expect(truncated.status == 2)
        #expect(truncated.stderr.hasPrefix("prism: chain \(der): certificate is not valid DER"))
        #expect(truncated.stderr.split(separator: "\n").count == 1)
    }

    @Test func badOptionValuesExitTwo() throws {
        let base = ["attest", "verify", "--report", v("trustee/test-report.bin"), "--vcek", v("trustee/test-vcek.der"), "--chain", v("go-sev-guest/milan.testcer")]
        let at = try PrismBinary.run(base + ["--at", "yesterday"])
        #expect(at.status == 2 && at.stderr.hasPrefix("prism: --at 'yesterday' is not an RFC 3339 time"))
        #expect(try PrismBinary.run(base + ["--measurement", "zz"]).status == 2)
        #expect(try PrismBinary.run(base + ["--min-tcb", "bl"]).status == 2)
    }

    @Test func directoryAndMissingChainExitTwo() throws {
        let dir = try PrismBinary.run(["attest", "verify", "--report", NSTemporaryDirectory(), "--vcek", v("trustee/test-vcek.der")])
        #expect(dir.status == 2 && dir.stderr.hasPrefix("prism: report ") && dir.stderr.hasSuffix(" is a directory\n"))
        let chain = try PrismBinary.run(["attest", "verify", "--report", v("trustee/test-report.bin"), "--vcek", v("trustee/test-vcek.der"),
                                         "--chain", "/nonexistent/chain.pem"])
        #expect(chain.status == 2)
        #expect(chain.stderr == "prism: cannot read chain /nonexistent/chain.pem: no such file\n")
        let ovmf = try PrismBinary.run(["attest", "measure", "--ovmf", "/nonexistent/OVMF.fd", "--vcpus", "1", "--vcpu-type", "EPYC-v4"])
        #expect(ovmf.status == 2)
        #expect(ovmf.stderr == "prism: cannot read OVMF /nonexistent/OVMF.fd: no such file\n")
    }
}
