import Exec
import FarmClient
import Foundation
import Hummingbird
import NIOCore
import Wire

/// General jobs on a farmer: blobs (images, inputs) in by content address and kept, so an image already here is
/// never uploaded again; the job run in the plain sandbox exactly as `prism run --mode plain` runs it; a signed
/// receipt naming every output by hash; outputs and logs served only to the submitter that sent the job.
///
/// `blobs/sha256-<hex>`, `images/` (unpacked images by manifest digest), `jobs/<key>/{out/,stdout,stderr,owner,receipt.json}`.
extension FarmerService {
    func addJobRoutes(to router: Router<BasicRequestContext>) {
        router.on(RouterPath(JobPath.blobs + ":address"), method: .head) { _, context in
            let address = try Self.blobAddress(context.parameters.get("address"))
            let held = FileManager.default.fileExists(atPath: self.blobFile(address).path)
            return Response(status: held ? .ok : .notFound)
        }
        router.put(RouterPath(JobPath.blobs + ":address")) { request, context in
            try await self.receiveBlob(request, address: try Self.blobAddress(context.parameters.get("address")))
        }
        router.post(RouterPath(JobPath.jobs)) { request, _ in
            do { return try await self.acceptJob(request) } catch let error as FarmerAPIError {
                if error.status.code < 500 && error.code != "busy" { self.logger.notice("job refused (\(error.code)): \(error.message)") }
                throw error
            }
        }
        router.get("/v1/jobs/:job/outputs/:index") { request, context in
            try await self.serveJobFile(request, context: context, key: context.parameters.get("job") ?? "", item: context.parameters.get("index") ?? "")
        }
        router.get("/v1/jobs/:job/log/:stream") { request, context in
            try await self.serveJobFile(request, context: context, key: context.parameters.get("job") ?? "",
                                        item: context.parameters.get("stream") ?? "", log: true)
        }
    }

    static func blobAddress(_ text: String?) throws -> ContentAddress {
        guard let text, let address = try? ContentAddress(text) else {
            throw FarmerAPIError(.badRequest, "bad-address", "blobs are named sha256:<64 hex digits>")
        }
        return address
    }

    var blobFolder: URL { configuration.store.root.appendingPathComponent("blobs") }
    func blobFile(_ address: ContentAddress) -> URL { blobFolder.appendingPathComponent(address.description.replacingOccurrences(of: ":", with: "-")) }
    func jobFolder(_ key: String) -> URL { configuration.store.root.appendingPathComponent("jobs").appendingPathComponent(key) }

    private func requireJobs(_ submitter: PublicIdentity) throws -> JobOffer {
        guard let offer = configuration.jobs, !offer.modes.isEmpty else {
            throw FarmerAPIError(.notFound, "no-jobs", "this farmer takes no general jobs")
        }
        if let allowed = configuration.allowList, !allowed.contains(submitter) {
            throw FarmerAPIError(.forbidden, "not-allowed", "\(submitter) is not on this farmer's allow-list")
        }
        return offer
    }

