import ArgumentParser

/// The `prism` command: argument parsing and wiring only; the work lives in the library targets.
struct Prism: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "prism",
        abstract: "Verifiable video transcoding: transcode, verify, sandbox and attest.",
        discussion: """
        Exit codes: 0 success / accepted / valid, 1 checked and rejected / invalid, \
        2 bad input or a host that cannot do what was asked, 3 internal error.
        """,
        subcommands: [
            TranscodeCommand.self,
            SegmentTaskCommand.self,
            RunCommand.self,
            JobCommand.self,
            GuestCommand.self,
            ProbeCommand.self,
            BenchCommand.self,
            AttestCommand.self,
            KeysCommand.self,
            RegistryCommand.self,
            FarmerCommand.self,
            SubmitCommand.self,
            LiveCommand.self,
            ChallengeCommand.self,
            EarningsCommand.self,
            VersionCommand.self,
            MetricsCommand.self,
            VerifyCommand.self,
        ]
    )
}
