import Foundation

/// The paths of general jobs on a farmer.
public enum JobPath {
    /// `POST`: a signed `JobOrder` in the header envelope; answers the signed `JobReceipt`.
    public static let jobs = "/v1/jobs"
    /// `HEAD /v1/blobs/sha256:…`: 200 when the farmer holds those bytes; `PUT` (signed): uploads them.
    public static let blobs = "/v1/blobs/"
    public static func blob(_ address: ContentAddress) -> String { blobs + address.description }
    /// `GET` (signed by the job's submitter): the job's N-th output file, in the receipt's order.
    public static func output(job key: String, index: Int) -> String { "\(jobs)/\(key)/outputs/\(index)" }
}

/// Limits a job asks for, or a farmer applied or offers at most; nil: the farmer's default (which is its maximum).
public struct JobLimitFigures: Codable, Sendable, Equatable {
    public var cpus: Double?
    public var memoryBytes: UInt64?
    public var pids: Int?
    public var timeSeconds: Double?
    public var outputBytes: UInt64?
    public var tmpBytes: UInt64?

    public init(cpus: Double? = nil, memoryBytes: UInt64? = nil, pids: Int? = nil, timeSeconds: Double? = nil,
                outputBytes: UInt64? = nil, tmpBytes: UInt64? = nil) {
        self.cpus = cpus
        self.memoryBytes = memoryBytes
        self.pids = pids
        self.timeSeconds = timeSeconds
        self.outputBytes = outputBytes
        self.tmpBytes = tmpBytes
    }

    /// The limit that applies when a job asks for `self` from a farmer offering at most `offer`: each figure the
    /// job's, or the offer's when it asks none. Throws naming the first figure the job asks above the offer.
    public func applied(within offer: JobLimitFigures) throws -> JobLimitFigures {
        func pick<T: Comparable>(_ asked: T?, _ most: T?, _ name: String) throws -> T? {
            guard let asked else { return most }
            if let most, asked > most { throw MessageLimitError("the job asks \(name) \(asked), above the farmer's \(most)") }
            return asked
        }
        return JobLimitFigures(cpus: try pick(cpus, offer.cpus, "cpus"), memoryBytes: try pick(memoryBytes, offer.memoryBytes, "memory"),
                               pids: try pick(pids, offer.pids, "pids"), timeSeconds: try pick(timeSeconds, offer.timeSeconds, "time"),
                               outputBytes: try pick(outputBytes, offer.outputBytes, "output"), tmpBytes: try pick(tmpBytes, offer.tmpBytes, "tmp"))
    }

    func validate() throws {
        if let cpus { try MessageLimits.number(cpus, in: 0.01...4096, "cpus") }
        if let timeSeconds { try MessageLimits.number(timeSeconds, in: 0.1...(30 * 86_400), "timeSeconds") }
        if let pids { try MessageLimits.number(pids, in: 1...1_000_000, "pids") }
        for (value, name) in [(memoryBytes, "memoryBytes"), (outputBytes, "outputBytes"), (tmpBytes, "tmpBytes")] {
            if let value, !(1 << 20 ... 1 << 50).contains(value) { throw MessageLimitError("\(name) must be from 1 MiB to 1 PiB, not \(value)") }
        }
    }
}

/// One file a job gets read-only at `/in/<name>`, named by its bytes.
public struct JobFile: Codable, Sendable, Equatable {
    /// The name under `/in` (inputs) or the path under `/out` (outputs).
    public var name: String
    public var content: ContentAddress
    public var bytes: Int64

    public init(name: String, content: ContentAddress, bytes: Int64) {
        self.name = name
        self.content = content
        self.bytes = bytes
    }
}

/// What a confidential job's SEV-SNP guest boots, by content address: the firmware, kernel and initrd the launch
/// measurement covers (with the kernel command line, which says what the guest runs). The job's encrypted disk is the
/// order's `image`.
public struct JobGuest: Codable, Sendable, Equatable {
    public var firmware: ContentAddress
    public var kernel: ContentAddress
    public var initrd: ContentAddress
    /// The kernel command line (measured with `kernel-hashes=on`).
    public var append: String
    /// `HOST:PORT` of the submitter's key broker, as the farmer reaches it. The guest gets no network but this: its
    /// connections to 10.0.2.100 port 80 (`ConfidentialLaunch.brokerGuestAddress`, fixed, so a measured command line
    /// can name it) are carried to the broker, and nothing else leaves it.
    public var broker: String?

    public init(firmware: ContentAddress, kernel: ContentAddress, initrd: ContentAddress, append: String, broker: String? = nil) {
        self.firmware = firmware
        self.kernel = kernel
        self.initrd = initrd
        self.append = append
        self.broker = broker
    }

