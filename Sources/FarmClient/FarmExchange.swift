import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization
import Wire

/// What becomes of an answer as it arrives. It runs on the connection's event loop, one part after another, so a
/// body streams to its file without a hop between threads per chunk (the async body sequence of async-http-client
/// reads one chunk ahead and costs a round of thread wake-ups per 64 KiB). A sink writes files directly: the farm
/// client's event loops serve only farm calls.
protocol BodySink: Sendable {
    associatedtype Outcome: Sendable
    mutating func head(status: Int, headers: HTTPHeaders) throws
    mutating func body(_ buffer: ByteBuffer) throws
    mutating func end() throws -> Outcome
}

/// async-http-client's delegate around a sink.
final class SinkDelegate<Sink: BodySink>: HTTPClientResponseDelegate {
    typealias Response = Sink.Outcome
    private let sink: Mutex<Sink>

    init(_ sink: Sink) { self.sink = Mutex(sink) }

    func didReceiveHead(task: HTTPClient.Task<Response>, _ head: HTTPResponseHead) -> EventLoopFuture<Void> {
        do {
            try sink.withLock { try $0.head(status: Int(head.status.code), headers: head.headers) }
            return task.eventLoop.makeSucceededVoidFuture()
        } catch {
            return task.eventLoop.makeFailedFuture(error)
        }
    }

    func didReceiveBodyPart(task: HTTPClient.Task<Response>, _ buffer: ByteBuffer) -> EventLoopFuture<Void> {
        do {
            try sink.withLock { try $0.body(buffer) }
            return task.eventLoop.makeSucceededVoidFuture()
        } catch {
            return task.eventLoop.makeFailedFuture(error)
        }
    }

    func didFinishRequest(task: HTTPClient.Task<Response>) throws -> Response {
        try sink.withLock { try $0.end() }
    }
}

extension FarmHTTP {
    /// Sends one request and hands the answer to `sink`; the time limit covers everything from connecting to the
    /// answer's last byte. With `loop`, the connection and the sink both run on it: a peer's calls always take the
    /// same loop (and so reuse its open connection), and the answer reaches its sink without a hop between threads
    /// per part (async-http-client otherwise may run the sink on another loop than the socket, which then stops
    /// reading until each part has crossed over).
    static func exchange<Sink: BodySink>(_ url: String, method: HTTPMethod, headers: HTTPHeaders, body: HTTPClient.Body? = nil,
                                         timeout: Double, on loop: EventLoop? = nil, into sink: Sink) async throws -> Sink.Outcome {
        try await answer(url, method: method, headers: headers, body: body, timeout: timeout, on: loop, into: sink).get()
    }

    /// `exchange` as the connection's own future: a thread that may block waits on it directly, woken by the loop
    /// that read the answer's last byte (a task in between costs two more wake-ups per call, each up to milliseconds
    /// on a busy or virtual machine).
    static func answer<Sink: BodySink>(_ url: String, method: HTTPMethod, headers: HTTPHeaders, body: HTTPClient.Body? = nil,
                                       timeout: Double, on loop: EventLoop? = nil, into sink: Sink) -> EventLoopFuture<Sink.Outcome> {
        do {
            let request = try HTTPClient.Request(url: url, method: method, headers: headers, body: body)
            let task = HTTPClient.shared.execute(request: request, delegate: SinkDelegate(sink),
                                                 eventLoop: loop.map { .delegateAndChannel(on: $0) } ?? .indifferent,
                                                 deadline: .now() + .milliseconds(Int64((timeout * 1000).rounded(.up))))
            return task.futureResult.flatMapErrorThrowing { throw mapped($0, url: url, timeout: timeout) }
        } catch {
            return (loop ?? HTTPClient.shared.eventLoopGroup.any()).makeFailedFuture(mapped(error, url: url, timeout: timeout))
        }
    }

    /// A file as a request body to `url`, read a megabyte at a time as the connection takes it; a file that cannot
    /// be read is refused before anything is sent.
    static func fileBody(_ path: String, to url: String) throws -> HTTPClient.Body {
        guard let size = PlainFile.size(of: path), let file = try? PlainFile.reading(path) else {
            throw FarmerCallError.refused(url: url, status: 0, message: "cannot read \(path)")
        }
        return .stream(contentLength: Int64(size)) { writer in
            writeChunks(of: file, to: writer, on: HTTPClient.shared.eventLoopGroup.any())
        }
    }

    private static func writeChunks(of file: PlainFile, to writer: HTTPClient.Body.StreamWriter, on loop: EventLoop) -> EventLoopFuture<Void> {
        do {
            var chunk = ByteBufferAllocator().buffer(capacity: PlainFile.chunkBytes)
            guard try file.read(into: &chunk, atMost: PlainFile.chunkBytes) > 0 else {
                file.close()
                return loop.makeSucceededVoidFuture()
            }
            return writer.write(.byteBuffer(chunk)).flatMap { writeChunks(of: file, to: writer, on: loop) }
        } catch {
            file.close()
            return loop.makeFailedFuture(error)
        }
    }
}

