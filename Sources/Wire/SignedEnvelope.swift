import Crypto
import Foundation
import Synchronization

/// A signed request or response body: the body's canonical bytes, who signed them, when, a
/// random nonce, and an ed25519 signature over a domain-separated digest that binds all of
/// these to one HTTP method and path.
///
/// JSON form (binary fields in standard base64):
/// `{"body": "…", "signer": "ed25519:…", "timestamp": 1764250000, "nonce": "…", "signature": "…"}`.
/// The body travels as bytes rather than as nested JSON so that verification never depends on
/// re-encoding it the same way.
public struct SignedEnvelope: Codable, Sendable, Equatable {
    /// Separates Prism signatures from signatures over anything else made with the same key.
    public static let domain = "prism-wire-envelope-v1"
    /// Method used in the digest of a response, so a response can never pass as a request.
    public static let responseMethod = "RESPONSE"
    /// Bytes of randomness in a fresh nonce.
    public static let nonceLength = 16

    /// The canonical body bytes.
    public var body: Data
    /// Who signed.
    public var signer: PublicIdentity
    /// Seconds since 1970 when it was signed.
    public var timestamp: Int64
    /// Random bytes that make each envelope unique within the replay window.
    public var nonce: Data
    /// ed25519 signature over `signingDigest`.
    public var signature: Data

    /// Signs `body` for a request to `method path` (or, with `responseMethod`, the response to `path`).
    public static func sign(body: Data, method: String, path: String, by identity: SigningIdentity,
                            at date: Date = Date(), nonce: Data? = nil) throws -> SignedEnvelope {
        let nonce = nonce ?? Data((0..<nonceLength).map { _ in UInt8.random(in: .min ... .max) })
        let timestamp = Int64(date.timeIntervalSince1970.rounded(.down))
        let digest = signingDigest(method: method, path: path, timestamp: timestamp, nonce: nonce, body: body)
        return SignedEnvelope(body: body, signer: identity.publicIdentity, timestamp: timestamp, nonce: nonce,
                              signature: Data(try identity.signature(for: digest)))
    }

    /// Signs the canonical bytes of `message`.
    public static func sign<Message: Encodable>(_ message: Message, method: String, path: String,
                                                by identity: SigningIdentity, at date: Date = Date()) throws -> SignedEnvelope {
        try sign(body: WireCoding.canonicalBytes(message), method: method, path: path, by: identity, at: date)
    }

    /// SHA-256 over domain, method, path, timestamp, nonce and SHA-256(body), each length-prefixed
    /// so no two different tuples can produce the same input.
    public static func signingDigest(method: String, path: String, timestamp: Int64, nonce: Data, body: Data) -> Data {
        var input = Data()
        func append(_ field: Data) {
            var length = UInt32(field.count).bigEndian
            input.append(Data(bytes: &length, count: 4))
            input.append(field)
        }
        append(Data(domain.utf8))
        append(Data(method.uppercased().utf8))
        append(Data(path.utf8))
        append(Data(String(timestamp).utf8))
        append(nonce)
        append(Data(SHA256.hash(data: body)))
        return Data(SHA256.hash(data: input))
    }

    /// Decodes the body as a Wire message.
    public func decodeBody<Message: Decodable>(_ type: Message.Type) throws -> Message {
        try WireCoding.decode(type, from: body)
    }
}

/// Checks envelopes: signature, freshness and replay.
///
/// Timestamps further than `window` from the verifier's clock in either direction are refused,
/// and every accepted nonce is remembered until its envelope's timestamp leaves the window
/// (after that the timestamp check refuses it), so the same envelope cannot be accepted twice.
public final class EnvelopeVerifier: Sendable {
    /// How far a timestamp may be from now, in seconds.
    public let window: TimeInterval
    private let now: @Sendable () -> Date
    /// Accepted nonces (→ the timestamp after which each may be forgotten) and when they were last swept.
    private let seen = Mutex<(nonces: [NonceKey: Int64], lastSweep: Int64)>(([:], 0))

    private struct NonceKey: Hashable, Sendable {
        let signer: PublicIdentity
        let nonce: Data
    }

