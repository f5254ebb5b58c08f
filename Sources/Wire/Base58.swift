/// Base58 with the Bitcoin alphabet, used to write public keys as short, unambiguous text.
///
/// The alphabet leaves out `0`, `O`, `I` and `l` so that an id read aloud or copied by hand
/// cannot be mistaken. Each leading zero byte is written as a leading `1`, so the byte length
/// round-trips exactly.
public enum Base58 {
    /// The 58 symbols in value order.
    public static let alphabet = Array("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz".utf8)

    private static let values: [Int8] = {
        var table = [Int8](repeating: -1, count: 128)
        for (value, symbol) in alphabet.enumerated() { table[Int(symbol)] = Int8(value) }
        return table
    }()

    /// Writes `bytes` in base58.
    public static func encode<Bytes: Collection>(_ bytes: Bytes) -> String where Bytes.Element == UInt8 {
        let input = Array(bytes)
        let leadingZeros = input.prefix(while: { $0 == 0 }).count
        // Little-endian base-58 digits of the number the bytes spell, built by repeated
        // multiply-and-add; O(n²), which is fine for keys and hashes of a few dozen bytes.
        var digits: [UInt8] = []
        digits.reserveCapacity(input.count * 138 / 100 + 1)
        for byte in input[leadingZeros...] {
            var carry = Int(byte)
            for index in digits.indices {
                carry += Int(digits[index]) << 8
                digits[index] = UInt8(carry % 58)
                carry /= 58
            }
            while carry > 0 {
                digits.append(UInt8(carry % 58))
                carry /= 58
            }
        }
        var text = [UInt8](repeating: alphabet[0], count: leadingZeros)
        text.append(contentsOf: digits.reversed().map { alphabet[Int($0)] })
        return String(decoding: text, as: UTF8.self)
    }

    /// Reads base58 text back into bytes; throws on any symbol outside the alphabet.
    public static func decode(_ text: String) throws -> [UInt8] {
        let symbols = Array(text.utf8)
        let leadingOnes = symbols.prefix(while: { $0 == alphabet[0] }).count
        var bytes: [UInt8] = []  // little-endian base-256 digits
        for (offset, symbol) in symbols.enumerated().dropFirst(leadingOnes) {
            guard symbol < 128, values[Int(symbol)] >= 0 else {
                throw Base58Error.invalidCharacter(position: offset, text: text)
            }
            var carry = Int(values[Int(symbol)])
            for index in bytes.indices {
                carry += Int(bytes[index]) * 58
                bytes[index] = UInt8(carry & 0xFF)
                carry >>= 8
            }
            while carry > 0 {
                bytes.append(UInt8(carry & 0xFF))
                carry >>= 8
            }
        }
        return [UInt8](repeating: 0, count: leadingOnes) + bytes.reversed()
    }
}

/// Why base58 text could not be read.
public enum Base58Error: Error, Equatable, CustomStringConvertible {
    /// A symbol outside the Bitcoin alphabet (which has no `0`, `O`, `I` or `l`), at this byte offset.
    case invalidCharacter(position: Int, text: String)

    public var description: String {
        switch self {
        case .invalidCharacter(let position, let text):
            return "invalid base58 character at offset \(position) in \"\(text)\""
        }
    }
}
