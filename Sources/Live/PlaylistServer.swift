import Foundation
import Hummingbird
import Logging
import NIOCore
import Synchronization

/// Serves a live output folder over HTTP, so a player can watch while it is written (`prism live --serve`): GET of
/// a playlist, segment or initialization section by its path under the folder, with HLS content types; anything
/// else (a path outside the folder, a hidden or half-written file, a folder) is 404.
public enum PlaylistServer {
    /// Largest file served (a segment of a high rung at a long segment length is a few MB).
    public static let maximumFileBytes = 64 << 20

    static let contentTypes = [
        "m3u8": "application/vnd.apple.mpegurl", "ts": "video/mp2t", "m4s": "video/iso.segment", "mp4": "video/mp4",
        "aac": "audio/aac", "json": "application/json",
    ]

    /// The file a request path names under `root`, or nil: only plain names of letters, digits, `_`, `-` and `.`,
    /// none hidden, at most four deep.
    public static func file(for path: String, under root: URL) -> URL? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: true)
        guard !parts.isEmpty, parts.count <= 4 else { return nil }
        for part in parts {
            guard part.utf8.count <= 128, !part.hasPrefix("."),
                  part.utf8.allSatisfy({ ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x41 && $0 <= 0x5A) || ($0 >= 0x61 && $0 <= 0x7A) || $0 == 0x5F || $0 == 0x2D || $0 == 0x2E })
            else { return nil }
        }
        guard let type = parts.last.flatMap({ $0.split(separator: ".").last.map(String.init) }), contentTypes[type] != nil else { return nil }
        return parts.reduce(root) { $0.appendingPathComponent(String($1)) }
    }

    public static func router(root: URL, logger: Logger) -> Router<BasicRequestContext> {
        let router = Router(context: BasicRequestContext.self)
        router.get("/healthz") { _, _ in Response(status: .ok, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "ok\n"))) }
        router.get("**") { request, _ -> Response in
            guard let url = file(for: request.uri.path, under: root) else { return notFound() }
            var status = stat()
            guard lstat(url.path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG, status.st_size <= maximumFileBytes,
                  let data = FileManager.default.contents(atPath: url.path) else { return notFound() }
            let type = url.pathExtension
            var headers: HTTPFields = [.contentType: contentTypes[type] ?? "application/octet-stream"]
            // Playlists change every segment; segments never change once listed.
            headers[.cacheControl] = type == "m3u8" || type == "json" ? "no-cache" : "max-age=60"
            headers[.accessControlAllowOrigin] = "*"
            return Response(status: .ok, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
        }
        return router
    }

    static func notFound() -> Response {
        Response(status: .notFound, headers: [.contentType: "text/plain"], body: .init(byteBuffer: ByteBuffer(string: "not found\n")))
    }

    /// Starts serving `root` on `host:port` in the background; returns the port it listens on (for port 0, the one
    /// the system chose) once it does, or throws when it cannot listen.
    public static func start(root: URL, host: String, port: Int, logger: Logger) throws -> Int {
        let ready = DispatchSemaphore(value: 0)
        let box = PortBox()
        let app = Application(router: router(root: root, logger: logger),
                              server: .http1(configuration: .init(idleTimeout: .seconds(30))),
                              configuration: .init(address: .hostname(host, port: port), serverName: "prism-live"),
                              onServerRunning: { channel in box.set(.success(channel.localAddress?.port ?? port)); ready.signal() },
                              logger: logger)
        Task {
            do { try await app.runService() } catch {
                box.set(.failure(error))
                ready.signal()
            }
        }
        guard ready.wait(timeout: .now() + 30) == .success, let result = box.get() else {
            throw PlaylistServerError("--serve \(host):\(port): the server did not start within 30 s")
        }
        switch result {
        case .success(let bound): return bound
        case .failure(let error): throw PlaylistServerError("--serve \(host):\(port): cannot listen (\(error))")
        }
    }
}

public struct PlaylistServerError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

private final class PortBox: Sendable {
    private let value = Mutex<Result<Int, any Error>?>(nil)
    func set(_ result: Result<Int, Error>) { value.withLock { if $0 == nil { $0 = result } } }
    func get() -> Result<Int, Error>? { value.withLock { $0 } }
}
