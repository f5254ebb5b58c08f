import ArgumentParser
import Broker
import Crypto
import Exec
import Foundation
import Registry

/// `prism keys broker serve`: release a confidential job's disk key to its attested guest, over HTTP.
struct BrokerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "broker",
        abstract: "Run the key broker that releases a confidential job's disk key only to its attested guest.",
        subcommands: [Serve.self])

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve the key broker over HTTP until interrupted.",
            discussion: """
            The guest POSTs /v1/broker/nonce, asks its firmware for an SEV-SNP report whose REPORT_DATA is \
            SHA-512(nonce ‖ its X25519 public key), and POSTs report, key, nonce (and AMD certificates) to \
            /v1/broker/release. The broker answers the disk key HPKE-sealed to that key only when the report's \
            signature verifies (AMD's chain to a pinned ARK, or --trust-key), its policy forbids debugging, it comes \
            from VMPL 0, its measurement is --measurement, and the nonce is fresh and unused; else 403 with the \
            reason. Every released key is signed by the broker's key (--key). Prints "listening on http://HOST:PORT as \
            ed25519:…" once bound.
            """)

        @Option(help: "HOST:PORT to listen on (port 0 picks a free port).")
        var listen: String

        @Option(help: "The job the key is for (the guest names it).")
        var job: String

        @Option(help: "File holding the disk key (the LUKS2 passphrase bytes).")
        var diskKey: String

        @Option(help: "Expected launch measurement, 96 hex digits (as `prism attest measure` prints it).")
        var measurement: String?

        @Option(help: ArgumentHelp("A report-signing P-384 public key (PEM) trusted without a chain, e.g. a VCEK checked beforehand.",
                                   discussion: "Without it, requests must carry the VCEK/VLEK chain up to AMD's pinned ARK."))
        var trustKey: String?

        @Option(help: "The AMD product of --trust-key's chip (Milan, Genoa, Turin).")
        var product: String = "Milan"

        @Option(help: ArgumentHelp("The broker's key file (`prism keys generate`); it signs every released key.",
                                   discussion: "Put its id in the guest's measured command line (`prism guest unlock --broker-id`) so the guest takes a key from no other broker. Default: a fresh key for this run."))
        var key: String?

        func run() async throws {
            let logger = CLILogging.bootstrap(verbose: false, quiet: false)
            let address = try ListenAddress(parsing: listen)
            guard let secret = FileManager.default.contents(atPath: diskKey), !secret.isEmpty, secret.count <= 4096 else {
                throw CommandFailure.badInput("cannot read a disk key (1 to 4096 bytes) from \(diskKey)")
            }
            let expected = try measurement.map { text -> [UInt8] in
                guard text.count == 96, let bytes = Exec.Hex.decode(text) else {
                    throw CommandFailure.badInput("--measurement must be 96 hex digits (48 bytes)")
                }
                return bytes
            }
            let trust: KeyBroker.Trust
            if let trustKey {
                guard let text = try? String(contentsOfFile: trustKey, encoding: .utf8), let publicKey = try? P384.Signing.PublicKey(pemRepresentation: text) else {
                    throw CommandFailure.badInput("--trust-key \(trustKey) is not a P-384 public key in PEM")
                }
                guard let chip = AMDProduct.allCases.first(where: { $0.rawValue.lowercased() == product.lowercased() }) else {
                    throw CommandFailure.badInput("--product must be one of \(AMDProduct.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                trust = .signingKey(publicKey, chip)
            } else {
                trust = .amdChain(.amd)
            }
            let identity = try KeyFileOption.load(key)
            let broker = KeyBroker(trust: trust)
            broker.register(jobID: job, diskKey: Array(secret), expectedMeasurement: expected)
            try await KeyBrokerServer.run(broker, identity: identity, host: address.host, port: address.port, logger: logger) { bound in
                print("listening on http://\(address.host):\(bound) as \(identity.publicIdentity)")
                logger.info("key broker for job \(job): \(expected == nil ? "any measurement" : "measurement \(measurement!)"), \(trustKey == nil ? "AMD chain" : "trusted key \(trustKey!)")")
            }
        }
    }
}
