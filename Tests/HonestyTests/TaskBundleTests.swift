@testable import FarmClient
import Farmer
import Foundation
import Hummingbird
import HummingbirdTesting
import Logging
import Media
import NIOCore
import PrismTestSupport
import Submitter
import Testing
import Transcode
import Verify
import Wire

/// A task's answer with its outputs in it (`TaskBundle`): one round trip per segment, read as it arrives, bounded
/// and exact however the network splits it.
@Suite(.serialized) struct TaskBundleTests {
    static let logger: Logger = {
        var logger = Logger(label: "task-bundle")
        logger.logLevel = .critical
        return logger
    }()

    /// A bundle: the receipt, then each output with its length.
    static func bundle(receipt: [UInt8], outputs: [[UInt8]]) -> [UInt8] {
        var buffer = ByteBuffer()
        buffer.writeInteger(UInt32(receipt.count))
        buffer.writeBytes(receipt)
        for output in outputs {
            buffer.writeInteger(UInt64(output.count))
            buffer.writeBytes(output)
        }
        return Array(buffer.readableBytesView)
    }

    static func reader(_ folder: TemporaryFolder, heights: [Int], maximumOutputBytes: Int = 1 << 20) -> TaskBundleReader {
        TaskBundleReader(url: "http://farmer", outputs: Dictionary(heights.map { ($0, folder.path("\($0)p.ts")) }) { first, _ in first },
                         maximumOutputBytes: maximumOutputBytes) { receipt in
            guard receipt == Data("signed receipt".utf8) else { throw FarmerCallError.badReply(url: "http://farmer", reason: "not the receipt") }
            return heights
        }
    }

    /// Feeds `bytes` in pieces of the given sizes (the rest in one).
    static func feed(_ reader: inout TaskBundleReader, _ bytes: [UInt8], pieces: [Int]) throws {
        var offset = 0
        for size in pieces where offset < bytes.count {
            try reader.feed(ByteBuffer(bytes: bytes[offset..<min(bytes.count, offset + size)]))
            offset += size
        }
        if offset < bytes.count { try reader.feed(ByteBuffer(bytes: bytes[offset...])) }
        try reader.finished()
    }

    @Test func aBundleReadsTheSameHoweverItIsSplit() throws {
        let folder = try TemporaryFolder("task-bundle")
        defer { folder.remove() }
        var generator = SeededGenerator(seed: 7)
        let first = (0..<5000).map { _ in UInt8.random(in: 0...255, using: &generator) }, second: [UInt8] = [], third = (0..<70_000).map { _ in UInt8.random(in: 0...255, using: &generator) }
        let bytes = Self.bundle(receipt: Array("signed receipt".utf8), outputs: [first, second, third])
        for pieces in [[1], Array(repeating: 1, count: bytes.count), Array(repeating: 3, count: bytes.count / 3), [4, 14, 8, 5000, 8, 8],
                       [bytes.count], (0..<200).map { _ in Int(UInt8.random(in: 0...255, using: &generator)) + 1 }] {
            var reader = Self.reader(folder, heights: [720, 480, 360])
            try Self.feed(&reader, bytes, pieces: pieces)
            for (height, content) in [(720, first), (480, second), (360, third)] {
                #expect(reader.fetched[height]?.address == ContentAddress(hashing: Data(content)))
                #expect(reader.fetched[height]?.bytes == content.count)
                #expect(try Data(contentsOf: URL(fileURLWithPath: folder.path("\(height)p.ts"))) == Data(content))
            }
        }
    }

