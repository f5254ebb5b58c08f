import ArgumentParser
import Exec

struct AttestMeasureCommand: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "measure")
    func run() throws {}
}
