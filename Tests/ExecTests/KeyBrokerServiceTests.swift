import Broker
import Crypto
import Exec
import Foundation
import PrismTestSupport
import Testing
import Wire

/// `prism keys broker serve` over real sockets, with the guest played by this test: reports are synthetic, signed
/// by a P-384 key the broker is told to trust (`--trust-key`). This proves the protocol (nonce, binding, refusal,
/// HPKE sealing), not SEV-SNP itself: that needs a real guest and the script in docs/attestation.md.
@Suite(.serialized) struct KeyBrokerServiceTests {
    static func post(_ url: String, _ body: Data) -> (status: Int, json: [String: Any], data: Data) {
        let reply = HTTPCall.send("POST", url, headers: ["Content-Type": "application/json"], body: body)
        return (reply.status, (try? JSONSerialization.jsonObject(with: reply.body)) as? [String: Any] ?? [:], reply.body)
    }

    static func releaseBody(job: String = "job-7", report: AttestationReport, guest: Curve25519.KeyAgreement.PrivateKey, nonce: String) throws -> Data {
        try JSONEncoder().encode(BrokerReleaseRequest(job: job, report: Data(report.bytes).base64EncodedString(),
                                                      guestKey: guest.publicKey.rawRepresentation.base64EncodedString(), nonce: nonce))
    }

