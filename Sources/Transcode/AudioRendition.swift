import Foundation
import Media

/// The one AAC rendition of a ladder: decoded, resampled and encoded once on the decoding thread, then
/// cut at the video's segment boundaries so every audio segment lines up with its video segments.
final class AudioRendition {
    static let maximumSampleRate = 48_000
    /// The source's audio stream; nil for a rendition of silence.
    let stream: StreamInfo?
    let bitrate: Int
    private let decoder: Decoder?
    /// Samples of silence encoded so far (a rendition of silence).
    private var silentSamples: Int64 = 0
    private let resampler: AudioResampler
    private let encoder: Encoder
    private let writer: RenditionWriter
    private let frame = Frame()
    /// Encoded packets not yet written, pts in samples counted from the first decoded audio sample.
    private var pending: [Packet] = []
    private var firstAudioSeconds: Double?
    private(set) var parameters: CodecParameters?
    private(set) var entries: [HLSPlaylist.Entry] = []
    private(set) var bytes = 0
    private(set) var peakBitrate = 0
    private(set) var decodeErrors = 0
    var sampleRate: Int { resampler.sampleRate }
    var channels: Int { resampler.channels }

    init(demuxer: Demuxer, stream: StreamInfo, directory: URL, container: SegmentContainer, bitrate: Int,
         initName: String = RenditionWriter.initSegmentName) throws {
        self.stream = stream
        self.bitrate = bitrate
        decoder = try Decoder(demuxer: demuxer, stream: stream, threads: 1)
        let rate = stream.sampleRate > 0 ? min(stream.sampleRate, AudioRendition.maximumSampleRate) : AudioRendition.maximumSampleRate
        let channels = min(max(stream.channels, 1), 2)
        resampler = AudioResampler(sampleRate: rate, channels: channels)
        encoder = try Encoder(audio: "aac", sampleRate: rate, channels: channels, bitRate: bitrate, globalHeader: container == .fragmentedMP4)
        writer = try RenditionWriter(directory: directory, container: container, initName: initName)
    }

    /// A rendition of silence in the same shape (a live period whose input has no audio, after periods that had it:
    /// the audio playlist must go on for players to go on).
    init(silenceWithChannels channels: Int, sampleRate: Int, directory: URL, container: SegmentContainer, bitrate: Int, initName: String) throws {
        stream = nil
        self.bitrate = bitrate
        decoder = nil
        resampler = AudioResampler(sampleRate: sampleRate, channels: channels)
        encoder = try Encoder(audio: "aac", sampleRate: sampleRate, channels: channels, bitRate: bitrate, globalHeader: container == .fragmentedMP4)
        writer = try RenditionWriter(directory: directory, container: container, initName: initName)
    }

    /// A rendition of silence: encodes silence through `seconds` after the first video frame.
    func addSilence(through seconds: Double) throws {
        if firstAudioSeconds == nil { firstAudioSeconds = videoStartSeconds }
        let wanted = Int64((seconds * Double(sampleRate)).rounded(.up)) + Int64(encoder.frameSize)
        guard wanted > silentSamples else { return }
        try resampler.pushSilence(samples: Int(wanted - silentSamples))
        silentSamples = wanted
        while let chunk = try resampler.pull(size: encoder.frameSize) { pending += try encoder.encode(chunk) }
    }

    /// Decodes one audio packet of the source and encodes what it yields.
    func consume(_ packet: Packet) throws {
        guard let decoder else { return }
        do {
            _ = try decoder.send(packet)
        } catch let error as FFmpegError where error.isInvalidData {
            decodeErrors += 1
            return
        }
        try drainDecoder()
    }

    /// Flushes decoder, resampler and encoder at the end of the input.
    func finishEncoding() throws {
        if let decoder {
            do { _ = try decoder.send(nil) } catch let error as FFmpegError where error.isInvalidData { decodeErrors += 1 }
            try drainDecoder()
        }
        while let chunk = try resampler.pull(size: encoder.frameSize, flush: true) { pending += try encoder.encode(chunk) }
        pending += try encoder.encode(nil)
        if parameters == nil { parameters = try CodecParameters(encoder: encoder) }
    }

