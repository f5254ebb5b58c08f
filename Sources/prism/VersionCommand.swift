import ArgumentParser
import Media

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version", abstract: "Print Prism's version and the FFmpeg it links.")

    func run() throws {
        print("prism \(PrismVersion.string) (FFmpeg \(FFmpegLibrary.versionInfo))")
    }
}
