import ArgumentParser
import Exec
import Foundation

/// `prism run`: runs one job in the plain sandbox or as a confidential VM and exits with the job's status.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run a job in the plain sandbox or a confidential (SEV-SNP) VM.",
        discussion: """
        Plain mode: the root file system is read-only, each --input appears read-only at /in/<basename>, \
        --output is writable at /out, /tmp is a private tmpfs, the job runs as an unprivileged user with no \
        network (not even the host's loopback), and it is killed with all its children at its time limit \
        (exit 124) or memory limit (exit 137). Every job gets at most 1024 processes, a 1G /tmp and 16G left in \
        /out unless told otherwise. What /out holds reaches --output as plain files and folders only: links, \
        devices and fifos are dropped, setuid/setgid/sticky bits cleared, hard links copied apart. \
        Options given here override those in --spec. \
        Exits with the job's status; 2 with one line for bad input or a host that cannot run the mode.
        """)

    @Option(help: "plain or confidential.")
    var mode: JobSpec.Mode?

    @Option(help: "Root file system folder.")
    var rootfs: String?

    @Option(help: "OCI image: a layout folder or a tar of one (optionally PATH:TAG).")
    var image: String?

    @Option(name: .customLong("input"), help: "Host file or folder, read-only at /in/<basename> (repeatable).")
    var inputs: [String] = []

    @Option(help: "Host folder that receives /out.")
    var output: String?

    @OptionGroup var limits: JobLimitOptions

    @Option(help: "none (default) or host.")
    var network: JobSpec.Network?

    @Flag(help: "Pass the host's GPU device nodes through.")
    var gpu = false

    @Option(help: "Job spec JSON file to start from.")
    var spec: String?

    @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.")
    var command: [String] = []

    func validate() throws {
        if rootfs != nil && image != nil { throw ValidationError("give --rootfs or --image, not both") }
        if spec == nil && rootfs == nil && image == nil { throw ValidationError("give --rootfs DIR, --image OCI or --spec FILE") }
        if spec == nil && command.isEmpty { throw ValidationError("give the command to run after --") }
    }

    func run() throws {
        let job = try jobSpec()
        switch job.mode {
        case .plain:
            let result = try PlainSandbox().run(job)
            // Say so when a limit was only weakly enforced (no writable cgroup here), so nobody over-trusts it.
            for note in result.enforcement where note.contains("RLIMIT") || note.contains("not enforced") {
                Failure.printError("note: \(note)")
            }
            if !result.droppedFromOutput.isEmpty {
                Failure.printError("note: not delivered from /out (neither file nor folder): " + result.droppedFromOutput.joined(separator: ", "))
            }
            if case .outputTooLarge = result.ending { throw CommandFailure.badInput(result.message ?? "output over its size limit") }
            if let message = result.message { Failure.printError(message) }
            throw ExitCode(result.status)
        case .confidential:
            let status = try ConfidentialRunner().run(job)
            throw ExitCode(status)
        }
    }

    /// The spec from --spec (if any) with the command-line options laid over it.
    func jobSpec() throws -> JobSpec {
        var job: JobSpec
        if let spec {
            guard let data = FileManager.default.contents(atPath: spec) else { throw CommandFailure.badInput("job spec not found: \(spec)") }
            job = try JobSpec.decode(data)
        } else {
            job = JobSpec(rootfs: .directory(""), command: [])
        }
        if let rootfs { job.rootfs = .directory(rootfs) }
        if let image { job.rootfs = RootFileSystem.imageArgument(image) }
        if let mode { job.mode = mode }
        if !command.isEmpty { job.command = command }
        job.inputs += inputs.map { JobInput(path: $0) }
        if let output { job.output = output }
        try limits.apply(to: &job.limits)
        if let network { job.network = network }
        if gpu {
            let nodes = GPUDeviceNodes.present()
            if nodes.isEmpty { throw CommandFailure.badInput("--gpu: no GPU device nodes (/dev/nvidia*, /dev/dri/*) on this host") }
            job.devices += nodes.filter { !job.devices.contains($0) }
        }
        return job
    }

}

/// The limits `prism run` and `prism job submit` take, laid over a spec's.
struct JobLimitOptions: ParsableArguments {
    @Option(help: "CPU time in cores, e.g. 1.5.")
    var cpus: Double?

    @Option(help: "Memory limit, e.g. 512M or 2G.")
    var memory: String?

    @Option(help: "Most processes and threads at once (default 1024).")
    var pids: Int?

    @Option(help: "Wall-clock limit in seconds (exit 124 when reached).")
    var timeout: Double?

    @Option(name: .customLong("output-limit"), help: "Most bytes the job may leave in /out, e.g. 100M (default 16G).")
    var outputLimit: String?

    @Option(name: .customLong("tmp-limit"), help: "Size of the job's private /tmp, e.g. 256M (default 1G).")
    var tmpLimit: String?

    func apply(to limits: inout JobLimits) throws {
        if let cpus { limits.cpus = cpus }
        if let memory { limits.memoryBytes = try Self.size(memory, option: "--memory") }
        if let pids { limits.pids = pids }
        if let timeout { limits.timeSeconds = timeout }
        if let outputLimit { limits.outputBytes = try Self.size(outputLimit, option: "--output-limit") }
        if let tmpLimit { limits.tmpBytes = try Self.size(tmpLimit, option: "--tmp-limit") }
    }

    private static func size(_ text: String, option: String) throws -> UInt64 {
        do { return try ByteSize.parse(text) } catch { throw CommandFailure.badInput("\(option): \(error)") }
    }
}

extension RootFileSystem {
    /// An `--image` argument: PATH:TAG only when the part after the last ':' is a plain tag and PATH exists.
    static func imageArgument(_ text: String) -> RootFileSystem {
        if let colon = text.lastIndex(of: ":"), FileManager.default.fileExists(atPath: String(text[..<colon])),
           !text[text.index(after: colon)...].contains("/") {
            return .ociImage(String(text[..<colon]), tag: String(text[text.index(after: colon)...]))
        }
        return .ociImage(text)
    }
}

extension JobSpec.Mode: ExpressibleByArgument {}
extension JobSpec.Network: ExpressibleByArgument {}
extension JobSpecError: BadInputFailure {}
extension SandboxError: BadInputFailure {}
extension ConfidentialError: BadInputFailure {}
