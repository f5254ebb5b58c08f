import Exec
import Foundation
import Testing

@Suite("Job spec: JSON, defaults and validation")
struct JobSpecTests {
    @Test func minimalJSONGetsSafeDefaults() throws {
        let spec = try JobSpec.decode(Data(#"{"rootfs": {"kind": "directory", "path": "/r"}, "command": ["/bin/true"]}"#.utf8))
        #expect(spec.mode == .plain)
        #expect(spec.network == .none)
        #expect(spec.devices.isEmpty)
        #expect(spec.hostBinds.isEmpty)
        #expect(spec.limits == JobLimits())
        #expect(spec.command == ["/bin/true"])
    }

    @Test func fullSpecRoundTripsThroughJSON() throws {
        let spec = JobSpec(mode: .confidential, rootfs: .ociImage("/images/app.tar", tag: "v1"), command: ["/app", "-x"],
                           env: ["A": "1"], inputs: [JobInput(name: "clip.mp4", path: "/data/clip.mp4")], output: "/data/out",
                           limits: JobLimits(cpus: 2, memoryBytes: 1 << 30, pids: 64, timeSeconds: 30, outputBytes: 1 << 20),
                           devices: ["/dev/nvidia0"], network: .host, hostBinds: ["/usr/lib"],
                           guest: GuestImage(firmware: "/f", kernel: "/k", initrd: "/i", disk: "/d"))
        let decoded = try JobSpec.decode(spec.canonicalJSON())
        #expect(decoded == spec)
    }

    @Test func inputNameDefaultsToTheBasename() throws {
        let spec = try JobSpec.decode(Data(#"{"rootfs": {"kind": "directory", "path": "/r"}, "command": ["x"], "inputs": [{"path": "/data/a.mp4"}]}"#.utf8))
        #expect(spec.inputs == [JobInput(name: "a.mp4", path: "/data/a.mp4")])
    }

    @Test func canonicalJSONHasSortedKeysAndAStableDigest() throws {
        let spec = JobSpec(rootfs: .directory("/r"), command: ["/bin/echo", "a/b"], env: ["Z": "1", "A": "2"])
        let text = String(decoding: spec.canonicalJSON(), as: UTF8.self)
        #expect(text.hasPrefix(#"{"command":["/bin/echo","a/b"],"devices":[],"env":{"A":"2","Z":"1"},"hostBinds":[]"#))
        #expect(spec.digest.count == 32)
        #expect(spec.digest == JobSpec(rootfs: .directory("/r"), command: ["/bin/echo", "a/b"], env: ["A": "2", "Z": "1"]).digest)
        #expect(spec.digest != JobSpec(rootfs: .directory("/r"), command: ["/bin/echo", "a/c"]).digest)
    }

    @Test func malformedSpecsSayWhatIsWrong() {
        #expect(throws: JobSpecError.malformed("The given data was not valid JSON.")) { try JobSpec.decode(Data("{\"rootfs\": ".utf8)) }
        #expect(throws: JobSpecError.malformed("missing key \"command\"")) {
            try JobSpec.decode(Data(#"{"rootfs": {"kind": "directory", "path": "/r"}}"#.utf8))
        }
        #expect {
            try JobSpec.decode(Data(#"{"rootfs": {"kind": "floppy", "path": "/r"}, "command": ["x"]}"#.utf8))
        } throws: { "\($0)".hasPrefix("malformed job spec:") && "\($0)".contains("rootfs.kind") }
    }

    @Test(arguments: ["../../etc/passwd", "a/b", "..", ".", ""])
    func inputNamesThatCouldEscapeInAreRefused(name: String) throws {
        let scratch = try Scratch()
        let spec = JobSpec(rootfs: .directory(scratch.url.path), command: ["/bin/true"], inputs: [JobInput(name: name, path: "/etc/hostname")])
        #expect(throws: JobSpecError.badInputName(name)) { try spec.validate() }
        #expect("\(JobSpecError.badInputName(name))".contains("must be one path component"))
    }

    @Test func duplicateInputNamesAreRefused() throws {
        let scratch = try Scratch()
        let a = try scratch.write("same.txt", "a")
        try FileManager.default.createDirectory(atPath: scratch.path("sub"), withIntermediateDirectories: true)
        let b = try scratch.write("sub/same.txt", "b")
        let spec = JobSpec(rootfs: .directory(scratch.url.path), command: ["/bin/true"], inputs: [JobInput(path: a), JobInput(path: b)])
        #expect(throws: JobSpecError.duplicateInputName("same.txt")) { try spec.validate() }
    }

    @Test func missingRootfsAndInputsAreRefused() throws {
        let scratch = try Scratch()
        #expect(throws: JobSpecError.missingRootFileSystem("/no/such/rootfs")) {
            try JobSpec(rootfs: .directory("/no/such/rootfs"), command: ["/bin/true"]).validate()
        }
        #expect(throws: JobSpecError.missingInput("/no/such/input")) {
            try JobSpec(rootfs: .directory(scratch.url.path), command: ["/bin/true"], inputs: [JobInput(path: "/no/such/input")]).validate()
        }
        #expect(throws: JobSpecError.badImage("\(scratch.url.path) is not an OCI image layout (no index.json)")) {
            try JobSpec(rootfs: RootFileSystem(kind: .ociLayout, path: scratch.url.path), command: ["/bin/true"]).validate()
        }
        #expect(throws: JobSpecError.emptyCommand) { try JobSpec(rootfs: .directory(scratch.url.path), command: []).validate() }
    }

    @Test func hostBindsAndDevicesMustBeAbsoluteAndExist() throws {
        let scratch = try Scratch()
        #expect(throws: JobSpecError.badHostBind("usr/lib", "must be an absolute path without ..")) {
            try JobSpec(rootfs: .directory(scratch.url.path), command: ["x"], hostBinds: ["usr/lib"]).validate()
        }
        #expect(throws: JobSpecError.badDevice("/etc/passwd", "must be a path under /dev")) {
            try JobSpec(rootfs: .directory(scratch.url.path), command: ["x"], devices: ["/etc/passwd"]).validate()
        }
    }

    @Test func outputMustNotBeAFile() throws {
        let scratch = try Scratch()
        let file = try scratch.write("not-a-folder", "x")
        #expect(throws: JobSpecError.badOutput("\(file) is a file")) {
            try JobSpec(rootfs: .directory(scratch.url.path), command: ["x"], output: file).validate()
        }
    }