    /// A verifier with a replay window (default 120 s) and a clock that tests can replace.
    public init(window: TimeInterval = 120, now: @escaping @Sendable () -> Date = { Date() }) {
        self.window = window
        self.now = now
    }

    /// Verifies `envelope` as a request to `method path` (or `SignedEnvelope.responseMethod`)
    /// and returns the signer; throws `EnvelopeError` on any failure.
    @discardableResult
    public func verify(_ envelope: SignedEnvelope, method: String, path: String) throws -> PublicIdentity {
        try authenticate(envelope, method: method, path: path)
        let current = Int64(now().timeIntervalSince1970.rounded(.down))
        let slack = Int64(window)
        let key = NonceKey(signer: envelope.signer, nonce: envelope.nonce)
        try seen.withLock { seen in
            if current - seen.lastSweep > slack {
                seen.nonces = seen.nonces.filter { $0.value >= current }
                seen.lastSweep = current
            }
            if let forgetAfter = seen.nonces[key], forgetAfter >= current { throw EnvelopeError.replayed }
            seen.nonces[key] = envelope.timestamp + slack
        }
        return envelope.signer
    }

    /// Checks the signature and that the timestamp is inside the window, but does not remember the
    /// nonce: for a caller that keeps nonces elsewhere (several registries sharing one database),
    /// which must then refuse a nonce it has seen until `nonceExpiry(of:)`.
    @discardableResult
    public func authenticate(_ envelope: SignedEnvelope, method: String, path: String) throws -> PublicIdentity {
        guard envelope.nonce.count >= 8, envelope.nonce.count <= 64 else { throw EnvelopeError.badNonce }
        let digest = SignedEnvelope.signingDigest(method: method, path: path, timestamp: envelope.timestamp,
                                                  nonce: envelope.nonce, body: envelope.body)
        guard envelope.signer.isValidSignature(Array(envelope.signature), for: digest) else {
            throw EnvelopeError.badSignature
        }
        let current = Int64(now().timeIntervalSince1970.rounded(.down))
        let slack = Int64(window)
        if envelope.timestamp < current - slack { throw EnvelopeError.expired(age: current - envelope.timestamp) }
        if envelope.timestamp > current + slack { throw EnvelopeError.fromTheFuture(ahead: envelope.timestamp - current) }
        return envelope.signer
    }

    /// When the envelope's nonce may be forgotten: after this its timestamp is outside the window.
    public func nonceExpiry(of envelope: SignedEnvelope) -> Date {
        Date(timeIntervalSince1970: TimeInterval(envelope.timestamp) + window)
    }

    /// Verifies and decodes the body in one step.
    public func open<Message: Decodable>(_ envelope: SignedEnvelope, as type: Message.Type,
                                         method: String, path: String) throws -> (signer: PublicIdentity, message: Message) {
        let signer = try verify(envelope, method: method, path: path)
        return (signer, try envelope.decodeBody(type))
    }
}

/// Why an envelope was refused.
public enum EnvelopeError: Error, Equatable, CustomStringConvertible {
    case badSignature
    case badNonce
    case expired(age: Int64)
    case fromTheFuture(ahead: Int64)
    case replayed
    /// The envelope is valid but its signer is not the identity the message speaks for.
    case signerMismatch(signer: PublicIdentity, claimed: PublicIdentity)

    /// A short stable code for JSON errors and logs.
    public var code: String {
        switch self {
        case .badSignature: return "bad-signature"
        case .badNonce: return "bad-nonce"
        case .expired: return "expired"
        case .fromTheFuture: return "from-the-future"
        case .replayed: return "replayed"
        case .signerMismatch: return "signer-mismatch"
        }
    }

    public var description: String {
        switch self {
        case .badSignature: return "signature does not verify for the signer, method, path, timestamp, nonce and body"
        case .badNonce: return "nonce must be 8 to 64 bytes"
        case .expired(let age): return "envelope is \(age) s old, outside the replay window"
        case .fromTheFuture(let ahead): return "envelope is dated \(ahead) s in the future, outside the replay window"
        case .replayed: return "nonce already seen: envelope replayed"
        case .signerMismatch(let signer, let claimed): return "signed by \(signer) but speaks for \(claimed)"
        }
    }
}
