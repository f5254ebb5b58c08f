import Foundation
import Logging
import Media

/// One segment published to the live playlists (or written as a gap), for the log and `--json`.
public struct LiveSegmentRecord: Codable, Sendable {
    public let index: Int
    public let period: Int
    public let frames: Int
    public let durationSeconds: Double
    /// Seconds from its last frame's arrival to its rungs' appearing in the playlists.
    public let latencySeconds: Double
    /// Who encoded it: "local", or the farmer's URL; nil for a gap.
    public let encodedBy: String?
    public let gap: Bool
    /// Why it is a gap, or why it was redone locally.
    public let note: String?
}

/// Writes accepted segments into every rung's live playlist strictly in order. A segment not delivered by its
/// deadline becomes an EXT-X-GAP entry and the ones after it go on (a late delivery is then dropped): a stalled
/// segment never stalls the playlist.
final class LivePublisher: @unchecked Sendable {  // unchecked: state under `lock`, with RenditionWriters that are not Sendable
    struct Expected {
        let index: Int
        let period: Int
        let frames: Int
        let durationSeconds: Double
        let discontinuity: Bool
        let lastArrival: Double
        let deadline: Double
        /// Rungs of its period (widths follow the period's picture shape).
        let targets: [RungTarget]
        let frameRate: Double
    }

    private let lock = NSLock()
    private let wake = NSCondition()
    let output: URL
    let container: SegmentContainer
    let window: Int
    let targetSeconds: Int
    let logger: Logger
    let onRecord: @Sendable (LiveSegmentRecord) -> Void
    private var expected: [Int: Expected] = [:]
    private var delivered: [Int: (EncodedSegment, String, String?)] = [:]
    private var failed: [Int: String] = [:]
    private var next = 0
    private var registered = 0
    private var rungEntries: [[LivePlaylist.Entry]]
    private var audioEntries: [LivePlaylist.Entry] = []
    private var writers: [RenditionWriter] = []
    private var writersPeriod = -1
    private var codecStrings: [String?]
    private var peakBits: [Int]
    private var masterGeometry: [String] = []
    private var audioInfo: HLSPlaylist.AudioRendition?
    private var deletedThrough = -1
    private var ended = false
    private(set) var records: [LiveSegmentRecord] = []
    let rungs: [LadderRung]

    init(output: URL, rungs: [LadderRung], container: SegmentContainer, window: Int, targetSeconds: Int, logger: Logger,
         onRecord: @escaping @Sendable (LiveSegmentRecord) -> Void) {
        self.output = output
        self.rungs = rungs
        self.container = container
        self.window = window
        self.targetSeconds = targetSeconds
        self.logger = logger
        self.onRecord = onRecord
        rungEntries = rungs.map { _ in [] }
        codecStrings = rungs.map { _ in nil }
        peakBits = rungs.map { _ in 0 }
    }

    static func initName(period: Int) -> String { "init_\(period).mp4" }
    var version: Int { container == .fragmentedMP4 ? 7 : 3 }

    /// A segment was cut and sent off; it must be published (or gapped) by `deadline`.
    func register(_ segment: Expected) {
        lock.withLock {
            expected[segment.index] = segment
            registered = max(registered, segment.index + 1)
        }
    }

    /// Its verified rungs (`encodedBy`: who made them; `note`: what happened on the way).
    func deliver(_ segment: EncodedSegment, encodedBy: String, note: String?) {
        lock.withLock { delivered[segment.index] = (segment, encodedBy, note) }
        pump()
    }

    /// A segment redone after its farmer was caught on a later one: waiting, it replaces what was delivered;
    /// published and still listed, its files are rewritten in place; gone from the window, there is nothing to mend.
    func rewrite(_ segment: EncodedSegment) throws {
        try lock.withLock {
            if segment.index >= next {
                if let waiting = delivered[segment.index] { delivered[segment.index] = (segment, waiting.1, "redone after its farmer was caught") }
                return
            }
            guard segment.index > deletedThrough, records.contains(where: { $0.index == segment.index && !$0.gap }) else { return }
            for (rung, rendition) in segment.renditions.enumerated() {
                _ = try RenditionWriter.rewrite(segment: segment.index, rendition: rendition, in: output.appendingPathComponent(rungs[rung].name),
                                                container: container)
            }
        }
    }