    /// Streams a blob to disk while hashing it; kept only when it hashes to the address it was sent for.
    private func receiveBlob(_ request: Request, address: ContentAddress) async throws -> Response {
        let (submitter, _) = try authenticate(request, method: "PUT", path: JobPath.blob(address))
        _ = try requireJobs(submitter)
        let file = blobFile(address)
        if FileManager.default.fileExists(atPath: file.path) { return FarmerService.json(["stored": address.description]) }
        try FileManager.default.createDirectory(at: blobFolder, withIntermediateDirectories: true)
        let partial = blobFolder.appendingPathComponent(".partial-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: partial) }
        let received = try await Self.receive(request.body, to: partial.path, maximumBytes: configuration.maxBlobBytes)
        guard received.address == address else {
            throw FarmerAPIError(.badRequest, "blob-mismatch", "uploaded bytes hash to \(received.address), not \(address)")
        }
        try? FileManager.default.moveItem(at: partial, to: file)
        logger.info("blob \(address.description.prefix(19))… stored from \(submitter): \(received.bytes) bytes")
        return FarmerService.json(["stored": address.description])
    }

    private func acceptJob(_ request: Request) async throws -> Response {
        let (submitter, envelope) = try authenticate(request, method: "POST", path: JobPath.jobs)
        let offer = try requireJobs(submitter)
        let order: JobOrder
        do { order = try envelope.decodeBody(JobOrder.self) } catch {
            throw FarmerAPIError(.badRequest, "malformed-job", "the signed body is not a job order")
        }
        do { try order.validate() } catch let error as MessageLimitError {
            throw FarmerAPIError(.badRequest, "bad-job", error.description)
        }
        guard offer.modes.contains(order.mode) else {
            let why = offer.whyNot(order.mode).map { ": \($0)" } ?? ""
            throw FarmerAPIError(.unprocessableContent, "mode-not-offered", "this farmer runs \(offer.modes.joined(separator: ", ")) jobs, not \(order.mode)\(why)")
        }
        guard order.network == "none" || offer.network else {
            throw FarmerAPIError(.unprocessableContent, "network-not-offered", "this farmer gives jobs no network")
        }
        let limits: JobLimitFigures
        do { limits = try order.limits.applied(within: offer.limits) } catch let error as MessageLimitError {
            throw FarmerAPIError(.unprocessableContent, "over-limits", error.description)
        }
        let missing = order.blobs.filter { !FileManager.default.fileExists(atPath: blobFile($0).path) }
        guard missing.isEmpty else {
            throw FarmerAPIError(.conflict, "missing-blobs", "upload these first: \(missing.map(\.description).joined(separator: ", "))")
        }
        let orderAddress = try order.address()
        let key = TaskStore.key(task: orderAddress, submitter: submitter)
        let folder = jobFolder(key)
        if let stored = FileManager.default.contents(atPath: folder.appendingPathComponent("receipt.json").path) {
            return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: stored)))
        }
        guard acquireSession() else {
            throw FarmerAPIError(.serviceUnavailable, "busy", "all \(configuration.sessions) sessions are busy", retryAfter: 2)
        }
        defer { releaseSession() }
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder.appendingPathComponent("out"), withIntermediateDirectories: true)
        do {
            if order.mode == "confidential" {
                return try await runConfidentialJob(order, address: orderAddress, limits: limits, submitter: submitter, folder: folder)
            }
            return try await runJob(order, address: orderAddress, limits: limits, submitter: submitter, folder: folder)
        } catch {
            try? FileManager.default.removeItem(at: folder)
            if error is FarmerAPIError { throw error }
            logger.error("job \(key.prefix(12)) failed: \(error)")
            throw FarmerAPIError(.internalServerError, "job-failed", String(describing: error))
        }
    }

    private func runJob(_ order: JobOrder, address: ContentAddress, limits: JobLimitFigures, submitter: PublicIdentity,
                        folder: URL) async throws -> Response {
        let spec = JobSpec(mode: .plain, rootfs: RootFileSystem(kind: .ociArchive, path: blobFile(order.image).path, tag: order.tag),
                           command: order.command, env: order.env,
                           inputs: order.inputs.map { JobInput(name: $0.name, path: blobFile($0.content).path) },
                           output: folder.appendingPathComponent("out").path,
                           limits: JobLimits(limits),
                           network: order.network == "host" ? .host : .none)
        let sandbox: PlainSandbox
        do { sandbox = try PlainSandbox(imageCache: configuration.store.root.appendingPathComponent("images")) } catch {
            throw FarmerAPIError(.unprocessableContent, "mode-not-offered", "\(error)")
        }
        logger.info("job \(address.description.prefix(19))… from \(submitter): \(order.command.first ?? "")")
        let result: JobResult
        do {
            result = try await runLogged(in: folder) { out, err in try sandbox.run(spec, standardOutput: out, standardError: err) }
        } catch let error as JobSpecError {
            throw FarmerAPIError(.badRequest, "bad-job", error.description)
        }
        return try finishJob(order, address: address, limits: limits, submitter: submitter, folder: folder, status: result.status,
                             ending: result.ending.name, cpuSeconds: result.cpuSeconds, wallSeconds: result.wallSeconds,
                             dropped: result.droppedFromOutput, sanitized: result.sanitizedInOutput)
    }

    /// The file a confidential job's encrypted disk is delivered as, after its guest powered off.
    public static let confidentialDisk = "disk.img"

    /// Boots the order's SEV-SNP guest: its firmware, kernel and initrd from the blobs, its encrypted disk copied into
    /// `out/` (the blob stays as uploaded, so a second job starts from the same disk), the order's SHA-256 as host-data
    /// so the guest's report names the order it was launched for. The guest unlocks the disk with the key the
    /// submitter's broker releases to it alone; what it writes there goes back encrypted as the job's one output. The
    /// serial console is the job's stdout, QEMU's own messages its stderr.
    private func runConfidentialJob(_ order: JobOrder, address: ContentAddress, limits: JobLimitFigures, submitter: PublicIdentity,
                                    folder: URL) async throws -> Response {
        guard let runner = configuration.confidential, let guest = order.guest else {
            throw FarmerAPIError(.unprocessableContent, "mode-not-offered", "this farmer cannot launch SEV-SNP guests")
        }
        let disk = folder.appendingPathComponent("out").appendingPathComponent(Self.confidentialDisk)
        try FileManager.default.copyItem(at: blobFile(order.image), to: disk)
        let launch = ConfidentialLaunch(qemu: runner.support.qemu?.path ?? "qemu-system-x86_64",
                                        guest: GuestImage(firmware: blobFile(guest.firmware).path, kernel: blobFile(guest.kernel).path,
                                                          initrd: blobFile(guest.initrd).path, append: guest.append, disk: disk.path),
                                        memoryBytes: limits.memoryBytes ?? ConfidentialLaunch.defaultMemoryBytes,
                                        vcpus: max(1, Int((limits.cpus ?? 1).rounded(.up))),
                                        hostData: Data(address.digest), network: order.network == "host", broker: guest.brokerEndpoint)
        logger.info("confidential job \(address.description.prefix(19))… from \(submitter): booting its SEV-SNP guest")
        let result = try await runLogged(in: folder) { out, err in
            try runner.run(launch, timeSeconds: limits.timeSeconds, standardOutput: out, standardError: err)
        }
        return try finishJob(order, address: address, limits: limits, submitter: submitter, folder: folder, status: result.status,
                             ending: result.status == 124 ? JobResult.Ending.timedOut.name : JobResult.Ending.exited.name,
                             cpuSeconds: nil, wallSeconds: result.wallSeconds)
    }

    /// Runs `body` on the farmer's thread pool with the job's `stdout` and `stderr` files (in `folder`) as its output.
    private func runLogged<T: Sendable>(in folder: URL, _ body: @escaping @Sendable (FileHandle, FileHandle) throws -> T) async throws -> T {
        let stdout = folder.appendingPathComponent("stdout"), stderr = folder.appendingPathComponent("stderr")
        _ = FileManager.default.createFile(atPath: stdout.path, contents: nil)
        _ = FileManager.default.createFile(atPath: stderr.path, contents: nil)
        return try await onThread {
            let out = try FileHandle(forWritingTo: stdout), err = try FileHandle(forWritingTo: stderr)
            defer { try? out.close(); try? err.close() }
            return try body(out, err)
        }
    }

    /// Signs and stores the receipt for a job that ran: every file of `out/` and both logs by hash.
    private func finishJob(_ order: JobOrder, address: ContentAddress, limits: JobLimitFigures, submitter: PublicIdentity, folder: URL,
                           status: Int32, ending: String, cpuSeconds: Double?, wallSeconds: Double,
                           dropped: [String] = [], sanitized: [String] = []) throws -> Response {
        let outputs = try JobFolder.contents(of: folder.appendingPathComponent("out")).files
        let logs = try ["stdout", "stderr"].map { folder.appendingPathComponent($0) }.map { file in
            JobFile(name: file.lastPathComponent, content: try PlainFile.address(of: file.path),
                    bytes: Int64(PlainFile.size(of: file.path) ?? 0))
        }
        let receipt = JobReceipt(farmer: configuration.identity.publicIdentity, submitter: submitter, order: address, mode: order.mode,
                                 image: order.image, inputs: order.inputs, outputs: outputs, status: status, ending: ending,
                                 limits: limits, cpuSeconds: cpuSeconds, wallSeconds: wallSeconds,
                                 dropped: dropped, sanitized: sanitized, logs: logs)
        let signed = try SignedEnvelope.sign(receipt, method: SignedEnvelope.responseMethod, path: JobPath.jobs, by: configuration.identity)
        let body = try WireCoding.canonicalBytes(signed)
        try Data(submitter.description.utf8).write(to: folder.appendingPathComponent("owner"), options: .atomic)
        try body.write(to: folder.appendingPathComponent("receipt.json"), options: .atomic)
        logger.info("job \(address.description.prefix(19))… ended \(ending) with status \(status), \(outputs.count) output file(s)")
        return Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(bytes: body)))
    }

    /// One output (by its index in the receipt) or log (`stdout`, `stderr`) of a finished job, to its submitter only.
    private func serveJobFile(_ request: Request, context: some RequestContext, key: String, item: String, log: Bool = false) async throws -> Response {
        guard TaskStore.isKey(key) else { throw FarmerAPIError(.notFound, "no-such-output", "no such job output") }
        let folder = jobFolder(key)
        let path = log ? "\(JobPath.jobs)/\(key)/log/\(item)" : "\(JobPath.jobs)/\(key)/outputs/\(item)"
        let (signer, _) = try authenticate(request, method: "GET", path: path)
        guard let receiptBytes = FileManager.default.contents(atPath: folder.appendingPathComponent("receipt.json").path),
              let owner = FileManager.default.contents(atPath: folder.appendingPathComponent("owner").path) else {
            throw FarmerAPIError(.notFound, "no-such-output", "no such job output")
        }
        guard String(decoding: owner, as: UTF8.self) == signer.description else {
            throw FarmerAPIError(.forbidden, "not-yours", "this job's outputs belong to the submitter that sent it")
        }
        let file: URL
        if log {
            guard item == "stdout" || item == "stderr" else { throw FarmerAPIError(.notFound, "no-such-output", "logs are stdout and stderr") }
            file = folder.appendingPathComponent(item)
        } else {
            let receipt = try WireCoding.decode(SignedEnvelope.self, from: receiptBytes).decodeBody(JobReceipt.self)
            guard let index = Int(item), receipt.outputs.indices.contains(index) else {
                throw FarmerAPIError(.notFound, "no-such-output", "no such job output")
            }
            file = folder.appendingPathComponent("out").appendingPathComponent(receipt.outputs[index].name)
        }
        // Streamed from disk in chunks: an output may be as large as the farmer's --job-max-output.
        return Response(status: .ok, headers: [.contentType: "application/octet-stream"], body: try await FileIO().loadFile(path: file.path, context: context))
    }
}

