import ArgumentParser
import Exec
import FarmClient
import Farmer
import Foundation
import Wire

/// `prism job`: general jobs on a farmer over the network, and their receipts.
struct JobCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "job",
        abstract: "Run a general job (any OCI image) on a farmer, and check what it returned.",
        subcommands: [Submit.self, VerifyReceipt.self])

    struct Submit: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Send a job to a farmer, fetch its /out, check the signed receipt and every output's hash.",
            discussion: """
            The image (an OCI layout tar, or a layout folder, which is archived first) and each --input are uploaded \
            by content address, only when the farmer does not hold them already. The farmer runs the command in its \
            plain sandbox as `prism run --mode plain` does (no network, read-only image, inputs at /in, /out written \
            back) and signs a receipt: the order's hash, image and input hashes, every output's hash, the exit \
            status, the limits applied, CPU and wall seconds. Limits not given are the farmer's maxima (its signed \
            capabilities say them), not the local defaults below. OUTDIR receives /out; the job's stdout and stderr are \
            printed. Exits with the job's own status (124 at its time limit, 137 at its memory limit); 2 with one \
            line for bad input or a farmer that refuses the mode or the limits; 3 when the farm fails.

            --mode confidential (a --spec whose "guest" names firmware, kernel, initrd, append and a LUKS2 disk): the             farmer boots them as an SEV-SNP guest with the order's SHA-256 as host-data; the guest fetches the disk key             from your `prism keys broker serve` (--broker), which releases it only to a report with the expected             measurement. OUTDIR receives the disk, still encrypted, as disk.img; the guest's console is the job's stdout.             A farmer whose host lacks SEV-SNP does not offer the mode and this exits 2 naming what it lacks.
            """)

        @Option(help: "The farmer's URL.")
        var farmer: String

        @Option(help: "Submitter key file (default: a fresh identity for this run).")
        var key: String?

        @Option(help: ArgumentHelp("plain (default, or the spec's mode) or confidential.",
                                   discussion: "A confidential job needs --spec with \"guest\": firmware, kernel, initrd, append and the LUKS2 disk."))
        var mode: String?

        @Option(help: ArgumentHelp("Confidential jobs: HOST:PORT of your key broker as the farmer reaches it.",
                                   discussion: "The guest gets no network but this: it reaches the broker at http://10.0.2.100 (port 80)."))
        var broker: String?

        @Option(help: "OCI image: a layout tar or folder, optionally PATH:TAG.")
        var image: String?

        @Option(help: "Job spec JSON (as `prism run --spec` reads); options given here override it.")
        var spec: String?

        @Option(name: .customLong("input"), help: "A file the job reads at /in/<basename> (repeatable).")
        var inputs: [String] = []

        @Option(name: .shortAndLong, help: "Folder that receives the job's /out.")
        var output: String

        @Option(help: "Write the farmer's signed receipt here (JSON).")
        var receipt: String?

        @OptionGroup var limits: JobLimitOptions

        @Option(help: "Seconds to wait for the farmer, the job included.")
        var farmTimeout: Double = 3600

        @Flag(help: "Print one JSON summary on stdout (the receipt included) instead of the job's output.")
        var json = false

        @Argument(parsing: .postTerminator, help: "The command and its arguments, after --.")
        var command: [String] = []

        func run() async throws {
            if let mode, mode != "plain" && mode != "confidential" { throw CommandFailure.badInput("--mode must be plain or confidential, not '\(mode)'") }
            let identity = try KeyFileOption.load(key)
            let job = try jobSpec()
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("prism-job-submit-\(UUID().uuidString)")
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            defer { try? FileManager.default.removeItem(at: scratch) }
            if broker != nil && job.mode != .confidential { throw CommandFailure.badInput("--broker is for confidential jobs") }
            let (order, files) = try Self.order(for: job, broker: broker, in: scratch)
            do { try order.validate() } catch { throw CommandFailure.badInput("\(error)") }
            let farmerID = try await checkOffer(for: order, identity: identity)

            let client = JobClient(baseURL: farmer, identity: identity, timeout: farmTimeout)
            let started = Date()
            let (receipt, envelope, uploaded, imageSent): (JobReceipt, SignedEnvelope, Int, Int)
            do {
                let imageBytes = try await client.upload(files[0].path, address: files[0].address)
                var otherBytes = 0
                for file in files.dropFirst() { otherBytes += try await client.upload(file.path, address: file.address) }
                let answer = try await Self.run(order, on: client, farmer: farmerID)
                (receipt, envelope, uploaded, imageSent) = (answer.receipt, answer.envelope, imageBytes + otherBytes, imageBytes)
            } catch let error as FarmerCallError {
                if case .refused(_, let status, _) = error, (400..<500).contains(status) { throw CommandFailure.badInput("\(error)") }
                throw CommandFailure(exitCode: 3, message: "\(error)")
            }
            let outdir = URL(fileURLWithPath: output)
            do { try await Self.fetch(receipt, of: order, from: client, into: outdir, logs: scratch) } catch let error as FarmerCallError {
                throw CommandFailure(exitCode: 3, message: "\(error)")
            }
            let signed = try WireCoding.canonicalBytes(envelope)
            if let receiptPath = self.receipt {
                do { try signed.write(to: URL(fileURLWithPath: receiptPath)) } catch { throw CommandFailure.badInput("cannot write \(receiptPath): \(error.localizedDescription)") }
            }
            if json {
                let encoder = JSONEncoder()
                encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
                let summary = Summary(status: receipt.status, ending: receipt.ending, farmer: receipt.farmer, bytesUp: uploaded,
                                      imageUploaded: imageSent > 0, seconds: Date().timeIntervalSince(started), output: outdir.path,
                                      receipt: receipt, signedReceipt: String(decoding: signed, as: UTF8.self))
                print(String(decoding: try encoder.encode(summary), as: UTF8.self))
            } else {
                if let out = FileManager.default.contents(atPath: scratch.appendingPathComponent("stdout").path) { FileHandle.standardOutput.write(out) }
                if let err = FileManager.default.contents(atPath: scratch.appendingPathComponent("stderr").path) { FileHandle.standardError.write(err) }
                if let message = JobResult.message(endingNamed: receipt.ending) {
                    if receipt.ending == JobResult.Ending.outputTooLarge(bytes: 0).name { throw CommandFailure.badInput(message) }
                    Failure.printError(message)
                }
            }
            throw ExitCode(receipt.status)
        }

        /// The order for `job` and the files it names, the image (or a confidential job's disk) first, with their addresses.
        static func order(for job: JobSpec, broker: String? = nil, in scratch: URL) throws -> (JobOrder, [(path: String, address: ContentAddress)]) {
            func size(_ path: String) -> Int64 { Int64(PlainFile.size(of: path) ?? 0) }
            if job.mode == .confidential, let guest = job.guest {
                let files = try [guest.disk, guest.firmware, guest.kernel, guest.initrd].map { (path: $0, address: try PlainFile.address(of: $0)) }
                let order = JobOrder(mode: "confidential", image: files[0].address, command: [], limits: JobLimitFigures(job.limits),
                                     network: job.network.rawValue,
                                     guest: JobGuest(firmware: files[1].address, kernel: files[2].address, initrd: files[3].address, append: guest.append,
                                                     broker: broker))
                return (order, files)
            }
            let imageFile = try archive(job.rootfs, in: scratch)
            var files = [(path: imageFile, address: try PlainFile.address(of: imageFile))]
            let inputs = try job.inputs.map { input -> JobFile in
                let address = try PlainFile.address(of: input.path)
                files.append((input.path, address))
                return JobFile(name: input.name, content: address, bytes: size(input.path))
            }
            let order = JobOrder(mode: "plain", image: files[0].address, tag: job.rootfs.tag, command: job.command, env: job.env,
                                 inputs: inputs, limits: JobLimitFigures(job.limits), network: job.network.rawValue)
            return (order, files)
        }

        /// The spec from --spec (if any) with the command-line options laid over it, checked here before anything is sent.
        func jobSpec() throws -> JobSpec {
            var job = JobSpec(rootfs: .directory(""), command: [])
            if let spec {
                guard let data = FileManager.default.contents(atPath: spec) else { throw CommandFailure.badInput("job spec not found: \(spec)") }
                job = try JobSpec.decode(data)
            }
            if let mode { job.mode = mode == "confidential" ? .confidential : .plain }
            try limits.apply(to: &job.limits)
            if job.mode == .confidential {
                guard let guest = job.guest else {
                    throw CommandFailure.badInput("a confidential job needs --spec with \"guest\": firmware, kernel, initrd, append and the LUKS2 disk")
                }
                guard image == nil, command.isEmpty, inputs.isEmpty else {
                    throw CommandFailure.badInput("a confidential job takes no --image, --input or command: they belong inside its encrypted disk and measured command line")
                }
                for (path, what) in [(guest.firmware, "firmware"), (guest.kernel, "kernel"), (guest.initrd, "initrd"), (guest.disk, "disk")] {
                    var isDirectory: ObjCBool = false
                    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory), !isDirectory.boolValue else {
                        throw CommandFailure.badInput("the guest's \(what) is not a file: \(path)")
                    }
                }
                try job.limits.validate()
                return job
            }
            if let image { job.rootfs = RootFileSystem.imageArgument(image) }
            if !command.isEmpty { job.command = command }
            job.inputs += inputs.map { JobInput(path: $0) }
            guard job.rootfs.kind != .directory else { throw CommandFailure.badInput("give the job's OCI image with --image (or in --spec)") }
            guard !job.command.isEmpty, !job.command[0].isEmpty else { throw CommandFailure.badInput("give the command to run after --") }
            try job.rootfs.checkExists()
            for input in job.inputs {
                var isDirectory: ObjCBool = false
                guard FileManager.default.fileExists(atPath: input.path, isDirectory: &isDirectory) else { throw CommandFailure.badInput("input not found: \(input.path)") }
                guard !isDirectory.boolValue else { throw CommandFailure.badInput("--input \(input.path) is a folder: send files (tar a folder first)") }
            }
            try job.limits.validate()
            return job
        }

        /// What the farmer offers decides before anything is uploaded: its mode, limits and network. Returns its id.
        func checkOffer(for order: JobOrder, identity: SigningIdentity) async throws -> PublicIdentity {
            let announcement: FarmerAnnouncement
            do { announcement = try await FarmerClient(baseURL: farmer, identity: identity, timeout: 30).capabilities() } catch {
                throw CommandFailure.badInput("cannot reach farmer \(farmer): \(error)")
            }
            let offer = announcement.capabilities.jobs ?? JobOffer(modes: [], limits: .init())
            guard offer.modes.contains(order.mode) else {
                let offered = offer.modes.isEmpty ? "no general jobs" : "only \(offer.modes.joined(separator: ", ")) jobs"
                let why = offer.whyNot(order.mode).map { ": \($0)" } ?? (order.mode == "confidential" ? " (it does not offer SEV-SNP guests)" : "")
                throw CommandFailure.badInput("farmer \(farmer) runs \(offered), not \(order.mode)\(why)")
            }
            do { _ = try order.limits.applied(within: offer.limits) } catch { throw CommandFailure.badInput("\(error)") }
            guard order.network == "none" || offer.network else { throw CommandFailure.badInput("farmer \(farmer) gives jobs no network") }
            return announcement.farmer
        }

        /// Sends the order, waiting out a busy farmer (its Retry-After, at most 30 times).
        static func run(_ order: JobOrder, on client: JobClient, farmer: PublicIdentity) async throws -> (receipt: JobReceipt, envelope: SignedEnvelope) {
            var attempt = 0
            while true {
                do { return try await client.run(order, farmer: farmer) } catch FarmerCallError.busy(_, let retry) where attempt < 30 {
                    attempt += 1
                    try await Task.sleep(for: .seconds(retry))
                }
            }
        }

        /// Every output into `outdir` and the logs into `logs`, each checked against the receipt's hash.
        static func fetch(_ receipt: JobReceipt, of order: JobOrder, from client: JobClient, into outdir: URL, logs: URL) async throws {
            try FileManager.default.createDirectory(at: outdir, withIntermediateDirectories: true)
            for (index, file) in receipt.outputs.enumerated() {
                try await client.download(order, item: file, index: index, to: outdir.appendingPathComponent(file.name).path)
            }
            for log in receipt.logs where ["stdout", "stderr"].contains(log.name) {
                try await client.download(order, item: log, index: nil, to: logs.appendingPathComponent(log.name).path)
            }
        }

        struct Summary: Encodable {
            let status: Int32
            let ending: String
            let farmer: PublicIdentity
            let bytesUp: Int
            let imageUploaded: Bool
            let seconds: Double
            let output: String
            let receipt: JobReceipt
            let signedReceipt: String
        }

        /// The image as one tar file: as given, or a layout folder archived (its bytes name the image on the farm).
        static func archive(_ rootfs: RootFileSystem, in scratch: URL) throws -> String {
            guard rootfs.kind == .ociLayout else { return rootfs.path }
            let tarFile = scratch.appendingPathComponent("image.tar").path
            let tar = Process()
            tar.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            // Sorted names and fixed owners and times: the same folder always makes the same bytes, so the farmer's cache hits.
            tar.arguments = ["tar", "--sort=name", "--owner=0", "--group=0", "--numeric-owner", "--mtime=@0", "-cf", tarFile, "-C", rootfs.path, "."]
            try tar.run()
            tar.waitUntilExit()
            guard tar.terminationStatus == 0 else { throw CommandFailure.badInput("cannot archive the image folder \(rootfs.path)") }
            return tarFile
        }
    }

    struct VerifyReceipt: ParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "verify-receipt",
            abstract: "Check a job receipt's signature and that a folder holds exactly the outputs it names.",
            discussion: "Exits 0 when the receipt is the farmer's and OUTDIR matches it file for file, 1 otherwise, 2 for bad input.")

        @Argument(help: "The signed receipt (from `prism job submit --receipt`).")
        var receipt: String

        @Argument(help: "The folder the job's /out was written to.")
        var outdir: String

        @Option(help: "The farmer's id (ed25519:…): refuse a receipt signed by any other key.")
        var farmer: String?

        func run() throws {
            guard let data = FileManager.default.contents(atPath: receipt) else { throw CommandFailure.badInput("cannot read receipt \(receipt)") }
            var isDirectory: ObjCBool = false
            guard FileManager.default.fileExists(atPath: outdir, isDirectory: &isDirectory), isDirectory.boolValue else {
                throw CommandFailure.badInput("no such folder: \(outdir)")
            }
            let expected: PublicIdentity?
            do { expected = try farmer.map { try PublicIdentity($0) } } catch { throw CommandFailure.badInput("--farmer: \(error)") }
            guard let envelope = try? WireCoding.decode(SignedEnvelope.self, from: data) else {
                throw CommandFailure.rejected("\(receipt) is not a signed receipt")
            }
            let signed: JobReceipt
            do {
                try EnvelopeVerifier(window: 100 * 365 * 86_400).authenticate(envelope, method: SignedEnvelope.responseMethod, path: JobPath.jobs)
                signed = try envelope.decodeBody(JobReceipt.self)
                try signed.validate()
            } catch {
                throw CommandFailure.rejected("the receipt does not check out: \(error)")
            }
            guard signed.farmer == envelope.signer else { throw CommandFailure.rejected("the receipt names \(signed.farmer) but is signed by \(envelope.signer)") }
            if let expected, expected != envelope.signer { throw CommandFailure.rejected("the receipt is signed by \(envelope.signer), not \(expected)") }
            let (present, others) = try JobFolder.contents(of: URL(fileURLWithPath: outdir))
            let held = Dictionary(present.map { ($0.name, $0.content) }) { first, _ in first }
            var problems: [String] = []
            for output in signed.outputs {
                guard let content = held[output.name] else { problems.append("\(output.name): missing"); continue }
                if content != output.content { problems.append("\(output.name): does not match its hash") }
            }
            for extra in (Set(held.keys).subtracting(signed.outputs.map(\.name)).sorted() + others) { problems.append("\(extra): not in the receipt") }
            guard problems.isEmpty else { throw CommandFailure.rejected("\(outdir) does not match the receipt: \(problems.prefix(5).joined(separator: "; "))") }
            print("receipt signed by \(envelope.signer): job exited \(signed.status) (\(signed.ending)), \(signed.outputs.count) output(s) match")
        }
    }
}
