import FarmClient
import Foundation
import Hummingbird
import Logging
import Wire

/// Runs a farmer over HTTP until SIGINT/SIGTERM (in-flight tasks finish first), announcing it to a
/// registry every `heartbeatSeconds` when one is given.
public enum FarmerServer {
    public static let heartbeatSeconds: UInt64 = 30

    public static func run(service: FarmerService, host: String, port: Int, registry: String?, logger: Logger,
                           onListening: @escaping @Sendable (Int) async -> Void) async throws {
        let app = Application(
            router: service.router(),
            server: .http1(configuration: .init(idleTimeout: .seconds(Int64(service.configuration.idleTimeoutSeconds)))),
            configuration: .init(address: .hostname(host, port: port), serverName: "prism-farmer"),
            onServerRunning: { channel in
                await onListening(channel.localAddress?.port ?? port)
                if let registry {
                    Task.detached {
                        while !Task.isCancelled {
                            await service.refreshClaims()
                            await announce(service: service, registry: registry, logger: logger)
                            try? await Task.sleep(nanoseconds: heartbeatSeconds * 1_000_000_000)
                        }
                    }
                }
            },
            logger: logger)
        try await app.runService()
    }

    /// One signed heartbeat to the registry; failures are logged, not fatal (the registry may come back).
    static func announce(service: FarmerService, registry: String, logger: Logger) async {
        await RegistryClient(baseURL: registry).postLogged(service.announcement, path: WirePath.heartbeats,
                                                           identity: service.configuration.identity, logger: logger)
    }
}
