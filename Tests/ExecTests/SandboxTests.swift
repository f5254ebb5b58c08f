import PrismTestSupport
import Exec
import Foundation
import Testing
#if canImport(Glibc)
import Glibc
#endif

@Suite("Plain sandbox with real busybox jobs", .enabled(if: HostTool.canSandbox, "needs bwrap and /bin/busybox (bubblewrap, busybox-static)"))
struct SandboxTests {
    func shellJob(_ script: String, scratch: Scratch, limits: JobLimits = JobLimits(), inputs: [JobInput] = [],
                  network: JobSpec.Network = .none) throws -> JobSpec {
        JobSpec(rootfs: .directory(try BusyboxRootfs.make(in: scratch)), command: ["/bin/sh", "-c", script],
                inputs: inputs, output: scratch.path("output"), limits: limits, network: network)
    }

    @Test func rootIsReadOnlyAndTmpIsPrivateAndWritable() throws {
        let scratch = try Scratch()
        let run = try CapturedRun.run(try shellJob("""
            touch /new 2>/dev/null && echo root-writable || echo root-readonly
            touch /bin/new 2>/dev/null && echo bin-writable || echo bin-readonly
            echo scratch > /tmp/t && cat /tmp/t
            ls /tmp
            """, scratch: scratch))
        #expect(run.result.status == 0)
        #expect(run.stdout == "root-readonly\nbin-readonly\nscratch\nt\n")
        // /tmp was the sandbox's own: nothing named t appeared in the host's /tmp or the rootfs.
        #expect(!FileManager.default.fileExists(atPath: scratch.path("rootfs/tmp/t")))
    }

    @Test func inputsAreReadOnlyUnderInAndOutIsWritable() throws {
        let scratch = try Scratch()
        let input = try scratch.write("clip.txt", "input-bytes\n")
        let run = try CapturedRun.run(try shellJob("""
            cat /in/clip.txt
            echo changed > /in/clip.txt 2>/dev/null && echo input-writable || echo input-readonly
            touch /in/extra 2>/dev/null && echo in-writable || echo in-readonly
            echo result > /out/result.txt
            """, scratch: scratch, inputs: [JobInput(path: input)]))
        #expect(run.result.status == 0)
        #expect(run.stdout == "input-bytes\ninput-readonly\nin-readonly\n")
        #expect(scratch.read("clip.txt") == "input-bytes\n")
        #expect(scratch.read("output/result.txt") == "result\n")
    }

    @Test func jobRunsAsUnprivilegedUIDWithNoCapabilities() throws {
        let scratch = try Scratch()
        let run = try CapturedRun.run(try shellJob("id -u; id -g; grep -E '^Cap(Eff|Prm|Bnd):' /proc/self/status", scratch: scratch))
        #expect(run.result.status == 0)
        let lines = run.stdout.split(separator: "\n").map(String.init)
        #expect(lines.first == "\(PlainSandbox.jobUID)")
        #expect(lines.count == 5)
        #expect(lines.dropFirst(2).allSatisfy { $0.hasSuffix("0000000000000000") })
    }

    @Test func linksLeftInOutAreNotDelivered() throws {
        let scratch = try Scratch()
        let run = try CapturedRun.run(try shellJob("""
            mkdir /out/sub; echo kept > /out/sub/file
            busybox ln -s /etc/passwd /out/pw; busybox ln -s / /out/sub/root; busybox mkfifo /out/fifo
            """, scratch: scratch))
        #expect(run.result.status == 0, "\(run.stderr)")
        #expect(run.result.droppedFromOutput == ["fifo", "pw", "sub/root"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("output")) == ["sub"])
        #expect(try FileManager.default.contentsOfDirectory(atPath: scratch.path("output/sub")) == ["file"])
        #expect(scratch.read("output/sub/file") == "kept\n")
    }

