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
    private var indexes: [(window: SegmentWindow?, index: PacketIndex)] = []
    private var kept: [Int64: Frame] = [:]
    private struct ThumbnailKey: Hashable { let pts: Int64, width: Int, height: Int }
    private var thumbnails: [ThumbnailKey: PlaneImage] = [:]
    private let lock = NSLock()

    public init(path: String) {
        self.path = path
    }

    /// Frames decoded so far, over every rendition verified with this.
    public var framesDecoded: Int { lock.withLock { decoder?.framesDecoded ?? 0 } }

    /// The packets of the source presented inside `window` (all of them when nil), read once per window.
    func packetIndex(window: SegmentWindow?) throws -> PacketIndex {
        try lock.withLock {
            if let known = indexes.first(where: { $0.window == window }) { return known.index }
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
                if decoder == nil { decoder = try SelectiveFrameDecoder(path: path) }
                for (pts, frame) in try decoder!.frames(at: missing, keyframes: keyframes) { kept[pts] = frame }
            }
            var found: [Int64: Frame] = [:]
            for pts in wanted { if let frame = kept[pts] { found[pts] = frame } }
            return found
        }
    }
}
