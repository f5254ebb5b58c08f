import Foundation

/// An AMD SEV-SNP attestation report (ATTESTATION_REPORT, SEV-SNP ABI spec table 22), versions 2, 3 and 5.
/// Each field notes its byte offset; everything is little-endian. Parsing refuses short or unknown input.
public struct AttestationReport: Sendable {
    /// Size of the report in bytes, signature included.
    public static let size = 0x4A0
    /// The signed part of the report: bytes `0x000..<0x2A0`.
    public static let signedRange = 0x000..<0x2A0
    /// Report versions whose layout this type knows.
    public static let supportedVersions: Set<UInt32> = [2, 3, 5]

    /// 0x000 u32: report format version.
    public let version: UInt32
    /// 0x004 u32: guest SVN, chosen by the guest owner in the ID block.
    public let guestSVN: UInt32
    /// 0x008 u64: the guest policy the VM was launched with.
    public let policy: GuestPolicy
    /// 0x010 [16]: family ID from the ID block.
    public let familyID: [UInt8]
    /// 0x020 [16]: image ID from the ID block.
    public let imageID: [UInt8]
    /// 0x030 u32: the VMPL the report was requested from.
    public let vmpl: UInt32
    /// 0x034 u32: signature algorithm; 1 is ECDSA P-384 with SHA-384.
    public let signatureAlgorithm: UInt32
    /// 0x038 u64: TCB the firmware is running now.
    public let currentTCBRaw: UInt64
    /// 0x040 u64: platform info (bit 0 SMT enabled, bit 1 TSME enabled, ...).
    public let platformInfo: UInt64
    /// 0x048 u32: bit 0 AUTHOR_KEY_EN, bit 1 MASK_CHIP_KEY, bits 4:2 SIGNING_KEY (0 VCEK, 1 VLEK, 7 none).
    public let signerInfo: UInt32
    /// 0x050 [64]: data the guest supplied with the request (nonces, key hashes).
    public let reportData: [UInt8]
    /// 0x090 [48]: launch measurement (SHA-384 launch digest).
    public let measurement: [UInt8]
    /// 0x0C0 [32]: data the host supplied at launch.
    public let hostData: [UInt8]
    /// 0x0E0 [48]: SHA-384 of the ID block signing key.
    public let idKeyDigest: [UInt8]
    /// 0x110 [48]: SHA-384 of the author key.
    public let authorKeyDigest: [UInt8]
    /// 0x140 [32]: report ID of this guest.
    public let reportID: [UInt8]
    /// 0x160 [32]: report ID of the migration agent.
    public let reportIDMigrationAgent: [UInt8]
    /// 0x180 u64: TCB the VCEK was derived from; must equal the VCEK's TCB extensions.
    public let reportedTCBRaw: UInt64
    /// 0x188 u8: CPUID family (version 3 and later; zero in version 2).
    public let cpuidFamily: UInt8?
    /// 0x189 u8: CPUID model (version 3 and later).
    public let cpuidModel: UInt8?
    /// 0x18A u8: CPUID stepping (version 3 and later).
    public let cpuidStepping: UInt8?
    /// 0x1A0 [64]: chip identifier; zero when MASK_CHIP_ID is set. Turin uses the first 8 bytes.
    public let chipID: [UInt8]
    /// 0x1E0 u64: committed TCB (anti-rollback floor).
    public let committedTCBRaw: UInt64
    /// 0x1E8 u8 ×3: current firmware build, minor, major.
    public let currentBuild: UInt8, currentMinor: UInt8, currentMajor: UInt8
    /// 0x1EC u8 ×3: committed firmware build, minor, major.
    public let committedBuild: UInt8, committedMinor: UInt8, committedMajor: UInt8
    /// 0x1F0 u64: TCB at the time the guest was launched.
    public let launchTCBRaw: UInt64
    /// 0x1F8 u64: launch mitigation vector (version 5 and later).
    public let launchMitigationVector: UInt64?
    /// 0x200 u64: current mitigation vector (version 5 and later).
    public let currentMitigationVector: UInt64?
    /// 0x2A0 [72]: signature R, little-endian, zero-extended.
    public let signatureR: [UInt8]
    /// 0x2E8 [72]: signature S, little-endian, zero-extended.
    public let signatureS: [UInt8]
    /// The complete report bytes, as parsed (1184 bytes).
    public let bytes: [UInt8]

    /// Which key signed the report, from SIGNING_KEY in ``signerInfo``.
    public enum SigningKey: String, Sendable, Codable {
        case vcek, vlek, none, reserved
    }

    /// The key that signed this report.
    public var signingKey: SigningKey {
        switch (signerInfo >> 2) & 0x7 {
        case 0: return .vcek
        case 1: return .vlek
        case 7: return .none
        default: return .reserved
        }
    }

    /// Whether MASK_CHIP_ID was set, so ``chipID`` is all zero.
    public var chipIDMasked: Bool { signerInfo & 0x2 != 0 }