    /// A job run by root (as farmers on rented boxes often are) writes setuid and setgid files and hard links into
    /// /out; none reaches the host with a special bit or sharing an inode, whatever the caller.
    @Test func setuidFilesAndHardLinksAreDeliveredPlain() throws {
        let scratch = try Scratch()
        let run = try CapturedRun.run(try shellJob("""
            busybox cp /bin/busybox /out/suid && busybox chmod 4755 /out/suid
            busybox cp /bin/busybox /out/both && busybox chmod 6755 /out/both
            mkdir /out/shared && busybox chmod 3777 /out/shared
            echo data > /out/a && busybox ln /out/a /out/b && busybox chmod 4755 /out/a
            stat -c '%a' /out/suid /out/both
            """, scratch: scratch))
        #expect(run.result.status == 0, "\(run.stderr)")
        #expect(run.stdout.split(separator: "\n") == ["4755", "6755"], "the job did set the bits inside: \(run.stdout)")
        #expect(run.result.sanitizedInOutput == ["a", "b", "both", "shared", "suid"])
        for name in ["suid", "both", "shared", "a", "b"] {
            var status = stat()
            #expect(lstat(scratch.path("output/\(name)"), &status) == 0)
            #expect(status.st_mode & mode_t(S_ISUID | S_ISGID | S_ISVTX) == 0, "\(name): mode \(String(status.st_mode, radix: 8))")
            if name == "a" || name == "b" { #expect(status.st_nlink == 1, "\(name) still shares its inode") }
        }
        #expect(scratch.read("output/b") == "data\n")
    }

    /// Every job gets a bounded /tmp and process count unless it asks otherwise (the kernel's tmpfs default is half the RAM).
    @Test func tmpAndProcessesAreBoundedByDefault() throws {
        let scratch = try Scratch()
        let run = try CapturedRun.run(try shellJob("dd if=/dev/zero of=/tmp/fill bs=1M count=1100 2>/dev/null; echo $?; stat -c %s /tmp/fill",
                                                   scratch: scratch))
        let lines = run.stdout.split(separator: "\n")
        #expect(lines.first != "0", "writing 1100 MiB to /tmp must fail: \(run.stdout)")
        #expect((lines.last.flatMap { UInt64($0) } ?? .max) <= JobLimits.defaultTmpBytes)
        var spec = JobSpec(rootfs: .directory("/r"), command: ["/bin/true"])
        spec.limits = spec.limits.withDefaults()
        let args = try PlainSandbox().bubblewrapArguments(for: spec, rootfs: "/nonexistent-rootfs", output: "/o").joined(separator: " ")
        #expect(args.contains("--size \(JobLimits.defaultTmpBytes) --tmpfs /tmp"))
        #expect(spec.limits.pids == 1024 && spec.limits.outputBytes == 16 << 30)
    }

    @Test func outputFilesAreOwnedByTheCaller() throws {
        let scratch = try Scratch()
        let run = try CapturedRun.run(try shellJob("mkdir /out/sub && echo x > /out/sub/file", scratch: scratch))
        #expect(run.result.status == 0)
        let attributes = try FileManager.default.attributesOfItem(atPath: scratch.path("output/sub/file"))
        #expect((attributes[.ownerAccountID] as? NSNumber)?.uint32Value == getuid())
        #expect((attributes[.groupOwnerAccountID] as? NSNumber)?.uint32Value == getgid())
    }

    @Test func exitStatusIsTheJobsOwn() throws {
        let scratch = try Scratch()
        let run = try CapturedRun.run(try shellJob("echo to-stderr >&2; exit 7", scratch: scratch))
        #expect(run.result.status == 7)
        #expect(run.result.ending == .exited)
        #expect(run.stderr == "to-stderr\n")
    }

    @Test func hostLoopbackIsUnreachableWithoutNetwork() throws {
        let scratch = try Scratch()
        let listener = try LoopbackListener()
        let probe = "nc -w 2 127.0.0.1 \(listener.port) </dev/null && echo connected || echo no-connection"
        let isolated = try CapturedRun.run(try shellJob(probe, scratch: scratch, limits: JobLimits(timeSeconds: 10)))
        #expect(isolated.stdout == "no-connection\n")
        // The same job with the host network reaches the listener, so the failure above is the namespace's doing.
        let shared = try CapturedRun.run(try shellJob(probe, scratch: scratch, limits: JobLimits(timeSeconds: 10), network: .host))
        #expect(shared.stdout == "connected\n")
    }

    @Test func timeLimitKillsJobAndChildrenWithStatus124() throws {
        let scratch = try Scratch()
        let run = try CapturedRun.run(try shellJob("sleep 1001 & sleep 1002 && echo not-reached",
                                                   scratch: scratch, limits: JobLimits(timeSeconds: 1)))
        #expect(run.result.status == 124)
        #expect(run.result.ending == .timedOut)
        #expect(run.stdout.isEmpty)
        #expect(run.seconds < 5)
        #expect(hostProcesses(withCommandLine: ["sleep", "1001"]).isEmpty)
        #expect(hostProcesses(withCommandLine: ["sleep", "1002"]).isEmpty)
    }

    @Test func backgroundChildrenAreKilledWhenTheJobEnds() throws {
        let scratch = try Scratch()
        let run = try CapturedRun.run(try shellJob("sleep 1003 & echo started", scratch: scratch))
        #expect(run.result.status == 0)
        #expect(run.stdout == "started\n")
        #expect(hostProcesses(withCommandLine: ["sleep", "1003"]).isEmpty)
    }

    @Test func memoryLimitStopsAGrowingJob() throws {
        let scratch = try Scratch()
        // busybox tail keeps everything after the last newline, and /dev/zero has none: it grows to 200M.
        let run = try CapturedRun.run(try shellJob("head -c 200m /dev/zero | tail > /dev/null; echo survived",
                                                   scratch: scratch, limits: JobLimits(memoryBytes: 64 << 20, timeSeconds: 20)))
        #expect(run.result.ending == .memoryLimit)
        #expect(run.result.status == 137)
        #expect(run.result.message?.contains("memory limit") == true)
        #expect(run.result.enforcement.contains { $0.hasPrefix("memory:") })
    }

    @Test func pidLimitStopsForksAtTheLimit() throws {
        let scratch = try Scratch()
        // ash exits when a fork fails, so the forking runs in a subshell; the count uses builtins only,
        // since at the limit no further fork succeeds.
        let run = try CapturedRun.run(try shellJob("""
            ( for i in $(seq 200); do sleep 1004 & done ) 2>/dev/null
            n=0; for p in /proc/[0-9]*; do n=$((n+1)); done; echo $n > /out/count
            """, scratch: scratch, limits: JobLimits(pids: 24, timeSeconds: 10)))
        #expect(run.result.status == 0)
        let count = Int(scratch.read("output/count")?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") ?? -1
        // Up to the limit the forks went through (so the limit, not the loop, stopped them), and no further.
        #expect((15...24).contains(count), "\(count) processes")
        #expect(run.result.enforcement.contains { $0.hasPrefix("pids:") })
        #expect(hostProcesses(withCommandLine: ["sleep", "1004"]).isEmpty)
    }

    @Test func forkBombIsContainedAndCleanedUp() throws {
        let scratch = try Scratch()
        // Each shell forks both halves of a pipeline and waits for them, so the job's own shell stays until the
        // tree is spent or killed. (With `bomb | bomb &` and a final `wait`, the first two children can return
        // before any fork fails, and the job ends in milliseconds with nothing tested: CI saw exactly that.)
        let bomb = "bomb() { bomb | bomb; }; bomb"
        let run = try CapturedRun.run(try shellJob(bomb, scratch: scratch, limits: JobLimits(pids: 32, timeSeconds: 5)))
        // The limit, not the host, stopped it: forks failed inside and the run ended on time. (Five seconds: on a
        // machine loaded by the whole suite the bomb can need more than two to reach its limit.)
        #expect(run.stderr.contains("can't fork"), "enforcement: \(run.result.enforcement), ended \(run.result.ending) after \(run.seconds) s")
        #expect(run.seconds < 10)
        // Every process of the bomb is gone: none is left running busybox's sh from this job's rootfs.
        #expect(hostProcesses(withCommandLine: ["/bin/sh", "-c", bomb]).isEmpty)
    }

    @Test func cpuLimitSlowsABusyLoop() throws {
        // Counts loop iterations for one second of wall time, writing progress to two files in turn
        // so a kill mid-write cannot lose the count.
        let loop = "n=0; while :; do n=$((n+1)); [ $((n % 500)) = 0 ] && echo $n > /out/n$((n / 500 % 2)); done"
        func iterations(_ cpus: Double?) throws -> Int {
            let scratch = try Scratch()
            let run = try CapturedRun.run(try shellJob(loop, scratch: scratch, limits: JobLimits(cpus: cpus, timeSeconds: 1)))
            #expect(run.result.status == 124)
            return ["output/n0", "output/n1"].compactMap { Int(scratch.read($0)?.trimmingCharacters(in: .whitespacesAndNewlines) ?? "") }.max() ?? 0
        }
        let free = try iterations(nil)
        let limited = try iterations(0.02)
        #expect(free > 0)
        // A fiftieth of a core gets far less done than an unlimited job, even on a host shared with other builds.
        #expect(Double(limited) < Double(free) * 0.5, "limited \(limited) vs free \(free)")
    }

    @Test func outputOverItsSizeLimitFailsAndIsRemoved() throws {
        let scratch = try Scratch()
        let run = try CapturedRun.run(try shellJob("head -c 3m /dev/zero > /out/big; echo done",
                                                   scratch: scratch, limits: JobLimits(outputBytes: 1 << 20)))
        #expect(run.result.status == 2)
        // Either the watcher stopped the job mid-write or the check after the run caught it.
        guard case .outputTooLarge(let bytes) = run.result.ending else {
            Issue.record("ended \(run.result.ending)")
            return
        }
        #expect(bytes > 1 << 20 && bytes <= 3 << 20)
        #expect(run.result.message?.contains("output over its size limit") == true)
        #expect(!FileManager.default.fileExists(atPath: scratch.path("output/big")))
    }

    @Test func hostBinaryRunsInsideAnEmptyRootfsThroughHostBinds() throws {
        let scratch = try Scratch()
        let empty = scratch.path("empty-rootfs")
        try FileManager.default.createDirectory(atPath: empty, withIntermediateDirectories: true)
        let spec = JobSpec(rootfs: .directory(empty), command: ["/bin/busybox", "echo", "host-busybox"], hostBinds: ["/bin/busybox"])
        let run = try CapturedRun.run(spec)
        #expect(run.result.status == 0)
        #expect(run.stdout == "host-busybox\n")
    }

    /// A host program kept right in /tmp is bound alone: binding its folder would put the host's /tmp, read-only, over
    /// the job's own (a farmer whose binary sat there could not write two-pass statistics and refused every task).
    @Test func aHostProgramKeptInTmpLeavesTheJobItsOwnWritableTmp() throws {
        let scratch = try Scratch()
        let program = "/tmp/prism-host-program-\(UUID().uuidString.prefix(8))"
        try Data("#!/bin/sh\necho written > /tmp/w && cat /tmp/w && ls /tmp\n".utf8).write(to: URL(fileURLWithPath: program))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: program)
        defer { try? FileManager.default.removeItem(atPath: program) }
        let spec = JobSpec.hostProgram(program, arguments: [], rootfs: .directory(try BusyboxRootfs.make(in: scratch)))
        #expect(spec.hostBinds.contains(program) && !spec.hostBinds.contains("/tmp"), "\(spec.hostBinds)")
        let run = try CapturedRun.run(spec)
        #expect(run.result.status == 0, "\(run.stderr)")
        // Written and read back; of the host's /tmp only the program itself shows.
        #expect(run.stdout == "written\n\(URL(fileURLWithPath: program).lastPathComponent)\nw\n" || run.stdout == "written\nw\n\(URL(fileURLWithPath: program).lastPathComponent)\n", "\(run.stdout)")
    }

    @Test(.enabled(if: FileManager.default.isExecutableFile(atPath: "/usr/bin/ffprobe"), "needs /usr/bin/ffprobe (ffmpeg)"))
    func hostFFprobeRunsWithItsSharedLibrariesBound() throws {
        let scratch = try Scratch()
        let spec = JobSpec.hostProgram("/usr/bin/ffprobe", arguments: ["-version"],
                                       rootfs: .directory(try BusyboxRootfs.make(in: scratch)))
        #expect(spec.hostBinds.contains("/usr/lib"))
        let run = try CapturedRun.run(spec)
        #expect(run.result.status == 0, "\(run.stderr)")
        #expect(run.stdout.hasPrefix("ffprobe version "))
    }

    @Test func prismItselfRunsInABusyboxRootfsWithItsSwiftRuntimeBound() throws {
        let scratch = try Scratch()
        let spec = JobSpec.hostProgram(PrismBinary.url.path, arguments: ["version"],
                                       rootfs: .directory(try BusyboxRootfs.make(in: scratch)), limits: JobLimits(timeSeconds: 30))
        let run = try CapturedRun.run(spec)
        #expect(run.result.status == 0, "\(run.stderr)")
        #expect(run.stdout.hasPrefix("prism "))
        #expect(run.stdout.contains("FFmpeg"))
    }

    @Test func rootfsOwnTmpDevProcInOutAreReplacedByTheSandboxes() throws {
        let scratch = try Scratch()
        let rootfs = try BusyboxRootfs.make(in: scratch)
        for name in ["tmp", "dev", "proc", "in", "out"] {
            try FileManager.default.createDirectory(atPath: "\(rootfs)/\(name)", withIntermediateDirectories: true)
            _ = try scratch.write("rootfs/\(name)/from-rootfs", "x")
        }
        try FileManager.default.createSymbolicLink(atPath: rootfs + "/usr", withDestinationPath: "/bin")
        let run = try CapturedRun.run(JobSpec(rootfs: .directory(rootfs), command: ["/bin/sh", "-c", "ls /tmp /in /out; ls /usr/busybox"],
                                              output: scratch.path("output")))
        #expect(run.result.status == 0, "\(run.stderr)")
        #expect(run.stdout == "/in:\n\n/out:\n\n/tmp:\n/usr/busybox\n")
    }

    @Test func bubblewrapCommandLineIsolatesEverythingByDefault() throws {
        let spec = JobSpec(rootfs: .directory("/r"), command: ["/bin/true"], inputs: [JobInput(name: "a", path: "/h/a")])
        let args = try PlainSandbox().bubblewrapArguments(for: spec, rootfs: "/nonexistent-rootfs", output: "/o")
        for flag in ["--unshare-user", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--die-with-parent", "--new-session", "--clearenv"] {
            #expect(args.contains(flag))
        }
        let joined = args.joined(separator: " ")
        #expect(joined.contains("--cap-drop ALL"))
        #expect(joined.contains("--ro-bind /h/a /in/a"))
        #expect(joined.contains("--bind /o /out"))
        #expect(joined.contains("--remount-ro /"))
        #expect(args.suffix(2) == ["--", "/bin/true"])
    }
}

@Suite("OCI images unpacked with umoci", .enabled(if: HostTool.canUnpackImages, "needs bwrap, umoci and /bin/busybox"))
struct SandboxImageTests {
    /// Builds a one-layer OCI layout holding /bin/busybox, with umoci itself.
    func makeImage(in scratch: Scratch) throws -> String {
        let layout = scratch.path("image")
        let umoci = HostTool.path("umoci")!
        for args in [["init", "--layout", layout],
                     ["new", "--image", layout + ":latest"],
                     ["insert", "--rootless", "--image", layout + ":latest", "/bin/busybox", "/bin/busybox"]] {
            let process = try Process.run(URL(fileURLWithPath: umoci), arguments: args)
            process.waitUntilExit()
            #expect(process.terminationStatus == 0, "umoci \(args.joined(separator: " "))")
        }
        return layout
    }

