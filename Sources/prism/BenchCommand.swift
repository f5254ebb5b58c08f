import ArgumentParser
import Foundation
import Honesty
import Media
import Transcode

struct BenchCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "bench",
        abstract: "Measure this host's encoders and how many transcode sessions it can really run.",
        discussion: """
        Makes a camera-like test clip from a fresh random seed, opens every encoder Prism knows (software and \
        hardware; a hardware encoder counts only if a session really opens and encodes), times each at every \
        standard rung, then runs 1, 2, 3… concurrent sessions of a 720p/480p/360p ladder until a segment no \
        longer finishes within 0.8 of its duration. A farmer publishes this, signed, as its claims.
        """)

    @Option(help: "Encoders or codecs to try, comma-separated (e.g. libx264,h264_nvenc or h264,hevc). Default: all.")
    var encoders: String?

    @Option(help: "Length of the test segment in seconds.")
    var seconds: Double = 2

    @Option(help: "Preset to measure at (x264 names, mapped per encoder).")
    var preset: String = "veryfast"

    @Option(help: "Largest number of concurrent sessions to try.")
    var maxSessions: Int = 16

    @Flag(help: "Print one JSON object on stdout instead of the table.")
    var json = false

    func validate() throws {
        guard seconds >= 0.5, seconds <= 10 else { throw ValidationError("--seconds must be between 0.5 and 10") }
        guard maxSessions >= 1, maxSessions <= 64 else { throw ValidationError("--max-sessions must be between 1 and 64") }
    }

    func run() throws {
        FFmpegLibrary.setLogLevel(verbose: false)
        var bench = HostBenchmark()
        bench.segmentSeconds = seconds
        bench.preset = preset
        bench.maximumSessions = maxSessions
        bench.encoders = encoders.map { $0.split(separator: ",").map { String($0).trimmingCharacters(in: .whitespaces) } }
        if let names = bench.encoders, bench.candidates().isEmpty {
            throw CommandFailure.badInput("no known encoder among \(names.joined(separator: ", "))")
        }
        _ = try PresetScale.options(for: preset, encoder: "libx264", codec: .h264)
        let report = try bench.run { FileHandle.standardError.write(Data("prism: \($0)\n".utf8)) }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print(Self.table(report))
        }
    }

    static func table(_ report: BenchReport) -> String {
        var lines = ["host: \(report.host.cpuModel), \(report.host.cores) cores, \(report.host.memoryBytes >> 30) GiB",
                     "preset \(report.preset), \(report.segmentSeconds) s clip at \(report.frameRate) fps", "",
                     pad("encoder", 12) + pad("family", 9) + pad("rung", 7) + "     fps  realtime"]
        for encoder in report.encoders {
            if !encoder.opens {
                lines.append(pad(encoder.encoder, 12) + pad(encoder.family, 9) + "does not open: \(encoder.reason ?? "?")")
                continue
            }
            for rung in encoder.rungs {
                lines.append(pad(encoder.encoder, 12) + pad(encoder.family, 9) + pad(rung.rung, 7) + String(format: "%8.1f %8.2fx", rung.fps, rung.realtime))
            }
        }
        lines.append("")
        for device in report.hardwareDevices {
            lines.append("hardware device \(device.type): \(device.opens ? "opens" : "none (\(device.reason ?? "?"))")")
        }
        if let sessions = report.sessions {
            lines.append("")
            lines.append("sessions: \(sessions.capacity) concurrent \(sessions.encoder) sessions of \(sessions.ladder) finish a \(sessions.segmentSeconds) s segment within \(sessions.deadlineShare)x its duration")
            for trial in sessions.trials {
                lines.append(String(format: "  %2d session(s): slowest %.2f s ", trial.sessions, trial.slowestSeconds) + (trial.withinDeadline ? "ok" : "too slow"))
            }
        }
        return lines.joined(separator: "\n")
    }

    static func pad(_ text: String, _ width: Int) -> String { text.count >= width ? text + " " : text + String(repeating: " ", count: width - text.count) }
}
