import Foundation

/// Input that cannot be read as an attestation report, certificate or firmware image.
/// The CLI maps it to exit 2 with its one-line description.
public struct AttestationInputError: Error, CustomStringConvertible, Equatable {
    /// One line, no trailing period, naming what was wrong with which input.
    public let description: String

    public init(_ description: String) {
        self.description = description
    }
}

/// Small byte helpers shared by the report, certificate and measurement parsers.
enum Bytes {
    static func hex<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 {
        let digits: [Character] = Array("0123456789abcdef")
        var out = ""
        out.reserveCapacity(bytes.count * 2)
        for b in bytes {
            out.append(digits[Int(b >> 4)])
            out.append(digits[Int(b & 0x0f)])
        }
        return out
    }

    /// Decodes hex, tolerating whitespace, an optional `0x` prefix and colons; nil when anything else appears.
    static func fromHex(_ text: String) -> [UInt8]? {
        var s = Substring(text.trimmingCharacters(in: .whitespacesAndNewlines))
        if s.hasPrefix("0x") || s.hasPrefix("0X") { s = s.dropFirst(2) }
        var out: [UInt8] = []
        out.reserveCapacity(s.utf8.count / 2)
        var high: UInt8? = nil
        for c in s.utf8 {
            let v: UInt8
            switch c {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): v = c - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): v = c - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): v = c - UInt8(ascii: "A") + 10
            case UInt8(ascii: " "), UInt8(ascii: "\n"), UInt8(ascii: "\r"), UInt8(ascii: "\t"), UInt8(ascii: ":"): continue
            default: return nil
            }
            if let h = high { out.append(h << 4 | v); high = nil } else { high = v }
        }
        return high == nil ? out : nil
    }

    static func readLE<T: FixedWidthInteger & UnsignedInteger>(_ bytes: [UInt8], _ offset: Int, as: T.Type = T.self) -> T {
        var value: T = 0
        for i in 0..<(T.bitWidth / 8) { value |= T(bytes[offset + i]) << (8 * i) }
        return value
    }

    static func appendLE<T: FixedWidthInteger>(_ value: T, to out: inout [UInt8]) {
        for i in 0..<(T.bitWidth / 8) { out.append(UInt8(truncatingIfNeeded: value >> (8 * i))) }
    }
}

/// Hex text for command-line values and printed digests.
public enum Hex {
    /// Decodes hex (whitespace, colons and a `0x` prefix allowed); nil for anything else.
    public static func decode(_ text: String) -> [UInt8]? { Bytes.fromHex(text) }
    /// Lowercase hex.
    public static func encode<C: Collection>(_ bytes: C) -> String where C.Element == UInt8 { Bytes.hex(bytes) }
}
