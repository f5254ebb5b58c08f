import PrismTestSupport
import Exec
import Foundation
import Testing

/// Launch-digest known answers from the vectors README (sev-snp-measure 0.0.13 test values).
@Suite(.enabled(if: SEVVectors.available, "needs ../shared/sev-vectors or PRISM_SEV_VECTORS"))
struct MeasurementTests {
    static let amdSev = "measurement/ovmf_AmdSev_suffix.bin"
    static let x64 = "measurement/ovmf_OvmfX64_suffix.bin"
    static let ovmfHash = "086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74"

    func measure(_ args: [String], ovmf: String = amdSev) throws -> PrismBinary.Result {
        try PrismBinary.run(["attest", "measure", "--ovmf", SEVVectors.path(ovmf)] + args)
    }

    @Test(arguments: [
        (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--guest-features", "0x21"], amdSev,
         "e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b"),
        (["--mode", "snp", "--vcpus", "4", "--vcpu-type", "EPYC-v4", "--kernel", "/dev/null", "--initrd", "/dev/null", "--guest-features", "0x21"], amdSev,
         "4953b1fb416fa874980e8442b3706d345926d5f38879134e00813c5d7abcbe78eafe7b422907be0b4698e2414a631942"),
        (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--snp-ovmf-hash", ovmfHash, "--kernel", "/dev/null", "--initrd", "/dev/null",
          "--append", "console=ttyS0 loglevel=7", "--guest-features", "0x21"], amdSev,
         "803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977"),
        (["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--guest-features", "0x21"], x64,
         "28797ae0afaba4005a81e629acebfb59e6687949d6be44007cd5506823b0dd66f146aaae26ff291eed7b493d8a64c385"),
        (["--mode", "sev", "--kernel", "/dev/null", "--initrd", "/dev/null", "--append", "console=ttyS0 loglevel=7"], amdSev,
         "82a3ee5d537c3620628270c292ae30cb40c3c878666a7890ee7ef2a08fb535ff"),
        (["--mode", "seves", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--kernel", "/dev/null", "--initrd", "/dev/null"], amdSev,
         "13810ae661ea11e2bb205621f582fee268f0367c8f97bc297b7fadef3e12002c"),
    ])
    func cliDigestMatchesKnownAnswer(args: [String], ovmf: String, expected: String) throws {
        let r = try measure(args, ovmf: ovmf)
        #expect(r.status == 0, "\(r.stderr)")
        #expect(r.stdout == expected + "\n")
    }

    @Test func ovmfHashAloneMatchesKnownAnswer() throws {
        let image = try OVMFImage(data: SEVVectors.bytes(Self.amdSev))
        #expect(Hex.encode(LaunchMeasurement.snpOVMFHash(image)) == Self.ovmfHash)
        #expect(image.gpa == 0xFFFF_F000)
        #expect(image.sections.contains { $0.kind == .kernelHashes })
    }

    @Test func seededDigestEqualsFullDigest() throws {
        let image = try OVMFImage(data: SEVVectors.bytes(Self.amdSev))
        var guest = LaunchMeasurement.Guest(ovmf: image, vcpus: 2, cpuSignature: GuestVMSA.cpuSignatures["EPYC-Milan"]!)
        guest.kernel = Array("kernel".utf8)
        let full = try LaunchMeasurement.digest(mode: .snp, guest: guest)
        guest.ovmfHash = LaunchMeasurement.snpOVMFHash(image)
        #expect(try LaunchMeasurement.digest(mode: .snp, guest: guest) == full)
        guest.commandLine = "quiet"
        #expect(try LaunchMeasurement.digest(mode: .snp, guest: guest) != full)
    }

    @Test func x64WithKernelExitsTwoWithSevSnpMeasureMessage() throws {
        let r = try measure(["--mode", "snp", "--vcpus", "1", "--vcpu-type", "EPYC-v4", "--guest-features", "0x21", "--kernel", "/dev/null"], ovmf: Self.x64)
        #expect(r.status == 2)
        #expect(r.stderr == "prism: Kernel specified but OVMF metadata doesn't include SNP_KERNEL_HASHES section\n")
    }

    @Test func jsonOutputAndBadInputs() throws {
        let r = try measure(["--vcpus", "1", "--vcpu-type", "EPYC-v4", "--guest-features", "0x21", "--json"])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: String])
        #expect(object == ["mode": "snp", "measurement": "e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b"])
        #expect(try measure(["--vcpus", "1", "--vcpu-type", "Pentium"]).status == 2)
        #expect(try measure(["--vcpu-type", "EPYC-v4"]).status == 2)
        let odd = try PrismBinary.run(["attest", "measure", "--ovmf", SEVVectors.path("trustee/test-report.bin"), "--vcpus", "1", "--vcpu-type", "EPYC-v4"])
        #expect(odd.status == 2)
        #expect(odd.stderr == "prism: OVMF image is 1184 bytes, not a non-zero multiple of 4096\n")
    }
}

/// Measurement pieces that need no vectors.
struct MeasurementEncodingTests {
    @Test func cpuSignaturesFollowCPUIDEncoding() {
        #expect(GuestVMSA.cpuSignatures["EPYC-v4"] == 0x800f12)
        #expect(GuestVMSA.cpuSignatures["EPYC-Milan"] == 0xa00f11)
        #expect(GuestVMSA.cpuSignatures["EPYC-Genoa"] == 0xa10f10)
        #expect(GuestVMSA.cpuSignatures["EPYC-Turin"] == 0xb00f00)
    }
}
