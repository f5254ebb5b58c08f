import Foundation
import Media
import Transcode
import Synchronization

/// What `prism bench` measured on this host. Only what was run here appears; nothing is inferred from names.
public struct BenchReport: Codable, Sendable {
    public struct Host: Codable, Sendable {
        public var cpuModel: String
        public var cores: Int
        public var memoryBytes: UInt64
    }

    public struct RungSpeed: Codable, Sendable {
        public var rung: String
        public var width: Int
        public var height: Int
        public var frames: Int
        public var seconds: Double
        public var fps: Double
        /// Encoding speed relative to playback (fps ÷ the clip's frame rate).
        public var realtime: Double
    }

    public struct EncoderResult: Codable, Sendable {
        public var encoder: String
        public var family: String
        public var codec: String
        public var opens: Bool
        public var reason: String?
        public var rungs: [RungSpeed]
    }

    public struct HardwareDevice: Codable, Sendable {
        public var type: String
        public var opens: Bool
        public var reason: String?
    }

    public struct SessionTrial: Codable, Sendable {
        public var sessions: Int
        public var slowestSeconds: Double
        public var withinDeadline: Bool
    }

    public struct SessionCapacity: Codable, Sendable {
        public var encoder: String
        public var preset: String
        public var ladder: String
        public var segmentSeconds: Double
        /// Livepeer's rule for operators: a segment must finish within this share of its duration.
        public var deadlineShare: Double
        /// The most concurrent sessions that all met the deadline (0: not even one did).
        public var capacity: Int
        public var trials: [SessionTrial]
    }

    public var prism: String
    public var preset: String
    public var frameRate: Int
    public var segmentSeconds: Double
    public var host: Host
    public var encoders: [EncoderResult]
    public var hardwareDevices: [HardwareDevice]
    public var sessions: SessionCapacity?
}

/// Measures this host's encoders and session capacity on a synthetic clip made from a fresh seed.
public struct HostBenchmark: Sendable {
    public static let deadlineShare = 0.8
    public static let frameRate = 30
    public static let capacityLadder = [LadderRung(height: 720, bitrate: 3_000_000), LadderRung(height: 480, bitrate: 1_600_000),
                                        LadderRung(height: 360, bitrate: 800_000)]

    public var segmentSeconds: Double = 2
    public var preset: String = "veryfast"
    /// Encoder names to try (libx264, hevc_nvenc…); nil tries every software and hardware encoder Prism knows.
    public var encoders: [String]?
    public var rungs: [LadderRung] = Ladder.standardRungs
    public var maximumSessions = 16
    public var seed: UInt64 = UInt64.random(in: 0...UInt64.max)

    public init() {}

    public func run(progress: (String) -> Void = { _ in }) throws -> BenchReport {
        let tallest = rungs.map(\.height).max() ?? 720
        let sourceWidth = LadderRung(height: tallest, bitrate: 1).width(forSourceWidth: 16, sourceHeight: 9)
        progress("making a \(sourceWidth)x\(tallest) test clip from a fresh seed")
        let clip = try SyntheticClip(width: sourceWidth, height: tallest, frameRate: HostBenchmark.frameRate, seconds: segmentSeconds, seed: seed)
        var source: [Frame] = []
        while let frame = try clip.next() { source.append(frame) }
        var scaledByHeight: [Int: [Frame]] = [:]
        for rung in rungs {
            let width = rung.width(forSourceWidth: sourceWidth, sourceHeight: tallest)
            let scaler = Scaler(width: width, height: rung.height)
            scaledByHeight[rung.height] = try source.map { try scaler.scale($0) }
        }
        var results: [BenchReport.EncoderResult] = []
        for (family, codec) in candidates() {
            guard let name = family.encoderName(for: codec) else { continue }
            progress("opening \(name)")
            switch EncoderSelection.openSession(family: family, codec: codec) {
            case .failure(let reason):
                results.append(.init(encoder: name, family: family.rawValue, codec: codec.rawValue, opens: false, reason: reason.description, rungs: []))
            case .success(let device):
                var speeds: [BenchReport.RungSpeed] = []
                for rung in rungs {
                    let frames = scaledByHeight[rung.height]!
                    progress("encoding \(frames.count) frames at \(rung.name) with \(name)")
                    let seconds = try timeEncode(frames: frames, family: family, codec: codec, device: device, bitrate: rung.bitrate,
                                                 threads: ProcessInfo.processInfo.activeProcessorCount)
                    let fps = Double(frames.count) / seconds
                    speeds.append(.init(rung: rung.name, width: frames[0].width, height: rung.height, frames: frames.count, seconds: seconds,
                                        fps: fps, realtime: fps / Double(HostBenchmark.frameRate)))
                }
                results.append(.init(encoder: name, family: family.rawValue, codec: codec.rawValue, opens: true, reason: nil, rungs: speeds))
            }
        }
        let devices = ["cuda", "vaapi", "qsv"].map { type -> BenchReport.HardwareDevice in
            do {
                _ = try Media.HardwareDevice(typeName: type)
                return .init(type: type, opens: true, reason: nil)
            } catch {
                return .init(type: type, opens: false, reason: String(describing: error))
            }
        }
        let sessions = try measureCapacity(source: source, sourceWidth: sourceWidth, sourceHeight: tallest, encoders: results, progress: progress)
        let host = BenchReport.Host(cpuModel: Self.cpuModel(), cores: ProcessInfo.processInfo.activeProcessorCount,
                                    memoryBytes: ProcessInfo.processInfo.physicalMemory)
        return BenchReport(prism: PrismVersion.string, preset: preset, frameRate: HostBenchmark.frameRate, segmentSeconds: segmentSeconds,
                           host: host, encoders: results, hardwareDevices: devices, sessions: sessions)
    }

