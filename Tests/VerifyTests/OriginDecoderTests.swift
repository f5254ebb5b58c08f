import Foundation
import Media
import Testing
@testable import Verify

/// Primed segment files repeat the source's packets from one keyframe, with shifted timestamps (NUT, as
/// `SourceCutter` writes them); their frames may come from one decoder of the source shared by the job's segments.
@Suite struct OriginDecoderTests {
    /// A NUT copy of the fixture's video packets, timestamps shifted by `shift` (the source's time base).
    static func shiftedCopy(of source: String, shift: Int64, to path: String) throws {
        let demuxer = try Demuxer(path: source)
        let video = try #require(demuxer.bestVideoStream())
        let muxer = try Muxer(format: "nut")
        let stream = try muxer.addStream(copying: video, of: demuxer)
        try muxer.open(path: path)
        try muxer.writeHeader()
        let packet = Packet()
        while try demuxer.read(into: packet) {
            guard packet.streamIndex == video.index else { continue }
            let copy = try packet.reference()
            if let pts = copy.pts { copy.pts = pts + shift }
            if let dts = copy.dts { copy.dts = dts + shift }
            try muxer.write(copy, stream: stream)
        }
        try muxer.finish()
    }

    @Test func framesFromTheOriginAreTheSegmentFilesOwnAndLaterSegmentsContinue() throws {
        let source = TestClips.fixture("single-keyframe-360p.mp4")
        let copy = TestClips.folder.appendingPathComponent("origin-copy.nut").path
        let shift: Int64 = 123_456
        try Self.shiftedCopy(of: source, shift: shift, to: copy)
        let index = try PacketIndex(path: copy)
        #expect(index.entries.count == 200)
        let keys = index.entries.filter(\.isKeyFrame).map(\.pts)
        let ordered = index.entries.map(\.pts).sorted()
        // Two "segments" of the same file: frames 96–100 and 146–150.
        let first = Array(ordered[96...100]), second = Array(ordered[146...150])

        let origin = OriginDecoder(path: source)
        let sharedFirst = SourceFrames(path: copy, origin: origin, ptsShift: shift)
        let sharedSecond = SourceFrames(path: copy, origin: origin, ptsShift: shift)
        let ownFirst = SourceFrames(path: copy), ownSecond = SourceFrames(path: copy)
        for (shared, own, wanted) in [(sharedFirst, ownFirst, first), (sharedSecond, ownSecond, second)] {
            let a = try shared.frames(at: wanted, keyframes: keys), b = try own.frames(at: wanted, keyframes: keys)
            #expect(a.count == wanted.count && b.count == wanted.count)
            for pts in wanted {
                let x = YUVImage(frame: try #require(a[pts]), time: 0), y = YUVImage(frame: try #require(b[pts]), time: 0)
                #expect(x.planes.map(\.pixels) == y.planes.map(\.pixels), "frame at \(pts) differs")
            }
        }
        // The second segment's own decoder starts again at the only keyframe; the shared one goes on from frame 100
        // (frames nothing refers to and nobody asked for are skipped by both, so neither counts all it passed).
        #expect(keys.count == 1)
        #expect(sharedSecond.framesDecoded * 2 < ownSecond.framesDecoded, "shared \(sharedSecond.framesDecoded), own \(ownSecond.framesDecoded)")
        #expect(sharedFirst.framesDecoded == ownFirst.framesDecoded)
    }
}
