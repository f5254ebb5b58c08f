import Foundation
import Testing
@testable import Wire

/// A clock the test moves by hand.
final class ManualClock: @unchecked Sendable {
    private let lock = NSLock()
    private var current: Date
    init(_ start: Date = Date(timeIntervalSince1970: 1_800_000_000)) { current = start }
    var now: Date { lock.lock(); defer { lock.unlock() }; return current }
    func advance(_ seconds: TimeInterval) { lock.lock(); current += seconds; lock.unlock() }
}

@Suite struct EnvelopeTests {
    let farmer = SigningIdentity()
    let clock = ManualClock()

    func announcement() -> FarmerAnnouncement {
        FarmerAnnouncement(farmer: farmer.publicIdentity, url: "http://10.0.0.5:8700",
                           capabilities: FarmerCapabilities(encoders: ["libx264"], framesPerSecond: 240, sessions: 2,
                                                            price: Price(microcreditsPerMegapixel: 500_000), version: "0.1.0"))
    }

    func verifier() -> EnvelopeVerifier {
        let clock = clock
        return EnvelopeVerifier(window: 120, now: { clock.now })
    }

    @Test func signedEnvelopeVerifiesAndYieldsTheMessage() throws {
        let envelope = try SignedEnvelope.sign(announcement(), method: "POST", path: WirePath.heartbeats, by: farmer, at: clock.now)
        let (signer, message) = try verifier().open(envelope, as: FarmerAnnouncement.self, method: "POST", path: WirePath.heartbeats)
        #expect(signer == farmer.publicIdentity)
        #expect(message == announcement())
        #expect(envelope.nonce.count == SignedEnvelope.nonceLength)
    }

    @Test func envelopeSurvivesJSONTransport() throws {
        let envelope = try SignedEnvelope.sign(announcement(), method: "POST", path: WirePath.heartbeats, by: farmer, at: clock.now)
        let wire = try WireCoding.canonicalBytes(envelope)
        let object = try JSONSerialization.jsonObject(with: wire) as! [String: Any]
        #expect(Set(object.keys) == ["body", "signer", "timestamp", "nonce", "signature"])
        #expect(object["signer"] as? String == farmer.publicIdentity.description)
        let received = try WireCoding.decode(SignedEnvelope.self, from: wire)
        #expect(try verifier().verify(received, method: "POST", path: WirePath.heartbeats) == farmer.publicIdentity)
    }