    @Test func theAttestedGuestGetsTheKeyAndNothingElseDoes() throws {
        let folder = try TemporaryFolder("key-broker")
        defer { folder.remove() }
        let firmware = KeyReleaseTests.FakeFirmware()
        try firmware.signingKey.publicKey.pemRepresentation.write(toFile: folder.path("vcek.pem"), atomically: true, encoding: .utf8)
        let diskKey = Data((0..<32).map { _ in UInt8.random(in: 0...255) })
        try diskKey.write(to: URL(fileURLWithPath: folder.path("disk.key")))
        let measurement = String(repeating: "4d", count: 48)
        let broker = try LiveServer(["keys", "broker", "serve", "--listen", "127.0.0.1:0", "--job", "job-7", "--disk-key", folder.path("disk.key"),
                                     "--measurement", measurement, "--trust-key", folder.path("vcek.pem")])
        defer { broker.stop() }
        func nonce() throws -> String {
            let reply = Self.post(broker.url + KeyBrokerServer.noncePath, Data())
            try #require(reply.status == 200)
            return try #require(reply.json["nonce"] as? String)
        }

        // The guest binds a fresh nonce and its key; the key comes back sealed to it, and only it can open it.
        let guest = Curve25519.KeyAgreement.PrivateKey()
        let first = try nonce()
        let report = try firmware.report(reportData: KeyBroker.reportData(nonce: try #require(Exec.Hex.decode(first)), guestPublicKey: guest.publicKey))
        let released = Self.post(broker.url + KeyBrokerServer.releasePath, try Self.releaseBody(report: report, guest: guest, nonce: first))
        #expect(released.status == 200, "\(released.json)")
        let wrapped = try #require(try JSONDecoder().decode(BrokerWrappedKey.self, from: released.data).wrapped)
        #expect(try wrapped.unwrap(with: guest) == Array(diskKey))
        #expect(throws: (any Error).self) { try wrapped.unwrap(with: Curve25519.KeyAgreement.PrivateKey()) }

        // The same request again: its nonce was spent.
        let replayed = Self.post(broker.url + KeyBrokerServer.releasePath, try Self.releaseBody(report: report, guest: guest, nonce: first))
        #expect(replayed.status == 403 && (replayed.json["message"] as? String ?? "").contains("nonce"), "\(replayed.json)")

        // Another image (measurement), a debuggable guest, a report binding another key, another job: refused with the reason.
        var otherImage = firmware
        otherImage.measurement = [UInt8](repeating: 0x11, count: 48)
        var debuggable = firmware
        debuggable.policy |= 1 << 19
        for (maker, bindKey, job, reason) in [(otherImage, guest.publicKey, "job-7", "measurement"), (debuggable, guest.publicKey, "job-7", "debug"),
                                              (firmware, Curve25519.KeyAgreement.PrivateKey().publicKey, "job-7", "REPORT_DATA"),
                                              (firmware, guest.publicKey, "job-8", "no disk key")] {
            let fresh = try nonce()
            let bound = try maker.report(reportData: KeyBroker.reportData(nonce: try #require(Exec.Hex.decode(fresh)), guestPublicKey: bindKey))
            let reply = Self.post(broker.url + KeyBrokerServer.releasePath, try Self.releaseBody(job: job, report: bound, guest: guest, nonce: fresh))
            #expect(reply.status == 403 && (reply.json["message"] as? String ?? "").contains(reason), "\(reason): \(reply.json)")
        }
        // Malformed requests: 400 with a reason, and the broker keeps serving.
        for body in ["not json", #"{"job":"job-7","report":"AAAA","guestKey":"AAAA","nonce":"00"}"#, String(repeating: "x", count: 100_000)] {
            let reply = Self.post(broker.url + KeyBrokerServer.releasePath, Data(body.utf8))
            #expect(reply.status == 400 || reply.status == 413, "\(body.prefix(40)): \(reply.status)")
        }
        #expect(Self.post(broker.url + KeyBrokerServer.noncePath, Data()).status == 200)
    }

    /// The guest's own side (`GuestAgent`, what `prism guest unlock` runs in a confidential job's initrd) against the
    /// broker over real sockets: the report comes from the test's stand-in firmware instead of configfs-tsm.
    @Test func theGuestAgentUnlocksOnlyWithTheExpectedMeasurement() async throws {
        let folder = try TemporaryFolder("guest-agent")
        defer { folder.remove() }
        let firmware = KeyReleaseTests.FakeFirmware()
        try firmware.signingKey.publicKey.pemRepresentation.write(toFile: folder.path("vcek.pem"), atomically: true, encoding: .utf8)
        let diskKey = Data((0..<64).map { _ in UInt8.random(in: 0...255) })
        try diskKey.write(to: URL(fileURLWithPath: folder.path("disk.key")))
        let generated = try PrismBinary.run(["keys", "generate", "--out", folder.path("broker.key")])
        let brokerID = try PublicIdentity(generated.stdout.trimmingCharacters(in: .whitespacesAndNewlines))
        let broker = try LiveServer(["keys", "broker", "serve", "--listen", "127.0.0.1:0", "--job", "job-9", "--disk-key", folder.path("disk.key"),
                                     "--measurement", String(repeating: "4d", count: 48), "--trust-key", folder.path("vcek.pem"),
                                     "--key", folder.path("broker.key")])
        defer { broker.stop() }
        let agent = GuestAgent(broker: broker.url, job: "job-9", brokerIdentity: brokerID)
        let key = try await agent.unlock { reportData in try firmware.report(reportData: reportData).bytes }
        #expect(key == Array(diskKey))
        // A guest launched to trust another broker takes no key from this one.
        do {
            _ = try await GuestAgent(broker: broker.url, job: "job-9", brokerIdentity: SigningIdentity().publicIdentity)
                .unlock { try firmware.report(reportData: $0).bytes }
            Issue.record("a key signed by an untrusted broker was taken")
        } catch let failure as GuestAgent.Failure {
            #expect(failure.description.contains("not signed by"), "\(failure)")
        }

        var otherImage = firmware
        otherImage.measurement = [UInt8](repeating: 0x22, count: 48)
        do {
            _ = try await agent.unlock { try otherImage.report(reportData: $0).bytes }
            Issue.record("a guest with another measurement got the key")
        } catch let failure as GuestAgent.Failure {
            #expect(failure.description.contains("measurement"), "\(failure)")
        }
        // A job the broker holds no key for is refused; a report for another REPORT_DATA does not bind the nonce.
        do {
            _ = try await GuestAgent(broker: broker.url, job: "job-10").unlock { try firmware.report(reportData: $0).bytes }
            Issue.record("a job without a key got one")
        } catch let failure as GuestAgent.Failure {
            #expect(failure.description.contains("no disk key"), "\(failure)")
        }
        do {
            _ = try await agent.unlock { _ in try firmware.report(reportData: [UInt8](repeating: 7, count: 64)).bytes }
            Issue.record("a report binding no nonce got the key")
        } catch let failure as GuestAgent.Failure {
            #expect(failure.description.contains("REPORT_DATA"), "\(failure)")
        }

        // The command: a report folder that gives no report is bad input (2), an unreachable broker 3, bad options 2.
        try FileManager.default.createDirectory(atPath: folder.path("tsm"), withIntermediateDirectories: true)
        for (arguments, status, text) in [(["--broker", broker.url, "--job", "job-9", "--tsm", folder.path("tsm")], Int32(2), "cannot get a report"),
                                          (["--broker", broker.url, "--job", "job-9", "--tsm", folder.path("absent")], 2, "cannot make"),
                                          (["--broker", "http://127.0.0.1:9", "--job", "job-9", "--tsm", folder.path("tsm"), "--timeout", "3"], 3, "127.0.0.1:9"),
                                          (["--broker", "ftp:x", "--job", "job-9"], 2, "--broker must be an http(s) URL"),
                                          (["--broker", broker.url, "--job", ""], 2, "--job must be 1 to 256 bytes"),
                                          (["--broker", broker.url, "--job", "j", "--certificates", folder.path("disk.key")], 2, "PEM"),
                                          (["--broker", broker.url, "--job", "j", "--broker-id", "ed25519:nope"], 2, "--broker-id")] {
            let result = try PrismBinary.run(["guest", "unlock"] + arguments)
            #expect(result.status == status && result.stderr.contains(text), "\(arguments): \(result.status) \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1 && result.stdout.isEmpty, "\(arguments): \(result.stderr)")
        }
    }

    @Test func badBrokerOptionsExitTwoWithOneLine() throws {
        let folder = try TemporaryFolder("key-broker-bad")
        defer { folder.remove() }
        try Data("k".utf8).write(to: URL(fileURLWithPath: folder.path("disk.key")))
        for (extra, expected) in [(["--measurement", "abc"], "--measurement"), (["--trust-key", folder.path("disk.key")], "--trust-key"),
                                  (["--disk-key", folder.path("missing")], "disk key"), (["--listen", "localhost"], "--listen must be HOST:PORT"),
                                  (["--trust-key", folder.path("disk.key"), "--product", "Zen9"], "--trust-key")] {
            var arguments = ["keys", "broker", "serve", "--listen", "127.0.0.1:0", "--job", "j", "--disk-key", folder.path("disk.key")]
            arguments += extra
            let result = try PrismBinary.run(arguments)
            #expect(result.status == 2 && result.stderr.contains(expected), "\(extra): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(extra): \(result.stderr)")
        }
    }
}
