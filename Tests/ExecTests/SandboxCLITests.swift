import PrismTestSupport
import Exec
import Foundation
import Testing

@Suite("prism run", .enabled(if: HostTool.canSandbox, "needs bwrap and /bin/busybox (bubblewrap, busybox-static)"))
struct SandboxCLITests {
    @Test func exitStatusIsTheJobsAndOutputArrives() throws {
        let scratch = try Scratch()
        let rootfs = try BusyboxRootfs.make(in: scratch)
        let input = try scratch.write("in.txt", "abc\n")
        let result = try PrismBinary.run(["run", "--mode", "plain", "--rootfs", rootfs, "--input", input, "--output", scratch.path("out"),
                                          "--memory", "256M", "--pids", "64", "--cpus", "1",
                                          "--", "/bin/sh", "-c", "cat /in/in.txt > /out/copy; echo said; exit 5"])
        #expect(result.status == 5)
        #expect(result.stdout == "said\n")
        #expect(scratch.read("out/copy") == "abc\n")
    }

    @Test func timeoutExits124() throws {
        let scratch = try Scratch()
        let result = try PrismBinary.run(["run", "--rootfs", try BusyboxRootfs.make(in: scratch), "--timeout", "1", "--", "/bin/sleep", "30"])
        #expect(result.status == 124)
        #expect(result.stderr == "prism: time limit reached: job and all its processes killed\n")
    }

    @Test func memoryLimitExits137WithAMemoryLine() throws {
        let scratch = try Scratch()
        let result = try PrismBinary.run(["run", "--rootfs", try BusyboxRootfs.make(in: scratch), "--memory", "64M", "--timeout", "20",
                                          "--", "/bin/sh", "-c", "head -c 200m /dev/zero | tail"])
        #expect(result.status == 137)
        #expect(result.stderr.contains("prism: memory limit reached"))
    }

    @Test func badInputExits2WithOneLine() throws {
        let scratch = try Scratch()
        let rootfs = try BusyboxRootfs.make(in: scratch)
        let traversal = try scratch.write("traversal.json", """
            {"rootfs": {"kind": "directory", "path": "\(rootfs)"}, "command": ["/bin/true"],
             "inputs": [{"name": "../../etc/passwd", "path": "/etc/passwd"}]}
            """)
        let malformed = try scratch.write("malformed.json", "{\"rootfs\": [")
        let duplicate = try scratch.write("duplicate.json", """
            {"rootfs": {"kind": "directory", "path": "\(rootfs)"}, "command": ["/bin/true"],
             "inputs": [{"name": "a", "path": "/etc/passwd"}, {"name": "a", "path": "/etc/hostname"}]}
            """)
        var cases: [([String], String)] = [
            (["run", "--rootfs", rootfs, "--output-limit", "lots", "--", "/bin/true"], "prism: --output-limit: bad size \"lots\""),
            (["run", "--rootfs", "/no/such/rootfs", "--", "/bin/true"], "prism: root file system not found: /no/such/rootfs"),
            (["run", "--rootfs", rootfs, "--memory", "12Q", "--", "/bin/true"], "prism: --memory: bad size \"12Q\""),
            (["run", "--rootfs", rootfs, "--tmp-limit", "12Q", "--", "/bin/true"], "prism: --tmp-limit: bad size \"12Q\""),
            (["run", "--rootfs", rootfs, "--tmp-limit", "10K", "--", "/bin/true"], "prism: bad limit: tmp must be at least 1M"),
            (["run", "--spec", traversal], "prism: bad input name \"../../etc/passwd\""),
            (["run", "--spec", malformed], "prism: malformed job spec:"),
            (["run", "--spec", duplicate], "prism: two inputs are named \"a\" under /in"),
            (["run", "--rootfs", rootfs, "--input", "/no/such/input", "--", "/bin/true"], "prism: input not found: /no/such/input"),
            (["run", "--rootfs", rootfs, "--image", rootfs, "--", "/bin/true"], "prism: give --rootfs or --image, not both"),
            (["run", "--rootfs", rootfs], "prism: give the command to run after --"),
        ]
        if GPUDeviceNodes.present().isEmpty {
            cases.append((["run", "--rootfs", rootfs, "--gpu", "--", "/bin/true"], "prism: --gpu: no GPU device nodes"))
        }
        for (arguments, prefix) in cases {
            let result = try PrismBinary.run(arguments)
            #expect(result.status == 2, "\(arguments)")
            #expect(result.stderr.hasPrefix(prefix), "\(result.stderr)")
            #expect(result.stderr.split(separator: "\n").count == 1, "\(result.stderr)")
        }
    }

