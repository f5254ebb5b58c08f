import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PrismTestSupport
import Registry
import Testing
import Wire

/// A clock the test moves by hand, shared by the registry and the signers.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { current = start }
    var now: Date { lock.lock(); defer { lock.unlock() }; return current }
    func advance(_ seconds: TimeInterval) { lock.lock(); current += seconds; lock.unlock() }
}

/// A farmer, submitter or challenger with a key, making signed request bodies.
struct TestParty {
    let key = SigningIdentity()
    var id: PublicIdentity { key.publicIdentity }

    func announcement(url: String = "http://127.0.0.1:8700", encoders: [String] = ["libx264"], fps: Double = 240,
                      misbehave: String? = nil, price: Price = Price(microcreditsPerMegapixel: 250_000)) -> FarmerAnnouncement {
        FarmerAnnouncement(farmer: id, url: url,
                           capabilities: FarmerCapabilities(encoders: encoders, framesPerSecond: fps, sessions: 2,
                                                            price: price, version: "0.1.0"),
                           misbehave: misbehave)
    }

    /// A verdict by `submitter` on this farmer's work on `segment`, with the proof a registry counts it on: this
    /// farmer's signed receipt for a task the submitter sent.
    func provenVerdict(by submitter: TestParty, segment: ContentAddress, accepted: Bool, reasons: [String] = [],
                       at date: Date, price: Price? = nil, frames: Int = 60, pixels: Int64? = nil) throws -> Verdict {
        let task = SegmentTask(source: segment, ladder: [TaskRung(height: 360, bitrate: 800_000)], codec: "h264")
        let rendition = ContentAddress(hashing: Data("\(segment) at 360p".utf8))
        let receipt = SegmentReceipt(farmer: id, submitter: submitter.id, task: try task.address(), input: segment,
                                     rungs: [RungReceipt(height: 360, width: 640, bitrate: 800_000, output: rendition, frames: frames,
                                                         pixels: pixels ?? Int64(frames) * 640 * 360)],
                                     encoder: "libx264", timings: TaskTimings(decodeSeconds: 0.1, encodeSeconds: 1, totalSeconds: 1.2), price: price)
        let envelope = try SignedEnvelope.sign(receipt, method: SignedEnvelope.responseMethod, path: FarmerPath.tasks, by: key, at: date)
        return Verdict(submitter: submitter.id, farmer: id, segment: segment, accepted: accepted, reasons: reasons,
                       task: try task.address(), receipt: envelope)
    }

    /// The JSON bytes of a signed envelope around `message`, as a client posts them.
    func signed<Message: Encodable>(_ message: Message, path: String, at date: Date) throws -> Data {
        try WireCoding.canonicalBytes(SignedEnvelope.sign(message, method: "POST", path: path, by: key, at: date))
    }
}

let testLogger: Logger = {
    var logger = Logger(label: "registry-test")
    logger.logLevel = .critical
    return logger
}()

/// Content addresses of made-up source segments.
enum Segment {
    static func address(_ name: String) -> ContentAddress { ContentAddress(hashing: Data(name.utf8)) }
}

/// Runs `body` against an in-process registry over `store` with the test client.
func withRegistry(store: any RegistryStore, clock: ManualClock, ttl: TimeInterval = 90, trusting trusted: [TestParty] = [],
                  identity: SigningIdentity = SigningIdentity(), over setup: TestingSetup = .router,
                  _ body: @escaping @Sendable (any TestClientProtocol) async throws -> Void) async throws {
    var configuration = RegistryConfiguration()
    configuration.heartbeatTTL = ttl
    configuration.trustedChallengers = Set(trusted.map(\.id))
    configuration.now = { clock.now }
    configuration.identity = identity
    let app = RegistryServer.application(store: store, address: try ListenAddress(parsing: "127.0.0.1:0"),
                                         configuration: configuration, logger: testLogger)
    try await app.test(setup) { client in try await body(client) }
}

extension TestClientProtocol {
    /// POSTs raw bytes and returns status and decoded JSON object.
    func post(_ path: String, _ body: Data) async throws -> (status: HTTPResponse.Status, json: [String: Any]) {
        try await execute(uri: path, method: .post, headers: [.contentType: "application/json"], body: ByteBuffer(bytes: body)) { response in
            let object = (try? JSONSerialization.jsonObject(with: Data(response.body.readableBytesView))) as? [String: Any] ?? [:]
            return (response.status, object)
        }
    }

    /// GETs the farmer list.
    func farmerList() async throws -> FarmerList {
        try await execute(uri: WirePath.farmers, method: .get) { response in
            #expect(response.status == .ok)
            #expect(response.headers[.contentType]?.hasPrefix("application/json") == true)
            return try JSONDecoder().decode(FarmerList.self, from: Data(response.body.readableBytesView))
        }
    }
}

/// The SQLite store of a test registry, in `folder`'s `registry.sqlite` (reopening it keeps the data).
func openSQLiteStore(in folder: TemporaryFolder) async throws -> SQLiteRegistryStore {
    try await SQLiteRegistryStore.open(path: folder.path("registry.sqlite"), logger: testLogger)
}
