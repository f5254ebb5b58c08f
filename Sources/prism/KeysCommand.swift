import ArgumentParser
import Foundation
import Wire

/// `prism keys`: make and inspect the ed25519 keys farmers, submitters and challengers sign with.
struct KeysCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "keys",
        abstract: "Generate and show ed25519 identity keys.",
        subcommands: [Generate.self, Show.self, BrokerCommand.self])

    struct Generate: ParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Write a new private key to FILE (mode 0600) and print its ed25519:<base58> id.",
            discussion: "Refuses to replace an existing file, so a key cannot be lost by accident.")

        @Option(help: "Key file to create.")
        var out: String

        func run() throws {
            let identity = SigningIdentity()
            // O_EXCL makes "refuse to overwrite" atomic, and the mode is set at creation so the
            // private key is never readable by others, not even for an instant.
            let descriptor = open(out, O_WRONLY | O_CREAT | O_EXCL, 0o600)
            guard descriptor >= 0 else {
                let reason = errno == EEXIST ? "already exists; refusing to overwrite a key" : String(cString: strerror(errno))
                throw CommandFailure.badInput("cannot create key file \(out): \(reason)")
            }
            let handle = FileHandle(fileDescriptor: descriptor, closeOnDealloc: true)
            do {
                try handle.write(contentsOf: KeyFile.encode(identity))
                try handle.synchronize()
            } catch {
                try? FileManager.default.removeItem(atPath: out)
                throw CommandFailure.badInput("cannot write key file \(out): \(error.localizedDescription)")
            }
            print(identity.publicIdentity.description)
        }
    }

    struct Show: ParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print the ed25519:<base58> id of the key in FILE.")

        @Argument(help: "Key file written by `prism keys generate`.")
        var file: String

        func run() throws {
            print(try KeyFileReader.load(file).publicIdentity.description)
        }
    }
}

/// Reads a key file for any command that signs (`keys show`, the registry's clients, farmers later).
enum KeyFileReader {
    static func load(_ path: String) throws -> SigningIdentity {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw CommandFailure.badInput("cannot read key file \(path): no such readable file")
        }
        do { return try KeyFile.decode(data) } catch {
            throw CommandFailure.badInput("bad key file \(path): \(error)")
        }
    }
}
