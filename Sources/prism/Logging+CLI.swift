import Foundation
import Synchronization
import Logging

/// One compact line per log event on stderr: `prism: [level] message`. Only the entry point installs it.
struct CompactStderrLogHandler: LogHandler {
    var logLevel: Logger.Level
    var metadata: Logger.Metadata = [:]

    subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    func log(event: LogEvent) {
        let prefix = event.level >= .warning ? "\(event.level): " : ""
        let message = event.message
        ProgressLine.shared.interrupt()
        FileHandle.standardError.write(Data("prism: \(prefix)\(message)\n".utf8))
    }
}

enum CLILogging {
    /// The level every command's `--verbose`/`--quiet` flags resolve to.
    static func bootstrap(verbose: Bool, quiet: Bool) -> Logger {
        let level: Logger.Level = verbose ? .debug : quiet ? .warning : .info
        LoggingSystem.bootstrap { _ in CompactStderrLogHandler(logLevel: level) }
        return Logger(label: "prism")
    }
}

/// The ffmpeg-style progress line on a terminal's stderr, redrawn in place.
final class ProgressLine: Sendable {
    static let shared = ProgressLine()
    /// Whether a progress line is on screen (ended by `interrupt`).
    private let visible = Mutex(false)
    let enabled = isatty(STDERR_FILENO) == 1

    func update(_ text: String) {
        guard enabled else { return }
        visible.withLock { visible in
            FileHandle.standardError.write(Data("\r\(text)\u{1B}[K".utf8))
            visible = true
        }
    }

    /// Ends the line so the next message starts on its own.
    func interrupt() {
        visible.withLock { visible in
            if visible { FileHandle.standardError.write(Data("\n".utf8)); visible = false }
        }
    }
}
