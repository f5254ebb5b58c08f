import ArgumentParser
import Foundation
import Registry

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
            first as JSON, GET / shows them as a page, GET /healthz checks the database. Several registries \
            may share one PostgreSQL database. Prints "listening on http://HOST:PORT" on stdout once bound.
            """)

        @Option(help: "HOST:PORT to listen on (port 0 picks a free port).")
        var listen: String

        @Option(help: "sqlite:PATH or postgres://user:pass@host:port/db.")
        var db: String = "sqlite:prism-registry.sqlite"

        @Option(help: "Seconds after its last heartbeat that a farmer stays listed.")
        var heartbeatTTL: Int = 90

        @Option(help: "Seconds a signed request's timestamp may differ from this registry's clock.")
        var replayWindow: Int = 120

        @Flag(name: .shortAndLong, help: "Log every request's outcome.")
        var verbose = false

        @Flag(name: .shortAndLong, help: "Log only warnings and errors.")
        var quiet = false

        func validate() throws {
            guard heartbeatTTL > 0 else { throw ValidationError("--heartbeat-ttl must be positive") }
            guard replayWindow > 0 else { throw ValidationError("--replay-window must be positive") }
        }

        func run() async throws {
            let address = try ListenAddress(parsing: listen)
            let location = try DatabaseLocation(parsing: db)
            let logger = CLILogging.bootstrap(verbose: verbose, quiet: quiet)
            let store = try await RegistryStores.open(location, logger: logger)
            var configuration = RegistryConfiguration()
            configuration.heartbeatTTL = TimeInterval(heartbeatTTL)
            configuration.replayWindow = TimeInterval(replayWindow)
            logger.debug("registry using \(location)")
            try await RegistryServer.run(store: store, address: address, configuration: configuration, logger: logger) { bound in
                print("listening on http://\(bound)")
            }
        }
    }
}