    /// The broker's host and port, when `broker` is a plain `HOST:PORT` (a name or address of letters, digits, `.`, `-`
    /// and `:` only, so it can be handed to a forwarding command as is).
    public var brokerEndpoint: (host: String, port: Int)? {
        guard let broker, let colon = broker.lastIndex(of: ":") else { return nil }
        var host = String(broker[..<colon])
        if host.hasPrefix("["), host.hasSuffix("]") { host = String(host.dropFirst().dropLast()) }
        guard let port = Int(broker[broker.index(after: colon)...]), (1...65535).contains(port), !host.isEmpty, host.utf8.count <= 253,
              host.unicodeScalars.allSatisfy({ CharacterSet.alphanumerics.contains($0) && $0.isASCII || ".-:".unicodeScalars.contains($0) }),
              !host.hasPrefix("-") else { return nil }
        return (host, port)
    }

    public var blobs: [ContentAddress] { [firmware, kernel, initrd] }
}

/// What a submitter asks a farmer to run: the image and inputs by content address (uploaded beforehand to
/// `/v1/blobs/`, so an image the farmer holds is never sent twice), the command, and the limits.
///
/// A confidential order boots an SEV-SNP guest instead: `guest` names its firmware, kernel, initrd and command line,
/// `image` its LUKS2-encrypted disk (which the guest unlocks with a key the submitter's broker releases only to an
/// attested guest), and it has no command or inputs of its own: what runs, and on what, is inside the measured command
/// line and the encrypted disk, where the farmer cannot read or change it. The guest's HOST_DATA is the order's SHA-256.
public struct JobOrder: Codable, Sendable, Equatable {
    /// `plain` or `confidential`.
    public var mode: String
    /// The OCI image (the bytes of a layout tar) and the tag in it; a confidential order's encrypted disk.
    public var image: ContentAddress
    public var tag: String?
    public var command: [String]
    public var env: [String: String]
    public var inputs: [JobFile]
    public var limits: JobLimitFigures
    /// `none` or `host`.
    public var network: String
    /// What a confidential order's guest boots; nil for plain orders.
    public var guest: JobGuest?

    public init(mode: String = "plain", image: ContentAddress, tag: String? = nil, command: [String], env: [String: String] = [:],
                inputs: [JobFile] = [], limits: JobLimitFigures = .init(), network: String = "none", guest: JobGuest? = nil) {
        self.mode = mode
        self.image = image
        self.tag = tag
        self.command = command
        self.env = env
        self.inputs = inputs
        self.limits = limits
        self.network = network
        self.guest = guest
    }

    /// Every blob the farmer must hold before it runs the order.
    public var blobs: [ContentAddress] { [image] + (guest?.blobs ?? []) + inputs.map(\.content) }

    /// Content address of the order's canonical bytes, which its receipt names.
    public func address() throws -> ContentAddress { ContentAddress(hashing: try WireCoding.canonicalBytes(self)) }

    /// Refuses what no farmer should look at twice: unknown modes, empty or huge commands, names that could escape
    /// `/in`, out-of-range limits.
    public func validate() throws {
        guard ["plain", "confidential"].contains(mode) else { throw MessageLimitError("mode must be plain or confidential, not \(mode.prefix(32))") }
        guard ["none", "host"].contains(network) else { throw MessageLimitError("network must be none or host, not \(network.prefix(32))") }
        if mode == "confidential" {
            guard let guest else { throw MessageLimitError("a confidential order names its guest's firmware, kernel, initrd and command line") }
            guard guest.append.utf8.count <= 4096, !guest.append.contains("\0") else {
                throw MessageLimitError("the guest's kernel command line must be at most 4096 bytes without NUL")
            }
            if let broker = guest.broker, guest.brokerEndpoint == nil {
                throw MessageLimitError("the broker must be HOST:PORT, not \"\(broker.prefix(80))\"")
            }
            guard command.isEmpty, env.isEmpty, inputs.isEmpty, tag == nil else {
                throw MessageLimitError("a confidential order carries no command, environment, inputs or tag: they belong inside its encrypted disk and measured command line")
            }
            try limits.validate()
            return
        }
        guard guest == nil else { throw MessageLimitError("only confidential orders name a guest") }
        guard !command.isEmpty, !command[0].isEmpty, command.count <= 256 else { throw MessageLimitError("the command must have 1 to 256 words") }
        try MessageLimits.texts(command, count: 256, length: 4096, "command")
        guard env.count <= 64 else { throw MessageLimitError("more than 64 environment variables") }
        for (key, value) in env {
            guard !key.isEmpty, !key.contains("="), !key.contains("\0"), key.utf8.count <= 256, value.utf8.count <= 4096 else {
                throw MessageLimitError("environment variable names must be 1 to 256 bytes without '=', values at most 4096 bytes")
            }
        }
        guard inputs.count <= 64 else { throw MessageLimitError("more than 64 inputs") }
        var names = Set<String>()
        for input in inputs {
            guard JobOrder.isPlainName(input.name), names.insert(input.name).inserted else {
                throw MessageLimitError("input names must be distinct single path components, not \"\(input.name.prefix(64))\"")
            }
            guard input.bytes >= 0 else { throw MessageLimitError("input sizes cannot be negative") }
        }
        if let tag { guard !tag.isEmpty, tag.utf8.count <= 128, !tag.contains("/") else { throw MessageLimitError("bad image tag") } }
        try limits.validate()
    }

