import Crypto
import Foundation

/// The owner-side key broker: it holds each job's disk key and hands it only to a guest whose SEV-SNP report
/// verifies and binds a fresh nonce and the guest's ephemeral X25519 key in REPORT_DATA. The key travels
/// HPKE-sealed (X25519, HKDF-SHA256, ChaCha20-Poly1305) to that guest key, so only the attested guest can open it.
public final class KeyBroker: @unchecked Sendable {  // unchecked: holds swift-crypto keys (immutable, not yet marked Sendable); its job table is behind `lock`
    /// How the broker decides which report signing keys to trust.
    public enum Trust: @unchecked Sendable {  // unchecked: swift-crypto keys are immutable values not yet marked Sendable
        /// Requests carry AMD certificates; the ARK must be one of these pins.
        case amdChain(TrustAnchors)
        /// One report signing key trusted out of band (tests, or a pre-verified VCEK).
        case signingKey(P384.Signing.PublicKey, AMDProduct)
    }

    /// Why a request was refused.
    public enum Refusal: Error, Equatable, CustomStringConvertible {
        case unknownJob(String)
        case nonce(NonceStore.Rejection)
        case reportRejected([String])
        case reportDataMismatch
        case missingCertificates

        public var description: String {
            switch self {
            case .unknownJob(let id): return "no disk key registered for job \(id)"
            case .nonce(.unknown): return "nonce was not issued here or was already used"
            case .nonce(.expired): return "nonce expired"
            case .reportRejected(let checks): return "attestation report rejected: \(checks.joined(separator: ", "))"
            case .reportDataMismatch: return "REPORT_DATA does not bind this nonce and guest key"
            case .missingCertificates: return "request carries no VCEK/VLEK certificate chain"
            }
        }
    }

    /// A guest's request for a job's key.
    // @unchecked: swift-crypto 3.12 keys are immutable values not yet marked Sendable.
    public struct Request: @unchecked Sendable {
        public var jobID: String
        public var report: AttestationReport
        /// The guest's ephemeral X25519 public key (32 bytes).
        public var guestPublicKey: Curve25519.KeyAgreement.PublicKey
        public var nonce: [UInt8]
        /// VCEK/VLEK with ASK/ASVK and ARK when the broker trusts AMD chains.
        public var certificates: CertificateChain?

        public init(jobID: String, report: AttestationReport, guestPublicKey: Curve25519.KeyAgreement.PublicKey,
                    nonce: [UInt8], certificates: CertificateChain? = nil) {
            self.jobID = jobID
            self.report = report
            self.guestPublicKey = guestPublicKey
            self.nonce = nonce
            self.certificates = certificates
        }
    }

    /// The sealed key as it goes back to the guest.
    public struct WrappedKey: Sendable, Equatable {
        public let jobID: String
        /// HPKE encapsulated key (the broker's ephemeral X25519 public key).
        public let encapsulatedKey: Data
        /// HPKE ciphertext of the disk key.
        public let ciphertext: Data

        public init(jobID: String, encapsulatedKey: Data, ciphertext: Data) {
            self.jobID = jobID
            self.encapsulatedKey = encapsulatedKey
            self.ciphertext = ciphertext
        }

        /// Opens the key with the guest's private key; throws if this is not the key it was sealed to.
        public func unwrap(with privateKey: Curve25519.KeyAgreement.PrivateKey) throws -> [UInt8] {
            var recipient = try HPKE.Recipient(privateKey: privateKey, ciphersuite: KeyBroker.ciphersuite,
                                               info: KeyBroker.info(jobID: jobID), encapsulatedKey: encapsulatedKey)
            return Array(try recipient.open(ciphertext))
        }
    }

    static var ciphersuite: HPKE.Ciphersuite { .Curve25519_SHA256_ChachaPoly }
    /// HPKE info binds the sealed key to the protocol and the job it is for.
    static func info(jobID: String) -> Data { Data("prism key release v1 job=\(jobID)".utf8) }

    /// REPORT_DATA a guest must request: SHA-512(nonce ‖ X25519 public key), exactly 64 bytes.
    public static func reportData(nonce: [UInt8], guestPublicKey: Curve25519.KeyAgreement.PublicKey) -> [UInt8] {
        Array(SHA512.hash(data: nonce + Array(guestPublicKey.rawRepresentation)))
    }

    private let trust: Trust
    private let basePolicy: VerificationPolicy
    public let nonces: NonceStore
    private var jobs: [String: (key: [UInt8], measurement: [UInt8]?)] = [:]
    private let lock = NSLock()

    /// `policy` applies to every request (debug, VMPL, minimum TCB, clock); each job can add its expected measurement.
    public init(trust: Trust, policy: VerificationPolicy = VerificationPolicy(), nonces: NonceStore = NonceStore()) {
        self.trust = trust
        self.basePolicy = policy
        self.nonces = nonces
    }

    /// Registers the disk key for `jobID`, optionally demanding a launch measurement.
    public func register(jobID: String, diskKey: [UInt8], expectedMeasurement: [UInt8]? = nil) {
        lock.withLock { jobs[jobID] = (diskKey, expectedMeasurement) }
    }

    /// A fresh single-use nonce for the guest to put (hashed with its key) in REPORT_DATA.
    public func challenge() -> [UInt8] { nonces.issue() }

    /// Verifies `request` and returns the job's key sealed to the guest's public key, or throws a ``Refusal``.
    /// The nonce is spent by the attempt, so a refused request cannot be retried with it.
    public func release(_ request: Request) throws -> WrappedKey {
        guard let job = lock.withLock({ jobs[request.jobID] }) else { throw Refusal.unknownJob(request.jobID) }
        do { try nonces.consume(request.nonce) } catch let r as NonceStore.Rejection { throw Refusal.nonce(r) }

        var policy = basePolicy
        policy.expectedMeasurement = job.measurement ?? basePolicy.expectedMeasurement
        let endorsement: Endorsement
        switch trust {
        case .amdChain(let anchors):
            guard let chain = request.certificates else { throw Refusal.missingCertificates }
            endorsement = .chain(chain, anchors: anchors)
        case .signingKey(let key, let product):
            endorsement = .trustedKey(key, product: product)
        }
        let result = ReportVerifier(endorsement: endorsement, policy: policy).verify(request.report)
        guard result.valid else { throw Refusal.reportRejected(result.failures.map(\.name)) }
        guard request.report.reportData == Self.reportData(nonce: request.nonce, guestPublicKey: request.guestPublicKey) else {
            throw Refusal.reportDataMismatch
        }
        var sender = try HPKE.Sender(recipientKey: request.guestPublicKey, ciphersuite: Self.ciphersuite,
                                     info: Self.info(jobID: request.jobID))
        let ciphertext = try sender.seal(job.key)
        return WrappedKey(jobID: request.jobID, encapsulatedKey: sender.encapsulatedKey, ciphertext: ciphertext)
    }
}
