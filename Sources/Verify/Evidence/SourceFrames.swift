import Foundation
import Media

/// One source segment read once for every rendition of it: the submitter verifies all rungs of a task against the same
/// source, so its packet index (per window) is read once, and a frame one rung's checks decoded is handed to the next
/// rung's as it is (decoded frames are reference-counted; the scaling to each rung's size stays per rung). The decoder
/// opens on the first frame asked for, so renditions only screened from their packets cost no decoder. Verify
/// renditions one after another with it.
public final class SourceFrames: @unchecked Sendable {  // unchecked: the decoder and caches only under `lock`
    public let path: String
    private var decoder: SelectiveFrameDecoder?
    /// Decodes for this segment from the file its packets were copied from, shared with the job's other segments of it.
    private let origin: (decoder: OriginDecoder, ptsShift: Int64)?
    /// Frames decoded for this segment by `origin`.
    private var originFramesDecoded = 0
    private var indexes: [(window: SegmentWindow?, index: PacketIndex)] = []
    /// The file as the first packet index left it, rewound, for the decoder when it opens.
    private var rewound: ReusableDemuxer?
    private var kept: [Int64: Frame] = [:]
    private struct ThumbnailKey: Hashable { let pts: Int64, width: Int, height: Int }
    private var thumbnails: [ThumbnailKey: PlaneImage] = [:]
    private let lock = NSLock()

    public init(path: String) {
        self.path = path
        origin = nil
    }

    /// A segment file whose packets are copies of `origin`'s (timestamps shifted by `ptsShift`): its frames are
    /// decoded from there, by a decoder the job's segments share.
    public init(path: String, origin: OriginDecoder, ptsShift: Int64) {
        self.path = path
        self.origin = (origin, ptsShift)
    }

    /// The time base of this file's video stream (under `lock`).
    private func timeBaseOfFile() throws -> Rational {
        if let known = indexes.first?.index.stream.timeBase { return known }
        let index = try PacketIndex(path: path)
        indexes.append((nil, index))
        return index.stream.timeBase
    }

    /// Frames decoded so far, over every rendition verified with this.
    public var framesDecoded: Int { lock.withLock { (decoder?.framesDecoded ?? 0) + originFramesDecoded } }

    /// The packets of the source presented inside `window` (all of them when nil), read once per window.
    func packetIndex(window: SegmentWindow?) throws -> PacketIndex {
        try lock.withLock {
            if let known = indexes.first(where: { $0.window == window }) { return known.index }
            if indexes.isEmpty && decoder == nil && origin == nil {
                let (index, file) = try PacketIndex.keepingOpen(path: path, window: window)
                rewound = file
                indexes.append((window, index))
                return index
            }
            let index = try PacketIndex(path: path, window: window)
            indexes.append((window, index))
            return index
        }
    }

    /// The luma thumbnail of the frame at `pts` at this size, made once for every rung that compares with it.
    func thumbnail(pts: Int64, width: Int, height: Int, make: () throws -> PlaneImage) rethrows -> PlaneImage {
        let key = ThumbnailKey(pts: pts, width: width, height: height)
        if let known = lock.withLock({ thumbnails[key] }) { return known }
        let made = try make()
        lock.withLock { thumbnails[key] = made }
        return made
    }

    /// The frames whose presentation timestamps are in `wanted`, decoding only those not already held.
    public func frames(at wanted: [Int64], keyframes: [Int64]) throws -> [Int64: Frame] {
        try lock.withLock {
            let missing = wanted.filter { kept[$0] == nil }
            if !missing.isEmpty {
                var own = missing
                if let (shared, shift) = origin, let fileTimeBase = try? timeBaseOfFile(), let originTimeBase = try? shared.timeBase() {
                    // This file's timestamps are the origin's plus the shift, in the origin's time base, then rescaled
                    // to this file's.
                    func inOrigin(_ pts: Int64) -> Int64 { Rational.rescale(pts, from: fileTimeBase, to: originTimeBase) &- shift }
                    let asked = Dictionary(missing.map { (inOrigin($0), $0) }) { first, _ in first }
                    if let (frames, decoded) = try? shared.frames(at: Array(asked.keys), keyframes: keyframes.map(inOrigin)) {
                        originFramesDecoded += decoded
                        for (pts, frame) in frames { if let mine = asked[pts] { kept[mine] = frame } }
                    }
                    // Whatever the origin did not give (timestamps that do not map back exactly) comes from this file.
                    own = missing.filter { kept[$0] == nil }
                }
                if !own.isEmpty {
                    if decoder == nil {
                        decoder = try SelectiveFrameDecoder(path: path, reusing: rewound)
                        rewound = nil
                    }
                    for (pts, frame) in try decoder!.frames(at: own, keyframes: keyframes) { kept[pts] = frame }
                }
            }
            var found: [Int64: Frame] = [:]
            for pts in wanted { if let frame = kept[pts] { found[pts] = frame } }
            return found
        }
    }
}

/// One decoder over a source file for every segment of a job cut from it. Segments primed from the same keyframe repeat
/// its packets; verified in order, each continues where the one before it stopped instead of decoding again from the
/// keyframe (a one-keyframe source's k-th segment would decode k+1 segments' worth of frames). Segments verified out of
/// order cost a restart from their keyframe, as a decoder of their own would.
public final class OriginDecoder: @unchecked Sendable {  // unchecked: the decoder only under `lock`
    public let path: String
    private var decoder: SelectiveFrameDecoder?
    private let lock = NSLock()

    public init(path: String) {
        self.path = path
    }

    /// The decoder, opened on first use (under `lock`).
    private func opened() throws -> SelectiveFrameDecoder {
        if let decoder { return decoder }
        let made = try SelectiveFrameDecoder(path: path)
        decoder = made
        return made
    }

    /// The time base of the source's video stream.
    func timeBase() throws -> Rational {
        try lock.withLock { try opened().stream.timeBase }
    }

    /// The frames at these timestamps (the source's own), and how many frames decoding them took.
    func frames(at wanted: [Int64], keyframes: [Int64]) throws -> (frames: [Int64: Frame], decoded: Int) {
        try lock.withLock {
            let decoder = try opened()
            let before = decoder.framesDecoded
            let frames = try decoder.frames(at: wanted, keyframes: keyframes)
            return (frames, decoder.framesDecoded - before)
        }
    }
}
