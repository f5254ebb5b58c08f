import Foundation
import PrismTestSupport
import Testing

/// `prism live` end to end: real pushes with the ffmpeg CLI over RTMP and SRT into a listening Prism, real farmers,
/// playlists checked while the push runs and decoded with ffprobe once it ends. Each test's work with processes runs on a
/// GCD thread (`offPool`), its expectations after: a test blocking Swift's cooperative pool for a minute starves the async
/// tests beside it, and a test waiting on the pool is itself starved by other tests' blocking (a starved wait outlived a
/// listener's 120 s connect timeout that way).
@Suite(.serialized) struct LiveStreamTests {
    /// Runs blocking work (child processes, waits) off the cooperative pool.
    static func offPool<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async { continuation.resume(with: Result { try work() }) }
        }
    }

    /// A running `prism live`: stdout (the --json lines) collected, stderr in a file.
    final class LiveRun: @unchecked Sendable {
        let process = Process()
        let log: URL
        private let out = Pipe()
        private let box = OutputBox()

        init(_ arguments: [String], folder: TemporaryFolder) throws {
            log = folder.url.appendingPathComponent("live-\(UUID().uuidString.prefix(6)).log")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            process.executableURL = PrismBinary.url
            process.arguments = ["live"] + arguments
            process.standardOutput = out
            process.standardError = try FileHandle(forWritingTo: log)
            process.standardInput = FileHandle.nullDevice
            try process.run()
            let reader = out.fileHandleForReading
            let box = box
            DispatchQueue.global().async { box.data = reader.readDataToEndOfFile() }
        }

        var stderr: String { (try? String(contentsOf: log, encoding: .utf8)) ?? "" }

        /// Waits for the log to say `text` (the listener is up once it says it waits for a broadcaster).
        func waitForLog(_ text: String, seconds: Double = 120) -> Bool {
            let until = Date(timeIntervalSinceNow: seconds)
            while Date() < until {
                if stderr.contains(text) { return true }
                if !process.isRunning { return stderr.contains(text) }
                Thread.sleep(forTimeInterval: 0.1)
            }
            return false
        }

        /// Waits for the exit (killing it past `seconds`): status, the --json lines, the log.
        func finish(seconds: Double = 180) -> Ended {
            let until = Date(timeIntervalSinceNow: seconds)
            while process.isRunning && Date() < until { Thread.sleep(forTimeInterval: 0.1) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
            Thread.sleep(forTimeInterval: 0.2)
            let lines = String(decoding: box.data, as: UTF8.self).split(separator: "\n").compactMap {
                (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: Any]
            }
            return Ended(status: process.terminationStatus, lines: lines, log: stderr)
        }

        deinit { if process.isRunning { kill(process.processIdentifier, SIGKILL) } }
    }

    /// How a `prism live` run ended: its exit status, its --json lines, its log.
    struct Ended: @unchecked Sendable {
        let status: Int32
        let lines: [[String: Any]]
        let log: String
        var segments: [[String: Any]] { lines.filter { $0["event"] as? String == "segment" } }
    }

    final class OutputBox: @unchecked Sendable {
        private let lock = NSLock()
        private var stored = Data()
        var data: Data {
            get { lock.withLock { stored } }
            set { lock.withLock { stored = newValue } }
        }
    }

    /// A port to listen on, below Linux's ephemeral range (32768 up), where the suite's own outgoing connections take
    /// theirs: a listener drawn in it once found its port taken by one (`Address already in use`).
    static func port() -> Int { Int.random(in: 20_000...32_000) }

    /// Pushes `clip` in real time as `ffmpeg -re … -c copy` does, retrying while the listener is not up yet; nil when
    /// it was pushed, else what ffmpeg said.
    static func push(_ clip: String, to url: String, format: String) throws -> String? {
        var last = ""
        for _ in 0..<40 {
            let result = try HostTool.run("ffmpeg", ["-v", "error", "-re", "-i", clip, "-c", "copy", "-f", format, url])
            if result.status == 0 { return nil }
            last = result.stderr
            Thread.sleep(forTimeInterval: 0.25)
        }
        return "ffmpeg could not push to \(url): \(last)"
    }

    static func playlist(_ output: String, _ name: String) -> String {
        (try? String(contentsOfFile: "\(output)/\(name)", encoding: .utf8)) ?? ""
    }

    static func segments(_ playlist: String) -> Int { playlist.split(separator: "\n").filter { $0.hasPrefix("seg_") }.count }

    @Test func anRTMPPushIsPublishedWhileItRunsServedOverHTTPAndEveryFrameEndsInThePlaylists() async throws {
        let folder = try TemporaryFolder("prism-live-rtmp")
        defer { folder.remove() }
        let output = folder.path("out")
        struct Seen: Sendable {
            var listening = false, pushFailure: String?, listedDuringPush = 0, served = 0, servedBody = "", refused: [Int] = [], frames: [Int64] = []
            var lingering = false, endedOverHTTP = ""
        }
        let (seen, ended) = try await Self.offPool { () throws -> (Seen, Ended) in
            var seen = Seen()
            let rtmp = "rtmp://127.0.0.1:\(Self.port())/live/key"
            let servePort = Self.port()
            let live = try LiveRun(["--input", rtmp, "-o", output, "--ladder", "360p,240p", "--preset", "veryfast", "--window", "0",
                                    "--connect-timeout", "120", "--reconnect-wait", "1", "--serve", "127.0.0.1:\(servePort)", "--json"], folder: folder)
            seen.listening = live.waitForLog("waiting for a broadcaster")
            let pushed = OutputBox(), failure = OutputBox()
            DispatchQueue.global().async {
                if let text = try? Self.push(Fixtures.path("pan-720p.mp4"), to: rtmp, format: "flv") { failure.data = Data(text.utf8) }
                pushed.data = Data([1])
            }
            // Segments appear while the push runs: the 6 s clip takes 6 s to push, the first 2 s segment is listed well before.
            while pushed.data.isEmpty {
                Thread.sleep(forTimeInterval: 0.1)
                let listed = Self.segments(Self.playlist(output, "360p/index.m3u8"))
                if listed > 0 && seen.listedDuringPush == 0 {
                    let answer = HTTPCall.send("GET", "http://127.0.0.1:\(servePort)/360p/index.m3u8")
                    (seen.served, seen.servedBody) = (answer.status, String(decoding: answer.body, as: UTF8.self))
                }
                seen.listedDuringPush = max(seen.listedDuringPush, listed)
            }
            seen.pushFailure = failure.data.isEmpty ? nil : String(decoding: failure.data, as: UTF8.self)
            seen.refused = [HTTPCall.send("GET", "http://127.0.0.1:\(servePort)/..%2F..%2Fetc/passwd").status,
                            HTTPCall.send("GET", "http://127.0.0.1:\(servePort)/360p/.index.m3u8").status]
            // The stream over, the server goes on serving so a player behind the live edge reaches the end; SIGTERM stops it.
            seen.lingering = live.waitForLog("the stream has ended; serving", seconds: 60)
            seen.endedOverHTTP = String(decoding: HTTPCall.send("GET", "http://127.0.0.1:\(servePort)/240p/index.m3u8").body, as: UTF8.self)
            live.process.terminate()
            let ended = live.finish()
            seen.frames = try ["360p", "240p"].map { try Farm.decodedFrames("\(output)/\($0)/index.m3u8") }
            return (seen, ended)
        }
        #expect(seen.listening, "\(ended.log)")
        #expect(seen.pushFailure == nil, "\(seen.pushFailure ?? "")")
        #expect(seen.listedDuringPush >= 1, "no segment was listed while the push ran: \(ended.log)")
        #expect(seen.served == 200 && seen.servedBody.contains("seg_00000.ts"))
        #expect(seen.refused == [404, 404])
        #expect(seen.lingering && seen.endedOverHTTP.hasSuffix("#EXT-X-ENDLIST\n"), "\(seen.endedOverHTTP) \(ended.log)")
        #expect(ended.status == 0, "\(ended.log)")
        for rung in ["360p", "240p"] {
            let text = Self.playlist(output, "\(rung)/index.m3u8")
            #expect(text.hasSuffix("#EXT-X-ENDLIST\n") && text.contains("#EXT-X-PLAYLIST-TYPE:EVENT"), "\(text)")
        }
        #expect(seen.frames == [180, 180], "every pushed frame is in every rung's playlist")
        #expect(Self.playlist(output, "audio/index.m3u8").hasSuffix("#EXT-X-ENDLIST\n"))
        #expect(Self.playlist(output, "master.m3u8").contains("RESOLUTION=640x360"))
        #expect(ended.segments.count == 3 && ended.segments.allSatisfy { ($0["gap"] as? Bool) == false && ($0["encodedBy"] as? String) == "local" })
        #expect(ended.segments.allSatisfy { (($0["latencySeconds"] as? Double) ?? -1) >= 0 })
        let end = try #require(ended.lines.last)
        #expect(end["event"] as? String == "end" && end["frames"] as? Int == 180 && end["gaps"] as? Int == 0)
    }

    @Test func anSRTPushToAListeningPrismEndsWithEveryFrame() async throws {
        let folder = try TemporaryFolder("prism-live-srt")
        defer { folder.remove() }
        let output = folder.path("out")
        let (listening, pushFailure, ended, frames) = try await Self.offPool { () throws -> (Bool, String?, Ended, Int64) in
            let port = Self.port()
            let live = try LiveRun(["--input", "srt://127.0.0.1:\(port)", "-o", output, "--ladder", "240p", "--preset", "veryfast",
                                    "--connect-timeout", "120", "--reconnect-wait", "1"], folder: folder)
            let listening = live.waitForLog("waiting for a broadcaster")
            // linger: the sender waits for its last packets to leave before closing (SRT's live mode drops them otherwise).
            let failure = try Self.push(Fixtures.path("pan-720p.mp4"), to: "srt://127.0.0.1:\(port)?linger=2", format: "mpegts")
            let ended = live.finish()
            return (listening, failure, ended, try Farm.decodedFrames("\(output)/240p/index.m3u8"))
        }
        #expect(listening && pushFailure == nil, "\(pushFailure ?? ended.log)")
        #expect(ended.status == 0, "\(ended.log)")
        #expect(Self.playlist(output, "240p/index.m3u8").hasSuffix("#EXT-X-ENDLIST\n"))
        #expect(frames == 180)
    }

    @Test func aBroadcasterWhoDropsAndPushesAgainAtANewSizeGetsADiscontinuityAndReshapedRungs() async throws {
        let folder = try TemporaryFolder("prism-live-reconnect")
        defer { folder.remove() }
        let output = folder.path("out")
        let (steps, ended, frames) = try await Self.offPool { () throws -> ([Bool], Ended, Int64) in
            let rtmp = "rtmp://127.0.0.1:\(Self.port())/live/key"
            let live = try LiveRun(["--input", rtmp, "-o", output, "--ladder", "360p,240p", "--preset", "veryfast", "--window", "0",
                                    "--connect-timeout", "120", "--reconnect-wait", "20"], folder: folder)
            var steps = [live.waitForLog("waiting for a broadcaster")]
            steps.append(try Self.push(Fixtures.path("pan-720p.mp4"), to: rtmp, format: "flv") == nil)
            steps.append(live.waitForLog("waiting up to 20 s for the broadcaster to push again", seconds: 60))
            // The second push: 642x362 at 24 fps, no audio, 72 frames.
            steps.append(try Self.push(Fixtures.path("odd-642x362.mp4"), to: rtmp, format: "flv") == nil)
            // Nobody pushes a third time; SIGTERM ends the stream at once instead of after the 20 s wait.
            steps.append(live.waitForLog("input period 1 ended", seconds: 60))
            live.process.terminate()
            let ended = live.finish()
            return (steps, ended, try Farm.decodedFrames("\(output)/360p/index.m3u8"))
        }
        #expect(steps == [true, true, true, true, true], "\(ended.log)")
        #expect(ended.status == 0, "\(ended.log)")
        let rung = Self.playlist(output, "360p/index.m3u8")
        #expect(rung.components(separatedBy: "#EXT-X-DISCONTINUITY\n").count == 2, "\(rung)")
        #expect(rung.hasSuffix("#EXT-X-ENDLIST\n"))
        #expect(frames == 180 + 72)
        // The second period's picture is 642x362: its 360p rung keeps that shape.
        #expect(Self.playlist(output, "master.m3u8").contains("RESOLUTION=638x360"))
        // It has no audio: its audio segments are silence, so the audio playlist runs on with the video.
        let audio = Self.playlist(output, "audio/index.m3u8")
        #expect(Self.segments(audio) == Self.segments(rung) && audio.contains("#EXT-X-DISCONTINUITY\n"), "\(audio)")
    }

    @Test func timestampsThatJumpBackStartANewPeriodAndNoFrameIsLost() async throws {
        let folder = try TemporaryFolder("prism-live-jump")
        defer { folder.remove() }
        let output = folder.path("out")
        let (ended, frames) = try await Self.offPool { () throws -> (Ended, Int64) in
            // The same transport stream twice over: its timestamps jump back 6 s halfway, as a relay restarting an encoder does.
            let once = folder.path("once.ts"), twice = folder.path("twice.ts")
            try HostTool.succeed("ffmpeg", ["-v", "error", "-i", Fixtures.path("pan-720p.mp4"), "-c", "copy", "-f", "mpegts", once])
            let bytes = try Data(contentsOf: URL(fileURLWithPath: once))
            try (bytes + bytes).write(to: URL(fileURLWithPath: twice))
            let live = try LiveRun(["--input", twice, "-o", output, "--ladder", "240p", "--preset", "veryfast", "--window", "0"], folder: folder)
            let ended = live.finish()
            return (ended, try Farm.decodedFrames("\(output)/240p/index.m3u8"))
        }
        #expect(ended.status == 0, "\(ended.log)")
        #expect(ended.log.contains("its timestamps jumped -6.0 s"), "\(ended.log)")
        let rung = Self.playlist(output, "240p/index.m3u8")
        #expect(rung.components(separatedBy: "#EXT-X-DISCONTINUITY\n").count == 2 && rung.hasSuffix("#EXT-X-ENDLIST\n"), "\(rung)")
        #expect(frames == 360)
    }

    @Test func aPictureSizeChangeInsideOneStreamStartsANewPeriodWithReshapedRungs() async throws {
        let folder = try TemporaryFolder("prism-live-resize")
        defer { folder.remove() }
        let output = folder.path("out")
        let (ended, frames, last) = try await Self.offPool { () throws -> (Ended, Int64, String) in
            // One transport stream whose second half is 642x362 (timestamps continuing): the encoder changed resolution
            // without the connection dropping, the new size known only from the stream's own parameter sets.
            let wide = folder.path("wide.ts"), odd = folder.path("odd.ts"), both = folder.path("both.ts")
            try HostTool.succeed("ffmpeg", ["-v", "error", "-i", Fixtures.path("pan-720p.mp4"), "-an", "-c", "copy", "-f", "mpegts", wide])
            try HostTool.succeed("ffmpeg", ["-v", "error", "-i", Fixtures.path("odd-642x362.mp4"), "-c:v", "libx264", "-preset", "veryfast", "-g", "48",
                                            "-output_ts_offset", "6", "-f", "mpegts", odd])
            try (try Data(contentsOf: URL(fileURLWithPath: wide)) + Data(contentsOf: URL(fileURLWithPath: odd))).write(to: URL(fileURLWithPath: both))
            let live = try LiveRun(["--input", both, "-o", output, "--ladder", "360p", "--preset", "veryfast", "--window", "0"], folder: folder)
            let ended = live.finish()
            let last = try HostTool.run("ffprobe", ["-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0", "\(output)/360p/seg_00004.ts"]).stdout
            return (ended, try Farm.decodedFrames("\(output)/360p/index.m3u8"), last)
        }
        #expect(ended.status == 0, "\(ended.log)")
        #expect(ended.log.contains("the picture changed from 1280x720 to 642x362"), "\(ended.log)")
        let rung = Self.playlist(output, "360p/index.m3u8")
        #expect(rung.components(separatedBy: "#EXT-X-DISCONTINUITY\n").count == 2, "\(rung)")
        #expect(Self.playlist(output, "master.m3u8").contains("RESOLUTION=638x360"))
        #expect(frames == 180 + 72)
        #expect(last.hasPrefix("638,360"), "\(last)")
    }

    /// A phone's portrait clip with one keyframe in 24 s (as an intra-refresh broadcast sends): cut every 2 s by time, every
    /// frame decoded here once (segments primed from the keyframe would decode 60, 120, … 720 frames again, and a keyframe
    /// interval past 20 s would drop frames), the rungs upright as the ffmpeg CLI shows it.
    @Test func aTurnedStreamWithOneKeyframeIsDecodedOnceAndComesOutUpright() async throws {
        let folder = try TemporaryFolder("prism-live-sparse")
        defer { folder.remove() }
        let output = folder.path("out")
        let (ended, frames, size, upright) = try await Self.offPool { () throws -> (Ended, Int64, String, Double) in
            let stored = folder.path("stored.mp4"), source = folder.path("portrait.mp4")
            try HostTool.succeed("ffmpeg", ["-v", "error", "-stream_loop", "3", "-i", Fixtures.path("pan-720p.mp4"), "-an", "-vf", "scale=640:360",
                                            "-c:v", "libx264", "-preset", "veryfast", "-bf", "2", "-x264-params", "keyint=infinite:scenecut=0", stored])
            // The turn is set on a stream copy: only then does the container carry it as a display matrix.
            try HostTool.succeed("ffmpeg", ["-v", "error", "-i", stored, "-c", "copy", "-metadata:s:v:0", "rotate=90", source])
            let live = try LiveRun(["--input", source, "-o", output, "--ladder", "360p", "--preset", "veryfast", "--window", "0", "--json"],
                                   folder: folder)
            let ended = live.finish()
            let first = "\(output)/360p/seg_00000.ts"
            let size = try HostTool.run("ffprobe", ["-v", "error", "-show_entries", "stream=width,height", "-of", "csv=p=0", first]).stdout
            return (ended, try Farm.decodedFrames("\(output)/360p/index.m3u8"), size, try HostTool.firstFramePSNR(source, first, width: 202, height: 360))
        }
        #expect(ended.status == 0, "\(ended.log)")
        #expect(ended.log.contains("cutting every 2.0 s, from the frames decoded here") && ended.log.contains("turned upright"), "\(ended.log)")
        #expect(frames == 720)
        #expect(ended.segments.count == 12 && ended.segments.allSatisfy { $0["frames"] as? Int == 60 }, "\(ended.segments)")
        let end = try #require(ended.lines.last)
        #expect(end["decodedFrames"] as? Int == 720 && end["droppedFrames"] as? Int == 0, "\(end)")
        #expect(size.hasPrefix("202,360"), "\(size)")
        #expect(upright > 30, "first frame \(upright) dB from the ffmpeg CLI's upright picture")
    }

    @Test func aWatermarkingFarmersSegmentsNeverReachThePlaylistAndAStallingOnesAreRedoneHere() async throws {
        let folder = try TemporaryFolder("prism-live-farm")
        defer { folder.remove() }
        let output = folder.path("out"), stalledOutput = folder.path("stalled")
        let (cheatURL, ended, frames, stalled, stalledFrames) = try await Self.offPool { () throws -> (String, Ended, Int64, Ended, Int64) in
            let honest = try Farm.farmer(folder, "honest")
            let cheat = try Farm.farmer(folder, "cheat", ["--misbehave", "watermark"])
            let live = try LiveRun(["--input", Fixtures.path("pan-720p.mp4"), "--realtime", "-o", output, "--ladder", "360p,240p", "--preset", "veryfast",
                                    "--window", "0", "--farmers", "\(cheat.url),\(honest.url)", "--audit", "all", "--json"], folder: folder)
            let ended = live.finish()
            let frames = try Farm.decodedFrames("\(output)/360p/index.m3u8")
            let staller = try Farm.farmer(folder, "staller", ["--misbehave", "stall"])
            let stalledRun = try LiveRun(["--input", Fixtures.path("pan-720p.mp4"), "--realtime", "-o", stalledOutput, "--ladder", "240p",
                                          "--preset", "veryfast", "--farmers", staller.url, "--json"], folder: folder)
            let stalled = stalledRun.finish()
            _ = honest
            return (cheat.url, ended, frames, stalled, try Farm.decodedFrames("\(stalledOutput)/240p/index.m3u8"))
        }
        #expect(ended.status == 0, "\(ended.log)")
        #expect(frames == 180)
        let end = try #require(ended.lines.last)
        #expect(end["gaps"] as? Int == 0 && end["published"] as? Int == 3, "\(ended.log)")
        let farmers = try #require(end["farmers"] as? [[String: Any]])
        let cheatTally = try #require(farmers.first { $0["url"] as? String == cheatURL })
        #expect(cheatTally["accepted"] as? Int == 0, "the watermarking farmer's segments are never accepted: \(farmers)")
        let rejections = try #require(end["rejections"] as? [[String: Any]])
        #expect(rejections.allSatisfy { $0["url"] as? String == cheatURL && (($0["reasons"] as? [String]) ?? []).contains("watermark-region") })
        // No published segment holds the logo: each was accepted from the honest farmer or made here.
        #expect(ended.segments.allSatisfy { ["farm", "local"].contains($0["encodedBy"] as? String ?? "") })

        #expect(stalled.status == 0, "\(stalled.log)")
        #expect(stalled.segments.count == 3 && stalled.segments.allSatisfy { $0["encodedBy"] as? String == "local" && ($0["note"] as? String)?.contains("farm") == true },
                "\(stalled.log)")
        #expect(stalledFrames == 180)
    }

    @Test func aTakenServePortAndAStopBeforeAnyStreamEachGetOneLineAndExitTwo() async throws {
        let folder = try TemporaryFolder("prism-live-stop")
        defer { folder.remove() }
        let (serving, taken, stopped) = try await Self.offPool { () throws -> (Bool, PrismBinary.Result, Ended) in
            let servePort = Self.port()
            let first = try LiveRun(["--input", "rtmp://127.0.0.1:\(Self.port())/live/key", "-o", folder.path("a"), "--serve", "127.0.0.1:\(servePort)",
                                     "--connect-timeout", "120"], folder: folder)
            let serving = first.waitForLog("waiting for a broadcaster")
            let taken = try PrismBinary.run(["live", "--input", Fixtures.path("pan-720p.mp4"), "-o", folder.path("b"), "--serve", "127.0.0.1:\(servePort)"])
            first.process.terminate()
            return (serving, taken, first.finish())
        }
        #expect(serving)
        let takenLines = taken.stderr.split(separator: "\n").filter { $0.hasPrefix("prism: ") }
        #expect(taken.status == 2 && takenLines.count == 1 && takenLines[0].contains("cannot listen"), "\(taken.stderr)")
        #expect(stopped.status == 2 && stopped.log.contains("stopped before any stream arrived"), "\(stopped.log)")
    }

    @Test func badLiveInputGetsOneLineAndExitTwo() async throws {
        let folder = try TemporaryFolder("prism-live-bad")
        defer { folder.remove() }
        let taken = folder.path("taken")
        try FileManager.default.createDirectory(atPath: taken, withIntermediateDirectories: true)
        #expect(FileManager.default.createFile(atPath: "\(taken)/x", contents: Data("x".utf8)))
        let cases: [([String], String)] = [
            (["--input", "gopher://host/x", "-o", folder.path("a")], "unsupported scheme"),
            (["--input", "rtmp://127.0.0.1:1935", "-o", folder.path("b")], "APP/KEY"),
            (["--input", "srt://127.0.0.1", "-o", folder.path("c")], "srt://HOST:PORT"),
            (["--input", Fixtures.path("pan-720p.mp4"), "-o", folder.path("d"), "--window", "-1"], "--window"),
            (["--input", Fixtures.path("pan-720p.mp4"), "-o", folder.path("e"), "--deadline", "1"], "--deadline"),
            (["--input", Fixtures.path("pan-720p.mp4"), "-o", taken], "exists"),
            (["--input", Fixtures.path("pan-720p.mp4"), "-o", folder.path("f"), "--serve", "nowhere"], "--serve"),
            (["--input", Fixtures.path("pan-720p.mp4"), "-o", folder.path("f2"), "--serve", "127.0.0.1:0", "--serve-linger", "-1"], "--serve-linger"),
            (["--input", "rtmp://127.0.0.1:1935/live/key", "--realtime", "-o", folder.path("g")], "--realtime"),
            (["--input", folder.path("missing.mp4"), "-o", folder.path("h")], "no such file"),
            (["--input", "rtmp://127.0.0.1:\(Self.port())/live/key", "-o", folder.path("i"), "--connect-timeout", "1"], "no stream arrived in time"),
        ]
        let results = try await Self.offPool { try cases.map { try PrismBinary.run(["live"] + $0.0) } }
        for ((arguments, expected), result) in zip(cases, results) {
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            let lines = result.stderr.split(separator: "\n").filter { $0.hasPrefix("prism: ") && !$0.contains("waiting for a broadcaster") }
            #expect(lines.count == 1 && lines[0].contains(expected), "\(arguments): \(result.stderr)")
        }
    }
}