    @Test func echoRunsInAnImageLayout() throws {
        let scratch = try Scratch()
        let spec = JobSpec(rootfs: .ociImage(try makeImage(in: scratch)), command: ["/bin/busybox", "echo", "from-oci-layout"])
        #expect(spec.rootfs.kind == .ociLayout)
        let run = try CapturedRun.run(spec)
        #expect(run.result.status == 0, "\(run.stderr)")
        #expect(run.stdout == "from-oci-layout\n")
    }

    @Test func echoRunsInAnImageArchive() throws {
        let scratch = try Scratch()
        let layout = try makeImage(in: scratch)
        let archive = scratch.path("image.tar")
        let tar = try Process.run(URL(fileURLWithPath: HostTool.path("tar")!), arguments: ["-cf", archive, "-C", layout, "."])
        tar.waitUntilExit()
        let spec = JobSpec(rootfs: .ociImage(archive), command: ["/bin/busybox", "echo", "from-oci-archive"])
        #expect(spec.rootfs.kind == .ociArchive)
        let run = try CapturedRun.run(spec)
        #expect(run.result.status == 0, "\(run.stderr)")
        #expect(run.stdout == "from-oci-archive\n")
    }

    @Test func prismRunTakesAnImageWithATag() throws {
        let scratch = try Scratch()
        let layout = try makeImage(in: scratch)
        let result = try PrismBinary.run(["run", "--image", layout + ":latest", "--", "/bin/busybox", "echo", "tagged"])
        #expect(result.status == 0, "\(result.stderr)")
        #expect(result.stdout == "tagged\n")
        let missing = try PrismBinary.run(["run", "--image", layout + ":nope", "--", "/bin/busybox", "true"])
        #expect(missing.status == 2)
        #expect(missing.stderr.hasPrefix("prism: bad OCI image: umoci cannot unpack"))
        #expect(missing.stderr.split(separator: "\n").count == 1)
    }

