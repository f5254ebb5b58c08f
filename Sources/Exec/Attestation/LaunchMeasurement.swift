import Crypto
import Foundation

/// The expected launch measurement of an SEV, SEV-ES or SEV-SNP guest booted by QEMU from OVMF, optionally with
/// a kernel, initrd and command line whose hashes OVMF checks (direct boot). Compare it with a report's MEASUREMENT.
public struct LaunchMeasurement: Sendable {
    /// The guest's SEV mode.
    public enum Mode: String, Sendable, CaseIterable {
        case sev, seves, snp
    }

    /// What the guest was launched with.
    public struct Guest: Sendable {
        public var ovmf: OVMFImage
        public var vcpus: Int
        public var cpuSignature: UInt32
        /// SEV_FEATURES for each VMSA (SNP); 0x1 means SNP active.
        public var guestFeatures: UInt64 = 0x1
        /// Kernel, initrd and command line for direct boot; nil kernel means none.
        public var kernel: [UInt8]?
        public var initrd: [UInt8]?
        public var commandLine: String?
        /// A precomputed OVMF digest (`calc_snp_ovmf_hash`) used instead of hashing the image's pages.
        public var ovmfHash: [UInt8]?

        public init(ovmf: OVMFImage, vcpus: Int, cpuSignature: UInt32) {
            self.ovmf = ovmf
            self.vcpus = vcpus
            self.cpuSignature = cpuSignature
        }
    }

    /// The SNP digest of the OVMF pages alone, which `--snp-ovmf-hash` can later seed.
    public static func snpOVMFHash(_ ovmf: OVMFImage) -> [UInt8] {
        var digest = LaunchDigest()
        digest.updateNormalPages(gpa: ovmf.gpa, data: ovmf.data)
        return digest.value
    }

    /// Computes the launch digest: 48 bytes for SNP, 32 (SHA-256) for SEV and SEV-ES.
    public static func digest(mode: Mode, guest: Guest) throws -> [UInt8] {
        if guest.ovmfHash != nil && mode != .snp {
            throw AttestationInputError("--snp-ovmf-hash only works with --mode snp")
        }
        let hashes = guest.kernel.map { SEVHashesTable(kernel: $0, initrd: guest.initrd ?? [], commandLine: guest.commandLine) }
        switch mode {
        case .snp: return try snp(guest, hashes: hashes)
        case .seves, .sev:
            var bytes = guest.ovmf.data
            if let hashes {
                guard guest.ovmf.sevHashesTableGPA != nil else {
                    throw AttestationInputError("Kernel specified but OVMF doesn't support kernel/initrd/cmdline measurement")
                }
                bytes += hashes.table()
            }
            if mode == .seves {
                for page in try vmsaPages(guest, sevFeatures: 0) { bytes += page }
            }
            return Array(SHA256.hash(data: bytes))
        }
    }

    static func snp(_ guest: Guest, hashes: SEVHashesTable?) throws -> [UInt8] {
        let ovmf = guest.ovmf
        var digest: LaunchDigest
        if let seed = guest.ovmfHash {
            guard seed.count == 48 else { throw AttestationInputError("--snp-ovmf-hash must be 96 hex digits (SHA-384)") }
            digest = LaunchDigest(seed: seed)
        } else {
            digest = LaunchDigest()
            digest.updateNormalPages(gpa: ovmf.gpa, data: ovmf.data)
        }
        if hashes != nil && !ovmf.sections.contains(where: { $0.kind == .kernelHashes }) {
            throw AttestationInputError("Kernel specified but OVMF metadata doesn't include SNP_KERNEL_HASHES section")
        }
        for section in ovmf.sections {
            let gpa = UInt64(section.gpa), size = UInt64(section.size)
            switch section.kind {
            case .snpSecretsFreeMemory, .svsmCallingArea:
                digest.updateEmptyPages(.zero, gpa: gpa, size: size)
            case .snpSecrets:
                digest.update(.secrets, gpa: gpa, contents: [UInt8](repeating: 0, count: 48))
            case .cpuid:
                digest.update(.cpuid, gpa: gpa, contents: [UInt8](repeating: 0, count: 48))
            case .kernelHashes:
                if let hashes {
                    guard let tableGPA = ovmf.sevHashesTableGPA else {
                        throw AttestationInputError("OVMF footer table has no SEV hashes table GPA")
                    }
                    guard size == 4096 else { throw AttestationInputError("OVMF kernel hashes section is \(size) bytes, expected one page") }
                    let offset = Int(tableGPA & 0xfff)
                    guard offset + hashes.table().count <= 4096 else {
                        throw AttestationInputError("OVMF SEV hashes table at 0x\(String(tableGPA, radix: 16)) crosses a page boundary")
                    }
                    digest.updateNormalPages(gpa: gpa, data: hashes.page(offset: offset))
                } else {
                    digest.updateEmptyPages(.zero, gpa: gpa, size: size)
                }
            }
        }
        for page in try vmsaPages(guest, sevFeatures: guest.guestFeatures) { digest.updateVMSA(page) }
        return digest.value
    }