extension PlainFile {
    /// Reads up to `count` bytes straight onto the end of `buffer` (no copy through `Data`); 0 at the file's end.
    public func read(into buffer: inout ByteBuffer, atMost count: Int) throws -> Int {
        try buffer.writeWithUnsafeMutableBytes(minimumWritableBytes: count) { try read(into: UnsafeMutableRawBufferPointer(rebasing: $0.prefix(count))) }
    }
}

/// Collects a short answer in memory (at most `maximumBytes`).
struct CollectingSink: BodySink {
    let url: String
    let maximumBytes: Int
    private var status = 0
    private var headers = HTTPHeaders()
    private var collected = ByteBuffer()

    init(url: String, maximumBytes: Int) {
        self.url = url
        self.maximumBytes = maximumBytes
    }

    mutating func head(status: Int, headers: HTTPHeaders) throws {
        self.status = status
        self.headers = headers
    }

    mutating func body(_ buffer: ByteBuffer) throws {
        var buffer = buffer
        guard collected.readableBytes + buffer.readableBytes <= maximumBytes else {
            throw FarmerCallError.badReply(url: url, reason: "reply larger than \(maximumBytes) bytes")
        }
        collected.writeBuffer(&buffer)
    }

    func end() throws -> FarmHTTP.Reply { FarmHTTP.Reply(status: status, headers: headers, body: collected) }
}

/// Where the files of one answer are hashed and written, in order: a queue of their own, and the bytes waiting on it.
final class WriteLane: Sendable {
    let queue = DispatchQueue(label: "prism.farm.file-writing")
    let backlog = Atomic<Int>(0)
    /// At most this many bytes of one answer wait on its lane (the loop then waits for them).
    static let backlogBytes = 8 << 20
}

/// One file streamed to disk while hashed. The hashing and writing run on its answer's lane, so the connection's loop
/// goes straight back to reading the next part while the previous one is hashed and written on the other core (done
/// in line, each 64 KiB part waited on both). At most `WriteLane.backlogBytes` of an answer wait on its lane, whatever
/// number of files it holds: past that the loop waits, as it did before, for a disk slower than the network.
final class FileWriting: @unchecked Sendable {
    private let file: PlainFile?
    private let url: String
    private let lane: WriteLane
    private var queue: DispatchQueue { lane.queue }
    // On `queue` only.
    private var hasher = ContentHasher()
    private var failure: Error?
    /// Bytes taken so far (on the connection's loop).
    private(set) var bytes = 0

    /// Creates the file at `path`; with nil the bytes are only hashed.
    init(_ path: String?, url: String, lane: WriteLane = WriteLane()) throws {
        self.url = url
        self.lane = lane
        do { file = try path.map { try PlainFile.writing($0) } } catch {
            throw FarmerCallError.badReply(url: url, reason: "cannot write \(path ?? "")")
        }
    }

    func write(_ buffer: ByteBuffer) {
        let count = buffer.readableBytes
        bytes += count
        let waiting = lane.backlog.add(count, ordering: .relaxed).newValue
        queue.async { [self] in
            if failure == nil {
                buffer.withUnsafeReadableBytes { part in
                    hasher.update(part)
                    do { try file?.write(part) } catch { failure = error }
                }
            }
            lane.backlog.subtract(count, ordering: .relaxed)
        }
        if waiting > WriteLane.backlogBytes { queue.sync {} }
    }

    /// Waits for every part to be written; the content address of all of them.
    func finish() throws -> ContentAddress {
        try queue.sync {
            file?.close()
            if let failure { throw FarmerCallError.badReply(url: url, reason: "cannot write \(file?.path ?? ""): \(failure)") }
            return hasher.finalize()
        }
    }
}

/// A 200 answer's body into a file, hashed on the way (at most `maximumBytes`); any other status is collected
/// (its first 4 KiB) and nothing is written.
struct DownloadSink: BodySink {
    let url: String
    let path: String
    let maximumBytes: Int
    private var error = CollectingSink(url: "", maximumBytes: 4096)
    private var file: FileWriting?

    init(url: String, path: String, maximumBytes: Int) {
        self.url = url
        self.path = path
        self.maximumBytes = maximumBytes
    }

    mutating func head(status: Int, headers: HTTPHeaders) throws {
        if status == 200 { file = try FileWriting(path, url: url) } else { try error.head(status: status, headers: headers) }
    }

    mutating func body(_ buffer: ByteBuffer) throws {
        guard file != nil else {
            try? error.body(buffer)  // a refusal's first 4 KiB are its message; the rest is dropped
            return
        }
        guard file!.bytes + buffer.readableBytes <= maximumBytes else {
            throw FarmerCallError.badReply(url: url, reason: "reply larger than \(maximumBytes) bytes")
        }
        file!.write(buffer)
    }

    func end() throws -> (reply: FarmHTTP.Reply, address: ContentAddress?, bytes: Int) {
        guard let file else { return (try error.end(), nil, 0) }
        return (FarmHTTP.Reply(status: 200, headers: [:], body: ByteBuffer()), try file.finish(), file.bytes)
    }
}

