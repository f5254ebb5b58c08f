import Foundation

/// The AMD product line a report or certificate belongs to; it decides how a TCB value is laid out.
public enum AMDProduct: String, Sendable, CaseIterable, Codable {
    case milan = "Milan"
    case genoa = "Genoa"
    case turin = "Turin"

    /// The product for a CPUID family/model pair as reports v3+ carry it (AMD PPR family 19h/1Ah).
    public static func from(family: UInt8, model: UInt8) -> AMDProduct? {
        switch (family, model) {
        case (0x19, 0x00...0x0f): return .milan
        case (0x19, 0x10...0x1f), (0x19, 0xa0...0xaf): return .genoa
        case (0x1a, 0x00...0x1f): return .turin
        default: return nil
        }
    }

    /// The product named in a certificate common name such as `ARK-Milan`, `SEV-Genoa` or `SEV-VLEK-Turin`.
    public static func from(commonName: String) -> AMDProduct? {
        allCases.first { commonName.hasSuffix("-" + $0.rawValue) }
    }
}

/// A TCB version: the security patch levels (SPL) of each firmware component.
/// Its 64-bit encoding differs by product, which is why decoding takes the product.
public struct TCBVersion: Equatable, Sendable, Codable, CustomStringConvertible {
    /// Boot loader SPL.
    public var bootloader: UInt8
    /// PSP operating system (TEE) SPL.
    public var tee: UInt8
    /// SNP firmware SPL.
    public var snp: UInt8
    /// CPU microcode SPL.
    public var microcode: UInt8
    /// Firmware mask ROM / FMC SPL; Turin and later only.
    public var fmc: UInt8?

    public init(bootloader: UInt8, tee: UInt8, snp: UInt8, microcode: UInt8, fmc: UInt8? = nil) {
        self.bootloader = bootloader
        self.tee = tee
        self.snp = snp
        self.microcode = microcode
        self.fmc = fmc
    }

    /// Decodes the little-endian 8-byte TCB_VERSION:
    /// Milan/Genoa `[bl, tee, 0, 0, 0, 0, snp, ucode]`, Turin `[fmc, bl, tee, snp, 0, 0, 0, ucode]`.
    public init(raw: UInt64, product: AMDProduct) {
        let b = (0..<8).map { UInt8(truncatingIfNeeded: raw >> (8 * UInt64($0))) }
        switch product {
        case .milan, .genoa:
            self.init(bootloader: b[0], tee: b[1], snp: b[6], microcode: b[7])
        case .turin:
            self.init(bootloader: b[1], tee: b[2], snp: b[3], microcode: b[7], fmc: b[0])
        }
    }

    /// Whether every component is at least the one in `minimum` (components `minimum` leaves nil are ignored).
    public func meets(_ minimum: TCBVersion) -> Bool {
        bootloader >= minimum.bootloader && tee >= minimum.tee && snp >= minimum.snp
            && microcode >= minimum.microcode && (minimum.fmc ?? 0) <= (fmc ?? 0)
    }

    /// Parses `bl=3,tee=0,snp=8,ucode=115[,fmc=1]`; missing components count as 0.
    public init(parsing text: String) throws {
        var values: [String: UInt8] = [:]
        for part in text.split(separator: ",") {
            let kv = part.split(separator: "=", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            guard kv.count == 2, let v = UInt8(kv[1]),
                  ["bl", "tee", "snp", "ucode", "fmc"].contains(kv[0]) else {
                throw AttestationInputError("TCB '\(text)' must look like bl=3,tee=0,snp=8,ucode=115[,fmc=0]")
            }
            values[kv[0]] = v
        }
        self.init(bootloader: values["bl"] ?? 0, tee: values["tee"] ?? 0, snp: values["snp"] ?? 0,
                  microcode: values["ucode"] ?? 0, fmc: values["fmc"])
    }

    public var description: String {
        var s = "bl=\(bootloader) tee=\(tee) snp=\(snp) ucode=\(microcode)"
        if let fmc { s = "fmc=\(fmc) " + s }
        return s
    }
}
