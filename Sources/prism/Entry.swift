import ArgumentParser
import Foundation
import Media
import Registry
import Transcode
import Wire
import Verify

/// Entry point: parses, runs, and maps every failure onto the exit-code contract
/// (1 rejected, 2 bad input, 3 internal) with one line on stderr.
@main
enum Entry {
    static func main() async {
        StandardOutput.lineBuffered()
        do {
            var command = try Prism.parseAsRoot()
            // Encoders hold many large buffers for a while; verifiers few, briefly and over and over.
            if command is SubmitCommand || command is VerifyCommand || command is MetricsCommand {
                MemoryPolicy.reusePictureBuffers()
            } else {
                MemoryPolicy.returnPictureBuffersToTheSystem()
            }
            if var asyncCommand = command as? AsyncParsableCommand {
                try await asyncCommand.run()
            } else {
                try command.run()
            }
        } catch {
            exit(Failure.report(error))
        }
        exit(0)
    }
}

/// An error the CLI reports with a chosen exit code and one line.
struct CommandFailure: Error, CustomStringConvertible {
    let exitCode: Int32
    let message: String
    static func badInput(_ message: String) -> CommandFailure { .init(exitCode: 2, message: message) }
    static func rejected(_ message: String) -> CommandFailure { .init(exitCode: 1, message: message) }
    var description: String { message }
}

/// Errors from the library targets that mean "bad input or incapable host" (exit 2) conform to this.
protocol BadInputFailure: Error, CustomStringConvertible {}

enum Failure {
    /// Prints the error as one line on stderr (help and version go to stdout) and returns the exit code.
    static func report(_ error: Error) -> Int32 {
        if let exitCode = error as? ExitCode { return exitCode.rawValue }
        if let failure = error as? CommandFailure {
            printError(failure.message)
            return failure.exitCode
        }
        if error is BadInputFailure {
            printError(String(describing: error))
            return 2
        }
        if let ffmpeg = error as? FFmpegError {
            if ffmpeg.isOutOfSpace {
                printError("cannot write the output, its disk is full: \(ffmpeg)")
                return 2
            }
            printError("internal FFmpeg error: \(ffmpeg)")
            return 3
        }
        // ArgumentParser's own errors: help/version are clean exits, the rest are usage errors.
        let code = Prism.exitCode(for: error)
        let message = Prism.fullMessage(for: error)
        if code == .success {
            if !message.isEmpty { print(message) }
            return 0
        }
        if code == .validationFailure || code.rawValue == 64 {
            let firstLine = message.split(separator: "\n").first.map(String.init) ?? message
            printError(firstLine.replacingOccurrences(of: "Error: ", with: ""))
            return 2
        }
        printError("internal error: \(error)")
        return 3
    }

    static func printError(_ message: String) {
        FileHandle.standardError.write(Data("prism: \(message)\n".utf8))
    }
}


extension MediaError: BadInputFailure {}
extension TranscodeError: BadInputFailure {}
extension RegistryInputError: BadInputFailure {}
extension KeyFileError: BadInputFailure {}
extension IdentityError: BadInputFailure {}
extension ComparisonError: BadInputFailure {}
extension VerificationInputError: BadInputFailure {}
