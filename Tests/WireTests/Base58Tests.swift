import Testing
@testable import Wire

@Suite struct Base58Tests {
    // Vectors from the Bitcoin base58 test set (base58_encode_decode.json).
    static let vectors: [(hex: String, text: String)] = [
        ("", ""),
        ("61", "2g"),
        ("626262", "a3gV"),
        ("636363", "aPEr"),
        ("73696d706c792061206c6f6e6720737472696e67", "2cFupjhnEsSn59qHXstmK2ffpLv2"),
        ("00eb15231dfceb60925886b67d065299925915aeb172c06647", "1NS17iag9jJgTHD1VXjvLCEnZuQ3rJDE9L"),
        ("516b6fcd0f", "ABnLTmg"),
        ("bf4f89001e670274dd", "3SEo3LWLoPntC"),
        ("572e4794", "3EFU7m"),
        ("ecac89cad93923c02321", "EJDM8drfXA6uyA"),
        ("10c8511e", "Rt5zm"),
        ("00000000000000000000", "1111111111"),
    ]

    @Test func encodesTheBitcoinVectors() {
        for vector in Self.vectors {
            #expect(Base58.encode(Hex.decode(vector.hex)!) == vector.text, "encoding \(vector.hex)")
        }
    }

    @Test func decodesTheBitcoinVectors() throws {
        for vector in Self.vectors {
            #expect(try Base58.decode(vector.text) == Hex.decode(vector.hex)!, "decoding \(vector.text)")
        }
    }

    @Test func keepsLeadingZeroBytesAsLeadingOnes() throws {
        let bytes: [UInt8] = [0, 0, 0, 1, 2, 3]
        let text = Base58.encode(bytes)
        #expect(text.hasPrefix("111"))
        #expect(!text.hasPrefix("1111"))
        #expect(try Base58.decode(text) == bytes)
        #expect(Base58.encode([0]) == "1")
        #expect(try Base58.decode("1") == [0])
    }

    @Test func roundTripsRandomBytes() throws {
        for length in [1, 2, 31, 32, 33, 64] {
            for _ in 0..<20 {
                var bytes = (0..<length).map { _ in UInt8.random(in: 0...255) }
                if Bool.random() { bytes[0] = 0 }
                #expect(try Base58.decode(Base58.encode(bytes)) == bytes)
            }
        }
    }

    @Test(arguments: ["0OIl", "abc0", "O", "I11", "l", "2g!", "2g ", "é"])
    func refusesCharactersOutsideTheAlphabet(_ text: String) {
        #expect(throws: Base58Error.self) { try Base58.decode(text) }
    }

    @Test func reportsWhereTheBadCharacterIs() {
        #expect(throws: Base58Error.invalidCharacter(position: 3, text: "abc0")) { try Base58.decode("abc0") }
    }
}
