import Foundation

/// A job's output is built in a hidden folder beside OUTDIR and renamed into place only when complete,
/// so a failed or interrupted run never leaves something that looks finished.
struct OutputFolder {
    let destination: URL
    let staging: URL

    /// Checks the destination and creates the staging folder.
    init(destination: URL) throws {
        self.destination = destination.standardizedFileURL
        let parent = self.destination.deletingLastPathComponent()
        let manager = FileManager.default
        var isDirectory: ObjCBool = false
        guard manager.fileExists(atPath: parent.path, isDirectory: &isDirectory), isDirectory.boolValue else {
            throw TranscodeError.outputNotWritable(path: self.destination.path, reason: "parent folder \(parent.path) does not exist")
        }
        guard manager.isWritableFile(atPath: parent.path), access(parent.path, W_OK) == 0 else {
            throw TranscodeError.outputNotWritable(path: self.destination.path, reason: "parent folder \(parent.path) is not writable")
        }
        if manager.fileExists(atPath: self.destination.path, isDirectory: &isDirectory) {
            let contents = (try? manager.contentsOfDirectory(atPath: self.destination.path)) ?? ["?"]
            let isOurs = contents.contains("master.m3u8") && contents.contains("report.json")
            guard isDirectory.boolValue, contents.isEmpty || isOurs else { throw TranscodeError.outputExists(path: self.destination.path) }
        }
        staging = parent.appendingPathComponent(".\(self.destination.lastPathComponent).partial-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        do {
            try manager.createDirectory(at: staging, withIntermediateDirectories: false)
        } catch {
            throw TranscodeError.outputNotWritable(path: self.destination.path, reason: error.localizedDescription)
        }
    }

    /// Moves the finished staging folder into place, replacing an earlier Prism output.
    func commit() throws {
        let manager = FileManager.default
        if manager.fileExists(atPath: destination.path) {
            let old = destination.deletingLastPathComponent().appendingPathComponent(".\(destination.lastPathComponent).old-\(getpid())")
            try manager.moveItem(at: destination, to: old)
            try manager.moveItem(at: staging, to: destination)
            try? manager.removeItem(at: old)
        } else {
            try manager.moveItem(at: staging, to: destination)
        }
    }

    /// Removes everything written so far.
    func discard() {
        try? FileManager.default.removeItem(at: staging)
    }
}
