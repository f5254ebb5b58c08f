import Foundation
import Hummingbird
import Logging
import NIOCore

/// A `HOST:PORT` to listen on, as written after `--listen`.
public struct ListenAddress: Sendable, Equatable, CustomStringConvertible {
    /// Host name or address to bind.
    public var host: String
    /// 0 asks the system for a free port; the bound one is reported once listening.
    public var port: Int

    /// Reads `HOST:PORT` or `[IPv6]:PORT`.
    public init(parsing text: String) throws {
        let host: Substring, portText: Substring
        if text.hasPrefix("["), let close = text.firstIndex(of: "]") {
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.hasPrefix(":") else { throw Self.malformed(text) }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else { throw Self.malformed(text) }
            host = text[..<colon]
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty, !host.contains(":") || text.hasPrefix("["), !host.contains(where: \.isWhitespace),
              let port = Int(portText), (0...65535).contains(port) else {
            throw Self.malformed(text)
        }
        self.host = String(host)
        self.port = port
    }

    private static func malformed(_ text: String) -> RegistryInputError {
        .badListenAddress("--listen must be HOST:PORT with a port from 0 to 65535, as in 127.0.0.1:8600, not \"\(text)\"")
    }

    public var description: String { host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)" }
}

/// Builds and runs the registry's HTTP server.
public enum RegistryServer {
    /// An application serving `RegistryRoutes` over `store` at `address`; the store runs as one of its services.
    /// `onListening` receives the bound address (useful with port 0).
    public static func application(store: any RegistryStore, address: ListenAddress, configuration: RegistryConfiguration = .init(),
                                   logger: Logger,
                                   onListening: @escaping @Sendable (ListenAddress) async -> Void = { _ in }) -> some ApplicationProtocol {
        let routes = RegistryRoutes(store: store, configuration: configuration, logger: logger)
        return Application(
            router: routes.router(),
            server: .http1(configuration: .init(idleTimeout: .seconds(Int64(configuration.idleTimeoutSeconds)))),
            configuration: .init(address: .hostname(address.host, port: address.port), serverName: "prism-registry"),
            services: [store],
            onServerRunning: { channel in
                var bound = address
                if let port = channel.localAddress?.port { bound.port = port }
                await onListening(bound)
            },
            logger: logger
        )
    }

    /// Runs until SIGINT or SIGTERM; a failure to bind becomes `RegistryInputError.cannotListen`.
    public static func run(store: any RegistryStore, address: ListenAddress, configuration: RegistryConfiguration = .init(),
                           logger: Logger, onListening: @escaping @Sendable (ListenAddress) async -> Void = { _ in }) async throws {
        let app = application(store: store, address: address, configuration: configuration, logger: logger, onListening: onListening)
        do {
            try await app.runService()
        } catch {
            // When the server fails first the store's run() may never have started, so close it here.
            try? await store.close()
            switch error {
            case let error as IOError:
                throw RegistryInputError.cannotListen("cannot listen on \(address): \(String(cString: strerror(error.errnoCode)))")
            case let error as SocketAddressError:
                throw RegistryInputError.cannotListen("cannot listen on \(address): \(error)")
            default:
                throw error
            }
        }
    }
}
