import Foundation

/// An OVMF firmware image as SEV launch measurement sees it: its bytes, the GUIDed table at its end
/// (edk2 `OvmfPkg/ResetVector`) and the SEV metadata sections that say which guest pages the launch measures.
/// The image is mapped so that it ends at 4 GiB; a suffix of the image therefore works as the image itself.
public struct OVMFImage: Sendable {
    /// Kinds of SEV metadata sections (edk2 `OvmfSevMetadata.asm`).
    public enum SectionKind: UInt32, Sendable {
        /// Pre-validated zero memory.
        case snpSecretsFreeMemory = 1
        /// The SNP secrets page, filled by the PSP.
        case snpSecrets = 2
        /// The CPUID page, filled by the hypervisor and checked by the PSP.
        case cpuid = 3
        /// The SVSM calling-area page.
        case svsmCallingArea = 4
        /// The page holding the kernel/initrd/cmdline hashes table.
        case kernelHashes = 0x10
    }

    /// One SEV metadata section: a GPA range and what goes in it.
    public struct Section: Sendable, Equatable {
        public let gpa: UInt32
        public let size: UInt32
        public let kind: SectionKind
    }

    static let footerTableGUID = GUID.bytes("96b582de-1fb2-45f7-baea-a366c55a082d")
    static let sevHashTableGUID = GUID.bytes("7255371f-3a3b-4b04-927b-1da6efa8d454")
    static let sevESResetBlockGUID = GUID.bytes("00f771de-1a7e-4fcb-890e-68c77e2fb44e")
    static let sevMetadataGUID = GUID.bytes("dc886566-984a-4798-a75e-5585a7bf67cc")
    /// Where the firmware's last byte lands: just below 4 GiB.
    static let endGPA: UInt64 = 0x1_0000_0000

    /// The firmware bytes.
    public let data: [UInt8]
    /// Entries of the GUIDed footer table by GUID (little-endian GUID bytes).
    let table: [[UInt8]: [UInt8]]
    /// SEV metadata sections, in file order.
    public let sections: [Section]

    /// Guest physical address of the first firmware byte.
    public var gpa: UInt64 { Self.endGPA - UInt64(data.count) }

    /// Parses the footer table and SEV metadata; an image without a footer table has no sections.
    public init(data: [UInt8]) throws {
        guard !data.isEmpty, data.count % 4096 == 0 else {
            throw AttestationInputError("OVMF image is \(data.count) bytes, not a non-zero multiple of 4096")
        }
        self.data = data
        table = try Self.parseFooterTable(data)
        sections = try Self.parseSEVMetadata(data, table: table)
    }

    /// The hashes-table GPA from the footer table, or nil when OVMF does not reserve one.
    public var sevHashesTableGPA: UInt32? {
        guard let entry = table[Self.sevHashTableGUID], entry.count >= 4 else { return nil }
        let gpa: UInt32 = Bytes.readLE(entry, 0)
        return gpa == 0 ? nil : gpa
    }

    /// The reset vector application processors start at under SEV-ES/SNP.
    public func sevESResetEIP() throws -> UInt32 {
        guard let entry = table[Self.sevESResetBlockGUID], entry.count >= 4 else {
            throw AttestationInputError("OVMF footer table has no SEV-ES reset block (GUID 00f771de-1a7e-4fcb-890e-68c77e2fb44e)")
        }
        return Bytes.readLE(entry, 0)
    }

    static func parseFooterTable(_ data: [UInt8]) throws -> [[UInt8]: [UInt8]] {
        let headerSize = 18  // u16 size + 16-byte GUID
        // The table's own footer entry ends 32 bytes before the end of the image.
        let footerStart = data.count - 32 - headerSize
        guard footerStart >= 0, Array(data[(footerStart + 2)..<(footerStart + headerSize)]) == footerTableGUID else { return [:] }
        let tableSize = Int(Bytes.readLE(data, footerStart, as: UInt16.self)) - headerSize
        guard tableSize >= 0, tableSize <= footerStart else {
            throw AttestationInputError("OVMF footer table size \(tableSize) runs past the start of the image")
        }
        var remaining = Array(data[(footerStart - tableSize)..<footerStart])
        var table: [[UInt8]: [UInt8]] = [:]
        // Entries are laid out backwards: each entry's header is at its end.
        while remaining.count >= headerSize {
            let h = remaining.count - headerSize
            let size = Int(Bytes.readLE(remaining, h, as: UInt16.self))
            guard size >= headerSize, size <= remaining.count else {
                throw AttestationInputError("OVMF footer table entry has invalid size \(size)")
            }
            let guid = Array(remaining[(h + 2)..<(h + headerSize)])
            table[guid] = Array(remaining[(remaining.count - size)..<h])
            remaining.removeLast(size)
        }
        return table
    }

    static func parseSEVMetadata(_ data: [UInt8], table: [[UInt8]: [UInt8]]) throws -> [Section] {
        guard let entry = table[sevMetadataGUID] else { return [] }
        guard entry.count >= 4 else { throw AttestationInputError("OVMF SEV metadata entry is too short") }
        let offsetFromEnd = Int(Bytes.readLE(entry, 0, as: UInt32.self))
        let start = data.count - offsetFromEnd
        guard offsetFromEnd > 0, start >= 0, start + 16 <= data.count else {
            throw AttestationInputError("OVMF SEV metadata offset \(offsetFromEnd) is outside the image")
        }
        guard Array(data[start..<(start + 4)]) == Array("ASEV".utf8) else {
            throw AttestationInputError("OVMF SEV metadata has the wrong signature (expected ASEV)")
        }
        let version: UInt32 = Bytes.readLE(data, start + 8)
        guard version == 1 else { throw AttestationInputError("OVMF SEV metadata version \(version) is not 1") }
        let count = Int(Bytes.readLE(data, start + 12, as: UInt32.self))
        guard count <= (data.count - start - 16) / 12 else {
            throw AttestationInputError("OVMF SEV metadata claims \(count) sections, more than fit in the image")
        }
        return try (0..<count).map { i in
            let o = start + 16 + i * 12
            let raw: UInt32 = Bytes.readLE(data, o + 8)
            guard let kind = SectionKind(rawValue: raw) else {
                throw AttestationInputError("OVMF SEV metadata section \(i) has unknown type \(raw)")
            }
            return Section(gpa: Bytes.readLE(data, o), size: Bytes.readLE(data, o + 4), kind: kind)
        }
    }
}

/// GUIDs as edk2 stores them: the first three fields little-endian.
enum GUID {
    static func bytes(_ text: String) -> [UInt8] {
        let groups = text.split(separator: "-").map { Bytes.fromHex(String($0))! }
        return groups[0].reversed() + groups[1].reversed() + groups[2].reversed() + groups[3] + groups[4]
    }
}
