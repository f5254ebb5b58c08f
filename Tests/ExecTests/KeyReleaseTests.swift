import Crypto
import Exec
import Foundation
import Testing

/// The key broker releases a job's disk key only to a guest whose report verifies and binds a fresh nonce
/// and the guest's X25519 key. Reports here are synthetic, signed with a P-384 key the broker trusts.
struct KeyReleaseTests {
    /// A stand-in for the AMD firmware: builds and signs version-2 reports.
    struct FakeFirmware {
        var signingKey = P384.Signing.PrivateKey()
        var version: UInt32 = 2
        var policy: UInt64 = 0x30000
        var vmpl: UInt32 = 0
        var measurement = [UInt8](repeating: 0x4d, count: 48)
        var reportedTCB: UInt64 = 0
        var chipID = [UInt8](repeating: 0, count: 64)
        /// CPUID family and model (report version 3 and later).
        var cpuid: (UInt8, UInt8)? = nil

        func report(reportData: [UInt8], corruptSignature: Bool = false) throws -> AttestationReport {
            var bytes = [UInt8](repeating: 0, count: AttestationReport.size)
            func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
                for i in 0..<(T.bitWidth / 8) { bytes[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
            }
            put(version, at: 0x000)
            put(policy, at: 0x008)
            put(vmpl, at: 0x030)
            put(UInt32(1), at: 0x034)  // ECDSA P-384 SHA-384
            bytes.replaceSubrange(0x050..<0x090, with: reportData)
            bytes.replaceSubrange(0x090..<0x0C0, with: measurement)
            put(reportedTCB, at: 0x180)
            if let (family, model) = cpuid { bytes[0x188] = family; bytes[0x189] = model }
            bytes.replaceSubrange(0x1A0..<0x1E0, with: chipID)
            let raw = Array(try signingKey.signature(for: SHA384.hash(data: bytes[0..<0x2A0])).rawRepresentation)
            // R and S go in little-endian, zero-extended to 72 bytes.
            bytes.replaceSubrange(0x2A0..<0x2D0, with: raw[0..<48].reversed())
            bytes.replaceSubrange(0x2E8..<0x318, with: raw[48..<96].reversed())
            if corruptSignature { bytes[0x2A0] ^= 0x01 }
            return try AttestationReport(bytes: bytes)
        }
    }