    private func drainDecoder() throws {
        guard let decoder, let stream else { return }
        while true {
            let step: CodecStep
            do { step = try decoder.receive(into: frame) } catch let error as FFmpegError where error.isInvalidData {
                decodeErrors += 1
                continue
            }
            guard step == .ok else { return }
            if firstAudioSeconds == nil, let pts = frame.bestEffortTimestamp ?? frame.pts {
                firstAudioSeconds = Double(pts) * stream.timeBase.doubleValue
            }
            try resampler.push(frame)
            frame.release()
            while let chunk = try resampler.pull(size: encoder.frameSize) { pending += try encoder.encode(chunk) }
        }
    }

    /// Writes the audio segments that lie within `[starts[i], starts[i+1])` for i in `range`, in seconds
    /// relative to the first video frame; `end` closes the last one. `offsetSeconds` is the output timeline's shift.
    func writeSegments(_ range: Range<Int>, starts: [Double], end: Double?, offsetSeconds: Double) throws {
        for index in range {
            try writeSegment(index: index, from: starts[index], to: index + 1 < starts.count ? starts[index + 1] : (end ?? .infinity),
                             offsetSeconds: offsetSeconds, first: index == 0)
        }
    }

    /// Writes audio segment `index`: the encoded audio within `[from, to)` seconds of the first video frame (`first`:
    /// the encoder's priming packet too). Returns its entry, also kept in `entries`.
    @discardableResult
    func writeSegment(index: Int, from: Double, to: Double, offsetSeconds: Double, first: Bool) throws -> HLSPlaylist.Entry {
        if parameters == nil { parameters = try CodecParameters(encoder: encoder) }
        let rate = Double(sampleRate)
        // Seconds of the first audio sample on the video's timeline (negative: audio starts first).
        let audioStart = (firstAudioSeconds ?? 0) - videoStartSeconds
        var segmentPackets: [Packet] = []
        var remaining: [Packet] = []
        for packet in pending {
            let seconds = audioStart + Double(packet.pts ?? 0) / rate
            // The encoder's priming packet (negative pts: the AAC delay before the first sample) opens the first
            // segment when the first sample does; a decoder needs it to start the audio clean.
            let priming = first && (packet.pts ?? 0) < 0 && audioStart >= from
            if seconds < from && !priming { continue }  // before this segment (or before the video starts): dropped
            if seconds < to { segmentPackets.append(packet) } else { remaining.append(packet) }
        }
        pending = remaining
        let shift = Int64(((audioStart + offsetSeconds) * rate).rounded())
        for packet in segmentPackets {
            packet.pts = (packet.pts ?? 0) + shift
            packet.dts = (packet.dts ?? packet.pts ?? 0) + shift
        }
        let size = try writer.writeSegment(index: index, parameters: parameters!, packets: segmentPackets)
        let duration = (to.isFinite ? to : from) - from
        bytes += size
        if duration > 0 { peakBitrate = max(peakBitrate, Int(Double(size * 8) / duration)) }
        let entry = HLSPlaylist.Entry(file: RenditionWriter.segmentName(index, container: writer.container), durationSeconds: duration)
        entries.append(entry)
        return entry
    }

    /// Seconds (from the first video frame) up to which audio is encoded and waiting: a segment ending before this
    /// can be written.
    var encodedThroughSeconds: Double? {
        guard let last = pending.last?.pts, let firstAudioSeconds else { return nil }
        return firstAudioSeconds - videoStartSeconds + Double(last) / Double(sampleRate)
    }

    /// The first video frame's time in seconds on the source timeline (set once known).
    var videoStartSeconds: Double = 0

    func finish() throws { try writer.finish() }
}
