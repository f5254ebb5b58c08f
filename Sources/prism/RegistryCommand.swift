import ArgumentParser
import Foundation
import Registry
import Wire

/// `prism registry`: the directory farmers announce themselves to and submitters pick farmers from.
struct RegistryCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "registry",
        abstract: "Run a registry of farmers, their claims and their reputation.",
        subcommands: [Serve.self])

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve the registry over HTTP until interrupted.",
            discussion: """
            Farmers POST signed heartbeats to /v1/heartbeats; submitters and challengers POST signed verdicts \
            to /v1/verdicts and challenge results to /v1/challenges. GET /v1/farmers lists live farmers best \
            first as JSON, GET / shows them as a page, GET /healthz checks the database. An accepted verdict \
            pays its farmer from the submitter's account; GET /v1/ledger/ID answers an account's statement, \
            signed with --key. Several registries may share one PostgreSQL database (give them the same key). \
            Prints "listening on http://HOST:PORT as ed25519:…" on stdout once bound.
            """)

        @Option(help: "HOST:PORT to listen on (port 0 picks a free port).")
        var listen: String

        @Option(help: "sqlite:PATH or postgres://user:pass@host:port/db.")
        var db: String = "sqlite:prism-registry.sqlite"

        @Option(help: "Seconds after its last heartbeat that a farmer stays listed.")
        var heartbeatTTL: Int = 90

        @Option(help: "Seconds a signed request's timestamp may differ from this registry's clock.")
        var replayWindow: Int = 120

        @Option(help: ArgumentHelp("Challenger ids (ed25519:…, from `prism keys show`) whose challenge results count, comma-separated.",
                                   discussion: "Results from anyone else are refused: standing cannot be bought with fresh keys."))
        var trustChallenger: String?

        @Option(help: "Seconds a connection may go without sending a complete request part before it is closed.")
        var idleTimeout: Int = 30

        @Option(help: ArgumentHelp("This registry's key file, which signs ledger statements (make one with `prism keys generate`).",
                                   discussion: "Without one the registry makes a key for this run: statements it signed cannot be checked after a restart."))
        var key: String?

        @Flag(name: .shortAndLong, help: "Log every request's outcome.")
        var verbose = false

        @Flag(name: .shortAndLong, help: "Log only warnings and errors.")
        var quiet = false

        func validate() throws {
            guard heartbeatTTL > 0 else { throw ValidationError("--heartbeat-ttl must be positive") }
            guard replayWindow > 0 else { throw ValidationError("--replay-window must be positive") }
            guard (1...3600).contains(idleTimeout) else { throw ValidationError("--idle-timeout must be between 1 and 3600 seconds") }
            _ = try trustedChallengers()
        }

        func trustedChallengers() throws -> Set<PublicIdentity> {
            guard let trustChallenger else { return [] }
            return Set(try trustChallenger.split(separator: ",").map { id in
                do { return try PublicIdentity(id.trimmingCharacters(in: .whitespaces)) } catch {
                    throw ValidationError("--trust-challenger: \"\(id.prefix(80))\" is not a public identity (ed25519:…)")
                }
            })
        }

        func run() async throws {
            let address = try ListenAddress(parsing: listen)
            let location = try DatabaseLocation(parsing: db)
            let logger = CLILogging.bootstrap(verbose: verbose, quiet: quiet)
            var configuration = RegistryConfiguration()
            if let key { configuration.identity = try KeyFileOption.load(key) }
            let store = try await RegistryStores.open(location, logger: logger)
            configuration.heartbeatTTL = TimeInterval(heartbeatTTL)
            configuration.replayWindow = TimeInterval(replayWindow)
            configuration.trustedChallengers = try trustedChallengers()
            configuration.idleTimeoutSeconds = idleTimeout
            // Stored challenge results count exactly when their challenger is trusted now (instances sharing one
            // PostgreSQL database must share one trust list).
            try await store.applyTrust(configuration.trustedChallengers)
            logger.debug("registry using \(location)")
            let registryID = configuration.identity.publicIdentity
            try await RegistryServer.run(store: store, address: address, configuration: configuration, logger: logger) { bound in
                print("listening on http://\(bound) as \(registryID)")
                // Said once serving, so a registry that cannot start still fails with one line.
                if key == nil { logger.warning("no --key: ledger statements are signed with a key made for this run") }
            }
        }
    }
}
