import SwiftASN1

/// The AMD-specific extensions of a VCEK or VLEK (OIDs under 1.3.6.1.4.1.3704.1): the TCB the key
/// was derived for and, for a VCEK, the chip it belongs to.
public struct AMDExtensions: Sendable, Equatable {
    static let arc = "1.3.6.1.4.1.3704.1."
    /// .1.2 productName, e.g. `Milan-B0`.
    public let productName: String?
    /// .3.1 blSPL, .3.2 teeSPL, .3.3 snpSPL, .3.8 ucodeSPL and (Turin) .3.9 fmcSPL, as a TCB; nil if any required one is missing.
    public let tcb: TCBVersion?
    /// .4 hwID: the chip ID (64 bytes; 8 on Turin). Absent on a VLEK.
    public let hardwareID: [UInt8]?

    /// Reads the extensions from a certificate; malformed values count as missing.
    public init(_ certificate: AMDCertificate) {
        func integer(_ suffix: String) -> UInt8? {
            guard let raw = certificate.extensions[Self.arc + suffix],
                  let node = try? DER.parse(raw), let value = try? Int(derEncoded: node),
                  (0...255).contains(value) else { return nil }
            return UInt8(value)
        }
        if let bl = integer("3.1"), let tee = integer("3.2"), let snp = integer("3.3"), let ucode = integer("3.8") {
            tcb = TCBVersion(bootloader: bl, tee: tee, snp: snp, microcode: ucode, fmc: integer("3.9"))
        } else {
            tcb = nil
        }
        if let raw = certificate.extensions[Self.arc + "2"] {
            // Usually an IA5String; older certificates hold the bare text.
            if let node = try? DER.parse(raw), case .primitive(let text) = node.content {
                productName = String(decoding: text, as: UTF8.self)
            } else {
                productName = String(decoding: raw, as: UTF8.self)
            }
        } else {
            productName = nil
        }
        if let raw = certificate.extensions[Self.arc + "4"] {
            // Newer KDS certificates wrap the hwID in a DER OCTET STRING; older ones hold the raw bytes.
            if raw.count >= 2, raw[0] == 0x04, Int(raw[1]) == raw.count - 2, raw.count - 2 == 8 || raw.count - 2 == 64 {
                hardwareID = Array(raw[2...])
            } else {
                hardwareID = raw
            }
        } else {
            hardwareID = nil
        }
    }
}
