import ArgumentParser
import Exec
import Foundation
import Media
import Transcode

/// `prism probe`: what this host can really do (CPU, memory, SEV-SNP, QEMU, GPUs, cgroups, sandbox engines).
struct ProbeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "probe",
        abstract: "Report what this host can really do, from readings and trial runs only.")

    @Flag(help: "Print one JSON object instead of the readable report.")
    var json = false

    func run() throws {
        FFmpegLibrary.setLogLevel(verbose: false)
        var probe = HostProbe.run()
        probe.encoders = HardwareInventory.encoders()
        probe.decoders = HardwareInventory.decoderDevices()
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys, .prettyPrinted, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(probe), as: UTF8.self))
        } else {
            print(probe.summary)
        }
    }
}
