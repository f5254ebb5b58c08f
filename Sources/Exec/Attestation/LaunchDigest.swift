import Crypto

/// The SEV-SNP launch digest as the PSP accumulates it with SNP_LAUNCH_UPDATE: each page folds
/// `SHA-384(previous digest ‖ page contents hash ‖ PAGE_INFO fields)` into the running digest
/// (SEV-SNP ABI spec, PAGE_INFO structure).
public struct LaunchDigest: Sendable {
    /// Page types in PAGE_INFO.
    enum PageType: UInt8 {
        case normal = 1, vmsa = 2, zero = 3, unmeasured = 4, secrets = 5, cpuid = 6
    }

    /// The VMSA is recorded at GPA -1, page-aligned and cut to 52 bits.
    static let vmsaGPA: UInt64 = 0xFFFF_FFFF_F000

    /// The running digest (48 bytes).
    public private(set) var value: [UInt8]

    /// Starts from zero, or from an OVMF hash computed earlier (`--snp-ovmf-hash`).
    public init(seed: [UInt8] = [UInt8](repeating: 0, count: 48)) { value = seed }

    mutating func update(_ type: PageType, gpa: UInt64, contents: [UInt8]) {
        var info = value + contents
        Bytes.appendLE(UInt16(0x70), to: &info)  // length of PAGE_INFO
        info.append(type.rawValue)
        info += [0, 0, 0, 0, 0]  // IS_IMI, VMPL3/2/1 permissions, reserved
        Bytes.appendLE(gpa, to: &info)
        value = Array(SHA384.hash(data: info))
    }

    /// Measures `data` as normal pages starting at `gpa`.
    public mutating func updateNormalPages(gpa: UInt64, data: [UInt8]) {
        precondition(data.count % 4096 == 0)
        for offset in stride(from: 0, to: data.count, by: 4096) {
            update(.normal, gpa: gpa + UInt64(offset), contents: Array(SHA384.hash(data: data[offset..<(offset + 4096)])))
        }
    }

    mutating func updateEmptyPages(_ type: PageType, gpa: UInt64, size: UInt64) {
        for offset in stride(from: 0, to: size, by: 4096) {
            update(type, gpa: gpa + offset, contents: [UInt8](repeating: 0, count: 48))
        }
    }

    /// Measures one VMSA page.
    public mutating func updateVMSA(_ page: [UInt8]) {
        update(.vmsa, gpa: Self.vmsaGPA, contents: Array(SHA384.hash(data: page)))
    }
}
