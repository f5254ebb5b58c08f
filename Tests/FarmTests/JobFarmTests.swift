import Foundation
import PrismTestSupport
import Testing
import Wire

/// General jobs on the farm: a real farmer process, a real busybox OCI image, real sockets, `prism job submit` and
/// `prism job verify-receipt` as a user runs them.
enum ImageTools {
    static let present = ["bwrap", "umoci", "tar"].allSatisfy(HostTool.exists) && FileManager.default.fileExists(atPath: "/bin/busybox")
}

@Suite(.serialized, .enabled(if: ImageTools.present, "needs bwrap, umoci, tar and /bin/busybox"))
struct JobFarmTests {
    /// A one-layer OCI image holding /bin/busybox, archived as a tar.
    static func busyboxImage(in folder: TemporaryFolder) throws -> String {
        let layout = folder.path("image")
        try HostTool.succeed("umoci", ["init", "--layout", layout])
        try HostTool.succeed("umoci", ["new", "--image", layout + ":latest"])
        try HostTool.succeed("umoci", ["insert", "--rootless", "--image", layout + ":latest", "/bin/busybox", "/bin/busybox"])
        let archive = folder.path("busybox.tar")
        try HostTool.succeed("tar", ["-cf", archive, "-C", layout, "."])
        return archive
    }

    struct Summary: Decodable {
        struct Receipt: Decodable {
            struct File: Decodable { let name: String; let content: String; let bytes: Int64 }
            let status: Int32
            let ending: String
            let outputs: [File]
            let inputs: [File]
            let cpuSeconds: Double?
            let wallSeconds: Double
            struct Limits: Decodable { let timeSeconds: Double?; let memoryBytes: UInt64? }
            let limits: Limits
        }
        let status: Int32
        let bytesUp: Int
        let imageUploaded: Bool
        let receipt: Receipt
    }

    static func submit(_ farmer: LiveServer, _ arguments: [String], command: [String]) throws -> PrismBinary.Result {
        try PrismBinary.run(["job", "submit", "--farmer", farmer.url] + arguments + ["--"] + command)
    }

