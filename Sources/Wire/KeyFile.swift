import Foundation

/// The on-disk form of a signing key: a small JSON object a person can recognise.
///
/// ```json
/// {"format": "prism-ed25519-key-v1", "id": "ed25519:…", "seed": "<base58 of the 32-byte private seed>"}
/// ```
/// The id is stored beside the seed so a damaged or edited file is caught when it is read.
/// Wire does no I/O: the CLI writes these bytes to a file readable by its owner only (0600).
public enum KeyFile {
    /// The `format` value this version writes and reads.
    public static let format = "prism-ed25519-key-v1"

    private struct Contents: Codable {
        var format: String
        var id: PublicIdentity
        var seed: String
    }

    /// The file's bytes for `identity`, ending in a newline.
    public static func encode(_ identity: SigningIdentity) -> Data {
        let contents = Contents(format: format, id: identity.publicIdentity,
                                seed: Base58.encode(identity.privateKey.rawRepresentation))
        var data = (try? WireCoding.canonicalBytes(contents)) ?? Data()
        data.append(0x0A)
        return data
    }

    /// Reads a key file's bytes; throws `KeyFileError` when they are not a consistent key.
    public static func decode(_ data: Data) throws -> SigningIdentity {
        let contents: Contents
        do { contents = try JSONDecoder().decode(Contents.self, from: data) } catch {
            throw KeyFileError.malformed("not a prism key file (expected JSON with format, id and seed)")
        }
        guard contents.format == format else {
            throw KeyFileError.malformed("unknown key file format \"\(contents.format)\" (expected \(format))")
        }
        let identity: SigningIdentity
        do { identity = try SigningIdentity(seed: try Base58.decode(contents.seed)) } catch {
            throw KeyFileError.malformed("key file seed is not a 32-byte base58 value")
        }
        guard identity.publicIdentity == contents.id else {
            throw KeyFileError.malformed("key file id does not match its seed")
        }
        return identity
    }
}

/// Why a key file could not be used.
public enum KeyFileError: Error, Equatable, CustomStringConvertible {
    case malformed(String)

    public var description: String {
        switch self { case .malformed(let reason): return reason }
    }
}