    @Test func aShortLongOrOversizedBundleIsABadReply() throws {
        let folder = try TemporaryFolder("task-bundle-bad")
        defer { folder.remove() }
        let receipt = Array("signed receipt".utf8), output = [UInt8](repeating: 9, count: 300)
        let bytes = Self.bundle(receipt: receipt, outputs: [output])
        // Cut anywhere: never accepted.
        for length in 0..<bytes.count {
            var reader = Self.reader(folder, heights: [240])
            #expect(throws: FarmerCallError.self) { try Self.feed(&reader, Array(bytes.prefix(length)), pieces: [length]) }
        }
        // A byte past the last output.
        var long = Self.reader(folder, heights: [240])
        #expect(throws: FarmerCallError.self) { try Self.feed(&long, bytes + [0], pieces: []) }
        // An output over the limit, refused from its length before its bytes.
        var big = Self.reader(folder, heights: [240], maximumOutputBytes: 299)
        #expect(throws: FarmerCallError.self) { try Self.feed(&big, Array(bytes.prefix(4 + receipt.count + 8)), pieces: []) }
        // A receipt of no bytes or past the limit, and one the check refuses.
        for length in [0, TaskBundle.maximumReceiptBytes + 1] {
            var reader = Self.reader(folder, heights: [240])
            var header = ByteBuffer()
            header.writeInteger(UInt32(length))
            #expect(throws: FarmerCallError.self) { try reader.feed(header) }
        }
        var forged = Self.reader(folder, heights: [240])
        #expect(throws: FarmerCallError.self) { try Self.feed(&forged, Self.bundle(receipt: Array("another receipt".utf8), outputs: [output]), pieces: []) }
        // A receipt naming one height twice.
        var twice = Self.reader(folder, heights: [240, 240])
        #expect(throws: FarmerCallError.self) { try Self.feed(&twice, Self.bundle(receipt: receipt, outputs: [output, output]), pieces: []) }
    }

    /// Random bytes, randomly split: an answer or a bad reply, never a trap or a hang.
    @Test func randomBytesNeverTrap() throws {
        let folder = try TemporaryFolder("task-bundle-fuzz")
        defer { folder.remove() }
        var generator = SeededGenerator(seed: 11)
        let valid = Self.bundle(receipt: Array("signed receipt".utf8), outputs: [[1, 2, 3], [4]])
        for round in 0..<3000 {
            var bytes = round % 2 == 0 ? valid : (0..<Int(UInt8.random(in: 0...255, using: &generator)) * 2).map { _ in UInt8.random(in: 0...255, using: &generator) }
            if round % 2 == 0 { for _ in 0..<3 { bytes[Int(UInt8.random(in: 0...255, using: &generator)) % bytes.count] = UInt8.random(in: 0...255, using: &generator) } }
            var reader = Self.reader(folder, heights: [240, 120], maximumOutputBytes: 1 << 16)
            _ = try? Self.feed(&reader, bytes, pieces: (0..<8).map { _ in Int(UInt8.random(in: 0...255, using: &generator)) + 1 })
        }
    }

