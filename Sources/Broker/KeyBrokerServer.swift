import Crypto
import Exec
import Foundation
import Hummingbird
import Logging
import Wire
import NIOCore

/// The key broker as an HTTP service: the submitter runs it beside its confidential job's encrypted disk; the guest
/// asks it for a nonce, puts SHA-512(nonce ‖ its X25519 key) in its SEV-SNP report's REPORT_DATA, and posts the report;
/// the broker answers the disk key HPKE-sealed to that guest key only when the report verifies (signature, policy,
/// expected measurement) and binds that fresh, single-use nonce.
///
/// - `POST /v1/broker/nonce` → `{"nonce": HEX}`
/// - `POST /v1/broker/release` with `BrokerReleaseRequest` → `BrokerWrappedKey`; a refusal is 403 `{"error": "refused",
///   "message": …}`, a malformed request 400.
public enum KeyBrokerServer {
    public static let noncePath = "/v1/broker/nonce"
    public static let releasePath = "/v1/broker/release"
    /// A report is 1,184 bytes and a VCEK chain a few kilobytes: anything far past this is abuse.
    public static let maximumBodyBytes = 64 * 1024

    /// The router over `broker`; every released key is signed by `identity`, which guests are launched to trust.
    public static func router(_ broker: KeyBroker, identity: SigningIdentity, logger: Logger) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/healthz") { _, _ in json(.ok, ["status": "ok"]) }
        router.post(RouterPath(noncePath)) { _, _ in json(.ok, ["nonce": Exec.Hex.encode(broker.challenge())]) }
        router.post(RouterPath(releasePath)) { request, _ in
            let body: ByteBuffer
            do { body = try await request.body.collect(upTo: maximumBodyBytes) } catch {
                return json(.contentTooLarge, ["error": "body-too-large", "message": "request body exceeds \(maximumBodyBytes) bytes"])
            }
            let parsed: KeyBroker.Request
            do { parsed = try BrokerReleaseRequest.decode(Data(body.readableBytesView)) } catch {
                return json(.badRequest, ["error": "malformed", "message": "\(error)"])
            }
            do {
                let wrapped = try broker.release(parsed)
                logger.info("released the disk key of job \(parsed.jobID) to an attested guest")
                var answer = BrokerWrappedKey(job: wrapped.jobID, encapsulatedKey: wrapped.encapsulatedKey.base64EncodedString(),
                                              ciphertext: wrapped.ciphertext.base64EncodedString())
                try answer.sign(nonce: parsed.nonce, guestKey: parsed.guestPublicKey.rawRepresentation, by: identity)
                return json(.ok, answer)
            } catch let refusal as KeyBroker.Refusal {
                logger.warning("refused the key of job \(parsed.jobID.prefix(64)): \(refusal)")
                return json(.forbidden, ["error": "refused", "message": refusal.description])
            }
        }
        return router
    }

    /// Serves until SIGINT or SIGTERM; `onListening` gets the bound port.
    public static func run(_ broker: KeyBroker, identity: SigningIdentity, host: String, port: Int, logger: Logger,
                           onListening: @escaping @Sendable (Int) async -> Void) async throws {
        let app = Application(router: router(broker, identity: identity, logger: logger),
                              server: .http1(configuration: .init(idleTimeout: .seconds(30))),
                              configuration: .init(address: .hostname(host, port: port), serverName: "prism-key-broker"),
                              onServerRunning: { channel in await onListening(channel.localAddress?.port ?? port) },
                              logger: logger)
        try await app.runService()
    }

    static func json(_ status: HTTPResponse.Status, _ value: some Encodable) -> Response {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let body = (try? encoder.encode(value)) ?? Data("{}".utf8)
        return Response(status: status, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

}

/// What a guest posts: its job, report, X25519 key and the nonce it bound; AMD certificates when the broker checks the
/// chain (PEM or base64 DER, the VCEK or VLEK first).
public struct BrokerReleaseRequest: Codable, Sendable {
    public var job: String
    /// The 1,184-byte report, base64.
    public var report: String
    /// The guest's X25519 public key (32 bytes), base64.
    public var guestKey: String
    /// The nonce from `/v1/broker/nonce`, hex.
    public var nonce: String
    /// Certificates (PEM text, or base64 of DER), leaf first.
    public var certificates: [String]?

    public init(job: String, report: String, guestKey: String, nonce: String, certificates: [String]? = nil) {
        self.job = job
        self.report = report
        self.guestKey = guestKey
        self.nonce = nonce
        self.certificates = certificates
    }

    /// Parses and checks every field; throws one line naming the first bad one.
    static func decode(_ data: Data) throws -> KeyBroker.Request {
        let request: BrokerReleaseRequest
        do { request = try JSONDecoder().decode(BrokerReleaseRequest.self, from: data) } catch { throw BrokerInputError("not a release request (JSON with job, report, guestKey, nonce)") }
        guard !request.job.isEmpty, request.job.utf8.count <= 256 else { throw BrokerInputError("job must be 1 to 256 bytes") }
        guard let reportBytes = Data(base64Encoded: request.report), reportBytes.count == AttestationReport.size else {
            throw BrokerInputError("report must be base64 of \(AttestationReport.size) bytes")
        }
        let report = try AttestationReport(bytes: Array(reportBytes))
        guard let keyBytes = Data(base64Encoded: request.guestKey), keyBytes.count == 32,
              let guestKey = try? Curve25519.KeyAgreement.PublicKey(rawRepresentation: keyBytes) else {
            throw BrokerInputError("guestKey must be base64 of a 32-byte X25519 key")
        }
        guard request.nonce.count <= 128, request.nonce.count % 2 == 0, let nonce = Exec.Hex.decode(request.nonce) else { throw BrokerInputError("nonce must be hex") }
        var chain: CertificateChain?
        if let texts = request.certificates, !texts.isEmpty {
            guard texts.count <= 4 else { throw BrokerInputError("at most 4 certificates") }
            let certificates = try texts.flatMap { text -> [AMDCertificate] in
                let bytes = text.contains("-----BEGIN") ? Array(text.utf8) : Array(Data(base64Encoded: text) ?? Data())
                return try AMDCertificate.loadAll(fileContents: bytes, name: "certificate")
            }
            chain = try CertificateChain(leafFile: [certificates[0]], chainFile: Array(certificates.dropFirst()))
        }
        return KeyBroker.Request(jobID: request.job, report: report, guestPublicKey: guestKey, nonce: nonce, certificates: chain)
    }
}

/// The sealed key a guest gets back: HPKE (X25519, HKDF-SHA256, ChaCha20-Poly1305) to its key, info bound to the job,
/// signed by the broker (ed25519) over the job, the guest's nonce and key, and the sealed bytes, so a guest launched to
/// trust that broker (its id in the measured command line) takes a key from no one else.
public struct BrokerWrappedKey: Codable, Sendable {
    public var job: String
    public var encapsulatedKey: String
    public var ciphertext: String
    /// The broker's `ed25519:…` id and its signature (base64) over `signedBytes`.
    public var signer: String?
    public var signature: String?

    public init(job: String, encapsulatedKey: String, ciphertext: String) {
        self.job = job
        self.encapsulatedKey = encapsulatedKey
        self.ciphertext = ciphertext
    }

    /// What the broker signs: this answer bound to the request it answers.
    public func signedBytes(nonce: [UInt8], guestKey: Data) -> Data {
        Data("prism key release v1\n\(job)\n\(Exec.Hex.encode(nonce))\n\(guestKey.base64EncodedString())\n\(encapsulatedKey)\n\(ciphertext)".utf8)
    }

    mutating func sign(nonce: [UInt8], guestKey: Data, by identity: SigningIdentity) throws {
        signer = identity.publicIdentity.description
        signature = Data(try identity.signature(for: signedBytes(nonce: nonce, guestKey: guestKey))).base64EncodedString()
    }

    /// Whether `broker` signed this answer to the request with `nonce` and `guestKey`.
    public func isSigned(by broker: PublicIdentity, nonce: [UInt8], guestKey: Data) -> Bool {
        guard signer == broker.description, let signature, let bytes = Data(base64Encoded: signature) else { return false }
        return broker.isValidSignature(Array(bytes), for: signedBytes(nonce: nonce, guestKey: guestKey))
    }

    /// The `KeyBroker.WrappedKey` these fields carry (nil when they are not base64).
    public var wrapped: KeyBroker.WrappedKey? {
        guard let encapsulated = Data(base64Encoded: encapsulatedKey), let sealed = Data(base64Encoded: ciphertext) else { return nil }
        return KeyBroker.WrappedKey(jobID: job, encapsulatedKey: encapsulated, ciphertext: sealed)
    }
}

/// A release request the broker cannot parse.
public struct BrokerInputError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}
