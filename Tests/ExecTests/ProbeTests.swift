import PrismTestSupport
import Exec
import Foundation
import Testing

@Suite("Host probe")
struct ProbeTests {
    /// One probe for the whole suite: it runs trial jobs, so doing it once keeps the suite fast.
    static let probe = HostProbe.run()
    /// Reads a `key: value` field of the first processor from /proc/cpuinfo, independently of CPUInfo.
    func cpuinfoField(_ key: String) -> String? {
        let text = (try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)) ?? ""
        return text.split(separator: "\n").first { $0.hasPrefix(key) }?.split(separator: ":", maxSplits: 1).last?
            .trimmingCharacters(in: .whitespaces)
    }

    @Test func cpuAndMemoryMatchTheKernelsView() {
        let probe = Self.probe
        #expect(probe.cpu.vendor == cpuinfoField("vendor_id"))
        #expect(probe.cpu.model == cpuinfoField("model name"))
        #expect(probe.cpu.logicalCores == ProcessInfo.processInfo.activeProcessorCount)
        #expect(probe.memoryBytes.map { $0 / 1024 / 1024 } == ProcessInfo.processInfo.physicalMemory / 1024 / 1024)
        #expect(probe.encoders.isEmpty)
    }

    @Test func sevClaimsFollowTheDeviceNodesAndModuleParameters() {
        let sev = Self.probe.sev
        #expect(sev.devSev == FileManager.default.fileExists(atPath: "/dev/sev"))
        #expect(sev.devKvm == FileManager.default.fileExists(atPath: "/dev/kvm"))
        #expect((sev.kvmAmd != nil) == FileManager.default.fileExists(atPath: "/sys/module/kvm_amd/parameters"))
        let flags = Set((cpuinfoField("flags") ?? "").split(separator: " ").map(String.init))
        #expect(Set(sev.cpuFlags) == flags.intersection(["sev", "sev_es", "sev_snp"]))
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/qemu-system-x86_64"), "needs qemu-system-x86"))
    func qemuVersionIsReadFromQEMUItself() throws {
        let qemu = try #require(Self.probe.sev.qemu)
        let process = Process()
        process.executableURL = URL(fileURLWithPath: qemu.path)
        process.arguments = ["--version"]
        let pipe = Pipe()
        process.standardOutput = pipe
        try process.run()
        let text = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        process.waitUntilExit()
        let version = try #require(qemu.version)
        #expect(text.contains("version \(version)"))
        // Debian 12's QEMU is 7.2: sev-snp-guest came in 9.1.
        if version.hasPrefix("7.") { #expect(!qemu.hasSevSnpGuest) }
    }

    @Test func gpusAreDisplayClassPCIDevices() throws {
        let gpus = Self.probe.gpus
        let root = "/sys/bus/pci/devices"
        let expected = try FileManager.default.contentsOfDirectory(atPath: root).filter {
            ((try? String(contentsOfFile: "\(root)/\($0)/class", encoding: .utf8)) ?? "").hasPrefix("0x03")
        }
        #expect(gpus.map(\.address).sorted() == expected.sorted())
        for gpu in gpus { #expect(gpu.vendorID.hasPrefix("0x")) }
    }

    @Test func cgroupLayoutMatchesTheMountTable() throws {
        let mounts = try String(contentsOfFile: "/proc/self/mounts", encoding: .utf8)
        let hasV1 = mounts.split(separator: "\n").contains { $0.split(separator: " ").dropFirst(2).first == "cgroup" }
        let hasV2 = mounts.split(separator: "\n").contains { $0.split(separator: " ").dropFirst(2).first == "cgroup2" }
        let layout = Self.probe.cgroups.layout
        #expect(layout == (hasV1 && hasV2 ? .hybrid : hasV1 ? .v1 : hasV2 ? .v2 : CgroupLayout.none))
    }

    @Test(.enabled(if: HostTool.hasBwrap, "needs bwrap"))
    func bubblewrapIsTriedNotAssumed() throws {
        let engine = try #require(Self.probe.sandboxEngines.first { $0.name == "bwrap" })
        #expect(engine.works)
        #expect(engine.detail == "trial job ran")
        #expect(engine.version?.first?.isNumber == true)
    }

    @Test(.enabled(if: HostTool.path("runc") != nil && HostTool.hasBusybox, "needs runc and /bin/busybox"))
    func runcIsTriedWithARealBundle() throws {
        let engine = try #require(Self.probe.sandboxEngines.first { $0.name == "runc" })
        // Either the trial job printed its marker, or the failure carries runc's exit status and last line.
        #expect(engine.works ? engine.detail == "trial job ran" : engine.detail.hasPrefix("exit "))
        #expect(engine.version?.first?.isNumber == true)
    }

    @Test func probeCommandPrintsOneJSONObjectAndAReadableReport() throws {
        let json = try PrismBinary.run(["probe", "--json"])
        #expect(json.status == 0)
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [String: Any])
        for key in ["cpu", "memoryBytes", "sev", "confidentialMissing", "gpus", "cgroups", "sandboxEngines", "encoders"] {
            #expect(object[key] != nil, "missing \(key)")
        }
        // Encoders are probed by opening real sessions: libx264 opens everywhere; NVENC only where a GPU with it is.
        let encoders = try #require(object["encoders"] as? [String: String])
        #expect(encoders["libx264"] == "opens")
        if !FileManager.default.fileExists(atPath: "/dev/nvidia0") {
            #expect(encoders["h264_nvenc"]?.hasPrefix("does not open") == true)
        }
        #expect((object["decoders"] as? [String: String])?["nvdec (cuda)"] != nil)
        let text = try PrismBinary.run(["probe"])
        #expect(text.status == 0)
        #expect(text.stdout.contains("SEV-SNP"))
        #expect(text.stdout.contains("engine     bwrap"))
        #expect(text.stdout.contains("encoder    libx264: opens"))
    }
}
