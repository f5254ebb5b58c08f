import Foundation
import PrismTestSupport
import Testing
import Wire

/// The farmer's HTTP API refuses what it must: unsigned, replayed, foreign, oversized, escaping requests.
@Suite(.serialized) struct FarmerAPITests {
    static func call(_ method: String, _ url: String, envelope: SignedEnvelope?, body: Data? = nil) throws -> (Int, Data) {
        let headers = try envelope.map { [SignedEnvelope.headerName: try $0.headerValue()] } ?? [:]
        let reply = HTTPCall.send(method, url, headers: headers, body: body)
        return (reply.status, reply.body)
    }

    static func task(for source: Data) -> SegmentTask {
        SegmentTask(source: ContentAddress(hashing: source), ladder: [TaskRung(height: 240, width: 426, bitrate: 250_000)], codec: "h264", preset: "ultrafast")
    }

    @Test func unsignedReplayedForgedAndOversizedTasksAreRefused() throws {
        let folder = try TemporaryFolder("farmer-api")
        defer { folder.remove() }
        let allowed = SigningIdentity()
        let farmer = try Farm.farmer(folder, "guarded", ["--sandbox", "none", "--max-upload-bytes", "200000", "--allow", allowed.publicIdentity.description,
                                                         "--price", "0.04/megapixel"])
        defer { farmer.stop() }
        let source = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("vertical-360x640.mp4")))
        var task = Self.task(for: source)
        task.maxPrice = try Price(parsing: "0.05")
        let tasks = farmer.url + FarmerPath.tasks

        #expect(try Self.call("POST", tasks, envelope: nil, body: source).0 == 401)
        // Signed by someone not on the allow-list.
        let stranger = try SignedEnvelope.sign(task, method: "POST", path: FarmerPath.tasks, by: SigningIdentity())
        #expect(try Self.call("POST", tasks, envelope: stranger, body: source).0 == 403)
        // Signed for another path: the signature does not verify.
        let misdirected = try SignedEnvelope.sign(task, method: "POST", path: "/v1/other", by: allowed)
        #expect(try Self.call("POST", tasks, envelope: misdirected, body: source).0 == 401)
        // Too old.
        let stale = try SignedEnvelope.sign(task, method: "POST", path: FarmerPath.tasks, by: allowed, at: Date().addingTimeInterval(-3600))
        #expect(try Self.call("POST", tasks, envelope: stale, body: source).0 == 401)
        // Over the upload limit: refused before it is stored.
        let big = Data(count: 300_000)
        let oversized = try SignedEnvelope.sign(Self.task(for: big), method: "POST", path: FarmerPath.tasks, by: allowed)
        #expect(try Self.call("POST", tasks, envelope: oversized, body: big).0 == 413)
        // Bytes that are not the task's source.
        let wrong = try SignedEnvelope.sign(task, method: "POST", path: FarmerPath.tasks, by: allowed)
        #expect(try Self.call("POST", tasks, envelope: wrong, body: source.prefix(1000)).0 == 400)
        // A frame window that is empty or has no time base: refused with a reason.
        for window in [TaskWindow(start: 10, end: 10, timeBaseNumerator: 1, timeBaseDenominator: 25),
                       TaskWindow(start: 0, end: 10, timeBaseNumerator: 0, timeBaseDenominator: 25)] {
            var windowed = task
            windowed.window = window
            let signed = try SignedEnvelope.sign(windowed, method: "POST", path: FarmerPath.tasks, by: allowed)
            let (code, reply) = try Self.call("POST", tasks, envelope: signed, body: source)
            #expect(code == 400 && String(decoding: reply, as: UTF8.self).contains("window"), "\(code) \(String(decoding: reply, as: UTF8.self))")
        }
        // A submitter paying at most less than the farmer asks: refused before a byte is stored.
        var cheap = task
        cheap.maxPrice = try Price(parsing: "0.03")
        let underpaid = try SignedEnvelope.sign(cheap, method: "POST", path: FarmerPath.tasks, by: allowed)
        let (refusedCode, refusedReply) = try Self.call("POST", tasks, envelope: underpaid, body: source)
        #expect(refusedCode == 402 && String(decoding: refusedReply, as: UTF8.self).contains("price-above-ceiling"), "\(refusedCode)")
        // The same envelope twice: the second is a replay.
        let once = try SignedEnvelope.sign(task, method: "POST", path: FarmerPath.tasks, by: allowed)
        let (status, body) = try Self.call("POST", tasks, envelope: once, body: source)
        #expect(status == 200, "\(String(decoding: body, as: UTF8.self))")
        #expect(try Self.call("POST", tasks, envelope: once, body: source).0 == 401)
        // The receipt is signed by the farmer and names our source.
        let receipt = try JSONDecoder().decode(SignedEnvelope.self, from: body)
        #expect(receipt.signer.description == farmer.banner.replacingOccurrences(of: "as ", with: ""))
        let signedReceipt = try receipt.decodeBody(SegmentReceipt.self)
        #expect(signedReceipt.input == task.source)
        // It charges its own price, which the task's ceiling allowed, and its pixels multiply out.
        #expect(signedReceipt.price == Price(microcreditsPerMegapixel: 40_000))
        #expect(signedReceipt.payablePixels == signedReceipt.rungs.reduce(0) { $0 + Int64($1.frames) * Int64($1.width) * Int64($1.height) })
        #expect((signedReceipt.payablePixels ?? 0) > 0)
    }

    @Test func outputsGoOnlyToTheSubmitterWhoSentTheTaskAndPathsCannotEscape() throws {
        let folder = try TemporaryFolder("farmer-outputs")
        defer { folder.remove() }
        let farmer = try Farm.farmer(folder, "private", ["--sandbox", "none"])
        defer { farmer.stop() }
        let owner = SigningIdentity(), other = SigningIdentity()
        let source = try Data(contentsOf: URL(fileURLWithPath: Fixtures.path("vertical-360x640.mp4")))
        let task = Self.task(for: source)
        let sent = try SignedEnvelope.sign(task, method: "POST", path: FarmerPath.tasks, by: owner)
        #expect(try Self.call("POST", farmer.url + FarmerPath.tasks, envelope: sent, body: source).0 == 200)
        let key = FarmerPath.taskKey(task: try task.address(), submitter: owner.publicIdentity)
        let path = FarmerPath.output(task: key, height: 240)
        let mine = try Self.call("GET", farmer.url + path, envelope: try SignedEnvelope.sign(body: Data(), method: "GET", path: path, by: owner))
        #expect(mine.0 == 200 && mine.1.count > 1000)
        let theirs = try Self.call("GET", farmer.url + path, envelope: try SignedEnvelope.sign(body: Data(), method: "GET", path: path, by: other))
        #expect(theirs.0 == 403)
        // The other submitter's own key for the same task names nothing.
        let otherKey = FarmerPath.taskKey(task: try task.address(), submitter: other.publicIdentity)
        let otherPath = FarmerPath.output(task: otherKey, height: 240)
        #expect(try Self.call("GET", farmer.url + otherPath, envelope: try SignedEnvelope.sign(body: Data(), method: "GET", path: otherPath, by: other)).0 == 404)
        for escape in ["/v1/tasks/..%2F..%2F..%2Fetc/outputs/240", "/v1/tasks/../../etc/outputs/240", "/v1/tasks/\(key)/outputs/..%2F..%2Fkey"] {
            let status = try Self.call("GET", farmer.url + escape, envelope: try SignedEnvelope.sign(body: Data(), method: "GET", path: escape, by: owner)).0
            #expect(status == 404 || status == 400, "\(escape) → \(status)")
        }
        let health = try Self.call("GET", farmer.url + "/healthz", envelope: nil)
        #expect(health.0 == 200)
    }
}