/// Reads a `TaskBundle` as it arrives: the receipt (handed to `opened`, which checks it and answers the heights of
/// its rungs in order), then each output into the file named for its height (hashed only, when none is), each
/// bounded. Fed any split of the body, it reads the same.
struct TaskBundleReader: Sendable {
    enum Stage: Sendable, Equatable { case receiptLength, receipt(Int), outputLength, output(left: Int), done }

    let url: String
    let outputs: [Int: String]
    let maximumOutputBytes: Int
    let opened: @Sendable (Data) throws -> [Int]
    private(set) var stage = Stage.receiptLength
    private var pending = ByteBuffer()
    private var heights: [Int] = []
    private var file: FileWriting?
    private var written: [(height: Int, file: FileWriting)] = []
    /// One lane for all of the answer's outputs, so what waits to be written is bounded for the answer as a whole.
    private let lane = WriteLane()
    /// Each output's content address and size, by height (once `finished`).
    private(set) var fetched: [Int: (address: ContentAddress, bytes: Int)] = [:]

    init(url: String, outputs: [Int: String], maximumOutputBytes: Int, opened: @escaping @Sendable (Data) throws -> [Int]) {
        self.url = url
        self.outputs = outputs
        self.maximumOutputBytes = maximumOutputBytes
        self.opened = opened
    }

    private func bad(_ reason: String) -> FarmerCallError { .badReply(url: url, reason: reason) }

    /// Moves up to `count` bytes of `buffer` into `pending`; true once it holds `count`.
    private mutating func gather(_ count: Int, from buffer: inout ByteBuffer) -> Bool {
        var part = buffer.readSlice(length: min(count - pending.readableBytes, buffer.readableBytes))!
        pending.writeBuffer(&part)
        return pending.readableBytes == count
    }

    mutating func feed(_ buffer: ByteBuffer) throws {
        var buffer = buffer
        while buffer.readableBytes > 0 {
            switch stage {
            case .receiptLength:
                guard gather(4, from: &buffer) else { continue }
                let length = pending.readInteger(as: UInt32.self)!
                guard length > 0, length <= TaskBundle.maximumReceiptBytes else { throw bad("bundled receipt of \(length) bytes") }
                stage = .receipt(Int(length))
            case let .receipt(length):
                guard gather(length, from: &buffer) else { continue }
                heights = try opened(Data(pending.readableBytesView))
                pending.clear()
                guard Set(heights).count == heights.count else { throw bad("receipt names a rung height twice") }
                stage = heights.isEmpty ? .done : .outputLength
            case .outputLength:
                guard gather(8, from: &buffer) else { continue }
                let length = pending.readInteger(as: UInt64.self)!
                guard length <= UInt64(maximumOutputBytes) else { throw bad("bundled \(heights[0])p output of \(length) bytes") }
                file = try FileWriting(outputs[heights[0]], url: url, lane: lane)
                stage = .output(left: Int(length))
                if length == 0 { finishOutput() }
            case let .output(left):
                let part = buffer.readSlice(length: min(left, buffer.readableBytes))!
                file!.write(part)
                stage = .output(left: left - part.readableBytes)
                if left == part.readableBytes { finishOutput() }
            case .done:
                throw bad("reply runs past its last output")
            }
        }
    }

    /// An output's last byte is in: the next one starts while this one is still being written (`finished` waits).
    private mutating func finishOutput() {
        written.append((heights.removeFirst(), file!))
        file = nil
        stage = heights.isEmpty ? .done : .outputLength
    }

    /// Fails unless every output came whole and was written; fills `fetched`.
    mutating func finished() throws {
        guard stage == .done else { throw bad("reply ended before its last output") }
        for (height, file) in written { fetched[height] = (try file.finish(), file.bytes) }
        written = []
    }
}

/// A task's answer: a `TaskBundle` read as it comes, or anything else collected (a receipt alone, or a refusal).
struct TaskAnswerSink: BodySink {
    enum Outcome: Sendable {
        case reply(FarmHTTP.Reply)
        case bundle(fetched: [Int: (address: ContentAddress, bytes: Int)])
    }

    private var collecting: CollectingSink
    private var reader: TaskBundleReader
    private var bundled = false

    init(reader: TaskBundleReader) {
        collecting = CollectingSink(url: reader.url, maximumBytes: FarmHTTP.maximumInMemoryReply)
        self.reader = reader
    }

    mutating func head(status: Int, headers: HTTPHeaders) throws {
        bundled = status == 200 && headers.first(name: "Content-Type") == TaskBundle.mediaType
        try collecting.head(status: status, headers: headers)
    }

    mutating func body(_ buffer: ByteBuffer) throws {
        if bundled { try reader.feed(buffer) } else { try collecting.body(buffer) }
    }

    mutating func end() throws -> Outcome {
        guard bundled else { return .reply(try collecting.end()) }
        try reader.finished()
        return .bundle(fetched: reader.fetched)
    }
}
