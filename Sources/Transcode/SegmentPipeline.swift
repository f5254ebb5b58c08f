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

/// A segment's frames for two passes in one process: `first` hands out what the queue yields and keeps it; `again`
/// hands the kept frames out once more, letting go of each as it goes.
final class KeptFrames {
    private let source: () -> Frame?
    private var kept: [Frame?] = []
    private var replayed = 0

    init(_ source: @escaping () -> Frame?) { self.source = source }

    func first() -> Frame? {
        let frame = source()
        if let frame { kept.append(frame) }
        return frame
    }

    func again() -> Frame? {
        guard replayed < kept.count else { return nil }
        defer { kept[replayed] = nil; replayed += 1 }
        return kept[replayed]
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
///
/// Given the segment's frames a second time, an encoder that can (x264) takes two passes: a quick analysis pass
/// that writes its statistics to a file, then the real encode, which spends the segment's bits where that pass
/// found them needed. A single average-bitrate pass restarted every 2 s spreads them evenly and lost 1-3 VMAF to the
/// ffmpeg CLI's one encoder over the whole clip; two passes per segment are within 0.3 of it or ahead, by up to 2.1
/// at low rungs (benchmarks/RESULTS.md, ladder quality section).
struct SegmentEncoder: Sendable {
    let targets: [RungTarget]
    let factory: RenditionEncoderFactory
    let timeBase: Rational
    let frameRate: Rational
    let gopSize: Int

    /// Encodes every frame `nextFrame` yields (until nil) and returns the segment. `secondPass`, when the encoder
    /// takes two passes, yields the same frames again for the final pass. `onFrame` is told of each frame done in
    /// all rungs (in the final pass).
    func encode(index: Int, frames nextFrame: () throws -> Frame?, secondPass: (() throws -> Frame?)? = nil,
                onFrame: () -> Void) throws -> EncodedSegment {
        guard let secondPass, factory.choice.takesTwoPasses else {
            return try encodePass(index: index, passes: targets.map { _ in .single }, frames: nextFrame, onFrame: onFrame)
        }
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("prism-passes-\(UUID().uuidString.prefix(12))")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        let stats = targets.indices.map { folder.appendingPathComponent("rung\($0).stats").path }
        let analysis = try encodePass(index: index, passes: stats.map { .first(stats: $0) }, frames: nextFrame, onFrame: {})
        let final = try encodePass(index: index, passes: stats.map { .second(stats: $0) }, frames: secondPass, onFrame: onFrame)
        guard final.frames == analysis.frames else {
            throw TwoPassMismatch(segment: index, firstPass: analysis.frames, secondPass: final.frames)
        }
        let renditions = zip(final.renditions, analysis.renditions).map { final, analysis in
            EncodedRendition(parameters: final.parameters, packets: final.packets, frames: final.frames,
                             encodeSeconds: final.encodeSeconds + analysis.encodeSeconds)
        }
        return EncodedSegment(index: index, frames: final.frames, renditions: renditions)
    }

    /// One pass over the frames into every rung; an analysis pass keeps no packets.
    private func encodePass(index: Int, passes: [EncoderPass], frames nextFrame: () throws -> Frame?, onFrame: () -> Void) throws -> EncodedSegment {
        var encoders: [(Encoder, HardwareFramesContext?)] = []
        var scalers: [Scaler] = []
        for (target, pass) in zip(targets, passes) {
            encoders.append(try factory.makeEncoder(width: target.width, height: target.height, timeBase: timeBase, frameRate: frameRate,
                                                    bitrate: target.rung.bitrate, gopSize: gopSize, pass: pass))
            scalers.append(Scaler(width: target.width, height: target.height, format: factory.scalerFormat))
        }
        let keepsPackets = passes.map { if case .first = $0 { false } else { true } }
        var packets = Array(repeating: [Packet](), count: targets.count)
        var seconds = Array(repeating: 0.0, count: targets.count)
        var frames = 0
        while let frame = try nextFrame() {
            for rung in targets.indices {
                let started = DispatchTime.now().uptimeNanoseconds
                var picture = try scalers[rung].scale(frame)
                if let pool = encoders[rung].1 { picture = try pool.upload(picture) }
                picture.requestKeyframe(frames == 0)
                let out = try encoders[rung].0.encode(picture)
                if keepsPackets[rung] { packets[rung] += out }
                seconds[rung] += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            }
            frames += 1
            onFrame()
        }
        var renditions: [EncodedRendition] = []
        for rung in targets.indices {
            let started = DispatchTime.now().uptimeNanoseconds
            let out = try encoders[rung].0.encode(nil)
            if keepsPackets[rung] { packets[rung] += out }
            seconds[rung] += Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
            renditions.append(EncodedRendition(parameters: try CodecParameters(encoder: encoders[rung].0), packets: packets[rung],
                                               frames: frames, encodeSeconds: seconds[rung]))
        }
        // Closing an analysis encoder is what moves its statistics into place for the final pass.
        encoders.removeAll()
        return EncodedSegment(index: index, frames: frames, renditions: renditions)
    }
}

/// The two passes over a segment met different frames (the source did not decode the same way twice).
struct TwoPassMismatch: Error, CustomStringConvertible {
    let segment: Int
    let firstPass: Int
    let secondPass: Int
    var description: String { "segment \(segment): the final pass got \(secondPass) frames where the analysis pass got \(firstPass)" }
}
