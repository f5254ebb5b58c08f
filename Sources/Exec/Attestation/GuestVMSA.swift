/// The initial VMSA page (the encrypted vCPU register save area, AMD APM vol. 2 table B-4) QEMU gives each vCPU
/// of an SEV-ES/SNP guest. Its SHA-384 enters the launch digest, so every byte must match what QEMU/KVM set.
public enum GuestVMSA {
    /// QEMU CPU models and their CPUID signatures (family/model/stepping, CPUID Fn0000_0001_EAX).
    public static let cpuSignatures: [String: UInt32] = {
        let epyc = signature(family: 23, model: 1, stepping: 2)
        let rome = signature(family: 23, model: 49, stepping: 0)
        let milan = signature(family: 25, model: 1, stepping: 1)
        let genoa = signature(family: 25, model: 17, stepping: 0)
        return [
            "EPYC": epyc, "EPYC-v1": epyc, "EPYC-v2": epyc, "EPYC-IBPB": epyc, "EPYC-v3": epyc, "EPYC-v4": epyc,
            "EPYC-Rome": rome, "EPYC-Rome-v1": rome, "EPYC-Rome-v2": rome, "EPYC-Rome-v3": rome,
            "EPYC-Milan": milan, "EPYC-Milan-v1": milan, "EPYC-Milan-v2": milan,
            "EPYC-Genoa": genoa, "EPYC-Genoa-v1": genoa,
            "EPYC-Turin": signature(family: 26, model: 0, stepping: 0),
        ]
    }()

    /// CPUID Fn0000_0001_EAX: extended family above 0xF, extended model in bits 19:16.
    public static func signature(family: UInt32, model: UInt32, stepping: UInt32) -> UInt32 {
        let (familyLow, familyHigh) = family > 0xf ? (UInt32(0xf), (family - 0xf) & 0xff) : (family, 0)
        return familyHigh << 20 | ((model >> 4) & 0xf) << 16 | familyLow << 8 | (model & 0xf) << 4 | (stepping & 0xf)
    }

    /// Where the boot processor starts: the x86 reset vector.
    static let bootProcessorEIP: UInt32 = 0xFFFF_FFF0

    /// One VMSA page for a vCPU starting at `eip`, as QEMU/KVM initialise it.
    public static func page(eip: UInt32, sevFeatures: UInt64, cpuSignature: UInt32) -> [UInt8] {
        var page = [UInt8](repeating: 0, count: 4096)
        func put<T: FixedWidthInteger>(_ value: T, at offset: Int) {
            for i in 0..<(T.bitWidth / 8) { page[offset + i] = UInt8(truncatingIfNeeded: value >> (8 * i)) }
        }
        // Segment registers (selector u16, attributes u16, limit u32, base u64) at 0x00..0xA0.
        func segment(_ offset: Int, selector: UInt16, attributes: UInt16, limit: UInt32, base: UInt64) {
            put(selector, at: offset); put(attributes, at: offset + 2); put(limit, at: offset + 4); put(base, at: offset + 8)
        }
        segment(0x00, selector: 0, attributes: 0x93, limit: 0xffff, base: 0)                                  // es
        segment(0x10, selector: 0xf000, attributes: 0x9b, limit: 0xffff, base: UInt64(eip & 0xffff_0000))    // cs
        segment(0x20, selector: 0, attributes: 0x93, limit: 0xffff, base: 0)                                  // ss
        segment(0x30, selector: 0, attributes: 0x93, limit: 0xffff, base: 0)                                  // ds
        segment(0x40, selector: 0, attributes: 0x93, limit: 0xffff, base: 0)                                  // fs
        segment(0x50, selector: 0, attributes: 0x93, limit: 0xffff, base: 0)                                  // gs
        segment(0x60, selector: 0, attributes: 0, limit: 0xffff, base: 0)                                     // gdtr
        segment(0x70, selector: 0, attributes: 0x82, limit: 0xffff, base: 0)                                  // ldtr
        segment(0x80, selector: 0, attributes: 0, limit: 0xffff, base: 0)                                     // idtr
        segment(0x90, selector: 0, attributes: 0x8b, limit: 0xffff, base: 0)                                  // tr
        put(UInt64(0x1000), at: 0xD0)            // EFER: KVM sets SVME
        put(UInt64(0x40), at: 0x148)             // CR4: KVM sets MCE
        put(UInt64(0x10), at: 0x158)             // CR0: ET
        put(UInt64(0x400), at: 0x160)            // DR7
        put(UInt64(0xffff_0ff0), at: 0x168)      // DR6
        put(UInt64(0x2), at: 0x170)              // RFLAGS
        put(UInt64(eip & 0xffff), at: 0x178)     // RIP: low 16 bits; CS base holds the rest
        put(UInt64(0x0007_0406_0007_0406), at: 0x268)  // G_PAT: the power-on PAT (APM vol. 2 A.3)
        put(UInt64(cpuSignature), at: 0x310)     // RDX holds the CPUID signature at reset
        put(sevFeatures, at: 0x3B0)              // SEV_FEATURES: the guest features
        put(UInt64(0x1), at: 0x3E8)              // XCR0: x87 only
        put(UInt32(0x1f80), at: 0x408)           // MXCSR reset value
        put(UInt16(0x37f), at: 0x410)            // x87 FCW reset value
        return page
    }
}
