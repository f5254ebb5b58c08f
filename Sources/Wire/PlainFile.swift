import Foundation
import Glibc

/// A file read or written with plain system calls, for the farm's hot path. Foundation's `FileHandle` reads at most
/// 4 KiB per call whatever is asked (a 1.4 MB rendition took 350 reads and as many copies), `createFile` writes an
/// empty file under a temporary name and renames it, and `attributesOfItem` looks up the owner's name in
/// /etc/passwd: each cost the submitter and the farmer a fraction of a millisecond per file, per segment.
/// (Sendable by hand: one file is used by one thread at a time, as a stream's chunks follow one another.)
public final class PlainFile: @unchecked Sendable {
    public let path: String
    private var descriptor: Int32

    private init(path: String, descriptor: Int32) {
        self.path = path
        self.descriptor = descriptor
    }

    deinit { close() }

    /// Opens an existing file for reading.
    public static func reading(_ path: String) throws -> PlainFile {
        let descriptor = open(path, O_RDONLY | O_CLOEXEC)
        guard descriptor >= 0 else { throw failure(path, reading: true) }
        return PlainFile(path: path, descriptor: descriptor)
    }

    /// Creates (or empties) a file for writing; `mode` applies when it is created.
    public static func writing(_ path: String, mode: mode_t = 0o644) throws -> PlainFile {
        let descriptor = open(path, O_CREAT | O_WRONLY | O_TRUNC | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw failure(path, reading: false) }
        return PlainFile(path: path, descriptor: descriptor)
    }

    /// The size of the file at `path`, or nil when there is none (or it is not a regular file).
    public static func size(of path: String) -> Int? {
        var status = stat()
        guard stat(path, &status) == 0, (status.st_mode & S_IFMT) == S_IFREG else { return nil }
        return Int(status.st_size)
    }

    /// Writes `data` to `path` in one go (created with `mode`).
    public static func write(_ data: Data, to path: String, mode: mode_t = 0o644) throws {
        let file = try writing(path, mode: mode)
        try data.withUnsafeBytes { try file.write($0) }
        try file.finish()
    }

    /// Reads up to `buffer.count` bytes; 0 at the end of the file.
    public func read(into buffer: UnsafeMutableRawBufferPointer) throws -> Int {
        while true {
            let count = Glibc.read(descriptor, buffer.baseAddress, buffer.count)
            if count >= 0 { return count }
            if errno != EINTR { throw Self.failure(path, reading: true) }
        }
    }

    /// Writes all of `bytes`.
    public func write(_ bytes: UnsafeRawBufferPointer) throws {
        var offset = 0
        while offset < bytes.count {
            let written = Glibc.write(descriptor, bytes.baseAddress! + offset, bytes.count - offset)
            if written < 0 && errno == EINTR { continue }
            guard written > 0 else { throw Self.failure(path, reading: false) }
            offset += written
        }
    }

    /// Closes the file, reporting a failed close (a write the file system could not keep).
    public func finish() throws {
        guard descriptor >= 0 else { return }
        let result = Glibc.close(descriptor)
        descriptor = -1
        guard result == 0 else { throw Self.failure(path, reading: false) }
    }

    public func close() {
        if descriptor >= 0 { _ = Glibc.close(descriptor) }
        descriptor = -1
    }

    /// Renames `path` to `destination` (replacing what is there, in one step on one file system).
    public static func rename(_ path: String, to destination: String) throws {
        guard Glibc.rename(path, destination) == 0 else { throw failure(path, reading: false) }
    }

    /// The content address of a file, read a megabyte at a time.
    public static func address(of path: String) throws -> ContentAddress {
        let file = try reading(path)
        var hasher = ContentHasher()
        let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: chunkBytes, alignment: 16)
        defer { buffer.deallocate() }
        while true {
            let count = try file.read(into: buffer)
            if count == 0 { break }
            hasher.update(UnsafeRawBufferPointer(rebasing: buffer[0..<count]))
        }
        return hasher.finalize()
    }

    /// How much the farm reads from a file at a time.
    public static let chunkBytes = 1 << 20

    private static func failure(_ path: String, reading: Bool) -> CocoaError {
        CocoaError(reading ? .fileReadUnknown : .fileWriteUnknown,
                   userInfo: [NSFilePathErrorKey: path, NSUnderlyingErrorKey: POSIXError(POSIXErrorCode(rawValue: errno) ?? .EIO)])
    }
}