    @Test func anyChangedFieldBreaksTheSignature() throws {
        let envelope = try SignedEnvelope.sign(announcement(), method: "POST", path: WirePath.heartbeats, by: farmer, at: clock.now)
        var body = envelope; body.body.append(0x20)
        var signer = envelope; signer.signer = SigningIdentity().publicIdentity
        var timestamp = envelope; timestamp.timestamp += 1
        var nonce = envelope; nonce.nonce[0] ^= 1
        var signature = envelope; signature.signature[0] ^= 1
        for tampered in [body, signer, timestamp, nonce, signature] {
            #expect(throws: EnvelopeError.badSignature) { try verifier().verify(tampered, method: "POST", path: WirePath.heartbeats) }
        }
        // The same envelope presented for another route or as a response is refused too.
        #expect(throws: EnvelopeError.badSignature) { try verifier().verify(envelope, method: "POST", path: WirePath.verdicts) }
        #expect(throws: EnvelopeError.badSignature) { try verifier().verify(envelope, method: "PUT", path: WirePath.heartbeats) }
        #expect(throws: EnvelopeError.badSignature) {
            try verifier().verify(envelope, method: SignedEnvelope.responseMethod, path: WirePath.heartbeats)
        }
    }

    @Test func replayedNonceIsRefusedWithinTheWindow() throws {
        let verifier = verifier()
        let envelope = try SignedEnvelope.sign(announcement(), method: "POST", path: WirePath.heartbeats, by: farmer, at: clock.now)
        try verifier.verify(envelope, method: "POST", path: WirePath.heartbeats)
        clock.advance(60)
        #expect(throws: EnvelopeError.replayed) { try verifier.verify(envelope, method: "POST", path: WirePath.heartbeats) }
        // A fresh envelope with the same body is fine: only the nonce must be new.
        let fresh = try SignedEnvelope.sign(announcement(), method: "POST", path: WirePath.heartbeats, by: farmer, at: clock.now)
        #expect(try verifier.verify(fresh, method: "POST", path: WirePath.heartbeats) == farmer.publicIdentity)
        // Once the window has passed, the old envelope is refused as expired rather than remembered forever.
        clock.advance(61)
        #expect(throws: EnvelopeError.expired(age: 121)) { try verifier.verify(envelope, method: "POST", path: WirePath.heartbeats) }
    }

    @Test func timestampsOutsideTheWindowAreRefused() throws {
        let verifier = verifier()
        let old = try SignedEnvelope.sign(announcement(), method: "POST", path: "/x", by: farmer, at: clock.now - 121)
        #expect(throws: EnvelopeError.expired(age: 121)) { try verifier.verify(old, method: "POST", path: "/x") }
        let future = try SignedEnvelope.sign(announcement(), method: "POST", path: "/x", by: farmer, at: clock.now + 121)
        #expect(throws: EnvelopeError.fromTheFuture(ahead: 121)) { try verifier.verify(future, method: "POST", path: "/x") }
        let edge = try SignedEnvelope.sign(announcement(), method: "POST", path: "/x", by: farmer, at: clock.now - 120)
        #expect(try verifier.verify(edge, method: "POST", path: "/x") == farmer.publicIdentity)
    }

    /// A known answer computed by an independent implementation (Python's `cryptography` package,
    /// following the format in SignedEnvelope's documentation), so the byte format cannot drift unnoticed.
    @Test func envelopeMatchesAnIndependentlyComputedVector() throws {
        let key = try SigningIdentity(seed: Array(1...32))
        #expect(key.publicIdentity.description == "ed25519:9C6hybhQ6Aycep9jaUnP6uL9ZYvDjUp1aSkFWPUFJtpj")
        let body = Data(#"{"a":1}"#.utf8), nonce = Data(repeating: 7, count: 16)
        let digest = SignedEnvelope.signingDigest(method: "POST", path: "/v1/heartbeats", timestamp: 1_800_000_000, nonce: nonce, body: body)
        #expect(Hex.encode(digest) == "5c91198c629cb73062a4807fe0cf40e8cb37a2911352e440692c65049a0c1382")
        let envelope = try SignedEnvelope.sign(body: body, method: "POST", path: "/v1/heartbeats", by: key,
                                               at: Date(timeIntervalSince1970: 1_800_000_000), nonce: nonce)
        #expect(envelope.signature.base64EncodedString()
                == "sw7U2ZiqIW2ksS3ZBR4qKNuty9UHw96Piaf32VOmq0GfBoBAhd+62FhAFN/WcCd/pZouX1dDf1JJVpo3GvViCQ==")
    }

    @Test func digestSeparatesFieldBoundaries() {
        // Without length prefixes ("POST", "/ab") and ("POST/", "ab") could collide.
        let nonce = Data(repeating: 7, count: 16)
        let first = SignedEnvelope.signingDigest(method: "POST", path: "/ab", timestamp: 1, nonce: nonce, body: Data())
        let second = SignedEnvelope.signingDigest(method: "POST/", path: "ab", timestamp: 1, nonce: nonce, body: Data())
        #expect(first != second)
        #expect(first.count == 32)
    }

    @Test func messagesRoundTripThroughCanonicalJSON() throws {
        let submitter = SigningIdentity().publicIdentity
        let segment = ContentAddress(hashing: Data("segment".utf8))
        let verdict = Verdict(submitter: submitter, farmer: farmer.publicIdentity, segment: segment, accepted: false, reasons: ["watermark"])
        #expect(try WireCoding.decode(Verdict.self, from: WireCoding.canonicalBytes(verdict)) == verdict)
        let task = SegmentTask(source: segment, ladder: [TaskRung(height: 720, bitrate: 3_000_000), TaskRung(height: 360, bitrate: 800_000)],
                               codec: "h264", preset: "fast")
        let receipt = SegmentReceipt(farmer: farmer.publicIdentity, task: try task.address(), input: segment,
                                     rungs: [RungReceipt(height: 720, width: 1280, bitrate: 3_000_000,
                                                         output: ContentAddress(hashing: Data("out".utf8)), frames: 48,
                                                         pixels: 48 * 1280 * 720)],
                                     encoder: "libx264", timings: TaskTimings(decodeSeconds: 0.1, encodeSeconds: 1.5, totalSeconds: 1.7))
        let signed = try SignedEnvelope.sign(receipt, method: SignedEnvelope.responseMethod, path: "/v1/tasks", by: farmer, at: clock.now)
        let (_, opened) = try verifier().open(signed, as: SegmentReceipt.self, method: SignedEnvelope.responseMethod, path: "/v1/tasks")
        #expect(opened == receipt)
        // Canonical bytes are stable: the task's address does not depend on encoding order.
        #expect(try task.address() == ContentAddress(hashing: WireCoding.canonicalBytes(task)))
        let json = String(decoding: try WireCoding.canonicalBytes(verdict), as: UTF8.self)
        #expect(json.hasPrefix("{\"accepted\":false,\"farmer\":\"ed25519:"))
    }
}