    /// Parses exactly one report of ``size`` bytes.
    public init(bytes input: [UInt8]) throws {
        guard input.count >= Self.size else {
            throw AttestationInputError("attestation report is \(input.count) bytes, expected \(Self.size)")
        }
        guard input.count == Self.size else {
            throw AttestationInputError("attestation report is \(input.count) bytes, expected \(Self.size) (trailing data)")
        }
        let b = input
        func u32(_ o: Int) -> UInt32 { Bytes.readLE(b, o) }
        func u64(_ o: Int) -> UInt64 { Bytes.readLE(b, o) }
        func slice(_ o: Int, _ n: Int) -> [UInt8] { Array(b[o..<(o + n)]) }

        version = u32(0x000)
        guard Self.supportedVersions.contains(version) else {
            throw AttestationInputError("attestation report version \(version) is not supported (known: 2, 3, 5)")
        }
        guestSVN = u32(0x004)
        policy = GuestPolicy(raw: u64(0x008))
        familyID = slice(0x010, 16)
        imageID = slice(0x020, 16)
        vmpl = u32(0x030)
        signatureAlgorithm = u32(0x034)
        currentTCBRaw = u64(0x038)
        platformInfo = u64(0x040)
        signerInfo = u32(0x048)
        reportData = slice(0x050, 64)
        measurement = slice(0x090, 48)
        hostData = slice(0x0C0, 32)
        idKeyDigest = slice(0x0E0, 48)
        authorKeyDigest = slice(0x110, 48)
        reportID = slice(0x140, 32)
        reportIDMigrationAgent = slice(0x160, 32)
        reportedTCBRaw = u64(0x180)
        if version >= 3 {
            cpuidFamily = b[0x188]; cpuidModel = b[0x189]; cpuidStepping = b[0x18A]
        } else {
            cpuidFamily = nil; cpuidModel = nil; cpuidStepping = nil
        }
        chipID = slice(0x1A0, 64)
        committedTCBRaw = u64(0x1E0)
        currentBuild = b[0x1E8]; currentMinor = b[0x1E9]; currentMajor = b[0x1EA]
        committedBuild = b[0x1EC]; committedMinor = b[0x1ED]; committedMajor = b[0x1EE]
        launchTCBRaw = u64(0x1F0)
        if version >= 5 {
            launchMitigationVector = u64(0x1F8); currentMitigationVector = u64(0x200)
        } else {
            launchMitigationVector = nil; currentMitigationVector = nil
        }
        signatureR = slice(0x2A0, 72)
        signatureS = slice(0x2E8, 72)
        bytes = input
    }

    /// Reads a report from a file's contents: raw 1184 bytes, the same as hex text,
    /// or an Azure HCL report (magic `HCLA`) whose SNP report sits at offset 0x20.
    public init(fileContents data: [UInt8]) throws {
        guard !data.isEmpty else { throw AttestationInputError("attestation report is empty") }
        if data.count >= 4, data[0..<4].elementsEqual([0x48, 0x43, 0x4C, 0x41]) {  // "HCLA"
            let start = Self.hclReportOffset
            guard data.count >= start + Self.size else {
                throw AttestationInputError("Azure HCL report is \(data.count) bytes, too short to hold an SNP report at 0x20")
            }
            try self.init(bytes: Array(data[start..<(start + Self.size)]))
            return
        }
        if data.count != Self.size, let text = String(bytes: data, encoding: .utf8), let decoded = Bytes.fromHex(text) {
            try self.init(bytes: decoded)
            return
        }
        try self.init(bytes: data)
    }

    /// Offset of the SNP report inside an Azure CVM HCL report (after the 32-byte HCL header).
    public static let hclReportOffset = 0x20

    /// The product the report's own CPUID fields name (version 3 and later), if known.
    public var productFromCPUID: AMDProduct? {
        guard let f = cpuidFamily, let m = cpuidModel, f != 0 else { return nil }
        return AMDProduct.from(family: f, model: m)
    }

    /// R ‖ S as big-endian 48-byte integers (the raw form ECDSA APIs take), or nil when either has non-zero high bytes.
    public var signatureRawBigEndian: [UInt8]? {
        func convert(_ le: [UInt8]) -> [UInt8]? {
            guard le[48..<72].allSatisfy({ $0 == 0 }) else { return nil }
            return Array(le[0..<48].reversed())
        }
        guard let r = convert(signatureR), let s = convert(signatureS) else { return nil }
        return r + s
    }
}

/// The guest policy (SEV-SNP ABI spec table 9).
public struct GuestPolicy: Sendable, Equatable {
    /// The 64-bit policy value.
    public let raw: UInt64
    public init(raw: UInt64) { self.raw = raw }

    /// Bits 7:0 minimum ABI minor version.
    public var abiMinor: UInt8 { UInt8(raw & 0xff) }
    /// Bits 15:8 minimum ABI major version.
    public var abiMajor: UInt8 { UInt8((raw >> 8) & 0xff) }
    /// Bit 16: SMT allowed.
    public var smtAllowed: Bool { raw & (1 << 16) != 0 }
    /// Bit 18: association with a migration agent allowed.
    public var migrateMA: Bool { raw & (1 << 18) != 0 }
    /// Bit 19: debugging allowed — the hypervisor can read and change guest memory.
    public var debugAllowed: Bool { raw & (1 << 19) != 0 }
    /// Bit 20: single socket only.
    public var singleSocket: Bool { raw & (1 << 20) != 0 }
}
