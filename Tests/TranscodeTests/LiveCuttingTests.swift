import Foundation
import Live
import Logging
import Media
import PrismTestSupport
import Testing
@testable import Transcode

/// The live cutting rule on packet sequences (no media needed: timestamps, keyframe flags and arrival times), the live
/// playlists' text, and the publisher's gaps.
struct LiveCuttingTests {
    /// 30 fps in a 1/90000 time base, `count` frames, a keyframe every `gop` frames, B-frames reordering (`reorder`).
    static func stream(count: Int, gop: Int, reorder: Bool = false) -> [LivePacket] {
        (0..<count).map { index in
            // I P B B pattern in decode order when reordering: display order swaps each pair after the keyframe.
            var shown = index
            if reorder, index % gop != 0 {
                let inGop = index % gop
                if inGop % 2 == 1, index + 1 < count, (index + 1) % gop != 0 { shown = index + 1 } else if inGop % 2 == 0 { shown = index - 1 }
            }
            return LivePacket(pts: Int64(shown) * 3000 + 6000, dts: Int64(index) * 3000, isKeyFrame: index % gop == 0, duration: 3000,
                              arrival: Double(index) / 30)
        }
    }

    static func cutAll(_ packets: [LivePacket], segmentSeconds: Double = 2, decodedHere: Bool = false) -> (cuts: [LiveCut], cutter: LiveCutter) {
        var cutter = LiveCutter(segmentSeconds: segmentSeconds, timeBaseSeconds: 1.0 / 90_000, decodedHere: decodedHere)
        var cuts: [LiveCut] = []
        for packet in packets { cuts += cutter.push(packet) }
        if let last = cutter.flush() { cuts.append(last) }
        return (cuts, cutter)
    }

    @Test func keyframesEveryTwoSecondsGiveTwoSecondSegmentsOfTheirOwnPackets() {
        let (cuts, cutter) = Self.cutAll(Self.stream(count: 300, gop: 60, reorder: true))
        #expect(cutter.mode == .keyframes)
        #expect(cuts.map(\.frames) == [60, 60, 60, 60, 60])
        #expect(cuts.allSatisfy { !$0.needsWindow && $0.packets.count == $0.frames && $0.packets.first!.isKeyFrame })
        #expect(cuts.map { $0.end - $0.start } == Array(repeating: 180_000, count: 5))
        // Latency counts from the segment's last frame's arrival, not from when the next keyframe told us it was over.
        #expect(abs(cuts[0].lastArrival - 59.0 / 30) < 1e-9)
        #expect(cutter.droppedLate == 0 && cutter.droppedWaitingForKeyframe == 0)
    }

    @Test func oneSecondKeyframesAreCutEveryTwoSecondsAndFourSecondOnesAtEachKeyframe() {
        #expect(Self.cutAll(Self.stream(count: 240, gop: 30)).cuts.map(\.frames) == [60, 60, 60, 60])
        let long = Self.cutAll(Self.stream(count: 240, gop: 120))
        #expect(long.cutter.mode == .keyframes)
        #expect(long.cuts.map(\.frames) == [120, 120])
    }

    @Test func sparseKeyframesAreCutByTimeEachSegmentPrimedFromTheKeyframeBefore() {
        // One keyframe every 10 s: past the 4 s limit the cutter cuts every 2 s, sending from the keyframe before.
        let (cuts, cutter) = Self.cutAll(Self.stream(count: 600, gop: 300))
        #expect(cutter.mode == .nominal)
        #expect(cuts.map(\.frames) == Array(repeating: 60, count: 10))
        #expect(cuts.reduce(0) { $0 + $1.frames } == 600)
        for cut in cuts {
            #expect(cut.packets.first!.isKeyFrame)
            #expect(cut.packets.first!.pts <= cut.start)
            #expect(cut.packets.filter { $0.pts >= cut.start && $0.pts < cut.end }.count == cut.frames)
        }
        // Segment 1 decodes from frame 0; a segment is cut once a packet decodes at its end, so the two frames shown
        // after it (decoded before) travel too, outside its window.
        #expect(cuts[1].needsWindow && cuts[1].packets.count == 122)
        // Segment 5 starts at the second keyframe (frame 300): sent from there, not from frame 0.
        #expect(cuts[5].packets.first!.pts == cuts[5].start && cuts[5].packets.count == 62)
    }

    @Test func framesBeforeTheFirstKeyframeAreDroppedAndCounted() {
        let packets = Array(Self.stream(count: 150, gop: 60).dropFirst(10))
        let (cuts, cutter) = Self.cutAll(packets)
        #expect(cutter.droppedWaitingForKeyframe == 50)
        #expect(cuts.map(\.frames) == [60, 30])
    }

    @Test func aStreamThatEndsMidSegmentFlushesItsFramesAsTheLastSegment() {
        let (cuts, _) = Self.cutAll(Self.stream(count: 100, gop: 60))
        #expect(cuts.map(\.frames) == [60, 40])
        #expect(cuts[1].end - cuts[1].start == 40 * 3000)
    }

