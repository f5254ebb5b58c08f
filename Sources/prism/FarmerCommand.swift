import ArgumentParser
import Farmer
import Foundation
import Honesty
import Media
import Registry
import Transcode
import Exec
import Wire

/// `prism farmer serve`: accept signed transcode tasks over HTTP.
struct FarmerCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "farmer",
        abstract: "Rent out this machine: transcode signed segment tasks for submitters.",
        subcommands: [Serve.self])

    struct Serve: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Serve segment tasks over HTTP until interrupted.",
            discussion: """
            GET /v1/capabilities answers with this farmer's signed claims (encoders that open here and \
            measured throughput); POST /v1/tasks takes a signed task header and the source segment as the \
            body, runs it in the plain sandbox and answers with a signed receipt; the outputs are served at \
            /v1/tasks/KEY/outputs/HEIGHT to the submitter that sent the task only. /healthz and Prometheus \
            /metrics too. Prints "listening on http://HOST:PORT as ed25519:…" on stdout once bound.
            """)

        @Option(help: "HOST:PORT to listen on (port 0 picks a free port).")
        var listen: String

        @Option(help: "This farmer's key file (make one with `prism keys generate`).")
        var key: String

        @Option(help: "Data folder: task inputs, outputs and receipts survive restarts here.")
        var data: String = "prism-farmer-data"

        @Option(help: "Registry URL to send heartbeats to.")
        var registry: String?

        @Option(help: "Tasks run at once (default: measured by a short bench at start).")
        var sessions: Int?

        @Option(help: "Only accept tasks signed by these submitter ids (ed25519:…, comma-separated).")
        var allow: String?

        @Option(help: "URL submitters reach this farmer at (default: http://HOST:PORT as bound).")
        var advertise: String?

        @Option(help: "plain: run tasks in the plain sandbox (default); none: in this process.")
        var sandbox: String = "plain"

        @Option(help: "Largest source segment accepted, in bytes.")
        var maxUploadBytes: Int = 256 << 20

        @Option(help: "Seconds a connection may go without sending a complete request part before it is closed.")
        var idleTimeout: Int = 30

        @Option(help: ArgumentHelp("Asking price in \(Price.unit)s per megapixel of output (width x height x frames), as in 0.05/megapixel.",
                                   discussion: "It is in the signed capabilities and in every receipt; the registry credits it for each segment a submitter accepts."))
        var price: String = "0"

        @Option(help: ArgumentHelp("General jobs (POST /v1/jobs): auto offers the plain sandbox where bwrap and umoci are here, and confidential SEV-SNP guests where the host has everything SEV-SNP needs; none offers none.",
                                   discussion: "A mode the host cannot run is not offered; the signed capabilities say what is missing for it."))
        var jobs: String = "auto"

        @Option(help: "Most memory a general job may ask for, e.g. 2G.")
        var jobMaxMemory: String = "2G"

        @Option(help: "Most wall-clock seconds a general job may ask for.")
        var jobMaxTime: Double = 3600

        @Option(help: "Most bytes a general job may leave in /out, e.g. 1G.")
        var jobMaxOutput: String = "1G"

        @Option(help: ArgumentHelp("Test aid: take this as the measured task throughput (720p frames/s) instead of measuring it.",
                                   visibility: .hidden))
        var claimFPS: Double?

        @Option(help: "Test aid: be dishonest in one way (\(Misbehavior.allCases.map(\.rawValue).joined(separator: ", "))).")
        var misbehave: String?

        @Flag(name: .shortAndLong, help: "Log details.")
        var verbose = false

        /// The general jobs this farmer offers, from --jobs and the host's tools, and the runner of confidential guests
        /// where SEV-SNP is usable.
        func offer() throws -> (offer: JobOffer, confidential: ConfidentialRunner?)? {
            guard jobs != "none" else { return nil }
            guard jobs == "auto" else { throw CommandFailure.badInput("--jobs must be auto or none, not '\(jobs)'") }
            guard jobMaxTime > 0, jobMaxTime.isFinite else { throw CommandFailure.badInput("--job-max-time must be positive") }
            let memory: UInt64, output: UInt64
            do { memory = try ByteSize.parse(jobMaxMemory); output = try ByteSize.parse(jobMaxOutput) } catch {
                throw CommandFailure.badInput("--job-max-memory / --job-max-output: \(error)")
            }
            let limits = JobLimitFigures(cpus: Double(ProcessInfo.processInfo.activeProcessorCount), memoryBytes: memory, pids: JobLimits.defaultPids,
                                         timeSeconds: jobMaxTime, outputBytes: output, tmpBytes: JobLimits.defaultTmpBytes)
            var modes: [String] = [], unavailable: [String: String] = [:]
            let missingForImages = JobHost.missingForImages
            if missingForImages.isEmpty { modes.append("plain") } else { unavailable["plain"] = "missing " + missingForImages.joined(separator: ", ") }
            let support = SEVSupport.probe()
            let confidential = try? ConfidentialRunner(support: support)
            // Bounded like every text a farmer signs.
            if confidential != nil { modes.append("confidential") } else {
                unavailable["confidential"] = String(support.missingForSNP.joined(separator: "; ").prefix(MessageLimits.textLength))
            }
            return (JobOffer(modes: modes, limits: limits, unavailable: unavailable.isEmpty ? nil : unavailable), confidential)
        }

        func run() async throws {
            let logger = CLILogging.bootstrap(verbose: verbose, quiet: false)
            FFmpegLibrary.setLogLevel(verbose: verbose)
            let address = try ListenAddress(parsing: listen)
            guard let keyData = FileManager.default.contents(atPath: key) else { throw CommandFailure.badInput("cannot read key file \(key)") }
            let identity = try KeyFile.decode(keyData)
            let misbehavior = try misbehave.map { name -> Misbehavior in
                guard let value = Misbehavior(rawValue: name) else {
                    throw CommandFailure.badInput("unknown misbehaviour '\(name)': choose \(Misbehavior.allCases.map(\.rawValue).joined(separator: ", "))")
                }
                return value
            }
            let allowList = try allow.map { Set(try $0.split(separator: ",").map { try PublicIdentity(String($0).trimmingCharacters(in: .whitespaces)) }) }
            if let sessions, !(1...64).contains(sessions) { throw CommandFailure.badInput("--sessions must be between 1 and 64") }
            if !(1...3600).contains(idleTimeout) { throw CommandFailure.badInput("--idle-timeout must be between 1 and 3600 seconds") }
            let extra = misbehavior?.alteration != nil ? ["--misbehave", misbehavior!.rawValue] : []
            let executor: SegmentTaskExecutor
            switch sandbox {
            case "plain": executor = try SandboxTaskExecutor.make(extraArguments: extra)
            case "none":
                let alteration = misbehavior?.alteration
                executor = { try SegmentTaskRunner.run($0, alteration: alteration) }
            default: throw CommandFailure.badInput("unknown sandbox '\(sandbox)': choose plain or none")
            }
            let asking: Price
            do { asking = try Price(parsing: price) } catch { throw CommandFailure.badInput("--price: \(error)") }
            let jobOffer = try offer()
            if let claimFPS, !(claimFPS > 0 && claimFPS <= MessageLimits.framesPerSecond.upperBound) {
                throw CommandFailure.badInput("--claim-fps must be above 0 and at most \(Int(MessageLimits.framesPerSecond.upperBound))")
            }
            var measured = try FarmerClaims.measure(executor: executor, sessions: sessions, inflation: misbehavior?.throughputInflation ?? 1,
                                                        extraEncoders: misbehavior == .overclaim ? ["h264_nvenc"] : [], throughput: claimFPS, price: asking,
                                                        version: PrismVersion.string)
            measured.jobs = jobOffer?.offer
            let capabilities = measured
            let store = try TaskStore(root: URL(fileURLWithPath: data))
            let leftovers = store.removeLeftovers()
            if leftovers > 0 { logger.notice("removed \(leftovers) unfinished task folder(s) left by an earlier run") }
            if let misbehavior { logger.warning("MISBEHAVING ON PURPOSE: \(misbehavior.rawValue). This farmer is dishonest; it says so in its capabilities.") }
            var configuration = FarmerConfiguration(identity: identity, store: store, advertisedURL: advertise ?? "http://\(address)",
                                                    sessions: capabilities.sessions, capabilities: capabilities, executor: executor)
            configuration.allowList = allowList
            configuration.maxUploadBytes = maxUploadBytes
            configuration.idleTimeoutSeconds = idleTimeout
            configuration.misbehave = misbehavior
            configuration.jobs = jobOffer?.offer
            configuration.confidential = jobOffer?.confidential
            let service = FarmerService(configuration: configuration, logger: logger)
            if claimFPS == nil {
                // The claim follows the host: re-measured as its load changes, scaled as the misbehaviour says.
                let inflation = misbehavior?.throughputInflation ?? 1
                service.remeasure = { try TaskThroughput.measure(executor: executor) * inflation }
            }
            try await FarmerServer.run(service: service, host: address.host, port: address.port, registry: registry, logger: logger) { port in
                if advertise == nil { service.advertiseBoundURL("http://\(address.host):\(port)") }
                print("listening on http://\(address.host):\(port) as \(identity.publicIdentity)")
                logger.info("farmer \(identity.publicIdentity): \(capabilities.sessions) sessions, encoders \(capabilities.encoders.joined(separator: ",")), \(String(format: "%.0f", capabilities.framesPerSecond)) fps at 720p, asking \(asking)")
            }
        }
    }
}

import Logging
