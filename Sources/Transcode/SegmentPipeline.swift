import Foundation
import Media

/// The frames of one segment, handed from the decoding thread to the thread that encodes them.
/// Bounded: the decoder waits while `capacity` frames are queued. A small queue still keeps workers
/// overlapping, because encoders hold their own lookahead: when a segment's last frame is queued its
/// worker still has most of its encoding ahead, and the decoder moves on to feed the next worker.
final class SegmentFrameQueue: @unchecked Sendable {  // unchecked: the queue behind `condition`, which both sides wait on
    private let condition = NSCondition()
    private var frames: [Frame?] = []
    private var head = 0
    private var closed = false
    private var cancelled = false
    let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    /// Queues a frame; blocks while the queue is full.
    func push(_ frame: Frame) {
        condition.lock()
        while frames.count - head >= capacity && !cancelled { condition.wait() }
        frames.append(frame)
        condition.signal()
        condition.unlock()
    }

    /// No more frames will come.
    func close() {
        condition.lock()
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// The consumer gave up (an error): wake a blocked producer.
    func cancel() {
        condition.lock()
        cancelled = true
        closed = true
        condition.broadcast()
        condition.unlock()
    }

    /// The next frame, waiting for one; nil once the queue is closed and empty.
    func pop() -> Frame? {
        condition.lock()
        defer { condition.unlock() }
        while head == frames.count && !closed { condition.wait() }
        guard head < frames.count else { return nil }
        // Drop the queue's reference at once so the frame's buffers go back to the decoder's pool.
        let frame = frames[head]
        frames[head] = nil
        head += 1
        if head >= 32 { frames.removeFirst(head); head = 0 }
        condition.broadcast()
        return frame
    }
}

/// One rendition's output for one segment, kept in memory until it can be written in order.
struct EncodedRendition {
    let parameters: CodecParameters
    let packets: [Packet]
    let frames: Int
    let encodeSeconds: Double
}

/// A finished segment: every rung encoded from the same frames.
struct EncodedSegment {
    let index: Int
    let frames: Int
    let renditions: [EncodedRendition]
}

/// The geometry and rate of one rung in a job.
struct RungTarget {
    let rung: LadderRung
    let width: Int
    let height: Int
}

/// Encodes one segment's frames into every rung: scale → encode, with a fresh encoder per rung so the
/// segment starts with an IDR frame and references nothing outside itself (a closed GOP).
struct SegmentEncoder: Sendable {
    let targets: [RungTarget]
    let factory: RenditionEncoderFactory
    let timeBase: Rational
    let frameRate: Rational
    let gopSize: Int

    /// Encodes every frame `nextFrame` yields (until nil) and returns the segment. `onFrame` is told of
    /// each frame done in all rungs.
    func encode(index: Int, frames nextFrame: () throws -> Frame?, onFrame: () -> Void) throws -> EncodedSegment {
        var encoders: [(Encoder, HardwareFramesContext?)] = []
        var scalers: [Scaler] = []
        for target in targets {
            encoders.append(try factory.makeEncoder(width: target.width, height: target.height, timeBase: timeBase,
                                                    frameRate: frameRate, bitrate: target.rung.bitrate, gopSize: gopSize))
            scalers.append(Scaler(width: target.width, height: target.height, format: factory.scalerFormat))
        }
        var packets = Array(repeating: [Packet](), count: targets.count)
        var seconds = Array(repeating: 0.0, count: targets.count)
        var frames = 0
        while let frame = try nextFrame() {
            for rung in targets.indices {
                let started = DispatchTime.now().uptimeNanoseconds
                var picture = try scalers[rung].scale(frame)
                if let pool = encoders[rung].1 { picture = try pool.upload(picture) }
                picture.requestKeyframe(frames == 0)
                packets[rung] += try encoders[rung].0.encode(picture)
                seconds[rung] += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            }
            frames += 1
            onFrame()
        }
        var renditions: [EncodedRendition] = []
        for rung in targets.indices {
            let started = DispatchTime.now().uptimeNanoseconds
            packets[rung] += try encoders[rung].0.encode(nil)
            seconds[rung] += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            renditions.append(EncodedRendition(parameters: try CodecParameters(encoder: encoders[rung].0), packets: packets[rung],
                                               frames: frames, encodeSeconds: seconds[rung]))
        }
        return EncodedSegment(index: index, frames: frames, renditions: renditions)
    }
}