    @Test func aStreamWithNoKeyframeForTwentySecondsHoldsNothingMore() {
        // A keyframe only at the start: after 20 s of priming the held packets are let go until the next keyframe.
        let (cuts, cutter) = Self.cutAll(Self.stream(count: 900, gop: 10_000))
        #expect(cutter.droppedWaitingForKeyframe > 0)
        #expect(cuts.allSatisfy { $0.packets.count <= 20 * 30 + 2 })
    }

    @Test func aStreamDecodedHereIsCutByTimeForeverWithEachSegmentsOwnFrames() {
        // One keyframe in 60 s (an intra-refresh broadcast), B-frames: decoded where it is read, nothing is dropped, no
        // segment holds more than its own frames, and every frame is in exactly one segment.
        let (cuts, cutter) = Self.cutAll(Self.stream(count: 1800, gop: 100_000, reorder: true), decodedHere: true)
        #expect(cutter.mode == .nominal)
        #expect(cutter.droppedWaitingForKeyframe == 0 && cutter.overflows == 0)
        #expect(cuts.count == 30 && cuts.reduce(0) { $0 + $1.frames } == 1800)
        #expect(cuts.dropFirst().allSatisfy { $0.frames == 60 && $0.packets.count <= 62 && $0.end - $0.start == 180_000 })
    }

    @Test func aBroadcasterSendingHugePacketsCannotMakeTheCutterHoldMoreThanItsCap() {
        // 16 MB packets (FLV's largest), a keyframe every 2 s: a segment would hold 960 MB.
        var cutter = LiveCutter(segmentSeconds: 2, timeBaseSeconds: 1.0 / 90_000)
        var cuts: [LiveCut] = []
        for packet in Self.stream(count: 300, gop: 60) {
            cuts += cutter.push(LivePacket(pts: packet.pts, dts: packet.dts, isKeyFrame: packet.isKeyFrame, duration: packet.duration,
                                           arrival: packet.arrival, size: 16 << 20))
        }
        #expect(cutter.overflows > 0 && cutter.droppedWaitingForKeyframe > 0)
        #expect(cuts.allSatisfy { $0.packets.reduce(0) { $0 + $1.size } <= LiveCutter.maximumHeldBytes + (16 << 20) })
    }

    /// Random streams — timestamps that repeat, go back, leap, keyframes anywhere or nowhere, any sizes — never trap the
    /// cutter, and every frame it takes ends in exactly one segment or is counted as dropped.
    @Test func randomPacketStreamsAreCutWithoutLosingCount() {
        var generator = SeededGenerator(seed: 0x11ce)
        for round in 0..<200 {
            let segmentSeconds = [0.5, 1, 2, 6][round % 4]
            let decodedHere = round % 3 == 0
            var cutter = LiveCutter(segmentSeconds: segmentSeconds, timeBaseSeconds: 1.0 / 1000, decodedHere: decodedHere)
            var dts: Int64 = Int64.random(in: -5000...5000, using: &generator)
            var shown = 0, cut = 0
            let count = Int.random(in: 0...400, using: &generator)
            for _ in 0..<count {
                dts += Int64.random(in: -40...120, using: &generator)
                let pts = dts + Int64.random(in: 0...100, using: &generator)
                let packet = LivePacket(pts: pts, dts: dts, isKeyFrame: Int.random(in: 0..<25, using: &generator) == 0,
                                        duration: Int64.random(in: 0...50, using: &generator), arrival: 0, size: Int.random(in: 0...5_000_000, using: &generator))
                shown += 1
                for segment in cutter.push(packet) {
                    if decodedHere {
                        // Made from frames decoded here: its packets need not start at a keyframe.
                        #expect(segment.start < segment.end && segment.frames > 0)
                    } else {
                        #expect(segment.start < segment.end && segment.frames > 0 && segment.packets.first?.isKeyFrame == true)
                    }
                    cut += segment.frames
                }
            }
            if let last = cutter.flush() { cut += last.frames }
            // A primed segment's packets also hold frames of the segments beside it, but each frame is counted in one
            // window only; frames outside every window are the dropped ones or ones a backwards jump skipped.
            #expect(cut <= shown, "round \(round)")
        }
    }

    @Test func theServerServesOnlyPlainNamesUnderItsFolder() {
        let root = URL(fileURLWithPath: "/srv/live")
        #expect(PlaylistServer.file(for: "/master.m3u8", under: root)?.path == "/srv/live/master.m3u8")
        #expect(PlaylistServer.file(for: "/360p/seg_00001.ts", under: root)?.path == "/srv/live/360p/seg_00001.ts")
        #expect(PlaylistServer.file(for: "/audio/init_1.mp4", under: root)?.path == "/srv/live/audio/init_1.mp4")
        for hostile in ["/", "", "/../etc/passwd.m3u8", "/360p/../../x.ts", "/.hidden.m3u8", "/360p/.index.m3u8.1a2b", "/a/b/c/d/e.ts",
                        "/360p/seg%2F.ts", "/360p/seg 1.ts", "/etc/passwd", "/live.json/../x.ts", "/x.sh", "/\u{0}.ts",
                        "/" + String(repeating: "a", count: 200) + ".ts", "/360p\\..\\x.ts"] {
            #expect(PlaylistServer.file(for: hostile, under: root) == nil, "\(hostile)")
        }
    }