    /// Nothing will come for it: it becomes a gap now, not at its deadline.
    func fail(index: Int, reason: String) {
        lock.withLock { failed[index] = reason }
        pump()
    }

    /// The audio rendition's channels and sample rate, once one was published (a later period without audio gets silence
    /// of the same shape).
    var audioShape: (channels: Int, sampleRate: Int)? { lock.withLock { audioInfo.map { ($0.channels, audioSampleRate) } } }
    var audioSampleRate = 48_000

    /// The audio segment of `index` (period `period`) is written in `audio/`.
    func publishAudio(_ entry: HLSPlaylist.Entry, index: Int, period: Int, discontinuity: Bool, info: HLSPlaylist.AudioRendition) {
        lock.withLock {
            audioEntries.append(LivePlaylist.Entry(index: index, file: entry.file, durationSeconds: entry.durationSeconds, discontinuity: discontinuity,
                                                   gap: false, map: container == .fragmentedMP4 ? LivePublisher.initName(period: period) : nil))
            let first = audioInfo == nil
            audioInfo = info
            do {
                try writeAudioPlaylist()
                if first && !masterGeometry.isEmpty { try writeMaster() }
            } catch {
                logger.error("cannot write the audio playlist: \(error)")
            }
        }
    }

    /// Publishes what is ready, in order; gaps what is past its deadline.
    func pump(now: Double = LiveClock.now) {
        lock.lock()
        defer { lock.unlock() }
        while next < registered, let segment = expected[next] {
            if let (encoded, by, note) = delivered.removeValue(forKey: next) {
                do {
                    try publish(segment, encoded: encoded, encodedBy: by, note: note, now: now)
                } catch {
                    logger.error("segment \(segment.index): cannot write its rungs (\(error)); it is a gap")
                    publishGap(segment, reason: "cannot write: \(error)", now: now)
                }
            } else if let reason = failed.removeValue(forKey: next) {
                publishGap(segment, reason: reason, now: now)
            } else if now >= segment.deadline {
                publishGap(segment, reason: "no verified rendition within its deadline", now: now)
            } else {
                break
            }
            expected[next] = nil
            next += 1
        }
        // Late deliveries for segments already gapped are dropped.
        for index in delivered.keys where index < next { delivered[index] = nil }
        for index in failed.keys where index < next { failed[index] = nil }
        wake.lock()
        wake.broadcast()
        wake.unlock()
    }

    /// Waits until every registered segment is published or gapped (each has a deadline), then ends the playlists.
    func finish() {
        while true {
            let (left, soonest) = lock.withLock { (registered - next, expected[next]?.deadline) }
            if left <= 0 { break }
            wake.lock()
            _ = wake.wait(until: Date(timeIntervalSinceNow: max(0.02, min(0.25, (soonest ?? 0) - LiveClock.now))))
            wake.unlock()
            pump()
        }
        lock.withLock {
            ended = true
            do {
                for writer in writers { try writer.finish() }
                writers = []
                try writeRungPlaylists()
                try writeAudioPlaylist()
                try writeMaster()
            } catch {
                logger.error("cannot end the playlists: \(error)")
            }
        }
    }

    // MARK: under the lock

    private func publish(_ segment: Expected, encoded: EncodedSegment, encodedBy: String, note: String?, now: Double) throws {
        if writersPeriod != segment.period {
            for writer in writers { try writer.finish() }
            writers = try rungs.map {
                try RenditionWriter(directory: output.appendingPathComponent($0.name), container: container,
                                    initName: LivePublisher.initName(period: segment.period))
            }
            writersPeriod = segment.period
        }
        currentFrameRate = segment.frameRate
        var geometry: [String] = []
        for (rung, rendition) in encoded.renditions.enumerated() {
            if codecStrings[rung] == nil { codecStrings[rung] = LadderTranscoder.codecString(rendition) }
            let bytes = try writers[rung].writeSegment(index: segment.index, parameters: rendition.parameters, packets: rendition.packets)
            if segment.durationSeconds > 0 { peakBits[rung] = max(peakBits[rung], Int(Double(bytes * 8) / segment.durationSeconds)) }
            rungEntries[rung].append(entry(for: segment, gap: false))
            geometry.append("\(segment.targets[rung].width)x\(segment.targets[rung].height)")
        }
        try writeRungPlaylists()
        if geometry != masterGeometry {
            masterGeometry = geometry
            try writeMaster()
        }
        deleteOldSegments()
        record(LiveSegmentRecord(index: segment.index, period: segment.period, frames: encoded.frames, durationSeconds: segment.durationSeconds,
                                 latencySeconds: now - segment.lastArrival, encodedBy: encodedBy, gap: false, note: note))
    }

