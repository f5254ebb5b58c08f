import Foundation

/// Reads report and certificate files for verification, turning every unreadable input into one clear error.
public enum AttestationFiles {
    /// Reads a file's bytes, or throws "cannot read NAME PATH".
    public static func read(_ path: String, as name: String) throws -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw AttestationInputError("cannot read \(name) \(path): no such file")
        }
        guard !isDirectory.boolValue else { throw AttestationInputError("\(name) \(path) is a directory") }
        // FileHandle rather than FileManager.contents so character devices such as /dev/null read as empty.
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw AttestationInputError("cannot read \(name) \(path): permission denied")
        }
        defer { try? handle.close() }
        do { return Array(try handle.readToEnd() ?? Data()) } catch {
            throw AttestationInputError("cannot read \(name) \(path): \(error.localizedDescription)")
        }
    }

    /// Loads a report file (binary, hex or Azure HCL).
    public static func report(at path: String) throws -> AttestationReport {
        let bytes = try read(path, as: "report")
        do { return try AttestationReport(fileContents: bytes) } catch let e as AttestationInputError {
            throw AttestationInputError("report \(path): \(e.description)")
        }
    }

    /// Loads the leaf certificate file and, when given, the chain file into a ``CertificateChain``.
    public static func chain(leafPath: String, chainPath: String?) throws -> CertificateChain {
        let leaf = try AMDCertificate.loadAll(fileContents: read(leafPath, as: "VCEK/VLEK"), name: "VCEK/VLEK \(leafPath)")
        let rest = try chainPath.map { try AMDCertificate.loadAll(fileContents: read($0, as: "chain"), name: "chain \($0)") } ?? []
        return try CertificateChain(leafFile: leaf, chainFile: rest)
    }
}
