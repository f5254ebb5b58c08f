import Exec
import Foundation
import Testing

/// Seeded fuzzing of the report, certificate and OVMF parsers: every input either parses or throws an
/// ``AttestationInputError`` with a one-line message; nothing traps.
@Suite(.enabled(if: SEVVectors.available, "needs ../shared/sev-vectors or PRISM_SEV_VECTORS"))
struct AttestationFuzzTests {
    static let iterations = 3000

    /// Truncation, byte flips, splices and pure garbage, picked by the generator.
    static func mutate(_ seed: [UInt8], _ rng: inout SeededGenerator) -> [UInt8] {
        var bytes = seed
        switch Int.random(in: 0..<5, using: &rng) {
        case 0: bytes = Array(bytes.prefix(Int.random(in: 0...bytes.count, using: &rng)))
        case 1:
            for _ in 0..<Int.random(in: 1...16, using: &rng) where !bytes.isEmpty {
                bytes[Int.random(in: 0..<bytes.count, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
        case 2:
            let count = Int.random(in: 0...2 * max(1, seed.count), using: &rng)
            bytes = (0..<count).map { _ in UInt8.random(in: 0...255, using: &rng) }
        case 3:
            let at = Int.random(in: 0...bytes.count, using: &rng)
            bytes.insert(contentsOf: (0..<Int.random(in: 1...64, using: &rng)).map { _ in UInt8.random(in: 0...255, using: &rng) }, at: at)
        default:
            // Keep the structure but drop a range, which shifts every later DER length out of place.
            let a = Int.random(in: 0...bytes.count, using: &rng)
            let b = Int.random(in: a...bytes.count, using: &rng)
            bytes.removeSubrange(a..<b)
        }
        return bytes
    }

    static func expectCleanError(_ error: Error) {
        guard let e = error as? AttestationInputError else {
            Issue.record("unexpected error type \(type(of: error)): \(error)")
            return
        }
        #expect(!e.description.isEmpty && !e.description.contains("\n"))
    }

    @Test func reportParserSurvivesMutations() throws {
        let seeds = [try SEVVectors.bytes("virtee-sev/report_milan.hex"), try SEVVectors.bytes("trustee/test-vlek-report.bin"),
                     try SEVVectors.bytes("trustee/hcl-report.bin")]
        let vcek = try SEVVectors.chain(leaf: "virtee-sev/vcek_milan.der", chain: "virtee-sev/cert_chain_milan")
        var rng = SeededGenerator(seed: 0x5EF_5EED)
        var parsed = 0, refused = 0, validAfterMutation = 0
        // The signed bytes plus R and S; what follows S is reserved and outside the signature.
        let covered = 0..<0x318
        let original = try AttestationReport(fileContents: seeds[0]).bytes[covered]
        for i in 0..<Self.iterations {
            let input = Self.mutate(seeds[i % seeds.count], &rng)
            do {
                let report = try AttestationReport(fileContents: input)
                parsed += 1
                let result = ReportVerifier(endorsement: .chain(vcek, anchors: .amd), policy: VerificationPolicy()).verify(report)
                if result.valid && report.bytes[covered] != original { validAfterMutation += 1 }
            } catch {
                refused += 1
                Self.expectCleanError(error)
            }
        }
        print("report fuzz: \(Self.iterations) inputs, \(parsed) parsed, \(refused) refused")
        #expect(parsed + refused == Self.iterations)
        #expect(parsed > 0 && refused > 0)
        #expect(validAfterMutation == 0)
    }

    @Test func certificateParserSurvivesMutations() throws {
        let seeds = try ["virtee-sev/vcek_milan.der", "virtee-sev/vcek_turin.der", "trustee/test-vlek.der",
                         "trustee/test-vcek-invalid-new.der"].map { try SEVVectors.bytes($0) }
            + [try SEVVectors.certificates("virtee-sev/cert_chain_milan")[1].der]
        let pem = try SEVVectors.bytes("trustee/vcek.pem")
        let ark = try SEVVectors.certificates("virtee-sev/cert_chain_milan")[1]
        var rng = SeededGenerator(seed: 0xCE27)
        var parsed = 0, refused = 0
        for i in 0..<Self.iterations {
            let input = i % 10 == 9 ? Self.mutate(pem, &rng) : Self.mutate(seeds[i % seeds.count], &rng)
            do {
                let certs = try AMDCertificate.loadAll(fileContents: input, name: "fuzz")
                parsed += 1
                for cert in certs {
                    _ = AMDExtensions(cert)
                    if cert.der != ark.der { #expect(!cert.isSigned(by: cert) || cert.isSelfIssued) }
                    _ = cert.isSigned(by: ark)
                }
            } catch {
                refused += 1
                Self.expectCleanError(error)
            }
        }
        print("certificate fuzz: \(Self.iterations) inputs, \(parsed) parsed, \(refused) refused")
        #expect(parsed + refused == Self.iterations)
        #expect(refused > Self.iterations / 2)
    }

    @Test func ovmfParserSurvivesMutations() throws {
        let seeds = [try SEVVectors.bytes("measurement/ovmf_AmdSev_suffix.bin"), try SEVVectors.bytes("measurement/ovmf_OvmfX64_suffix.bin")]
        var rng = SeededGenerator(seed: 0x0F1F)
        var parsed = 0, refused = 0
        for i in 0..<Self.iterations {
            var input = seeds[i % 2]
            // Mutate only the last 256 bytes, where the footer table and metadata pointers live, keeping the size.
            for _ in 0..<Int.random(in: 1...6, using: &rng) {
                input[input.count - Int.random(in: 1...256, using: &rng)] = UInt8.random(in: 0...255, using: &rng)
            }
            if i % 7 == 0 { input = Self.mutate(input, &rng) }
            do {
                let image = try OVMFImage(data: input)
                var guest = LaunchMeasurement.Guest(ovmf: image, vcpus: 2, cpuSignature: 0x800f12)
                guest.kernel = []
                _ = try? LaunchMeasurement.digest(mode: .snp, guest: guest)
                parsed += 1
            } catch {
                refused += 1
                Self.expectCleanError(error)
            }
        }
        print("OVMF fuzz: \(Self.iterations) inputs, \(parsed) parsed, \(refused) refused")
        #expect(parsed + refused == Self.iterations)
    }
}