    private func publishGap(_ segment: Expected, reason: String, now: Double) {
        for rung in rungs.indices { rungEntries[rung].append(entry(for: segment, gap: true)) }
        do { try writeRungPlaylists() } catch { logger.error("cannot write the playlists: \(error)") }
        logger.warning("segment \(segment.index): \(reason); the playlists get an EXT-X-GAP for its \(String(format: "%.2f", segment.durationSeconds)) s")
        record(LiveSegmentRecord(index: segment.index, period: segment.period, frames: segment.frames, durationSeconds: segment.durationSeconds,
                                 latencySeconds: now - segment.lastArrival, encodedBy: nil, gap: true, note: reason))
    }

    private func record(_ record: LiveSegmentRecord) {
        records.append(record)
        onRecord(record)
    }

    private func entry(for segment: Expected, gap: Bool) -> LivePlaylist.Entry {
        LivePlaylist.Entry(index: segment.index, file: RenditionWriter.segmentName(segment.index, container: container),
                           durationSeconds: segment.durationSeconds, discontinuity: segment.discontinuity, gap: gap,
                           map: container == .fragmentedMP4 ? LivePublisher.initName(period: segment.period) : nil)
    }

    private func writeRungPlaylists() throws {
        for (rung, entries) in zip(rungs, rungEntries) {
            // A stream that opens with gaps has written no segment yet: the folder may not exist.
            try FileManager.default.createDirectory(at: output.appendingPathComponent(rung.name), withIntermediateDirectories: true)
            try LivePlaylist.replace(output.appendingPathComponent("\(rung.name)/index.m3u8"),
                                     with: LivePlaylist.media(entries: entries, window: window, targetSeconds: targetSeconds, version: version, ended: ended))
        }
    }

    private func writeAudioPlaylist() throws {
        guard !audioEntries.isEmpty else { return }
        try LivePlaylist.replace(output.appendingPathComponent("audio/index.m3u8"),
                                 with: LivePlaylist.media(entries: audioEntries, window: window, targetSeconds: targetSeconds, version: version, ended: ended))
    }

    /// The master playlist: every rung at its latest geometry, bandwidth the larger of its asked bitrate (+10%) and its
    /// peak so far (the first segments' bitrates are not yet the stream's).
    private func writeMaster() throws {
        guard !masterGeometry.isEmpty else { return }
        var variants: [HLSPlaylist.Variant] = []
        for (rung, ladderRung) in rungs.enumerated() {
            let parts = masterGeometry[rung].split(separator: "x").compactMap { Int($0) }
            let peak = max(peakBits[rung], ladderRung.bitrate * 11 / 10)
            variants.append(HLSPlaylist.Variant(playlist: "\(ladderRung.name)/index.m3u8", peakBitrate: peak, averageBitrate: ladderRung.bitrate,
                                                width: parts.first ?? 0, height: parts.last ?? ladderRung.height, frameRate: currentFrameRate ?? 30,
                                                codecs: codecStrings[rung] ?? "avc1.64001F"))
        }
        let master = HLSPlaylist.master(variants: variants.sorted { $0.height > $1.height }, audio: audioInfo, container: container)
        try LivePlaylist.replace(output.appendingPathComponent("master.m3u8"), with: master)
    }

    /// The input's frame rate, for the master playlist's FRAME-RATE.
    var currentFrameRate: Double?

    /// Removes segment files that left the window a while ago (a player may still be fetching the one just dropped).
    private func deleteOldSegments() {
        guard window > 0 else { return }
        let keep = window + 3
        guard let newest = rungEntries.first?.last?.index, newest - keep > deletedThrough else { return }
        for index in (deletedThrough + 1)...(newest - keep) {
            let name = RenditionWriter.segmentName(index, container: container)
            for rung in rungs { try? FileManager.default.removeItem(at: output.appendingPathComponent("\(rung.name)/\(name)")) }
            try? FileManager.default.removeItem(at: output.appendingPathComponent("audio/\(name)"))
        }
        deletedThrough = newest - keep
    }
}

/// The monotonic clock live latency is measured on, in seconds.
public enum LiveClock {
    public static var now: Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}
