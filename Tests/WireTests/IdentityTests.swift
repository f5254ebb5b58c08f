import Crypto
import Foundation
import Testing
@testable import Wire

@Suite struct IdentityTests {
    @Test func identityTextRoundTripsAndNamesTheKey() throws {
        let key = SigningIdentity()
        let text = key.publicIdentity.description
        #expect(text.hasPrefix("ed25519:"))
        let parsed = try PublicIdentity(text)
        #expect(parsed == key.publicIdentity)
        #expect(parsed.rawKey == Array(key.privateKey.publicKey.rawRepresentation))
        #expect(try Base58.decode(String(text.dropFirst(8))).count == 32)
    }

    @Test(arguments: ["", "ed25519:", "ed25519:0OIl", "rsa:abc", "ed25519:2g", "ED25519:11111111111111111111111111111111x"])
    func refusesTextThatIsNotAnIdentity(_ text: String) {
        #expect(throws: IdentityError.self) { try PublicIdentity(text) }
    }

    @Test func identityIsJSONText() throws {
        let identity = SigningIdentity().publicIdentity
        let data = try JSONEncoder().encode([identity])
        #expect(String(decoding: data, as: UTF8.self) == "[\"\(identity.description)\"]")
        #expect(try JSONDecoder().decode([PublicIdentity].self, from: data) == [identity])
        #expect(throws: DecodingError.self) { try JSONDecoder().decode([PublicIdentity].self, from: Data("[\"ed25519:0\"]".utf8)) }
    }

    @Test func keyFileRoundTripsTheSameKey() throws {
        let key = SigningIdentity()
        let data = KeyFile.encode(key)
        let text = String(decoding: data, as: UTF8.self)
        #expect(text.contains(key.publicIdentity.description))
        #expect(text.contains("prism-ed25519-key-v1"))
        let loaded = try KeyFile.decode(data)
        #expect(loaded.publicIdentity == key.publicIdentity)
        // Same private key: a signature by the loaded key verifies under the original identity.
        let signature = try loaded.signature(for: Data("hello".utf8))
        #expect(key.publicIdentity.isValidSignature(signature, for: Data("hello".utf8)))
    }

    @Test func keyFileWhoseIdDoesNotMatchItsSeedIsRefused() throws {
        let key = SigningIdentity(), other = SigningIdentity()
        let tampered = String(decoding: KeyFile.encode(key), as: UTF8.self)
            .replacingOccurrences(of: key.publicIdentity.description, with: other.publicIdentity.description)
        #expect(throws: KeyFileError.malformed("key file id does not match its seed")) { try KeyFile.decode(Data(tampered.utf8)) }
        #expect(throws: KeyFileError.self) { try KeyFile.decode(Data("not json".utf8)) }
        #expect(throws: KeyFileError.self) { try KeyFile.decode(Data("{\"format\":\"other\",\"id\":\"\(key.publicIdentity)\",\"seed\":\"1\"}".utf8)) }
    }

    @Test func contentAddressIsSHA256Hex() throws {
        let address = ContentAddress(hashing: Data("abc".utf8))
        #expect(address.description == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        #expect(try ContentAddress(address.description) == address)
        #expect(try ContentAddress(address.description.uppercased().replacingOccurrences(of: "SHA256", with: "sha256")) == address)
        #expect(throws: ContentAddressError.self) { try ContentAddress("sha256:abc") }
        #expect(throws: ContentAddressError.self) { try ContentAddress("md5:" + String(repeating: "0", count: 64)) }
        #expect(throws: ContentAddressError.self) { try ContentAddress("sha256:" + String(repeating: "g", count: 64)) }
    }
}
