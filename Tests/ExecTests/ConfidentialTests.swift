import PrismTestSupport
import Crypto
import Exec
import Foundation
import Testing

@Suite("Confidential (SEV-SNP) launch")
struct ConfidentialTests {
    let guest = GuestImage(firmware: "/usr/share/ovmf/OVMF.amdsev.fd", kernel: "/guest/vmlinuz", initrd: "/guest/initrd.img",
                           append: "console=ttyS0 root=/dev/mapper/job", disk: "/guest/job.luks")

    /// The value following `flag` each time it appears.
    func values(after flag: String, in args: [String]) -> [String] {
        zip(args, args.dropFirst()).filter { $0.0 == flag }.map(\.1)
    }

    @Test func qemuCommandLineDescribesAnSNPGuestForTheSpec() throws {
        let spec = JobSpec(mode: .confidential, rootfs: .directory("/r"), command: ["/job"],
                           limits: JobLimits(cpus: 1.5, memoryBytes: 4 << 30), guest: guest)
        let launch = try ConfidentialLaunch(spec: spec)
        let args = launch.arguments
        #expect(values(after: "-machine", in: args) == ["q35,confidential-guest-support=sev0,memory-backend=ram1"])
        let objects = values(after: "-object", in: args)
        #expect(objects.contains("memory-backend-memfd,id=ram1,size=4096M,share=true"))
        let hostData = Data(SHA256.hash(data: spec.canonicalJSON())).base64EncodedString()
        #expect(objects.contains("sev-snp-guest,id=sev0,cbitpos=51,reduced-phys-bits=1,kernel-hashes=on,host-data=\(hostData)"))
        #expect(values(after: "-m", in: args) == ["4096M"])
        #expect(values(after: "-smp", in: args) == ["2"])
        #expect(values(after: "-bios", in: args) == [guest.firmware])
        #expect(values(after: "-kernel", in: args) == [guest.kernel])
        #expect(values(after: "-initrd", in: args) == [guest.initrd])
        #expect(values(after: "-append", in: args) == [guest.append])
        #expect(values(after: "-drive", in: args) == ["if=none,id=disk0,format=raw,file=/guest/job.luks"])
        #expect(args.contains("-nographic"))
        #expect(values(after: "-nic", in: args) == ["none"])
        #expect(!args.contains("-netdev"))
    }

    @Test func networkOnlyWhenAsked() throws {
        let spec = JobSpec(mode: .confidential, rootfs: .directory("/r"), command: ["/job"], network: .host, guest: guest)
        let args = try ConfidentialLaunch(spec: spec).arguments
        #expect(values(after: "-netdev", in: args) == ["user,id=net0"])
        #expect(!args.contains("-nic"))
        #expect(values(after: "-m", in: args) == ["2048M"])
    }

    @Test func aGuestWithABrokerReachesOnlyTheBroker() throws {
        let launch = ConfidentialLaunch(qemu: "/q", guest: guest, hostData: Data(repeating: 1, count: 32), broker: ("broker.example", 8790))
        let args = launch.arguments
        #expect(values(after: "-netdev", in: args) == ["user,id=net0,restrict=on,guestfwd=tcp:10.0.2.100:80-cmd:nc broker.example 8790"])
        #expect(values(after: "-device", in: args).contains("virtio-net-pci,netdev=net0"))
        #expect(!args.contains("-nic"))
        let open = ConfidentialLaunch(qemu: "/q", guest: guest, hostData: Data(repeating: 1, count: 32), network: true, broker: ("10.1.2.3", 80))
        #expect(values(after: "-netdev", in: open.arguments) == ["user,id=net0,guestfwd=tcp:10.0.2.100:80-cmd:nc 10.1.2.3 80"])
    }

    @Test func hostDataCommitsToTheWholeSpec() throws {
        let a = JobSpec(mode: .confidential, rootfs: .directory("/r"), command: ["/job"], guest: guest)
        var b = a
        b.env["EXTRA"] = "1"
        #expect(try ConfidentialLaunch(spec: a).hostData.count == 32)
        #expect(try ConfidentialLaunch(spec: a).hostData != ConfidentialLaunch(spec: b).hostData)
    }

    @Test func specWithoutGuestImageIsRefused() {
        let spec = JobSpec(mode: .confidential, rootfs: .directory("/r"), command: ["/job"])
        #expect(throws: ConfidentialError.noGuestImage) { try ConfidentialLaunch(spec: spec) }
    }

    @Test func missingPiecesAreNamedOneByOne() {
        let support = SEVSupport(devSev: false, devKvm: true, kvmAmd: ["sev": "Y", "sev_es": "Y", "sev_snp": "N"], cpuFlags: ["sev", "sev_es"],
                                 qemu: .init(path: "/usr/bin/qemu-system-x86_64", version: "7.2.22", hasSevSnpGuest: false))
        #expect(support.missingForSNP == ["CPU does not report sev_snp in /proc/cpuinfo", "/dev/sev absent",
                                          "kvm_amd sev_snp not enabled", "QEMU 7.2.22 lacks sev-snp-guest (needs 9.1)"])
        let ready = SEVSupport(devSev: true, devKvm: true, kvmAmd: ["sev_snp": "Y"], cpuFlags: ["sev", "sev_es", "sev_snp"],
                               qemu: .init(path: "/q", version: "9.1.0", hasSevSnpGuest: true))
        #expect(ready.snpUsable)
        #expect((try? ConfidentialRunner(support: ready)) != nil)
        #expect(throws: ConfidentialError.hostUnsupported(support.missingForSNP)) { try ConfidentialRunner(support: support) }
    }

    @Test(.enabled(if: !SEVSupport.probe().snpUsable, "this host supports SEV-SNP"))
    func confidentialRunOnThisHostExits2WithOneLineNamingWhatIsMissing() throws {
        let scratch = try Scratch()
        let result = try PrismBinary.run(["run", "--mode", "confidential", "--rootfs", scratch.url.path, "--", "/bin/true"])
        #expect(result.status == 2)
        let lines = result.stderr.split(separator: "\n")
        #expect(lines.count == 1)
        #expect(result.stderr.hasPrefix("prism: confidential mode unavailable on this host: "))
        let probe = SEVSupport.probe()
        for missing in probe.missingForSNP { #expect(result.stderr.contains(missing)) }
        if !probe.devSev { #expect(result.stderr.contains("/dev/sev absent")) }
        #expect(result.stdout.isEmpty)
    }
}