    /// The real farmer service on a real socket: a bundled answer carries the outputs its receipt names, the same task
    /// again gets the same receipt and outputs from the farmer's store, and the receipt-alone answer and the per-rung
    /// fetch agree with it.
    @Test func theFarmerBundlesWhatItsReceiptNames() async throws {
        let folder = try TemporaryFolder("task-bundle-farmer")
        defer { folder.remove() }
        let (service, _) = try InProcessChallengeTests.honestFarmer(in: folder)
        let app = Application(router: service.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: Self.logger)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let farmer = FarmerClient(baseURL: "http://127.0.0.1:\(port)", identity: SigningIdentity(), timeout: 120)
            let source = Fixtures.path("vertical-360x640.mp4")
            let task = SegmentTask(source: try PlainFile.address(of: source),
                                   ladder: [TaskRung(height: 240, width: 136, bitrate: 250_000), TaskRung(height: 120, width: 68, bitrate: 120_000)],
                                   codec: "h264", preset: "ultrafast")
            let wanted = [240: folder.path("240p.ts"), 120: folder.path("120p.ts")]
            let (receipt, envelope, fetched) = try await farmer.submitBundled(task, sourceFile: source, outputs: wanted)
            let outputs = try #require(fetched)
            #expect(receipt.rungs.map(\.height) == [240, 120])
            for rung in receipt.rungs {
                #expect(outputs[rung.height]?.address == rung.output)
                #expect(try PlainFile.address(of: try #require(wanted[rung.height])) == rung.output)
                #expect((outputs[rung.height]?.bytes ?? 0) > 1000)
            }
            // Again: answered from the store, the same signed receipt and outputs.
            let again = try await farmer.submitBundled(task, sourceFile: source, outputs: [240: folder.path("again.ts")])
            #expect(again.envelope == envelope && again.fetched?[240]?.address == outputs[240]?.address)
            #expect(again.fetched?[120]?.address == outputs[120]?.address)
            // The receipt alone, and one rung fetched on its own, agree.
            #expect(try await farmer.submitSigned(task, sourceFile: source).envelope == envelope)
            #expect(try await farmer.output(of: task, height: 120, to: folder.path("alone.ts")).address == outputs[120]?.address)
        }
    }

    /// A farmer that answers the receipt alone (as before bundles): the dispatcher fetches each rung's output on its
    /// own, checks it against the receipt, verifies it, and accepts the segment.
    @Test func theDispatcherFetchesOutputsFromAFarmerThatDoesNotBundle() async throws {
        let folder = try TemporaryFolder("task-bundle-fallback")
        defer { folder.remove() }
        var (_, configuration) = try InProcessChallengeTests.honestFarmer(in: folder)
        configuration.bundlesAnswers = false
        let service = FarmerService(configuration: configuration, logger: Self.logger)
        let app = Application(router: service.router(), configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: Self.logger)
        try await app.test(.live) { client in
            let port = try #require(client.port)
            let farmer = FarmerClient(baseURL: "http://127.0.0.1:\(port)", identity: SigningIdentity(), timeout: 120)
            try await farmer.capabilities()
            let source = Fixtures.path("vertical-360x640.mp4")
            // Asked for a bundle, this farmer answers the receipt alone.
            let probe = SegmentTask(source: try PlainFile.address(of: source), ladder: [TaskRung(height: 120, width: 68, bitrate: 120_000)],
                                    codec: "h264", preset: "ultrafast")
            #expect(try await farmer.submitBundled(probe, sourceFile: source, outputs: [120: folder.path("probe.ts")]).fetched == nil)
            let dispatcher = FarmDispatcher(farmers: [farmer], identity: SigningIdentity(), judge: SegmentVerifier.judge(logger: Self.logger),
                                            verdicts: nil, logger: Self.logger)
            defer { dispatcher.close() }
            let output = folder.path("out")
            try FileManager.default.createDirectory(atPath: output, withIntermediateDirectories: true)
            let task = TranscodeTask(index: 0, source: source, rungs: [.init(name: "240p", width: 136, height: 240, bitrate: 250_000),
                                                                       .init(name: "120p", width: 68, height: 120, bitrate: 120_000)],
                                     codec: .h264, preset: "ultrafast", encoder: .software, frameRate: Rational(num: 30, den: 1), output: output)
            let executor = dispatcher.executor
            let result = try await withCheckedThrowingContinuation { continuation in
                Thread.detachNewThread { continuation.resume(with: Result { try executor(task) }) }
            }
            func decodedFrames(_ path: String) throws -> Int {
                let reader = try VideoFrameReader(path: path)
                var count = 0
                while try reader.next() != nil { count += 1 }
                return count
            }
            let frames = try decodedFrames(source)
            #expect(result.renditions.map(\.rung).sorted() == ["120p", "240p"])
            for rendition in result.renditions {
                #expect(try decodedFrames(URL(fileURLWithPath: output).appendingPathComponent(rendition.file).path) == frames)
                #expect(rendition.frames == frames, "\(rendition.rung): \(rendition.frames) of \(frames) frames")
            }
            let summary = dispatcher.summary
            #expect(summary.accepted == 1 && summary.rejections.isEmpty, "\(summary.rejections)")
            #expect(summary.bytesDown == result.renditions.reduce(0) { $0 + $1.bytes } && summary.bytesDown > 1000)
        }
    }
}
