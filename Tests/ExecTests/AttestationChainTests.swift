import Exec
import Foundation
import Testing

/// Certificate-chain expectations from the vectors README: every PASS and FAIL pair.
@Suite(.enabled(if: SEVVectors.available, "needs ../shared/sev-vectors or PRISM_SEV_VECTORS"))
struct AttestationChainTests {
    func chainChecks(leaf: String, chain: String) throws -> [String: Bool] {
        let c = try SEVVectors.chain(leaf: leaf, chain: chain)
        return Dictionary(uniqueKeysWithValues: c.verify(anchors: .amd, at: SEVVectors.validDate).checks.map { ($0.name, $0.ok) })
    }

    @Test func milanKDSChainVerifiesARKSelfSignatureARKToASKAndASKToVCEK() throws {
        let checks = try chainChecks(leaf: "virtee-sev/vcek_milan.der", chain: "virtee-sev/cert_chain_milan")
        #expect(checks == ["ark_pinned": true, "ark_self_signed": true, "ask_signed_by_ark": true,
                           "vcek_signed_by_ask": true, "certificates_valid": true])
    }

    @Test func turinVCEKVerifiesUnderTurinASKButMilanVCEKDoesNot() throws {
        let turin = try chainChecks(leaf: "virtee-sev/vcek_turin.der", chain: "virtee-sev/cert_chain_turin")
        #expect(turin.values.allSatisfy { $0 })
        let mixed = try chainChecks(leaf: "virtee-sev/vcek_milan.der", chain: "virtee-sev/cert_chain_turin")
        #expect(mixed["ark_self_signed"] == true)
        #expect(mixed["ask_signed_by_ark"] == true)
        #expect(mixed["vcek_signed_by_ask"] == false)
    }

    @Test func turinVCEKCarriesFMCAndAnEightByteHardwareID() throws {
        let vcek = try #require(SEVVectors.certificates("virtee-sev/vcek_turin.der").first)
        let ext = AMDExtensions(vcek)
        #expect(vcek.issuerCommonName == "SEV-Turin")
        #expect(ext.tcb?.fmc != nil)
        #expect(ext.hardwareID.map { Hex.encode($0) } == "1e550a8ee5cf9f4d")
    }

    @Test func milanVCEKHasRawHardwareIDAndKDSFields() throws {
        let vcek = try #require(SEVVectors.certificates("virtee-sev/vcek_milan.der").first)
        #expect(vcek.subjectCommonName == "SEV-VCEK")
        #expect(vcek.issuerCommonName == "SEV-Milan")
        #expect(vcek.serialNumber == [0])
        #expect(ISO8601DateFormatter().string(from: vcek.notAfter).hasPrefix("2030-04-03"))
        #expect(AMDExtensions(vcek).hardwareID?.count == 64)
        #expect(AMDExtensions(vcek).tcb == TCBVersion(bootloader: 3, tee: 0, snp: 8, microcode: 115))
        guard case .p384 = vcek.publicKey else { Issue.record("VCEK key is not P-384"); return }
    }

    @Test func goSevGuestChainsForVCEKAndVLEKVerify() throws {
        let vcek = try chainChecks(leaf: "go-sev-guest/vcek.testcer", chain: "go-sev-guest/milan.testcer")
        #expect(vcek.values.allSatisfy { $0 }, "\(vcek)")
        let vlek = try chainChecks(leaf: "trustee/test-vlek.der", chain: "go-sev-guest/milanvlek.testcer")
        #expect(vlek == ["ark_pinned": true, "ark_self_signed": true, "asvk_signed_by_ark": true,
                         "vlek_signed_by_asvk": true, "certificates_valid": true])
    }

    @Test func vlekDoesNotVerifyUnderTheASK() throws {
        let checks = try chainChecks(leaf: "trustee/test-vlek.der", chain: "go-sev-guest/milan.testcer")
        #expect(checks["asvk_signed_by_ark"] == true)  // the SEV-Milan ASK is the only intermediate offered
        #expect(checks["vlek_signed_by_asvk"] == false)
    }

    @Test func vlekExpiredOnTenthOfDecember2025() throws {
        let chain = try SEVVectors.chain(leaf: "trustee/test-vlek.der", chain: "go-sev-guest/milanvlek.testcer")
        let before = ISO8601DateFormatter().date(from: "2025-12-09T00:00:00Z")!
        let after = ISO8601DateFormatter().date(from: "2025-12-11T00:00:00Z")!
        let early = chain.verify(anchors: .amd, at: before).checks
        #expect(early.allSatisfy { $0.ok })
        let late = chain.verify(anchors: .amd, at: after).checks
        #expect(late.first { $0.name == "certificates_valid" }?.ok == false)
        #expect(ISO8601DateFormatter().string(from: chain.leaf.notAfter).hasPrefix("2025-12-10"))
    }

    @Test func trusteeVCEKVerifiesAndInvalidFixturesParseButFailTheChain() throws {
        let trusteeChecks = try chainChecks(leaf: "trustee/test-vcek.der", chain: "go-sev-guest/milan.testcer")
        #expect(trusteeChecks.values.allSatisfy { $0 })
        for (name, hwIDWrapped) in [("trustee/test-vcek-invalid-legacy.der", false), ("trustee/test-vcek-invalid-new.der", true)] {
            let cert = try #require(SEVVectors.certificates(name).first)
            let raw = try #require(cert.extensions["1.3.6.1.4.1.3704.1.4"])
            #expect((raw.count == 66 && raw[0] == 0x04) == hwIDWrapped, "\(name)")
            #expect(AMDExtensions(cert).hardwareID?.count == 64)
            let checks = try chainChecks(leaf: name, chain: "go-sev-guest/milan.testcer")
            #expect(checks["ask_signed_by_ark"] == true)
            #expect(checks["vcek_signed_by_ask"] == false, "\(name)")
        }
    }

    @Test(arguments: ["milan", "genoa", "turin"])
    func trusteeBundlesWithASKAndASVKVerifyForEachProduct(product: String) throws {
        let certs = try SEVVectors.certificates("trustee/\(product)_ask_ark_asvk.pem")
        #expect(certs.count == 3)
        let ark = try #require(certs.first { $0.isSelfIssued })
        #expect(TrustAnchors.amd.product(pinning: ark)?.rawValue.lowercased() == product)
        #expect(ark.isSigned(by: ark))
        for intermediate in certs where !intermediate.isSelfIssued {
            #expect(intermediate.isSigned(by: ark), "\(intermediate.subjectCommonName ?? "?")")
            #expect(!ark.isSigned(by: intermediate))
        }
    }

    @Test func genoaVCEKVerifiesUnderGenoaASK() throws {
        let genoa = try chainChecks(leaf: "trustee/vcek-genoa.pem", chain: "trustee/genoa_ask_ark_asvk.pem")
        #expect(genoa.values.allSatisfy { $0 })
    }

    @Test(arguments: ["milan", "genoa", "turin"])
    func pinnedFingerprintsMatchBothSourcesOfAMDRoots(product: String) throws {
        let virtee = try #require(SEVVectors.certificates("amd-roots/virtee-\(product)-ark.pem").first)
        let gosevName = product == "turin" ? "amd-roots/gosev-ask_ark_turin_vcek.pem" : "amd-roots/gosev-ask_ark_\(product).pem"
        let gosev = try #require(SEVVectors.certificates(gosevName).last)
        #expect(virtee.der == gosev.der)
        #expect(TrustAnchors.amd.product(pinning: virtee)?.rawValue.lowercased() == product)
        #expect(virtee.isSigned(by: virtee))
        let year = Calendar(identifier: .gregorian).dateComponents(in: TimeZone(identifier: "UTC")!, from: virtee.notAfter).year!
        #expect((2045...2048).contains(year))
        let ask = try #require(SEVVectors.certificates("amd-roots/virtee-\(product)-ask.pem").first)
        #expect(ask.isSigned(by: virtee))
    }

    @Test func unpinnedRootIsRejectedEvenWhenSelfSigned() throws {
        let chain = try SEVVectors.chain(leaf: "virtee-sev/vcek_milan.der", chain: "virtee-sev/cert_chain_milan")
        let checks = chain.verify(anchors: TrustAnchors(pinnedARKs: [:]), at: SEVVectors.validDate).checks
        #expect(checks.first { $0.name == "ark_pinned" }?.ok == false)
        #expect(checks.first { $0.name == "ark_self_signed" }?.ok == true)
    }

    @Test func flippingAnyCertificateByteRejectsTheChain() throws {
        let vcekDER = try SEVVectors.bytes("virtee-sev/vcek_milan.der")
        let rest = try SEVVectors.certificates("virtee-sev/cert_chain_milan")
        var rejected = 0, parseErrors = 0
        for offset in stride(from: 0, to: vcekDER.count, by: 11) {
            var mutated = vcekDER
            mutated[offset] ^= 0x01
            do {
                let leaf = try AMDCertificate(der: mutated)
                let chain = try CertificateChain(leafFile: [leaf], chainFile: rest)
                let ok = chain.verify(anchors: .amd, at: SEVVectors.validDate).checks.allSatisfy(\.ok)
                #expect(!ok, "flip at \(offset) still verifies")
                if !ok { rejected += 1 }
            } catch is AttestationInputError {
                parseErrors += 1
            }
        }
        #expect(rejected + parseErrors == (vcekDER.count + 10) / 11)
        #expect(rejected > 50)
        // And the ASK's signature bytes: the ARK must refuse it.
        var ask = rest[0].der
        ask[ask.count - 5] ^= 0x80
        #expect(!(try AMDCertificate(der: ask)).isSigned(by: rest[1]))
    }
}
