import ArgumentParser
import Farmer
import Foundation
import Media
import Transcode

struct SegmentTaskCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "segment-task",
        abstract: "Run one segment task from a JSON spec (what the sandbox and farmers run).",
        discussion: """
        Transcodes the spec's standalone source segment into every rung it lists, writing one file per rung \
        and result.json into the spec's output folder; prints the result as JSON on stdout.
        """)

    @Option(help: "The task spec (JSON).")
    var spec: String

    @Option(help: ArgumentHelp("Test aid passed down by a misbehaving farmer.", visibility: .hidden))
    var misbehave: String?

    func run() throws {
        FFmpegLibrary.setLogLevel(verbose: false)
        guard let data = FileManager.default.contents(atPath: spec) else {
            throw CommandFailure.badInput("cannot read task spec \(spec)")
        }
        let task: TranscodeTask
        do {
            task = try JSONDecoder().decode(TranscodeTask.self, from: data)
        } catch {
            throw CommandFailure.badInput("malformed task spec \(spec): \(error.localizedDescription)")
        }
        let alteration = try misbehave.map { name -> TaskAlteration? in
            guard let kind = Misbehavior(rawValue: name) else { throw CommandFailure.badInput("unknown misbehaviour '\(name)'") }
            return kind.alteration
        } ?? nil
        let result = try SegmentTaskRunner.run(task, alteration: alteration)
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        print(String(decoding: try encoder.encode(result), as: UTF8.self))
    }
}
