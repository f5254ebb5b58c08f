import ArgumentParser
import Exec
import Foundation

/// `prism attest measure`: the launch digest a guest booted this way must report.
struct AttestMeasureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "measure",
        abstract: "Compute the expected SEV / SEV-ES / SEV-SNP launch measurement of a QEMU + OVMF guest.",
        discussion: "Prints the digest in hex (48 bytes for snp, 32 for sev and seves). Exit 2 on unusable input."
    )

    @Option(help: "OVMF firmware image (or its tail that holds the footer table and SEV metadata).")
    var ovmf: String
    @Option(help: "Kernel for direct boot; its hash goes into the SEV hashes table.")
    var kernel: String?
    @Option(help: "Initrd for direct boot (needs --kernel).")
    var initrd: String?
    @Option(help: "Kernel command line (needs --kernel).")
    var append: String?
    @Option(help: "Number of vCPUs (snp and seves).")
    var vcpus: Int?
    @Option(name: .customLong("vcpu-type"), help: "QEMU CPU model, e.g. EPYC-v4, EPYC-Milan, EPYC-Genoa.")
    var vcpuType: String?
    @Option(name: .customLong("guest-features"), help: "SEV_FEATURES of each VMSA, hex (default 0x1).")
    var guestFeatures: String = "0x1"
    @Option(name: .customLong("snp-ovmf-hash"), help: "Precomputed SNP digest of the OVMF pages, 96 hex digits.")
    var snpOVMFHash: String?
    @Option(help: "Guest mode: snp, seves or sev.")
    var mode: String = "snp"
    @Flag(help: "Print one JSON object.")
    var json = false

    func run() throws {
        guard let mode = LaunchMeasurement.Mode(rawValue: mode) else {
            throw CommandFailure.badInput("--mode must be one of snp, seves, sev")
        }
        if kernel == nil && (initrd != nil || append != nil) {
            throw CommandFailure.badInput("--initrd and --append need --kernel")
        }
        var signature: UInt32 = 0
        if mode != .sev {
            guard let vcpus, vcpus >= 1 else { throw CommandFailure.badInput("--vcpus N (at least 1) is required for --mode \(mode.rawValue)") }
            guard let vcpuType, let sig = GuestVMSA.cpuSignatures[vcpuType] else {
                let known = GuestVMSA.cpuSignatures.keys.sorted().joined(separator: ", ")
                throw CommandFailure.badInput("--vcpu-type must be one of \(known)")
            }
            signature = sig
        }
        let featuresText = guestFeatures.hasPrefix("0x") || guestFeatures.hasPrefix("0X") ? String(guestFeatures.dropFirst(2)) : guestFeatures
        guard let features = UInt64(featuresText, radix: 16) else {
            throw CommandFailure.badInput("--guest-features must be hex, e.g. 0x21")
        }
        let image = try OVMFImage(data: AttestationFiles.read(ovmf, as: "OVMF"))
        var guest = LaunchMeasurement.Guest(ovmf: image, vcpus: vcpus ?? 0, cpuSignature: signature)
        guest.guestFeatures = features
        guest.kernel = try kernel.map { try AttestationFiles.read($0, as: "kernel") }
        guest.initrd = try initrd.map { try AttestationFiles.read($0, as: "initrd") }
        guest.commandLine = append
        if let snpOVMFHash {
            guard let seed = Hex.decode(snpOVMFHash), seed.count == 48 else {
                throw CommandFailure.badInput("--snp-ovmf-hash must be 96 hex digits")
            }
            guest.ovmfHash = seed
        }
        let digest = Hex.encode(try LaunchMeasurement.digest(mode: mode, guest: guest))
        if json {
            let object = ["mode": mode.rawValue, "measurement": digest]
            let data = try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])
            print(String(decoding: data, as: UTF8.self))
        } else {
            print(digest)
        }
    }
}