    /// One path component: not empty, not `.` or `..`, no `/` or NUL, at most 255 bytes.
    public static func isPlainName(_ name: String) -> Bool {
        !name.isEmpty && name != "." && name != ".." && !name.contains("/") && !name.contains("\0") && name.utf8.count <= 255
    }

    /// A relative path under `/out`: plain components only.
    public static func isPlainPath(_ path: String) -> Bool {
        path.utf8.count <= 4096 && !path.hasPrefix("/") && path.split(separator: "/", omittingEmptySubsequences: false).allSatisfy { isPlainName(String($0)) }
    }
}

/// A farmer's signed account of a job it ran: what ran (order, image, inputs), what came out (every file of `/out`
/// with its hash), how it ended and under which limits. Sent inside a `SignedEnvelope`.
public struct JobReceipt: Codable, Sendable, Equatable {
    public var farmer: PublicIdentity
    public var submitter: PublicIdentity
    /// Content address of the `JobOrder`'s canonical bytes (the spec hash).
    public var order: ContentAddress
    public var mode: String
    public var image: ContentAddress
    public var inputs: [JobFile]
    /// Every plain file the job left in `/out`, by relative path, sorted.
    public var outputs: [JobFile]
    /// The job's exit status (124: time limit, 137: memory limit), and how it ended (`exited`, `timed-out`,
    /// `memory-limit`, `output-too-large`).
    public var status: Int32
    public var ending: String
    /// The limits the job ran under (the order's, the farmer's maximum where it asked none).
    public var limits: JobLimitFigures
    /// CPU seconds from the job's cgroup (nil where the farmer's host accounts none), wall-clock seconds.
    public var cpuSeconds: Double?
    public var wallSeconds: Double
    /// What `/out` held that was not delivered (links, devices), and what was made safe (setuid bits cleared).
    public var dropped: [String]
    public var sanitized: [String]
    /// The job's standard output and error, as `stdout` and `stderr`.
    public var logs: [JobFile]

    public init(farmer: PublicIdentity, submitter: PublicIdentity, order: ContentAddress, mode: String, image: ContentAddress,
                inputs: [JobFile], outputs: [JobFile], status: Int32, ending: String, limits: JobLimitFigures, cpuSeconds: Double?,
                wallSeconds: Double, dropped: [String] = [], sanitized: [String] = [], logs: [JobFile] = []) {
        self.farmer = farmer
        self.submitter = submitter
        self.order = order
        self.mode = mode
        self.image = image
        self.inputs = inputs
        self.outputs = outputs
        self.status = status
        self.ending = ending
        self.limits = limits
        self.cpuSeconds = cpuSeconds
        self.wallSeconds = wallSeconds
        self.dropped = dropped
        self.sanitized = sanitized
        self.logs = logs
    }

    /// Paths the receipt lists must be plain relative paths, each once: nothing a submitter writes from it can escape
    /// its output folder.
    public func validate() throws {
        guard outputs.count <= 100_000 else { throw MessageLimitError("more than 100,000 outputs") }
        var seen = Set<String>()
        for output in outputs {
            guard JobOrder.isPlainPath(output.name), seen.insert(output.name).inserted, output.bytes >= 0 else {
                throw MessageLimitError("output path \"\(output.name.prefix(80))\" is not a plain relative path, or is listed twice")
            }
        }
    }
}

/// What a farmer offers general jobs: the modes it runs and the most a job may ask.
public struct JobOffer: Codable, Sendable, Equatable {
    /// `plain` where bubblewrap and umoci are here, `confidential` where SEV-SNP is (`prism probe`'s answer).
    public var modes: [String]
    public var limits: JobLimitFigures
    /// Whether a job may ask for the host's network.
    public var network: Bool
    /// Modes this farmer does not offer, with what its host lacks for each (`confidential`: the missing SEV-SNP pieces).
    public var unavailable: [String: String]?

    public init(modes: [String], limits: JobLimitFigures, network: Bool = false, unavailable: [String: String]? = nil) {
        self.modes = modes
        self.limits = limits
        self.network = network
        self.unavailable = unavailable
    }

    /// Why `mode` is not offered, in a few words, from what the farmer signed.
    public func whyNot(_ mode: String) -> String? {
        unavailable?[mode].map { String($0.prefix(400)) }
    }
}
