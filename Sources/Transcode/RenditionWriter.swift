import Foundation
import Media

/// Writes one rendition's segments, in order, through one long-lived muxer whose output file changes at
/// each segment: MPEG-TS segments keep continuous timestamps and continuity counters; fragmented MP4
/// gets one `init.mp4` and a `moof`+`mdat` fragment per segment file.
final class RenditionWriter {
    let directory: URL
    let container: SegmentContainer
    private var muxer: Muxer?
    private var stream = 0
    private(set) var segmentFiles: [String] = []
    /// fMP4: the initialization section's file name (a live ladder starts one per period).
    let initName: String

    static let initSegmentName = "init.mp4"

    init(directory: URL, container: SegmentContainer, initName: String = RenditionWriter.initSegmentName) throws {
        self.directory = directory
        self.container = container
        self.initName = initName
        do {
            try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        } catch {
            throw MediaError.cannotWrite(path: directory.path, reason: error.localizedDescription)
        }
    }

    static func segmentName(_ index: Int, container: SegmentContainer) -> String {
        String(format: "seg_%05d.%@", index, container.segmentExtension)
    }

    /// Writes segment `index` from packets in `parameters.timeBase`; returns the file's size in bytes.
    func writeSegment(index: Int, parameters: CodecParameters, packets: [Packet]) throws -> Int {
        let name = RenditionWriter.segmentName(index, container: container)
        let path = directory.appendingPathComponent(name).path
        let muxer = try prepare(parameters: parameters, firstSegmentPath: path)
        if muxer.currentPath == nil {
            try muxer.open(path: path)
            // Each TS segment must start with PAT/PMT so a player can join there.
            if container == .mpegts { try muxer.setOption("mpegts_flags", "resend_headers") }
        }
        for packet in packets { try muxer.write(packet, stream: stream) }
        try muxer.flush()
        let bytes = try muxer.closeFile()
        segmentFiles.append(name)
        return bytes
    }

    /// Opens the muxer on the first segment, from that segment's encoder parameters.
    private func prepare(parameters: CodecParameters, firstSegmentPath: String) throws -> Muxer {
        if let muxer { return muxer }
        let muxer = try Muxer(format: container.muxerName)
        stream = try muxer.addStream(parameters: parameters)
        switch container {
        case .mpegts:
            try muxer.open(path: firstSegmentPath)
            try muxer.writeHeader()
        case .fragmentedMP4:
            try muxer.open(path: directory.appendingPathComponent(initName).path)
            try muxer.writeHeader(options: ["movflags": "+frag_custom+empty_moov+default_base_moof+omit_tfhd_offset"])
            try muxer.flush()
            try muxer.closeFile()
        }
        self.muxer = muxer
        return muxer
    }

    /// Writes segment `index` of a rendition again, on its own, in place of the file in `directory` (an MPEG-TS segment
    /// then restarts its continuity counters, which players take as a discontinuity of the transport, not of the
    /// timeline). Returns its size in bytes.
    static func rewrite(segment index: Int, rendition: EncodedRendition, in directory: URL, container: SegmentContainer) throws -> Int {
        // Written beside the rendition (same file system), so it can be renamed into place.
        let scratch = directory.deletingLastPathComponent().appendingPathComponent(".rewrite-\(UUID().uuidString.prefix(12))")
        defer { try? FileManager.default.removeItem(at: scratch) }
        let writer = try RenditionWriter(directory: scratch, container: container)
        let bytes = try writer.writeSegment(index: index, parameters: rendition.parameters, packets: rendition.packets)
        try writer.finish()
        let name = RenditionWriter.segmentName(index, container: container)
        let target = directory.appendingPathComponent(name)
        // rename(2) swaps the file in one step: a reader sees the old segment or the new one, never half of either.
        guard rename(scratch.appendingPathComponent(name).path, target.path) == 0 else {
            throw MediaError.cannotWrite(path: target.path, reason: String(cString: strerror(errno)))
        }
        return bytes
    }

    /// Ends the muxer; every segment file is already complete, so the trailer is discarded.
    func finish() throws {
        try muxer?.finish(discard: true)
        muxer = nil
    }
}
