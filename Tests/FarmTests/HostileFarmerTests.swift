import Foundation
#if canImport(Glibc)
import Glibc
#endif
import PrismTestSupport
import Testing
import Wire

/// A submitter attacking a farmer, for real: signed tasks asking for absurd rungs or carrying unreadable sources,
/// connections that trickle their headers, a farmer killed mid-task.
@Suite(.serialized) struct HostileFarmerTests {
    static func taskFiles(_ folder: TemporaryFolder, _ name: String) -> [String] {
        (try? FileManager.default.contentsOfDirectory(atPath: folder.path("data-\(name)/tasks"))) ?? []
    }

    @Test func invalidTasksAreRefusedWithAReasonAndLeaveNothingOnDisk() throws {
        let folder = try TemporaryFolder("farmer-invalid")
        defer { folder.remove() }
        let farmer = try Farm.farmer(folder, "target", ["--sandbox", "none"])
        defer { farmer.stop() }
        let source = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("vertical-360x640.mp4")))
        let tasks = farmer.url + FarmerPath.tasks
        let submitter = SigningIdentity()
        var cases: [(String, SegmentTask, Data)] = []
        for (label, rung) in [("width 1", TaskRung(height: 240, width: 1, bitrate: 250_000)),
                              ("width 99,999,999", TaskRung(height: 240, width: 99_999_998, bitrate: 250_000)),
                              ("negative bitrate", TaskRung(height: 240, width: 426, bitrate: -250_000)),
                              ("Int64.max bitrate", TaskRung(height: 240, width: 426, bitrate: Int.max)),
                              ("odd height", TaskRung(height: 241, bitrate: 250_000))] {
            cases.append((label, SegmentTask(source: ContentAddress(hashing: source), ladder: [rung], codec: "h264"), source))
        }
        cases.append(("13 rungs", SegmentTask(source: ContentAddress(hashing: source), ladder: Array(repeating: TaskRung(height: 240, bitrate: 250_000), count: 13),
                                              codec: "h264"), source))
        cases.append(("unknown codec", SegmentTask(source: ContentAddress(hashing: source), ladder: [TaskRung(height: 240, bitrate: 250_000)], codec: "mpeg9"), source))
        // Sources that hash right but are no video: 40 of them, 1 MB each, the disk-filling attack.
        for index in 0..<40 {
            var noise = Data(count: 1 << 20)
            noise[0] = UInt8(index)
            cases.append(("unreadable source \(index)", SegmentTask(source: ContentAddress(hashing: noise), ladder: [TaskRung(height: 240, bitrate: 250_000)],
                                                                    codec: "h264"), noise))
        }
        for (label, task, body) in cases {
            let signed = try SignedEnvelope.sign(task, method: "POST", path: FarmerPath.tasks, by: submitter)
            let (status, reply) = try FarmerAPITests.call("POST", tasks, envelope: signed, body: body)
            let json = (try? JSONSerialization.jsonObject(with: reply)) as? [String: String] ?? [:]
            #expect(status == 400, "\(label): \(status) \(String(decoding: reply, as: UTF8.self))")
            #expect(["bad-task", "bad-source"].contains(json["error"] ?? "") && !(json["message"] ?? "").isEmpty, "\(label): \(json)")
        }
        #expect(Self.taskFiles(folder, "target").isEmpty, "left on disk: \(Self.taskFiles(folder, "target"))")
        #expect(farmer.log.contains("task refused (bad-source)") && farmer.log.contains("task refused (bad-task)"))
        // And it still works.
        let good = FarmerAPITests.task(for: source)
        let (status, _) = try FarmerAPITests.call("POST", tasks, envelope: try SignedEnvelope.sign(good, method: "POST", path: FarmerPath.tasks, by: submitter),
                                                  body: source)
        #expect(status == 200)
    }

    /// Random signed bodies at every farmer route: tasks with numbers at the extremes, NaN and Infinity spelled out,
    /// wrong types and huge strings, bandwidth probes asking for absurd sizes, output paths of any shape. Nothing
    /// answers 5xx, nothing is left on disk, and the farmer still does real work afterwards.
    @Test func fuzzedSignedRequestsLeaveTheFarmerUpAndItsDiskClean() throws {
        let folder = try TemporaryFolder("farmer-fuzz")
        defer { folder.remove() }
        let farmer = try Farm.farmer(folder, "fuzzed", ["--sandbox", "none"])
        defer { farmer.stop() }
        let submitter = SigningIdentity()
        let source = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("vertical-360x640.mp4")))
        var generator = FuzzNumbers(seed: 0xFA57_F00D)
        let extremes = ["1e19", "-1e19", "1e308", "1e999", "-0", "9223372036854775807", "18446744073709551616", "-9223372036854775809",
                        "\"NaN\"", "\"Infinity\"", "NaN", "null", "true", "[]", "{}", "\"\"", "0", "2", "240", "-240",
                        "\"" + String(repeating: "A", count: 20_000) + "\"", "\"../../etc/passwd\"", "\"\\u0000\""]
        func pick() -> String { extremes[generator.next(extremes.count)] }
        for round in 0..<180 {
            let (path, method, body, upload): (String, String, String, Data)
            switch round % 6 {
            case 4:
                // A general job: every field at the extremes, names that try to escape /in, blobs it never uploaded.
                let input = "{\"name\":\(generator.next(2) == 0 ? "\"../x\"" : pick()),\"content\":\(pick()),\"bytes\":\(pick())}"
                let limits = "{\"cpus\":\(pick()),\"memoryBytes\":\(pick()),\"pids\":\(pick()),\"timeSeconds\":\(pick()),\"outputBytes\":\(pick())}"
                (path, method, upload) = (JobPath.jobs, "POST", Data())
                body = "{\"mode\":\(generator.next(2) == 0 ? "\"plain\"" : pick()),\"image\":\"\(ContentAddress(hashing: Data(count: generator.next(9))))\",\"command\":[\(pick())],\"env\":{\"A\":\(pick())},\"inputs\":[\(input)],\"limits\":\(limits),\"network\":\(pick())}"
            case 5:
                // A blob whose bytes are not what its name says, or whose name is not an address.
                let name = generator.next(2) == 0 ? ContentAddress(hashing: Data(count: 7)).description : ["..", "sha256:zz", "%2e%2e", "x"][generator.next(4)]
                (path, method, upload) = (JobPath.blobs + name, "PUT", Data(count: 8 + generator.next(4000)))
                body = ""
            case 0, 1:
                let rung = "{\"height\":\(pick()),\"width\":\(pick()),\"bitrate\":\(pick())}"
                let window = generator.next(2) == 0 ? "null" : "{\"start\":\(pick()),\"end\":\(pick()),\"timeBaseNumerator\":\(pick()),\"timeBaseDenominator\":\(pick())}"
                (path, method, upload) = (FarmerPath.tasks, "POST", generator.next(3) == 0 ? source : Data(count: generator.next(5000)))
                let address = generator.next(2) == 0 ? "\"\(ContentAddress(hashing: upload))\"" : pick()
                body = "{\"source\":\(address),\"ladder\":[\(rung)],\"codec\":\(generator.next(2) == 0 ? "\"h264\"" : pick()),\"preset\":\(pick()),\"options\":{\"encoder\":\(pick())},\"window\":\(window)}"
            case 2:
                (path, method, upload) = (FarmerPath.bandwidth, "POST", Data(count: generator.next(3000)))
                body = "{\"uploadBytes\":\(pick()),\"downloadBytes\":\(pick())}"
            default:
                let segments = ["..", "%2e%2e", "0", String(repeating: "f", count: 64), "-1", "99999999999999999999", "x"]
                path = "/v1/tasks/\(segments[generator.next(segments.count)])/outputs/\(segments[generator.next(segments.count)])"
                (method, body, upload) = ("GET", "", Data())
            }
            let envelope = try SignedEnvelope.sign(body: Data(body.utf8), method: method, path: path, by: submitter)
            let (status, reply) = try FarmerAPITests.call(method, farmer.url + path, envelope: envelope, body: method == "GET" ? nil : upload)
            #expect((200..<500).contains(status), "\(method) \(path) \(body.prefix(200)): \(status) \(String(decoding: reply.prefix(300), as: UTF8.self))")
        }
        #expect(Self.taskFiles(folder, "fuzzed").allSatisfy {
            FileManager.default.fileExists(atPath: folder.path("data-fuzzed/tasks/\($0)/receipt.json"))
        }, "only finished tasks stay: \(Self.taskFiles(folder, "fuzzed"))")
        let good = FarmerAPITests.task(for: source)
        let (status, _) = try FarmerAPITests.call("POST", farmer.url + FarmerPath.tasks,
                                                  envelope: try SignedEnvelope.sign(good, method: "POST", path: FarmerPath.tasks, by: submitter), body: source)
        #expect(status == 200)
        #expect(try FarmerAPITests.call("GET", farmer.url + "/healthz", envelope: nil).0 == 200)
        // No blob that failed its hash was kept.
        let blobs = (try? FileManager.default.contentsOfDirectory(atPath: folder.path("data-fuzzed/blobs"))) ?? []
        #expect(blobs.isEmpty, "\(blobs)")
    }

    @Test func badFarmerOptionsExitTwoWithOneLine() throws {
        let folder = try TemporaryFolder("farmer-options")
        defer { folder.remove() }
        let key = try Farm.key(folder, "options")
        for (extra, text) in [(["--idle-timeout", "0"], "--idle-timeout must be between 1 and 3600 seconds"),
                              (["--idle-timeout", "4000"], "--idle-timeout must be between 1 and 3600 seconds"),
                              (["--claim-fps", "0"], "--claim-fps must be above 0"), (["--claim-fps", "1e9"], "--claim-fps must be above 0"),
                              (["--price", "cheap"], "--price: a price is credits per megapixel"), (["--price", "5000/megapixel"], "--price: a price"),
                              (["--jobs", "some"], "--jobs must be auto or none"), (["--job-max-time", "0"], "--job-max-time must be positive"),
                              (["--job-max-memory", "lots"], "--job-max-memory")] {
            let result = try PrismBinary.run(["farmer", "serve", "--listen", "127.0.0.1:0", "--key", key, "--data", folder.path("data")] + extra)
            #expect(result.status == 2, "\(extra): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains(text), "\(extra): \(result.stderr)")
        }
    }

    /// Connections that send their headers a byte at a time are closed after the idle timeout, on the farmer and
    /// on the registry, and both keep serving.
    @Test func connectionsTricklingTheirHeadersAreDropped() throws {
        let folder = try TemporaryFolder("slow-headers")
        defer { folder.remove() }
        let farmer = try Farm.farmer(folder, "patient", ["--sandbox", "none", "--idle-timeout", "2"])
        defer { farmer.stop() }
        let registry = try LiveServer(["registry", "serve", "--listen", "127.0.0.1:0", "--db", "sqlite:" + folder.path("r.sqlite"), "--idle-timeout", "2"],
                                      timeout: 60)
        defer { registry.stop() }
        for server in [farmer.url, registry.url] {
            let port = UInt16(server.split(separator: ":").last!)!
            let sockets = (0..<20).map { _ in SlowClient(port: port) }
            let started = Date()
            var open = sockets.count
            // One header byte per 0.5 s, for up to 8 s: the server must hang up well before the headers end.
            let header = Array("GET /healthz HTTP/1.1\r\nHost: x\r\nX-Slow: \(String(repeating: "a", count: 40))\r\n\r\n".utf8)
            var index = 0
            while open > 0 && Date().timeIntervalSince(started) < 8 && index < header.count {
                open = sockets.filter { $0.send(header[index]) }.count
                index += 1
                Thread.sleep(forTimeInterval: 0.5)
            }
            #expect(open == 0, "\(server): \(open) of 20 trickling connections still open after \(Date().timeIntervalSince(started)) s")
            sockets.forEach { $0.close() }
            #expect(try HostTool.run("curl", ["-sf", "-m", "5", server + "/healthz"]).status == 0, "\(server) still serves")
        }
    }

    /// A farmer killed (SIGKILL) or stopped (SIGTERM) while it works on a job's segment and started again on the
    /// same port and data: it cleans up what the dead run left, the submitter waits for it with backoff, and the job
    /// is delivered whole.
    @Test(arguments: [true, false])
    func aFarmerRestartedMidJobStillDeliversIt(kill: Bool) throws {
        let folder = try TemporaryFolder("farmer-restart")
        defer { folder.remove() }
        let key = try Farm.key(folder, "phoenix")
        let probe = try LiveServer(["farmer", "serve", "--listen", "127.0.0.1:0", "--key", key, "--data", folder.path("data"), "--sessions", "1"]
                                   + (HostTool.exists("bwrap") ? [] : ["--sandbox", "none"]))
        let port = probe.url.split(separator: ":").last.map(String.init)!
        probe.stop()
        let arguments = ["farmer", "serve", "--listen", "127.0.0.1:\(port)", "--key", key, "--data", folder.path("data"), "--sessions", "1"]
            + (HostTool.exists("bwrap") ? [] : ["--sandbox", "none"])
        var farmer = try LiveServer(arguments)
        let box = ResultBox()
        let submitted = DispatchSemaphore(value: 0)
        DispatchQueue.global().async {
            box.result = try? PrismBinary.run(["submit", Fixtures.path("pan-720p.mp4"), "-o", folder.path("out"), "--farmers", "http://127.0.0.1:\(port)",
                                               "--ladder", "360p,240p", "--preset", "veryfast", "--json", "--audit", "all"])
            submitted.signal()
        }
        // Kill it while it works on its first task.
        let deadline = Date().addingTimeInterval(60)
        while !farmer.log.contains("rungs h264") && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        try #require(farmer.log.contains("rungs h264"), "the farmer never got a task: \(farmer.log)")
        farmer.stop(kill: kill)
        Thread.sleep(forTimeInterval: 1.5)
        farmer = try LiveServer(arguments)
        defer { farmer.stop() }
        #expect(submitted.wait(timeout: .now() + 240) == .success, "submit did not finish")
        let result = try #require(box.result)
        #expect(result.status == 0, "\(result.stderr)")
        if kill {
            // SIGKILL drops the connection mid-task: the submitter waits for the farmer and sends the task again.
            // (SIGTERM lets the running task finish and answer first, so the submitter may never see it gone.)
            #expect(result.stderr.contains("trying it again"), "the submitter waited for the farmer: \(result.stderr)")
            #expect(farmer.log.contains("removed 1 unfinished task folder"), "\(farmer.log)")
        }
        let summary = try #require(try? JSONDecoder().decode(Farm.Summary.self, from: Data(result.stdout.utf8)))
        #expect(summary.accepted == summary.segments && summary.segments == 3)
        // No upload or unfinished job folder is left behind.
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: folder.path("data/tasks"))) ?? []
        for task in tasks {
            #expect(FileManager.default.fileExists(atPath: folder.path("data/tasks/\(task)/receipt.json")), "unfinished \(task)")
            #expect(!FileManager.default.fileExists(atPath: folder.path("data/tasks/\(task)/source.media")), "upload kept in \(task)")
        }
    }
}

final class ResultBox: @unchecked Sendable { var result: PrismBinary.Result? }

/// A small deterministic generator for fuzz rounds (a failure reproduces).
struct FuzzNumbers {
    var state: UInt64
    init(seed: UInt64) { state = seed }
    mutating func next(_ bound: Int) -> Int {
        state = state &* 6364136223846793005 &+ 1442695040888963407
        return Int((state >> 33) % UInt64(max(1, bound)))
    }
}

/// A raw TCP client that writes one byte at a time and notices when the server has hung up.
final class SlowClient {
    let fd: Int32
    init(port: UInt16) {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        address.sin_port = port.bigEndian
        _ = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
    }

    /// Sends one byte; false once the connection is closed by the server.
    func send(_ byte: UInt8) -> Bool {
        var peek: UInt8 = 0
        let read = recv(fd, &peek, 1, Int32(MSG_DONTWAIT | MSG_PEEK))
        if read == 0 || (read < 0 && errno != EAGAIN && errno != EWOULDBLOCK) { return false }
        var value = byte
        return Glibc.send(fd, &value, 1, Int32(MSG_NOSIGNAL)) == 1
    }

    func close() { _ = Glibc.close(fd) }
}
