import Crypto
import Exec
import Foundation
import Testing

/// LUKS2 disk images through qemu-img, keyed by a released disk key.
@Suite(.enabled(if: QemuImg.path != nil, "needs qemu-img (apt-get install qemu-utils)"))
struct KeyReleaseDiskTests {
    static var qemuImg: String? { QemuImg.path }

    @Test func luksImageRoundTripsWithTheRightKeyAndRefusesTheWrongOne() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("prism-luks-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let key = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        let image = LUKSDiskImage(path: dir.appendingPathComponent("disk.luks").path, qemuImg: Self.qemuImg!)
        let size = 1 << 20
        try image.create(size: size, key: key, iterationTimeMilliseconds: 10)
        let header = try #require(FileManager.default.contents(atPath: image.path))
        #expect(Array(header.prefix(6)) == [0x4C, 0x55, 0x4B, 0x53, 0xBA, 0xBE])  // "LUKS\xba\xbe"

        var rng = SeededGenerator(seed: 42)
        let payload = (0..<size).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let payloadPath = dir.appendingPathComponent("payload.raw").path
        try Data(payload).write(to: URL(fileURLWithPath: payloadPath))
        try image.write(from: payloadPath, key: key)
        let onDisk = try #require(FileManager.default.contents(atPath: image.path))
        #expect(onDisk.range(of: Data(payload.prefix(64))) == nil, "plaintext must not appear in the image")

        let back = dir.appendingPathComponent("back.raw").path
        try image.read(into: back, key: key)
        #expect(FileManager.default.contents(atPath: back) == Data(payload))

        var wrong = key
        wrong[0] ^= 1
        do {
            try image.read(into: dir.appendingPathComponent("wrong.raw").path, key: wrong)
            Issue.record("the wrong key unlocked the image")
        } catch let failure as LUKSDiskImage.Failure {
            #expect(failure.description.contains("Invalid password"))
        }
    }

    @Test func keyReleasedByTheBrokerUnlocksTheJobDisk() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("prism-luks-test-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let firmware = KeyReleaseTests.FakeFirmware()
        let diskKey = SymmetricKey(size: .bits256).withUnsafeBytes { Array($0) }
        let image = LUKSDiskImage(path: dir.appendingPathComponent("job.luks").path, qemuImg: Self.qemuImg!)
        try image.create(size: 1 << 16, key: diskKey, iterationTimeMilliseconds: 10)
        let payload = Array("frames to transcode\n".utf8) + [UInt8](repeating: 0, count: (1 << 16) - 20)
        let payloadPath = dir.appendingPathComponent("in.raw").path
        try Data(payload).write(to: URL(fileURLWithPath: payloadPath))
        try image.write(from: payloadPath, key: diskKey)

        let broker = KeyBroker(trust: .signingKey(firmware.signingKey.publicKey, .milan))
        broker.register(jobID: "job-1", diskKey: diskKey, expectedMeasurement: firmware.measurement)
        let guest = Curve25519.KeyAgreement.PrivateKey()
        let nonce = broker.challenge()
        let report = try firmware.report(reportData: KeyBroker.reportData(nonce: nonce, guestPublicKey: guest.publicKey))
        let wrapped = try broker.release(.init(jobID: "job-1", report: report, guestPublicKey: guest.publicKey, nonce: nonce))
        let released = try wrapped.unwrap(with: guest)
        let out = dir.appendingPathComponent("out.raw").path
        try image.read(into: out, key: released)
        #expect(FileManager.default.contents(atPath: out) == Data(payload))
    }
}

/// Where qemu-img is, found once; prints why the LUKS tests skip when it is absent.
enum QemuImg {
    static let path: String? = {
        let found = LUKSDiskImage.findQemuImg()
        if found == nil { print("LUKS tests skipped: qemu-img not found (apt-get install qemu-utils)") }
        return found
    }()
}
