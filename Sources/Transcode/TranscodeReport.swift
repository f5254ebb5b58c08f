import Foundation

/// `report.json`: what a transcode produced, per segment and rung, and how long it took.
public struct TranscodeReport: Codable, Sendable {
    public struct Source: Codable, Sendable {
        public var path: String
        public var codec: String
        public var width: Int
        public var height: Int
        public var frameRate: Double
        public var frames: Int
        public var durationSeconds: Double
        public var hasAudio: Bool
        public var keyframes: Int
    }

    public struct Encoding: Codable, Sendable {
        public var codec: String
        public var encoder: String
        public var family: String
        public var preset: String
        public var fallbackReason: String?
        public var container: String
        public var segmentSeconds: Double
        public var workers: Int
        public var threadsPerEncoder: Int
    }

    public struct Rendition: Codable, Sendable {
        public var name: String
        public var width: Int
        public var height: Int
        public var bitrate: Int
        public var frames: Int
        public var bytes: Int
        /// Bits per second over the whole rendition.
        public var averageBitrate: Int
        /// The highest bits per second of any one segment (HLS BANDWIDTH).
        public var peakBitrate: Int
        public var playlist: String
        public var codecs: String
    }

    public struct SegmentRendition: Codable, Sendable {
        public var rung: String
        public var file: String
        public var frames: Int
        public var bytes: Int
        public var encodeSeconds: Double
        public var encoder: String
    }

    public struct Segment: Codable, Sendable {
        public var index: Int
        public var startSeconds: Double
        public var durationSeconds: Double
        public var frames: Int
        public var renditions: [SegmentRendition]
    }

    public struct Audio: Codable, Sendable {
        public var codec: String
        public var bitrate: Int
        public var sampleRate: Int
        public var channels: Int
        public var segments: Int
        public var bytes: Int
        public var playlist: String
    }

    /// How the source was cut into tasks that run elsewhere (absent when encoded in this process).
    public struct Cutting: Codable, Sendable {
        /// `keyframes` (segments start at source keyframes) or `nominal` (every segment length, primed or mezzanine).
        public var mode: String
        /// Segments sent as their own packets, primed from an earlier keyframe, or as a mezzanine.
        public var packets: Int
        public var primed: Int
        public var mezzanine: Int
        /// Bytes of the source's video packets, and of everything sent to the encoders.
        public var sourceVideoBytes: Int
        public var bytesSent: Int
    }

    public var prism: String
    public var source: Source
    public var encoding: Encoding
    public var renditions: [Rendition]
    public var audio: Audio?
    public var segments: [Segment]
    public var cutting: Cutting?
    public var wallSeconds: Double
    public var cpuSeconds: Double
    public var decodeErrors: Int

    public func jsonData() throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
        return try encoder.encode(self)
    }
}

/// CPU time this process has used (user + system), for reports and benchmarks.
public func processCPUSeconds() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    return Double(usage.ru_utime.tv_sec) + Double(usage.ru_utime.tv_usec) / 1e6
        + Double(usage.ru_stime.tv_sec) + Double(usage.ru_stime.tv_usec) / 1e6
}