    /// The (family, codec) pairs to try: every known encoder, or those named.
    public func candidates() -> [(EncoderFamily, VideoCodec)] {
        var pairs: [(EncoderFamily, VideoCodec)] = []
        for family in EncoderFamily.allCases {
            for codec in VideoCodec.allCases {
                guard let name = family.encoderName(for: codec) else { continue }
                if let encoders, !encoders.contains(name) && !encoders.contains(codec.rawValue) { continue }
                pairs.append((family, codec))
            }
        }
        return pairs
    }

    func timeEncode(frames: [Frame], family: EncoderFamily, codec: VideoCodec, device: Media.HardwareDevice?, bitrate: Int, threads: Int) throws -> Double {
        let choice = EncoderChoice(codec: codec, family: family, encoderName: family.encoderName(for: codec)!, preset: preset, fallbackReason: nil)
        let factory = try RenditionEncoderFactory(choice: choice, device: device, threadsPerEncoder: threads, globalHeader: false)
        let started = DispatchTime.now().uptimeNanoseconds
        let (encoder, pool) = try factory.makeEncoder(width: frames[0].width, height: frames[0].height, timeBase: Rational(num: 1, den: Int32(HostBenchmark.frameRate)),
                                                      frameRate: Rational(num: Int32(HostBenchmark.frameRate), den: 1), bitrate: bitrate, gopSize: frames.count + 1)
        for (index, frame) in frames.enumerated() {
            var picture = try frame.reference()
            picture.pts = Int64(index)
            if let pool { picture = try pool.upload(picture) }
            _ = try encoder.encode(picture)
        }
        _ = try encoder.encode(nil)
        return Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9
    }

    /// Concurrent sessions, each transcoding the segment into the capacity ladder, until one misses the deadline.
    func measureCapacity(source: [Frame], sourceWidth: Int, sourceHeight: Int, encoders: [BenchReport.EncoderResult],
                         progress: (String) -> Void) throws -> BenchReport.SessionCapacity? {
        // The session encoder: the first hardware H.264 encoder that opened, else the first software one that did.
        guard let chosen = encoders.first(where: { $0.opens && $0.family != "software" && $0.codec == "h264" })
                ?? encoders.first(where: { $0.opens && $0.codec == "h264" }) ?? encoders.first(where: \.opens),
              let family = EncoderFamily(rawValue: chosen.family), let codec = VideoCodec(rawValue: chosen.codec) else { return nil }
        let ladder = HostBenchmark.capacityLadder.filter { $0.height <= sourceHeight }
        let perRung = try ladder.map { rung -> [Frame] in
            let scaler = Scaler(width: rung.width(forSourceWidth: sourceWidth, sourceHeight: sourceHeight), height: rung.height)
            return try source.map { try scaler.scale($0) }
        }
        let deadline = segmentSeconds * HostBenchmark.deadlineShare
        var trials: [BenchReport.SessionTrial] = []
        var capacity = 0
        for sessions in 1...maximumSessions {
            progress("\(sessions) concurrent session(s) of \(ladder.map(\.name).joined(separator: ",")) with \(chosen.encoder)")
            let timings = ConcurrentTimings(count: sessions)
            let group = DispatchGroup()
            for session in 0..<sessions {
                group.enter()
                let thread = Thread {
                    defer { group.leave() }
                    do {
                        let device = try family.deviceType.map { try Media.HardwareDevice(typeName: $0) }
                        let started = DispatchTime.now().uptimeNanoseconds
                        for (rung, frames) in zip(ladder, perRung) {
                            // One thread per encoder, as a farmer's segment task runs; sessions take the other cores.
                            _ = try self.timeEncode(frames: frames, family: family, codec: codec, device: device, bitrate: rung.bitrate,
                                                    threads: 1)
                        }
                        timings.set(session, Double(DispatchTime.now().uptimeNanoseconds - started) / 1e9)
                    } catch {
                        timings.set(session, .infinity)
                    }
                }
                thread.stackSize = 16 << 20
                thread.start()
            }
            group.wait()
            let slowest = timings.values.max() ?? .infinity
            let ok = slowest <= deadline
            trials.append(.init(sessions: sessions, slowestSeconds: slowest.isFinite ? slowest : -1, withinDeadline: ok))
            guard ok else { break }
            capacity = sessions
        }
        return .init(encoder: chosen.encoder, preset: preset, ladder: ladder.map(\.description).joined(separator: ","),
                     segmentSeconds: segmentSeconds, deadlineShare: HostBenchmark.deadlineShare, capacity: capacity, trials: trials)
    }

    static func cpuModel() -> String {
        guard let info = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8) else { return "unknown" }
        for line in info.split(separator: "\n") where line.hasPrefix("model name") {
            return line.split(separator: ":", maxSplits: 1).last.map { $0.trimmingCharacters(in: .whitespaces) } ?? "unknown"
        }
        return "unknown"
    }
}

/// Per-session timings written from several threads.
final class ConcurrentTimings: Sendable {
    private let storage: Mutex<[Double]>
    init(count: Int) { storage = Mutex(Array(repeating: .infinity, count: count)) }
    func set(_ index: Int, _ value: Double) { storage.withLock { $0[index] = value } }
    var values: [Double] { storage.withLock { $0 } }
}
