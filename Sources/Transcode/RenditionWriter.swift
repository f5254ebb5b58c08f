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

    static let initSegmentName = "init.mp4"

    init(directory: URL, container: SegmentContainer) throws {
        self.directory = directory
        self.container = container
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
            try muxer.open(path: directory.appendingPathComponent(RenditionWriter.initSegmentName).path)
            try muxer.writeHeader(options: ["movflags": "+frag_custom+empty_moov+default_base_moof+omit_tfhd_offset"])
            try muxer.flush()
            try muxer.closeFile()
        }
        self.muxer = muxer
        return muxer
    }

    /// Ends the muxer; every segment file is already complete, so the trailer is discarded.
    func finish() throws {
        try muxer?.finish(discard: true)
        muxer = nil
    }
}
