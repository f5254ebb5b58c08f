import Foundation
import PrismTestSupport
import Testing
import Wire

/// The farm's plain file reads and writes: whole contents, chunk boundaries, and errors for what is not there.
@Suite struct PlainFileTests {
    @Test func writtenBytesReadBackWholeAndHashAsTheirContent() throws {
        let folder = try TemporaryFolder("plain-file")
        defer { folder.remove() }
        // Empty, one byte, exactly a chunk, and a chunk and a bit: every boundary of the megabyte reads.
        for size in [0, 1, PlainFile.chunkBytes, PlainFile.chunkBytes + 4097] {
            let content = Data((0..<size).map { UInt8(truncatingIfNeeded: ($0 &* 2_654_435_761) >> 11) })
            let path = folder.path("file-\(size)")
            try PlainFile.write(content, to: path)
            #expect(PlainFile.size(of: path) == size)
            #expect(try PlainFile.address(of: path) == ContentAddress(hashing: content))
            let file = try PlainFile.reading(path)
            var read = Data()
            let buffer = UnsafeMutableRawBufferPointer.allocate(byteCount: 1000, alignment: 1)
            defer { buffer.deallocate() }
            while true {
                let count = try file.read(into: buffer)
                if count == 0 { break }
                read.append(contentsOf: buffer[0..<count])
            }
            #expect(read == content)
        }
    }

    @Test func writingEmptiesAnOldFileAndKeepsTheModeAsked() throws {
        let folder = try TemporaryFolder("plain-file")
        defer { folder.remove() }
        let path = folder.path("receipt")
        try PlainFile.write(Data(repeating: 7, count: 5000), to: path, mode: 0o600)
        try PlainFile.write(Data("short".utf8), to: path, mode: 0o600)
        #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == Data("short".utf8))
        let permissions = try FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int
        #expect(permissions == 0o600)
    }

    @Test func missingFilesAndFoldersAreErrorsNotSizes() throws {
        let folder = try TemporaryFolder("plain-file")
        defer { folder.remove() }
        #expect(PlainFile.size(of: folder.path("absent")) == nil)
        #expect(PlainFile.size(of: folder.url.path) == nil, "a folder has no size to send")
        #expect(throws: CocoaError.self) { try PlainFile.reading(folder.path("absent")) }
        #expect(throws: CocoaError.self) { try PlainFile.address(of: folder.path("absent")) }
        #expect(throws: CocoaError.self) { try PlainFile.writing(folder.path("no/such/folder/file")) }
    }
}
