import Foundation
import Media

/// Reasons a comparison cannot be made; each is bad input (exit 2 at the command line).
public enum ComparisonError: Error, CustomStringConvertible, Equatable, Sendable {
    case sizeMismatch(reference: String, distorted: String)
    case noFrames(path: String)

    public var description: String {
        switch self {
        case let .sizeMismatch(reference, distorted):
            return "reference is \(reference) but distorted is \(distorted); PSNR and SSIM need the same size (as FFmpeg's filters)"
        case let .noFrames(path): return "\(path) has no decodable video frames"
        }
    }
}

/// Full-reference PSNR and SSIM of two whole videos, frame by frame in decode order, like
/// `ffmpeg -i DIST -i REF -lavfi "[0][1]ssim;[0][1]psnr"` (frames paired in order; the shorter input ends the run).
public struct VideoComparison {
    public let reference: String
    public let distorted: String

    public init(reference: String, distorted: String) {
        self.reference = reference
        self.distorted = distorted
    }

    /// Decodes both inputs (on a producer thread, while the metrics run on the caller's) and measures every pair.
    public func run() throws -> QualityAccumulator {
        nonisolated(unsafe) let referenceReader = try VideoFrameReader(path: reference)
        nonisolated(unsafe) let distortedReader = try VideoFrameReader(path: distorted)
        let r = referenceReader.stream, d = distortedReader.stream
        guard r.width == d.width, r.height == d.height else {
            throw ComparisonError.sizeMismatch(reference: "\(r.width)x\(r.height)", distorted: "\(d.width)x\(d.height)")
        }
        let queue = FramePairQueue(capacity: 4)
        // The readers move to the producer thread (hence nonisolated(unsafe)): nothing here touches them after it starts.
        let producer = Thread {
            var referenceConverter: Scaler?, distortedConverter: Scaler?
            do {
                while let a = try referenceReader.next(), let b = try distortedReader.next() {
                    queue.push(.pair(try FramePlanes.as420(a, converter: &referenceConverter),
                                     try FramePlanes.as420(b, converter: &distortedConverter)))
                }
                queue.push(.end)
            } catch {
                queue.push(.failed(error))
            }
        }
        producer.stackSize = 1 << 20
        producer.start()
        var accumulator = QualityAccumulator()
        loop: while true {
            switch queue.pop() {
            case let .pair(a, b):
                accumulator.add(FrameQuality.measure(distorted: FramePlanes.views(of: b), reference: FramePlanes.views(of: a)))
            case .end: break loop
            case let .failed(error): throw error
            }
        }
        if accumulator.frames.isEmpty { throw ComparisonError.noFrames(path: distorted) }
        return accumulator
    }
}

/// A small bounded hand-off between the decoding thread and the measuring thread.
final class FramePairQueue: @unchecked Sendable {  // unchecked: the queue behind `condition`, which both sides wait on
    enum Item { case pair(Frame, Frame), end, failed(Error) }
    private let condition = NSCondition()
    private var items: [Item] = []
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func push(_ item: Item) {
        condition.lock()
        while items.count >= capacity { condition.wait() }
        items.append(item)
        condition.broadcast()
        condition.unlock()
    }

    func pop() -> Item {
        condition.lock()
        defer { condition.unlock() }
        while items.isEmpty { condition.wait() }
        let item = items.removeFirst()
        condition.broadcast()
        return item
    }
}
