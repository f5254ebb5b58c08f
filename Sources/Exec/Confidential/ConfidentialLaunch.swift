import Foundation

/// The QEMU command line that boots a job as an AMD SEV-SNP guest. Building it is pure so the exact
/// launch (and so what the guest's measurement and host-data commit to) can be read and tested.
public struct ConfidentialLaunch: Sendable, Equatable {
    /// Position of the encryption bit in guest physical addresses on Zen 3/4 (CPUID 0x8000001F EBX[5:0]).
    public static let defaultCbitPosition = 51
    /// Physical address bits lost to memory encryption on Zen 3/4 (CPUID 0x8000001F EBX[11:6]).
    public static let defaultReducedPhysBits = 1
    /// Guest memory when the spec sets none: enough for a kernel, an initrd and a small job.
    public static let defaultMemoryBytes: UInt64 = 2 << 30

    public var qemu: String
    public var guest: GuestImage
    public var memoryBytes: UInt64
    public var vcpus: Int
    /// 32 bytes the guest's attestation report carries verbatim: the job spec's SHA-256, so a report
    /// proves which job the VM was launched for.
    public var hostData: Data
    public var network: Bool
    /// The key broker the guest may reach (and nothing else, when `network` is off): guest connections to
    /// `brokerGuestAddress` port 80 are carried to it by `nc`.
    public var broker: (host: String, port: Int)?
    public var cbitPosition: Int
    public var reducedPhysBits: Int

    public init(qemu: String = "qemu-system-x86_64", guest: GuestImage, memoryBytes: UInt64 = defaultMemoryBytes,
                vcpus: Int = 1, hostData: Data, network: Bool = false, broker: (host: String, port: Int)? = nil,
                cbitPosition: Int = defaultCbitPosition, reducedPhysBits: Int = defaultReducedPhysBits) {
        self.broker = broker
        self.qemu = qemu
        self.guest = guest
        self.memoryBytes = memoryBytes
        self.vcpus = vcpus
        self.hostData = hostData
        self.network = network
        self.cbitPosition = cbitPosition
        self.reducedPhysBits = reducedPhysBits
    }

    /// The launch for a confidential-mode spec: its guest image, its memory and CPU limits, and its digest as host-data.
    public init(spec: JobSpec, qemu: String = "qemu-system-x86_64") throws {
        guard let guest = spec.guest else {
            throw ConfidentialError.noGuestImage
        }
        self.init(qemu: qemu, guest: guest,
                  memoryBytes: spec.limits.memoryBytes ?? Self.defaultMemoryBytes,
                  vcpus: max(1, Int((spec.limits.cpus ?? 1).rounded(.up))),
                  hostData: spec.digest, network: spec.network == .host)
    }

    /// QEMU's guestfwd rule carrying the guest's connections to the broker, one `nc` per connection.
    private var brokerForward: String {
        guard let broker else { return "" }
        return ",guestfwd=tcp:\(Self.brokerGuestAddress):80-cmd:nc \(broker.host) \(broker.port)"
    }

    /// The address a guest dials to reach `broker`.
    public static let brokerGuestAddress = "10.0.2.100"

    /// Two launches are the same when they run the same QEMU with the same arguments (the broker is a tuple).
    public static func == (a: ConfidentialLaunch, b: ConfidentialLaunch) -> Bool { a.arguments == b.arguments && a.qemu == b.qemu }

    /// QEMU's arguments (without the program itself).
    public var arguments: [String] {
        // QEMU sizes in MiB; guest RAM must be whole MiB anyway.
        let size = "\(max(1, memoryBytes >> 20))M"
        var args = [
            "-machine", "q35,confidential-guest-support=sev0,memory-backend=ram1",
            "-enable-kvm", "-cpu", "EPYC-v4", "-smp", "\(vcpus)", "-m", size,
            // SNP guest memory must come from a shareable memfd so pages can be converted private/shared.
            "-object", "memory-backend-memfd,id=ram1,size=\(size),share=true",
            // kernel-hashes=on puts the kernel, initrd and command line hashes into the launch measurement.
            "-object", "sev-snp-guest,id=sev0,cbitpos=\(cbitPosition),reduced-phys-bits=\(reducedPhysBits),kernel-hashes=on,host-data=\(hostData.base64EncodedString())",
            "-bios", guest.firmware,
            "-kernel", guest.kernel, "-initrd", guest.initrd, "-append", guest.append,
            // The disk is LUKS-encrypted and attached as raw blocks: the guest opens it itself with a key
            // released only after its attestation report checks out, so the host never holds the key.
            "-drive", "if=none,id=disk0,format=raw,file=\(guest.disk)",
            "-device", "virtio-blk-pci,drive=disk0",
            "-nographic", "-no-reboot",
        ]
        if network {
            args += ["-netdev", "user,id=net0" + brokerForward, "-device", "virtio-net-pci,netdev=net0"]
        } else if broker != nil {
            // restrict=on: the guest reaches nothing outside but the forwarded broker.
            args += ["-netdev", "user,id=net0,restrict=on" + brokerForward, "-device", "virtio-net-pci,netdev=net0"]
        } else {
            args += ["-nic", "none"]
        }
        return args
    }
}

/// Why a confidential job cannot run.
public enum ConfidentialError: Error, Equatable, CustomStringConvertible {
    /// The host lacks what SEV-SNP needs; each item names one missing piece.
    case hostUnsupported([String])
    case noGuestImage

    public var description: String {
        switch self {
        case .hostUnsupported(let missing): return "confidential mode unavailable on this host: " + missing.joined(separator: "; ")
        case .noGuestImage: return "confidential mode needs a guest image (spec \"guest\": firmware, kernel, initrd, disk)"
        }
    }
}