    @Test func outputOverItsLimitExits2AndLeavesNothing() throws {
        let scratch = try Scratch()
        let result = try PrismBinary.run(["run", "--rootfs", try BusyboxRootfs.make(in: scratch), "--output", scratch.path("out"),
                                          "--output-limit", "1M", "--", "/bin/sh", "-c", "head -c 2000000 /dev/zero > /out/big"])
        #expect(result.status == 2)
        // The watcher may stop the job mid-write, so the byte count is anything past the limit.
        #expect(result.stderr.hasPrefix("prism: output over its size limit ("))
        #expect(result.stderr.hasSuffix(" bytes written); partial output removed\n"))
        #expect(result.stderr.split(separator: "\n").count == 1)
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("out")).isEmpty)
    }

    @Test func specFileRunsWithCommandLineOverrides() throws {
        let scratch = try Scratch()
        let rootfs = try BusyboxRootfs.make(in: scratch)
        let spec = JobSpec(rootfs: .directory(rootfs), command: ["/bin/sh", "-c", "echo $GREETING"], env: ["GREETING": "from-spec"])
        try spec.canonicalJSON().write(to: scratch.url.appendingPathComponent("job.json"))
        let plain = try PrismBinary.run(["run", "--spec", scratch.path("job.json")])
        #expect(plain.status == 0)
        #expect(plain.stdout == "from-spec\n")
        let overridden = try PrismBinary.run(["run", "--spec", scratch.path("job.json"), "--", "/bin/echo", "override"])
        #expect(overridden.stdout == "override\n")
    }
}

@Suite("prism run without writable cgroups",
       .enabled(if: HostTool.canSandbox && getuid() == 0 && HostTool.path("setpriv") != nil && HostTool.path("prlimit") != nil,
                "needs root to drop to uid 65534 with setpriv, plus bwrap, busybox and prlimit"))
struct SandboxFallbackTests {
    /// Runs prism as uid/gid 65534, who cannot write the host's cgroups, so the rlimit fallback is what holds.
    func runAsNobody(_ arguments: [String]) throws -> PrismBinary.Result {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: HostTool.path("setpriv")!)
        process.arguments = ["--reuid", "65534", "--regid", "65534", "--clear-groups", PrismBinary.url.path] + arguments
        let out = Pipe(), err = Pipe()
        process.standardOutput = out
        process.standardError = err
        process.standardInput = FileHandle.nullDevice
        try process.run()
        // Small outputs only: reading one pipe after the other cannot deadlock here.
        let outData = out.fileHandleForReading.readDataToEndOfFile()
        let errData = err.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return PrismBinary.Result(status: process.terminationStatus, stdout: String(decoding: outData, as: UTF8.self),
                                  stderr: String(decoding: errData, as: UTF8.self))
    }

    @Test func memoryAndPidLimitsFallBackToRlimitsAndSaySo() throws {
        let scratch = try Scratch()
        let rootfs = try BusyboxRootfs.make(in: scratch)
        try FileManager.default.setAttributes([.posixPermissions: 0o777], ofItemAtPath: scratch.url.path)
        let result = try runAsNobody(["run", "--rootfs", rootfs, "--memory", "64M", "--pids", "20", "--output", scratch.path("out"), "--",
                                      "/bin/sh", "-c", "ulimit -v; ulimit -u; head -c 200m /dev/zero | tail | wc -c; echo x > /out/f"])
        #expect(result.status == 0)
        // RLIMIT_AS of 64 MiB (ulimit -v is in KiB) and RLIMIT_NPROC 20; tail could not grow to 200M.
        #expect(result.stdout == "65536\n20\n0\n")
        #expect(result.stderr.contains("tail: out of memory"))
        #expect(result.stderr.contains("prism: note: memory: RLIMIT_AS per process (no writable memory cgroup)"))
        #expect(result.stderr.contains("prism: note: pids: RLIMIT_NPROC per host uid (no writable pids cgroup)"))
        let owner = try FileManager.default.attributesOfItem(atPath: scratch.path("out/f"))[.ownerAccountID] as? NSNumber
        #expect(owner?.intValue == 65534)
    }
}

@Suite("prism run killed mid-job", .enabled(if: HostTool.canSandbox, "needs bwrap and /bin/busybox"))
struct SandboxCallerDeathTests {
    /// bwrap's --die-with-parent holds on both its processes, so a killed prism leaves no job behind.
    @Test func killingPrismTakesTheWholeJobWithIt() throws {
        let scratch = try Scratch()
        let process = Process()
        process.executableURL = PrismBinary.url
        process.arguments = ["run", "--rootfs", try BusyboxRootfs.make(in: scratch), "--", "/bin/sh", "-c", "sleep 1005 & sleep 1006"]
        process.standardOutput = FileHandle.nullDevice
        process.standardError = FileHandle.nullDevice
        // A killed prism cannot remove its scratch folder; keep it inside this test's own.
        try FileManager.default.createDirectory(atPath: scratch.path("tmp"), withIntermediateDirectories: true)
        process.environment = ProcessInfo.processInfo.environment.merging(["TMPDIR": scratch.path("tmp")]) { $1 }
        try process.run()
        // Wait until the job is really running before killing prism.
        let started = Date()
        while hostProcesses(withCommandLine: ["sleep", "1006"]).isEmpty && Date().timeIntervalSince(started) < 5 { usleep(20_000) }
        #expect(!hostProcesses(withCommandLine: ["sleep", "1006"]).isEmpty)
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
        let killed = Date()
        while !(hostProcesses(withCommandLine: ["sleep", "1005"]) + hostProcesses(withCommandLine: ["sleep", "1006"])).isEmpty
                && Date().timeIntervalSince(killed) < 5 { usleep(20_000) }
        #expect(hostProcesses(withCommandLine: ["sleep", "1005"]).isEmpty)
        #expect(hostProcesses(withCommandLine: ["sleep", "1006"]).isEmpty)
    }
}