    /// The boot processor starts at the reset vector, the others at OVMF's SEV-ES reset block.
    static func vmsaPages(_ guest: Guest, sevFeatures: UInt64) throws -> [[UInt8]] {
        guard guest.vcpus >= 1 else { throw AttestationInputError("--vcpus must be at least 1") }
        let bsp = GuestVMSA.page(eip: GuestVMSA.bootProcessorEIP, sevFeatures: sevFeatures, cpuSignature: guest.cpuSignature)
        guard guest.vcpus > 1 else { return [bsp] }
        let apEIP = try guest.ovmf.sevESResetEIP()
        let ap = GuestVMSA.page(eip: apEIP, sevFeatures: sevFeatures, cpuSignature: guest.cpuSignature)
        return [bsp] + Array(repeating: ap, count: guest.vcpus - 1)
    }
}

/// The table of SHA-256 hashes of the kernel, initrd and command line that QEMU places in guest memory for
/// OVMF to check before booting them; it must match QEMU's layout byte for byte.
struct SEVHashesTable {
    static let headerGUID = GUID.bytes("9438d606-4f22-4cc9-b479-a793d411fd21")
    static let kernelGUID = GUID.bytes("4de79437-abd2-427f-b835-d5b172d2045b")
    static let initrdGUID = GUID.bytes("44baf731-3a2f-4bd7-9af1-41e29169781d")
    static let cmdlineGUID = GUID.bytes("97d02dd8-bd20-4c94-aa78-e7714d36ab2a")

    let kernelHash: [UInt8], initrdHash: [UInt8], commandLineHash: [UInt8]

    init(kernel: [UInt8], initrd: [UInt8], commandLine: String?) {
        kernelHash = Array(SHA256.hash(data: kernel))
        initrdHash = Array(SHA256.hash(data: initrd))
        // QEMU hashes the command line with its terminating NUL; no command line is a lone NUL.
        commandLineHash = Array(SHA256.hash(data: Array((commandLine ?? "").utf8) + [0]))
    }

    /// Header (GUID, u16 length) then cmdline, initrd, kernel entries (GUID, u16 length, hash), padded to 16 bytes.
    func table() -> [UInt8] {
        let entrySize = 16 + 2 + 32
        let tableSize = 16 + 2 + 3 * entrySize
        var out = Self.headerGUID
        Bytes.appendLE(UInt16(tableSize), to: &out)
        for (guid, hash) in [(Self.cmdlineGUID, commandLineHash), (Self.initrdGUID, initrdHash), (Self.kernelGUID, kernelHash)] {
            out += guid
            Bytes.appendLE(UInt16(entrySize), to: &out)
            out += hash
        }
        out += [UInt8](repeating: 0, count: (16 - tableSize % 16) % 16)
        return out
    }

    /// The 4 KiB page holding the table at `offset`.
    func page(offset: Int) -> [UInt8] {
        let t = table()
        return [UInt8](repeating: 0, count: offset) + t + [UInt8](repeating: 0, count: 4096 - offset - t.count)
    }
}
