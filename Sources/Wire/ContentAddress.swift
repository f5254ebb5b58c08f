import Crypto
import Foundation

/// A SHA-256 content address, written `sha256:<64 lowercase hex digits>`: names bytes by what they are.
public struct ContentAddress: Hashable, Sendable, Codable, CustomStringConvertible {
    /// The text before the colon.
    public static let scheme = "sha256"

    /// The 32-byte digest.
    public let digest: [UInt8]

    /// The address of `bytes`.
    public init<Bytes: DataProtocol>(hashing bytes: Bytes) {
        digest = Array(SHA256.hash(data: bytes))
    }

    /// Reads `sha256:<hex>`.
    public init(_ text: String) throws {
        let prefix = Self.scheme + ":"
        guard text.hasPrefix(prefix), let bytes = Hex.decode(String(text.dropFirst(prefix.count))), bytes.count == 32 else {
            throw ContentAddressError.notAnAddress(String(text.prefix(80)))
        }
        digest = bytes
    }

    public var description: String { Self.scheme + ":" + Hex.encode(digest) }

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

/// Why text is not a content address.
public enum ContentAddressError: Error, Equatable, CustomStringConvertible {
    case notAnAddress(String)
    public var description: String {
        switch self { case .notAnAddress(let text): return "not a content address (expected sha256:<64 hex digits>): \"\(text)\"" }
    }
}

/// Lowercase hexadecimal, for digests and nonces.
public enum Hex {
    private static let digits = Array("0123456789abcdef".utf8)

    /// Lowercase hex of `bytes`.
    public static func encode<Bytes: Sequence>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        var text: [UInt8] = []
        for byte in bytes {
            text.append(digits[Int(byte >> 4)])
            text.append(digits[Int(byte & 0x0F)])
        }
        return String(decoding: text, as: UTF8.self)
    }

    /// Bytes of hex text (either case), or nil when it is not hex.
    public static func decode(_ text: String) -> [UInt8]? {
        let symbols = Array(text.utf8)
        guard symbols.count % 2 == 0 else { return nil }
        func value(_ symbol: UInt8) -> UInt8? {
            switch symbol {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): return symbol - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): return symbol - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): return symbol - UInt8(ascii: "A") + 10
            default: return nil
            }
        }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(symbols.count / 2)
        var index = 0
        while index < symbols.count {
            guard let high = value(symbols[index]), let low = value(symbols[index + 1]) else { return nil }
            bytes.append(high << 4 | low)
            index += 2
        }
        return bytes
    }
}

/// A content address computed over bytes that arrive in pieces (a streamed upload or download).
public struct ContentHasher {
    private var hasher = SHA256()
    public init() {}
    public mutating func update(_ bytes: UnsafeRawBufferPointer) { hasher.update(bufferPointer: bytes) }
    public mutating func update(_ data: Data) { hasher.update(data: data) }
    public func finalize() -> ContentAddress { ContentAddress(digest: Array(hasher.finalize())) }
}

extension ContentAddress {
    init(digest: [UInt8]) { self.digest = digest }
}
