import Foundation

/// The one JSON encoding every signed or hashed Wire value goes through.
///
/// Keys are sorted and slashes left unescaped so the same value always gives the same bytes
/// on every platform; signatures and content addresses are taken over these bytes.
public enum WireCoding {
    /// Canonical JSON bytes of `value`.
    public static func canonicalBytes<Value: Encodable>(_ value: Value) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(value)
    }

    /// Decodes a Wire value from JSON bytes.
    public static func decode<Value: Decodable>(_ type: Value.Type, from data: Data) throws -> Value {
        try JSONDecoder().decode(type, from: data)
    }
}