    @Test func sizesParseWithBinarySuffixes() throws {
        #expect(try ByteSize.parse("1048576") == 1_048_576)
        #expect(try ByteSize.parse("512K") == 512 << 10)
        #expect(try ByteSize.parse("512M") == 512 << 20)
        #expect(try ByteSize.parse("64m") == 64 << 20)
        #expect(try ByteSize.parse("2G") == 2 << 30)
        #expect(try ByteSize.parse("2GiB") == 2 << 30)
        #expect(try ByteSize.parse("1T") == 1 << 40)
        for bad in ["12Q", "", "M", "-5M", "1.5G", "99999999999999999999", "16777216T"] {
            #expect(throws: JobSpecError.badSize(bad)) { try ByteSize.parse(bad) }
        }
    }

    @Test func limitsOutsideSaneRangesAreRefused() throws {
        let scratch = try Scratch()
        func spec(_ limits: JobLimits) -> JobSpec { JobSpec(rootfs: .directory(scratch.url.path), command: ["x"], limits: limits) }
        #expect(throws: JobSpecError.badLimit("memory must be at least 4M")) { try spec(JobLimits(memoryBytes: 1024)).validate() }
        #expect(throws: JobSpecError.badLimit("cpus must be above 0")) { try spec(JobLimits(cpus: 0)).validate() }
        #expect(throws: JobSpecError.badLimit("time must be above 0 seconds")) { try spec(JobLimits(timeSeconds: -1)).validate() }
        #expect(throws: JobSpecError.badLimit("pids must be at least 2")) { try spec(JobLimits(pids: 1)).validate() }
    }
}
