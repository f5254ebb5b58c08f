import Foundation
import PrismTestSupport
import Testing
import Wire

/// `prism keys` through the real binary.
@Suite struct KeysCommandTests {
    @Test func generateWritesAPrivateKeyFileAndShowPrintsTheSameId() throws {
        let folder = try TemporaryFolder("prism-keys")
        defer { folder.remove() }
        let path = folder.path("farmer.key")
        let generated = try PrismBinary.run(["keys", "generate", "--out", path])
        #expect(generated.status == 0, "\(generated.stderr)")
        let id = generated.stdout.trimmingCharacters(in: .whitespacesAndNewlines)
        #expect(try PublicIdentity(id).description == id)

        let attributes = try FileManager.default.attributesOfItem(atPath: path)
        #expect((attributes[.posixPermissions] as? NSNumber)?.intValue == 0o600)
        let loaded = try KeyFile.decode(try Data(contentsOf: URL(fileURLWithPath: path)))
        #expect(loaded.publicIdentity.description == id)

        let shown = try PrismBinary.run(["keys", "show", path])
        #expect(shown.status == 0)
        #expect(shown.stdout == id + "\n")
    }

    @Test func generateRefusesToOverwriteAnExistingFile() throws {
        let folder = try TemporaryFolder("prism-keys")
        defer { folder.remove() }
        let path = folder.path("farmer.key")
        #expect(try PrismBinary.run(["keys", "generate", "--out", path]).status == 0)
        let before = try Data(contentsOf: URL(fileURLWithPath: path))
        let again = try PrismBinary.run(["keys", "generate", "--out", path])
        #expect(again.status == 2)
        #expect(again.stderr.contains("already exists"))
        #expect(again.stderr.split(separator: "\n").count == 1)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    }

    @Test func showRefusesMissingAndDamagedFilesWithExitTwo() throws {
        let folder = try TemporaryFolder("prism-keys")
        defer { folder.remove() }
        let missing = try PrismBinary.run(["keys", "show", folder.path("absent.key")])
        #expect(missing.status == 2)
        #expect(missing.stderr.hasPrefix("prism: cannot read key file"))
        #expect(missing.stderr.split(separator: "\n").count == 1)

        let damaged = folder.path("damaged.key")
        try Data("{\"format\": \"prism-ed25519-key-v1\", \"id\": \"ed25519:1\", \"seed\": \"xyz\"}".utf8)
            .write(to: URL(fileURLWithPath: damaged))
        let result = try PrismBinary.run(["keys", "show", damaged])
        #expect(result.status == 2)
        #expect(result.stderr.hasPrefix("prism: bad key file"))
        #expect(result.stderr.split(separator: "\n").count == 1)
    }
}