    @Test func cachedImageIsUnpackedOnceUnderItsManifestDigest() throws {
        let scratch = try Scratch()
        let layout = try makeImage(in: scratch)
        let cache = scratch.url.appendingPathComponent("cache")
        let sandbox = try PlainSandbox(imageCache: cache)
        let spec = JobSpec(rootfs: .ociImage(layout), command: ["/bin/busybox", "echo", "cached"], output: scratch.path("out"))
        _ = try sandbox.run(spec, standardOutput: FileHandle.nullDevice)
        // The entry is named after the manifest digest that index.json gives the tag.
        let index = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: layout + "/index.json"))) as? [String: Any]
        let digest = try #require(((index?["manifests"] as? [[String: Any]])?.first?["digest"] as? String))
        let entry = cache.appendingPathComponent(digest.replacingOccurrences(of: ":", with: "-")).path
        #expect(try FileManager.default.contentsOfDirectory(atPath: cache.path) == [URL(fileURLWithPath: entry).lastPathComponent])
        let busybox = entry + "/rootfs/bin/busybox"
        let firstInode = try FileManager.default.attributesOfItem(atPath: busybox)[.systemFileNumber] as? NSNumber
        // A second job reuses that copy instead of unpacking again.
        let spec2 = JobSpec(rootfs: .ociImage(layout), command: ["/bin/busybox", "sh", "-c", "echo again > /out/again"], output: scratch.path("out"))
        let second = try sandbox.run(spec2)
        #expect(second.status == 0)
        #expect(scratch.read("out/again") == "again\n")
        #expect(try FileManager.default.attributesOfItem(atPath: busybox)[.systemFileNumber] as? NSNumber == firstInode)
    }

    @Test func unknownTagIsABadImage() throws {
        let scratch = try Scratch()
        let spec = JobSpec(rootfs: .ociImage(try makeImage(in: scratch), tag: "missing"), command: ["/bin/busybox", "true"])
        #expect {
            try PlainSandbox().run(spec)
        } throws: { error in
            "\(error)".hasPrefix("bad OCI image: umoci cannot unpack")
        }
    }
}