/// The execution layer's limits and the wire's figures of them are the same six numbers; these are the only crossings.
extension JobLimits {
    public init(_ figures: JobLimitFigures) {
        self.init(cpus: figures.cpus, memoryBytes: figures.memoryBytes, pids: figures.pids, timeSeconds: figures.timeSeconds,
                  outputBytes: figures.outputBytes, tmpBytes: figures.tmpBytes)
    }
}

extension JobLimitFigures {
    public init(_ limits: JobLimits) {
        self.init(cpus: limits.cpus, memoryBytes: limits.memoryBytes, pids: limits.pids, timeSeconds: limits.timeSeconds,
                  outputBytes: limits.outputBytes, tmpBytes: limits.tmpBytes)
    }
}

/// What a job left in a folder, as a receipt names it.
public enum JobFolder {
    /// Its plain files by sorted relative path, with hash and size, and the relative paths of anything else in it that
    /// is not a folder (links, fifos: what the sandbox never delivers, so a receipt never names).
    public static func contents(of root: URL) throws -> (files: [JobFile], others: [String]) {
        var files: [JobFile] = [], others: [String] = []
        let prefix = root.standardizedFileURL.path + "/"
        let keys: [URLResourceKey] = [.isRegularFileKey, .isDirectoryKey, .isSymbolicLinkKey, .fileSizeKey]
        guard let walker = FileManager.default.enumerator(at: root, includingPropertiesForKeys: keys) else { return ([], []) }
        for case let url as URL in walker {
            let values = try url.resourceValues(forKeys: Set(keys))
            let path = String(url.standardizedFileURL.path.dropFirst(prefix.count))
            if values.isRegularFile == true && values.isSymbolicLink != true {
                files.append(JobFile(name: path, content: try PlainFile.address(of: url.path), bytes: Int64(values.fileSize ?? 0)))
            } else if values.isDirectory != true {
                others.append(path)
            }
        }
        return (files.sorted { $0.name < $1.name }, others.sorted())
    }
}