    let firmware = FakeFirmware()
    let diskKey = Array(SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) })

    func broker(firmware: FakeFirmware? = nil, nonces: NonceStore = NonceStore()) -> KeyBroker {
        let fw = firmware ?? self.firmware
        let broker = KeyBroker(trust: .signingKey(fw.signingKey.publicKey, .milan), nonces: nonces)
        broker.register(jobID: "job-1", diskKey: diskKey, expectedMeasurement: fw.measurement)
        return broker
    }

    func request(_ broker: KeyBroker, firmware: FakeFirmware? = nil, guest: Curve25519.KeyAgreement.PrivateKey,
                 bindKey: Curve25519.KeyAgreement.PublicKey? = nil, bindNonce: [UInt8]? = nil, corrupt: Bool = false) throws -> KeyBroker.Request {
        let nonce = broker.challenge()
        let data = KeyBroker.reportData(nonce: bindNonce ?? nonce, guestPublicKey: bindKey ?? guest.publicKey)
        let report = try (firmware ?? self.firmware).report(reportData: data, corruptSignature: corrupt)
        return KeyBroker.Request(jobID: "job-1", report: report, guestPublicKey: guest.publicKey, nonce: nonce)
    }

    @Test func correctReportReleasesKeyOnlyTheGuestCanUnwrap() throws {
        let b = broker()
        let guest = Curve25519.KeyAgreement.PrivateKey()
        let wrapped = try b.release(request(b, guest: guest))
        #expect(try wrapped.unwrap(with: guest) == diskKey)
        #expect(!wrapped.ciphertext.contains(Data(diskKey)))
        #expect(throws: (any Error).self) { try wrapped.unwrap(with: Curve25519.KeyAgreement.PrivateKey()) }
        let otherJob = KeyBroker.WrappedKey(jobID: "job-2", encapsulatedKey: wrapped.encapsulatedKey, ciphertext: wrapped.ciphertext)
        #expect(throws: (any Error).self) { try otherJob.unwrap(with: guest) }
    }

    @Test func replayedNonceIsRefused() throws {
        let b = broker()
        let guest = Curve25519.KeyAgreement.PrivateKey()
        let req = try request(b, guest: guest)
        _ = try b.release(req)
        #expect(throws: KeyBroker.Refusal.nonce(.unknown)) { try b.release(req) }
    }

    @Test func nonceNotIssuedByTheBrokerIsRefused() throws {
        let b = broker()
        let guest = Curve25519.KeyAgreement.PrivateKey()
        var req = try request(b, guest: guest)
        let forged = [UInt8](repeating: 7, count: 32)
        req.nonce = forged
        req.report = try firmware.report(reportData: KeyBroker.reportData(nonce: forged, guestPublicKey: guest.publicKey))
        #expect(throws: KeyBroker.Refusal.nonce(.unknown)) { try b.release(req) }
    }

    @Test func reportBindingAnotherNonceIsRefused() throws {
        let b = broker()
        let guest = Curve25519.KeyAgreement.PrivateKey()
        let stale = b.challenge()
        #expect(throws: KeyBroker.Refusal.reportDataMismatch) { try b.release(request(b, guest: guest, bindNonce: stale)) }
    }

    @Test func expiredNonceIsRefused() throws {
        let clock = TestClock()
        let b = broker(nonces: NonceStore(lifetime: 60, now: { clock.now }))
        let guest = Curve25519.KeyAgreement.PrivateKey()
        let req = try request(b, guest: guest)
        clock.advance(61)
        #expect(throws: KeyBroker.Refusal.nonce(.expired)) { try b.release(req) }
    }

    @Test func reportBindingAnotherPublicKeyIsRefused() throws {
        let b = broker()
        let guest = Curve25519.KeyAgreement.PrivateKey()
        let attacker = Curve25519.KeyAgreement.PrivateKey()
        // The report binds the guest's key, but the request asks to wrap to the attacker's.
        var req = try request(b, guest: guest)
        req.guestPublicKey = attacker.publicKey
        #expect(throws: KeyBroker.Refusal.reportDataMismatch) { try b.release(req) }
    }

    @Test func badSignatureIsRefused() throws {
        let b = broker()
        #expect(throws: KeyBroker.Refusal.reportRejected(["report_signature"])) {
            try b.release(request(b, guest: Curve25519.KeyAgreement.PrivateKey(), corrupt: true))
        }
        var impostor = FakeFirmware()
        impostor.measurement = firmware.measurement
        #expect(throws: KeyBroker.Refusal.reportRejected(["report_signature"])) {
            try b.release(request(b, firmware: impostor, guest: Curve25519.KeyAgreement.PrivateKey()))
        }
    }

    @Test func debugPolicyIsRefused() throws {
        var debug = firmware
        debug.policy = 0xb0000
        let b = broker(firmware: debug)
        #expect(throws: KeyBroker.Refusal.reportRejected(["debug_policy"])) { try b.release(request(b, firmware: debug, guest: Curve25519.KeyAgreement.PrivateKey())) }
    }

    @Test func wrongMeasurementAndVMPLAreRefused() throws {
        var other = firmware
        other.measurement = [UInt8](repeating: 0x11, count: 48)
        other.vmpl = 2
        let b = broker()
        #expect(throws: KeyBroker.Refusal.reportRejected(["vmpl", "measurement"])) { try b.release(request(b, firmware: other, guest: Curve25519.KeyAgreement.PrivateKey())) }
    }

    @Test func unknownJobIsRefused() throws {
        let b = broker()
        var req = try request(b, guest: Curve25519.KeyAgreement.PrivateKey())
        req.jobID = "job-9"
        #expect(throws: KeyBroker.Refusal.unknownJob("job-9")) { try b.release(req) }
    }

    @Test(.enabled(if: SEVVectors.available, "needs ../shared/sev-vectors or PRISM_SEV_VECTORS"))
    func amdChainBrokerRefusesTheDebugVectorReport() throws {
        let b = KeyBroker(trust: .amdChain(.amd))
        b.register(jobID: "job-1", diskKey: diskKey)
        let guest = Curve25519.KeyAgreement.PrivateKey()
        var req = KeyBroker.Request(jobID: "job-1", report: try SEVVectors.report("go-sev-guest/attestation.bin"),
                                    guestPublicKey: guest.publicKey, nonce: b.challenge())
        #expect(throws: KeyBroker.Refusal.missingCertificates) { try b.release(req) }
        req.nonce = b.challenge()
        req.certificates = try SEVVectors.chain(leaf: "go-sev-guest/vcek.testcer", chain: "go-sev-guest/milan.testcer")
        #expect(throws: KeyBroker.Refusal.reportRejected(["debug_policy"])) { try b.release(req) }
    }
}

/// A settable clock for nonce expiry.
final class TestClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current = Date(timeIntervalSince1970: 1_800_000_000)
    var now: Date { lock.withLock { current } }
    func advance(_ seconds: TimeInterval) { lock.withLock { current += seconds } }
}
