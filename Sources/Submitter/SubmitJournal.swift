import Foundation
import Logging
import SQLiteNIO
import Synchronization
import Transcode
import Wire

/// The submitter's job journal: every verified segment, with its rendition files, recorded in SQLite
/// beside the output so that a killed `prism submit` run again resumes without sending those segments
/// out again. Keyed by the task's content address (source bytes, ladder, codec, preset), so a changed
/// input or option never reuses a stale result. Removed once the job completes.
public final class SubmitJournal: Sendable {
    public let folder: URL
    private let connection: SQLiteConnection

    /// Opens (or creates) the journal for an output folder: `.NAME.prism-journal` beside it.
    public static func open(forOutput output: URL, logger: Logger) throws -> SubmitJournal {
        let folder = output.standardizedFileURL.deletingLastPathComponent()
            .appendingPathComponent(".\(output.standardizedFileURL.lastPathComponent).prism-journal")
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        let path = folder.appendingPathComponent("journal.sqlite").path
        let connection = try blocking { try await SQLiteConnection.open(storage: .file(path: path), logger: logger) }
        let journal = SubmitJournal(folder: folder, connection: connection)
        try journal.execute("""
            CREATE TABLE IF NOT EXISTS verified_segments (
                task TEXT PRIMARY KEY,
                result TEXT NOT NULL,
                farmer TEXT NOT NULL,
                recorded_at INTEGER NOT NULL)
            """)
        return journal
    }

    private init(folder: URL, connection: SQLiteConnection) {
        self.folder = folder
        self.connection = connection
    }

    /// A verified segment from an earlier run: its result, with the rung files copied into `output`.
    public func restore(task: ContentAddress, into output: URL) throws -> SegmentTaskResult? {
        let rows = try blocking { try await self.connection.query("SELECT result FROM verified_segments WHERE task = ?", [.text(task.description)]) }
        guard let text = rows.first?.column("result")?.string, let result = try? JSONDecoder().decode(SegmentTaskResult.self, from: Data(text.utf8)) else {
            return nil
        }
        let stored = folder.appendingPathComponent(Hex.encode(task.digest))
        for rendition in result.renditions {
            let from = stored.appendingPathComponent(rendition.file), to = output.appendingPathComponent(rendition.file)
            guard FileManager.default.fileExists(atPath: from.path) else { return nil }
            try? FileManager.default.removeItem(at: to)
            try FileManager.default.copyItem(at: from, to: to)
        }
        return result
    }

    /// Records a verified segment: files first, the row last, so a row always has its files.
    public func record(task: ContentAddress, result: SegmentTaskResult, files: URL, farmer: String) throws {
        let stored = folder.appendingPathComponent(Hex.encode(task.digest))
        try FileManager.default.createDirectory(at: stored, withIntermediateDirectories: true)
        for rendition in result.renditions {
            let to = stored.appendingPathComponent(rendition.file)
            try? FileManager.default.removeItem(at: to)
            try FileManager.default.copyItem(at: files.appendingPathComponent(rendition.file), to: to)
        }
        let json = String(decoding: try JSONEncoder().encode(result), as: UTF8.self)
        try blocking {
            _ = try await self.connection.query("INSERT OR REPLACE INTO verified_segments (task, result, farmer, recorded_at) VALUES (?, ?, ?, ?)",
                                                [.text(task.description), .text(json), .text(farmer), .integer(Int(Date().timeIntervalSince1970))])
        }
    }

    /// Drops a recorded segment (its farmer was caught cheating after it was accepted).
    public func forget(task: ContentAddress) throws {
        try? FileManager.default.removeItem(at: folder.appendingPathComponent(Hex.encode(task.digest)))
        try blocking { _ = try await self.connection.query("DELETE FROM verified_segments WHERE task = ?", [.text(task.description)]) }
    }

    /// Whether `close()` has run (closing twice would hand SQLite a closed handle).
    private let closed = Mutex(false)

    /// Closes the database, keeping the journal for a later run.
    public func close() {
        guard closed.withLock({ closed in defer { closed = true }; return !closed }) else { return }
        try? blocking { try await self.connection.close() }
    }

    /// Closes the database and deletes the journal (the job is complete).
    public func discard() {
        close()
        try? FileManager.default.removeItem(at: folder)
    }

    deinit { close() }

    private func execute(_ sql: String) throws {
        try blocking { _ = try await self.connection.query(sql) }
    }
}

/// Runs async work to completion from a plain thread (the segment workers are not async).
func blocking<T: Sendable>(_ work: @escaping @Sendable () async throws -> T) throws -> T {
    let done = DispatchSemaphore(value: 0)
    let box = ResultBox<T>()
    Task.detached {
        let result: Result<T, any Error>
        do { result = .success(try await work()) } catch { result = .failure(error) }
        box.result.withLock { $0 = result }
        done.signal()
    }
    done.wait()
    return try box.result.withLock { $0! }.get()
}

private final class ResultBox<T: Sendable>: Sendable { let result = Mutex<Result<T, any Error>?>(nil) }
