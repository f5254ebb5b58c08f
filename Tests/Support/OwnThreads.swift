import Dispatch

/// A task executor whose jobs run on threads outside Swift's shared pool (a concurrent queue over libdispatch's
/// overcommitting root queue, which starts a thread when none is free). Live-server tests run their server and client
/// here: the shared pool has one thread per core (2 on CI), and tests that hold those threads with long synchronous work
/// (subprocesses, decoding) could otherwise keep a live server from answering until its client's read timed out.
public final class OwnThreadsExecutor: TaskExecutor, @unchecked Sendable {  // unchecked: the queue is thread-safe
    public static let shared = OwnThreadsExecutor()
    private let queue = DispatchQueue(label: "prism.tests.own-threads", attributes: .concurrent)

    public func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        let executor = asUnownedTaskExecutor()
        queue.async { job.runSynchronously(on: executor) }
    }
}

/// Runs `body`, and every child task it starts, on `OwnThreadsExecutor`.
public func onOwnThreads<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
    try await withTaskExecutorPreference(OwnThreadsExecutor.shared) { try await body() }
}