    @Test func theSlidingWindowCountsMediaAndDiscontinuitySequencesAndEndsWithEndlist() {
        let entries = (0..<10).map { index in
            LivePlaylist.Entry(index: index, file: "seg_\(index).ts", durationSeconds: 2, discontinuity: index == 3 || index == 7, gap: index == 8, map: nil)
        }
        let live = LivePlaylist.media(entries: entries, window: 4, targetSeconds: 4, version: 3, ended: false)
        let lines = live.split(separator: "\n").map(String.init)
        #expect(lines.contains("#EXT-X-MEDIA-SEQUENCE:6"))
        // Segments 6..9 shown; the discontinuity before 3 slid out, the one before 7 is listed.
        #expect(lines.contains("#EXT-X-DISCONTINUITY-SEQUENCE:1"))
        #expect(lines.filter { $0 == "#EXT-X-DISCONTINUITY" }.count == 1)
        #expect(lines.filter { $0.hasPrefix("seg_") } == ["seg_6.ts", "seg_7.ts", "seg_8.ts", "seg_9.ts"])
        #expect(lines[lines.firstIndex(of: "seg_8.ts")! - 2] == "#EXT-X-GAP")
        #expect(!lines.contains("#EXT-X-ENDLIST") && !lines.contains("#EXT-X-PLAYLIST-TYPE:EVENT"))

        let event = LivePlaylist.media(entries: entries, window: 0, targetSeconds: 4, version: 3, ended: true)
        #expect(event.contains("#EXT-X-PLAYLIST-TYPE:EVENT\n") && event.contains("#EXT-X-MEDIA-SEQUENCE:0\n") && event.hasSuffix("#EXT-X-ENDLIST\n"))
        #expect(event.components(separatedBy: "#EXTINF:").count == 11)

        // The window's first segment opens a period: its discontinuity is in the count, not repeated as a tag.
        let atEdge = LivePlaylist.media(entries: entries, window: 3, targetSeconds: 4, version: 3, ended: false)
        #expect(atEdge.contains("#EXT-X-DISCONTINUITY-SEQUENCE:2\n") && !atEdge.contains("#EXT-X-DISCONTINUITY\n"))
    }

    @Test func segmentsWithNothingDeliveredByTheirDeadlineBecomeGapsAndTheStreamGoesOn() throws {
        let folder = try TemporaryFolder("prism-live-gaps")
        defer { folder.remove() }
        let rungs = [LadderRung(height: 240, bitrate: 250_000)]
        let publisher = LivePublisher(output: folder.url, rungs: rungs, container: .mpegts, window: 6, targetSeconds: 4,
                                      logger: Logger(label: "test"), onRecord: { _ in })
        let target = RungTarget(rung: rungs[0], width: 426, height: 240)
        let now = LiveClock.now
        for index in 0..<3 {
            publisher.register(.init(index: index, period: 0, frames: 60, durationSeconds: 2, discontinuity: false, lastArrival: now,
                                     deadline: index == 1 ? now - 1 : now + 60, targets: [target], frameRate: 30))
        }
        publisher.fail(index: 0, reason: "test: no farmer and no encoder")
        // Segment 1's deadline has passed: it is a gap without anyone saying so; 2 still waits for its own.
        publisher.pump()
        let records = publisher.records
        #expect(records.map(\.index) == [0, 1] && records.allSatisfy(\.gap))
        #expect(records[1].note == "no verified rendition within its deadline")
        let playlist = try String(contentsOf: folder.url.appendingPathComponent("240p/index.m3u8"), encoding: .utf8)
        #expect(playlist.components(separatedBy: "#EXT-X-GAP").count == 3)
        #expect(!playlist.contains("#EXT-X-ENDLIST"))
        publisher.fail(index: 2, reason: "test")
        publisher.finish()
        let ended = try String(contentsOf: folder.url.appendingPathComponent("240p/index.m3u8"), encoding: .utf8)
        #expect(ended.hasSuffix("#EXT-X-ENDLIST\n") && ended.components(separatedBy: "#EXT-X-GAP").count == 4)
    }

    @Test func liveInputsAreReadOrRefusedInOneLine() throws {
        #expect(try LiveSource(parsing: "rtmp://127.0.0.1:1935/live/key", realtime: false).kind == .rtmpListener)
        #expect(try LiveSource(parsing: "srt://0.0.0.0:9000", realtime: false).kind == .srtListener)
        #expect(try LiveSource(parsing: "srt://10.0.0.1:9000?mode=caller", realtime: false).kind == .pull)
        #expect(try LiveSource(parsing: "http://example.com/live/index.m3u8", realtime: false).kind == .pull)
        #expect(try LiveSource(parsing: "clip.mp4", realtime: true).kind == .file)
        for bad in ["", "rtmp://", "rtmp://host:1935", "srt://host", "srt://host:99999", "gopher://x/y", "http://", "a\nb"] {
            #expect(throws: TranscodeError.self, "\(bad)") { try LiveSource(parsing: bad, realtime: false) }
        }
    }
}
