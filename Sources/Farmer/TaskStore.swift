import Foundation
import Wire

/// A farmer's data folder: one folder per (submitter, task), named by a hash so nothing a request says
/// becomes a path. Finished receipts and outputs survive restarts.
///
/// `tasks/<key>/source.media`, `tasks/<key>/out/<rung files>`, `tasks/<key>/receipt.json` (the signed
/// envelope sent back) and `tasks/<key>/owner` (the submitter's id).
public struct TaskStore: Sendable {
    public let root: URL

    public init(root: URL) throws {
        self.root = root
        try FileManager.default.createDirectory(at: root.appendingPathComponent("tasks"), withIntermediateDirectories: true)
    }

    /// The key of a task as sent by one submitter: SHA-256 over both, hex. Another submitter sending the
    /// same task gets another folder, so one never receives what another uploaded.
    public static func key(task: ContentAddress, submitter: PublicIdentity) -> String {
        FarmerPath.taskKey(task: task, submitter: submitter)
    }

    /// Whether `text` can be a key (64 lowercase hex digits): the only form a URL may name.
    public static func isKey(_ text: String) -> Bool {
        text.count == 64 && text.allSatisfy { ("0"..."9").contains($0) || ("a"..."f").contains($0) }
    }

    /// Removes what a killed farmer left behind: folders of tasks that never finished (their upload, partial
    /// outputs) and the uploaded source of finished ones. Finished receipts and outputs stay, to be served again.
    /// Returns how many unfinished task folders were removed.
    @discardableResult
    public func removeLeftovers() -> Int {
        let tasks = root.appendingPathComponent("tasks")
        var removed = 0
        for name in (try? FileManager.default.contentsOfDirectory(atPath: tasks.path)) ?? [] {
            let folder = tasks.appendingPathComponent(name)
            if Self.isKey(name), FileManager.default.fileExists(atPath: folder.appendingPathComponent("receipt.json").path) {
                try? FileManager.default.removeItem(at: folder.appendingPathComponent("source.media"))
            } else {
                try? FileManager.default.removeItem(at: folder)
                removed += 1
            }
        }
        return removed
    }

    public func folder(_ key: String) -> URL { root.appendingPathComponent("tasks").appendingPathComponent(key) }

    /// The stored signed receipt for a finished task, if any.
    public func receipt(_ key: String) -> Data? {
        FileManager.default.contents(atPath: folder(key).appendingPathComponent("receipt.json").path)
    }

    public func owner(_ key: String) -> String? {
        FileManager.default.contents(atPath: folder(key).appendingPathComponent("owner").path).map { String(decoding: $0, as: UTF8.self) }
    }

    /// Records a finished task: receipt last, so a task counts as done only when everything is on disk.
    public func finish(_ key: String, owner: PublicIdentity, receipt: Data) throws {
        let folder = folder(key)
        try PlainFile.write(Data(owner.description.utf8), to: folder.appendingPathComponent("owner").path, mode: 0o600)
        // Written under another name and renamed: a receipt that is there is whole.
        let partial = folder.appendingPathComponent("receipt.partial").path
        try PlainFile.write(receipt, to: partial, mode: 0o600)
        try PlainFile.rename(partial, to: folder.appendingPathComponent("receipt.json").path)
    }

    /// The output file of a finished task for one rung height.
    public func output(_ key: String, height: Int) -> URL? { outputs(key)[height] }

    /// A finished task's output files by rung height (named `<height>p.<extension>`).
    public func outputs(_ key: String) -> [Int: URL] {
        let out = folder(key).appendingPathComponent("out")
        var files: [Int: URL] = [:]
        for name in ((try? FileManager.default.contentsOfDirectory(atPath: out.path)) ?? []).sorted() {
            guard let mark = name.firstIndex(of: "p"), name[name.index(after: mark)...].hasPrefix("."), let height = Int(name[..<mark]) else { continue }
            if files[height] == nil { files[height] = out.appendingPathComponent(name) }
        }
        return files
    }
}
