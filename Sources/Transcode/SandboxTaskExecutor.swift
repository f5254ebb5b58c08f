import Exec
import Foundation

/// Runs each segment task as `prism segment-task` inside the plain sandbox: this binary and its libraries
/// bound read-only over an empty root, the mezzanine and the spec read-only at /in, the rung files
/// written to /out, no network, limits on memory, processes and time.
public enum SandboxTaskExecutor {
    /// A segment task holds a few decoded frames and encoder state for every rung; 2 GiB is generous.
    static let memoryLimit: UInt64 = 2 << 30
    static let processLimit = 64
    /// A 2 s segment takes seconds on a slow machine; minutes means something is wrong.
    static let timeLimitSeconds = 600.0

    /// An executor running tasks in the plain sandbox; `extraArguments` go to `prism segment-task`
    /// (the farmer's `--misbehave` passes through here).
    public static func make(extraArguments: [String] = []) throws -> SegmentTaskExecutor {
        let sandbox = try PlainSandbox()
        let executable = URL(fileURLWithPath: "/proc/self/exe").resolvingSymlinksInPath().path
        let emptyRoot = FileManager.default.temporaryDirectory.appendingPathComponent("prism-empty-root")
        try FileManager.default.createDirectory(at: emptyRoot, withIntermediateDirectories: true)
        return { task in
            let folder = URL(fileURLWithPath: task.output).deletingLastPathComponent()
            var inside = task
            inside.source = "/in/source.media"
            inside.output = "/out"
            let spec = folder.appendingPathComponent("task.json")
            try JSONEncoder().encode(inside).write(to: spec)
            let job = JobSpec.hostProgram(executable, arguments: ["segment-task", "--spec", "/in/task.json"] + extraArguments,
                                          rootfs: .directory(emptyRoot.path),
                                          inputs: [JobInput(name: "source.media", path: task.source), JobInput(name: "task.json", path: spec.path)],
                                          output: task.output,
                                          limits: JobLimits(memoryBytes: memoryLimit, pids: processLimit, timeSeconds: timeLimitSeconds))
            let log = folder.appendingPathComponent("stderr.txt")
            _ = FileManager.default.createFile(atPath: log.path, contents: nil)
            let errors = try FileHandle(forWritingTo: log)
            defer { try? errors.close() }
            let result = try sandbox.run(job, standardOutput: FileHandle.nullDevice, standardError: errors)
            guard result.status == 0 else {
                let text = (try? String(contentsOf: log, encoding: .utf8)) ?? ""
                let reason = result.message ?? text.split(separator: "\n").last.map(String.init) ?? "exit \(result.status)"
                throw TranscodeError.badTask("sandboxed task \(task.index) failed: \(reason)")
            }
            let data = try Data(contentsOf: URL(fileURLWithPath: task.output).appendingPathComponent("result.json"))
            return try JSONDecoder().decode(SegmentTaskResult.self, from: data)
        }
    }
}