    @Test func jobsRunOnAFarmerWithSignedReceiptsCachedImagesNoNetworkAndTheirLimits() throws {
        let folder = try TemporaryFolder("job-farm")
        defer { folder.remove() }
        let image = try Self.busyboxImage(in: folder)
        let farmer = try Farm.farmer(folder, "jobs", ["--claim-fps", "5"])
        defer { farmer.stop() }
        let key = try Farm.key(folder, "submitter")
        let input = folder.path("words.txt")
        try Data("alpha\nbeta\n".utf8).write(to: URL(fileURLWithPath: input))

        // Outputs come back with their hashes; the job's own exit status and its stdout pass through; the host's
        // loopback (where the farmer listens) cannot be reached from inside.
        let script = """
            busybox cat /in/words.txt; busybox mkdir -p /out/nested; busybox wc -l < /in/words.txt > /out/nested/count.txt; \
            busybox cp /in/words.txt /out/copy.txt; \
            if busybox wget -q -T 2 -O /out/leak \(farmer.url)/healthz; then echo reached; else echo no-network > /out/network.txt; fi; \
            echo done >&2; exit 3
            """
        let first = try Self.submit(farmer, ["--key", key, "--image", image, "--input", input, "-o", folder.path("out1"),
                                             "--receipt", folder.path("receipt.json"), "--json"], command: ["/bin/busybox", "sh", "-c", script])
        #expect(first.status == 3, "the job's status passes through: \(first.stderr)")
        let summary = try JSONDecoder().decode(Summary.self, from: Data(first.stdout.utf8))
        #expect(summary.status == 3 && summary.receipt.ending == "exited")
        #expect(summary.imageUploaded && summary.bytesUp > 0)
        #expect(summary.receipt.outputs.map(\.name) == ["copy.txt", "nested/count.txt", "network.txt"], "\(summary.receipt.outputs)")
        let copy = try Data(contentsOf: URL(fileURLWithPath: folder.path("out1/copy.txt")))
        #expect(copy == Data("alpha\nbeta\n".utf8))
        #expect(summary.receipt.outputs.first { $0.name == "copy.txt" }?.content == ContentAddress(hashing: copy).description)
        #expect(summary.receipt.inputs.map(\.name) == ["words.txt"])
        #expect(try String(contentsOfFile: folder.path("out1/nested/count.txt"), encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines) == "2")
        #expect(try String(contentsOfFile: folder.path("out1/network.txt"), encoding: .utf8) == "no-network\n")
        #expect(!FileManager.default.fileExists(atPath: folder.path("out1/leak")))
        #expect(summary.receipt.wallSeconds > 0)

        // The receipt checks out against the folder; an altered output, an extra file, an edited receipt or another
        // farmer's id do not.
        let verify = { (receipt: String, outdir: String, extra: [String]) in
            try PrismBinary.run(["job", "verify-receipt", receipt, outdir] + extra)
        }
        let farmerID = farmer.banner.replacingOccurrences(of: "as ", with: "")
        #expect(try verify(folder.path("receipt.json"), folder.path("out1"), ["--farmer", farmerID]).status == 0)
        #expect(try verify(folder.path("receipt.json"), folder.path("out1"), ["--farmer", SigningIdentity().publicIdentity.description]).status == 1)
        try Data("gamma\n".utf8).write(to: URL(fileURLWithPath: folder.path("out1/copy.txt")))
        let altered = try verify(folder.path("receipt.json"), folder.path("out1"), [])
        #expect(altered.status == 1 && altered.stderr.contains("copy.txt: does not match its hash"), "\(altered.stderr)")
        try copy.write(to: URL(fileURLWithPath: folder.path("out1/copy.txt")))
        try Data("x".utf8).write(to: URL(fileURLWithPath: folder.path("out1/planted.txt")))
        #expect(try verify(folder.path("receipt.json"), folder.path("out1"), []).status == 1)
        try FileManager.default.removeItem(atPath: folder.path("out1/planted.txt"))
        #expect(try verify(folder.path("receipt.json"), folder.path("out1"), []).status == 0)
        var envelope = try JSONDecoder().decode(SignedEnvelope.self, from: Data(contentsOf: URL(fileURLWithPath: folder.path("receipt.json"))))
        envelope.body = Data(String(decoding: envelope.body, as: UTF8.self).replacingOccurrences(of: "\"status\":3", with: "\"status\":0").utf8)
        try WireCoding.canonicalBytes(envelope).write(to: URL(fileURLWithPath: folder.path("forged.json")))
        let forged = try verify(folder.path("forged.json"), folder.path("out1"), [])
        #expect(forged.status == 1 && forged.stderr.contains("does not check out"), "\(forged.stderr)")

        // The same image again: nothing uploaded. A job past its time limit is killed and exits 124, as locally.
        let second = try Self.submit(farmer, ["--key", key, "--image", image, "-o", folder.path("out2"), "--timeout", "1", "--json"],
                                     command: ["/bin/busybox", "sleep", "30"])
        #expect(second.status == 124, "\(second.stderr)")
        let again = try JSONDecoder().decode(Summary.self, from: Data(second.stdout.utf8))
        #expect(!again.imageUploaded && again.bytesUp == 0, "the farmer's image cache answered")
        #expect(again.receipt.ending == "timed-out" && again.receipt.limits.timeSeconds == 1)
        #expect(again.receipt.wallSeconds < 20)

        // Bad input: one line and exit 2, before or at the farmer. A confidential job goes to a farmer whose host has
        // no SEV-SNP (as this one): it does not offer the mode, and says what it lacks.
        let spec = folder.path("confidential.json")
        try Data(#"{"mode": "confidential", "rootfs": {"kind": "directory", "path": "/"}, "command": ["/init"], "guest": {"firmware": "\#(input)", "kernel": "\#(input)", "initrd": "\#(input)", "append": "console=ttyS0", "disk": "\#(input)"}}"#.utf8)
            .write(to: URL(fileURLWithPath: spec))
        var cases = [(["--image", folder.path("nope.tar")], "nope.tar"),
                     (["--image", image, "--input", folder.path("missing.txt")], "input not found"),
                     (["--image", image, "--mode", "confidential"], "a confidential job needs --spec with \"guest\""),
                     (["--image", image, "--memory", "64T"], "above the farmer's"),
                     (["--image", input], "bad OCI image")]
        if !FileManager.default.fileExists(atPath: "/dev/sev") {
            cases.append((["--spec", spec, "--broker", "127.0.0.1:9"], "runs only plain jobs, not confidential: "))
        }
        for (arguments, expected) in cases {
            let result = try Self.submit(farmer, ["--key", key, "-o", folder.path("bad")] + arguments, command: arguments.first == "--spec" ? [] : ["/bin/busybox", "true"])
            #expect(result.status == 2 && result.stderr.contains(expected), "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(arguments): \(result.stderr)")
        }
    }
}

/// `prism job submit` and `prism job verify-receipt` refusing what they cannot use: exit 2 and one line (no farmer,
/// image tools or sandbox needed).
@Suite struct JobCommandInputTests {
    @Test func badJobInputExitsTwoWithOneLine() throws {
        let folder = try TemporaryFolder("job-input")
        defer { folder.remove() }
        try Data("not an image".utf8).write(to: URL(fileURLWithPath: folder.path("image.tar")))
        try FileManager.default.createDirectory(atPath: folder.path("out"), withIntermediateDirectories: true)
        let submit = ["job", "submit", "--farmer", "http://127.0.0.1:9", "-o", folder.path("out")]
        // Confidential specs: the guest's files must be files, and nothing of a plain job may come with them.
        let file = folder.path("image.tar")
        func guestSpec(disk: String) throws -> String {
            let path = folder.path("guest-\(disk.count).json")
            try Data(#"{"mode": "confidential", "rootfs": {"kind": "directory", "path": "/"}, "command": ["/init"], "guest": {"firmware": "\#(file)", "kernel": "\#(file)", "initrd": "\#(file)", "append": "console=ttyS0", "disk": "\#(disk)"}}"#.utf8)
                .write(to: URL(fileURLWithPath: path))
            return path
        }
        let confidential = try guestSpec(disk: file), noDisk = try guestSpec(disk: folder.path("missing-disk.img"))
        for (arguments, text) in [(submit + ["--", "/bin/true"], "give the job's OCI image"),
                                  (submit + ["--image", folder.path("image.tar")], "give the command to run"),
                                  (submit + ["--image", folder.path("missing.tar"), "--", "/bin/true"], "missing.tar"),
                                  (submit + ["--image", folder.path("image.tar"), "--spec", folder.path("missing.json"), "--", "/bin/true"], "job spec not found"),
                                  (submit + ["--image", folder.path("image.tar"), "--mode", "secret", "--", "/bin/true"], "--mode must be plain or confidential"),
                                  (submit + ["--image", folder.path("image.tar"), "--mode", "confidential", "--", "/bin/true"], "a confidential job needs --spec with \"guest\""),
                                  (submit + ["--image", folder.path("image.tar"), "--broker", "127.0.0.1:1", "--", "/bin/true"], "--broker is for confidential jobs"),
                                  (submit + ["--spec", confidential, "--image", file], "takes no --image, --input or command"),
                                  (submit + ["--spec", confidential, "--", "/bin/true"], "takes no --image, --input or command"),
                                  (submit + ["--spec", noDisk], "the guest's disk is not a file"),
                                  (submit + ["--spec", confidential, "--broker", "a;b:1"], "the broker must be HOST:PORT"),
                                  (submit + ["--image", folder.path("image.tar"), "--memory", "lots", "--", "/bin/true"], "--memory"),
                                  (submit + ["--image", folder.path("image.tar"), "--input", folder.path("nope.txt"), "--", "/bin/true"], "input not found"),
                                  (submit + ["--image", folder.path("image.tar"), "--", "/bin/true"], "cannot reach farmer http://127.0.0.1:9"),
                                  (["job", "verify-receipt", folder.path("missing.json"), folder.path("out")], "cannot read receipt"),
                                  (["job", "verify-receipt", folder.path("image.tar"), folder.path("image.tar")], "no such folder"),
                                  (["job", "verify-receipt", folder.path("image.tar"), folder.path("out"), "--farmer", "ed25519:nope"], "--farmer")] {
            let result = try PrismBinary.run(arguments)
            #expect(result.status == 2, "\(arguments): \(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1 && result.stderr.contains(text), "\(arguments): \(result.stderr)")
        }
        // Bytes that are not a signed receipt are a receipt that does not check out: exit 1.
        let garbage = try PrismBinary.run(["job", "verify-receipt", folder.path("image.tar"), folder.path("out")])
        #expect(garbage.status == 1 && garbage.stderr.contains("is not a signed receipt"), "\(garbage.stderr)")
    }
}
