@preconcurrency import Crypto
import Foundation

/// The public half of an ed25519 key: who a farmer, submitter, challenger or registry is.
///
/// Written `ed25519:<base58 of the 32 raw key bytes>`; that text is also its JSON form.
public struct PublicIdentity: Hashable, Sendable, Codable, CustomStringConvertible, Comparable {
    /// The text before the colon.
    public static let scheme = "ed25519"

    /// The 32 raw bytes of the Curve25519 signing public key.
    public let rawKey: [UInt8]

    /// Wraps 32 raw public-key bytes; throws when they are not a valid ed25519 key.
    public init(rawKey: [UInt8]) throws {
        guard rawKey.count == 32, (try? Curve25519.Signing.PublicKey(rawRepresentation: rawKey)) != nil else {
            throw IdentityError.badKeyLength(rawKey.count)
        }
        self.rawKey = rawKey
    }

    /// Reads `ed25519:<base58>`.
    public init(_ text: String) throws {
        let prefix = Self.scheme + ":"
        guard text.hasPrefix(prefix) else { throw IdentityError.notAnIdentity(text) }
        let bytes: [UInt8]
        do { bytes = try Base58.decode(String(text.dropFirst(prefix.count))) } catch {
            throw IdentityError.notAnIdentity(text)
        }
        guard bytes.count == 32 else { throw IdentityError.notAnIdentity(text) }
        try self.init(rawKey: bytes)
    }

    /// The key swift-crypto verifies signatures with.
    public var signingKey: Curve25519.Signing.PublicKey {
        // The initialiser already proved these bytes form a key.
        try! Curve25519.Signing.PublicKey(rawRepresentation: rawKey)
    }

    /// Whether `signature` is this identity's signature over `message`.
    public func isValidSignature<Message: DataProtocol>(_ signature: [UInt8], for message: Message) -> Bool {
        signingKey.isValidSignature(signature, for: message)
    }

    public var description: String { Self.scheme + ":" + Base58.encode(rawKey) }

    public static func < (lhs: PublicIdentity, rhs: PublicIdentity) -> Bool { lhs.description < rhs.description }

    public init(from decoder: Decoder) throws {
        let text = try decoder.singleValueContainer().decode(String.self)
        do { try self.init(text) } catch {
            throw DecodingError.dataCorrupted(.init(codingPath: decoder.codingPath, debugDescription: "\(error)"))
        }
    }

    public func encode(to encoder: Encoder) throws {
        var container = encoder.singleValueContainer()
        try container.encode(description)
    }
}

/// A private ed25519 key and the identity it signs as.
public struct SigningIdentity: Sendable {
    /// The swift-crypto private key.
    public let privateKey: Curve25519.Signing.PrivateKey

    /// A fresh random key.
    public init() { privateKey = Curve25519.Signing.PrivateKey() }

    /// Wraps an existing private key.
    public init(privateKey: Curve25519.Signing.PrivateKey) { self.privateKey = privateKey }

    /// Rebuilds a key from its 32-byte seed.
    public init(seed: [UInt8]) throws {
        guard seed.count == 32 else { throw IdentityError.badKeyLength(seed.count) }
        privateKey = try Curve25519.Signing.PrivateKey(rawRepresentation: seed)
    }

    /// Who this key signs as.
    public var publicIdentity: PublicIdentity {
        // A key swift-crypto made always has a valid 32-byte public half.
        try! PublicIdentity(rawKey: Array(privateKey.publicKey.rawRepresentation))
    }

    /// An ed25519 signature over `message`.
    public func signature<Message: DataProtocol>(for message: Message) throws -> [UInt8] {
        Array(try privateKey.signature(for: message))
    }
}

/// Why a key or identity could not be read.
public enum IdentityError: Error, Equatable, CustomStringConvertible {
    case notAnIdentity(String)
    case badKeyLength(Int)

    public var description: String {
        switch self {
        case .notAnIdentity(let text): return "not an ed25519 identity (expected ed25519:<base58>): \"\(text.prefix(80))\""
        case .badKeyLength(let count): return "an ed25519 key has 32 bytes, not \(count)"
        }
    }
}
