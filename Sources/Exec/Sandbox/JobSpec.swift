import Crypto
import Foundation

/// A job for the execution layer: what to run, in which root file system, with which inputs, outputs
/// and limits. This is also what a farmer receives, so it is plain Codable JSON.
public struct JobSpec: Codable, Sendable, Equatable {
    /// Where the job runs: a rootless sandbox on any processor, or an SEV-SNP guest.
    public enum Mode: String, Codable, Sendable { case plain, confidential }

    /// Whether the job may reach any network. `none` means a fresh network namespace with nothing in it.
    public enum Network: String, Codable, Sendable { case none, host }

    public var mode: Mode
    public var rootfs: RootFileSystem
    /// The program and its arguments (argv), run inside the root file system.
    public var command: [String]
    public var env: [String: String]
    /// Host files or folders that appear read-only at `/in/<name>`.
    public var inputs: [JobInput]
    /// Host folder that receives what the job writes to `/out`; nil gives the job a `/out` that is thrown away.
    public var output: String?
    public var limits: JobLimits
    /// Host device nodes (GPUs) passed through; empty by default.
    public var devices: [String]
    public var network: Network
    /// Host paths bound read-only at the same path inside the sandbox, e.g. the host's shared libraries
    /// so that a host binary (Prism itself, FFmpeg) can run inside a minimal root file system.
    public var hostBinds: [String]
    /// What a confidential job boots; required only in confidential mode.
    public var guest: GuestImage?

    public init(mode: Mode = .plain, rootfs: RootFileSystem, command: [String], env: [String: String] = [:],
                inputs: [JobInput] = [], output: String? = nil, limits: JobLimits = JobLimits(),
                devices: [String] = [], network: Network = .none, hostBinds: [String] = [], guest: GuestImage? = nil) {
        self.mode = mode
        self.rootfs = rootfs
        self.command = command
        self.env = env
        self.inputs = inputs
        self.output = output
        self.limits = limits
        self.devices = devices
        self.network = network
        self.hostBinds = hostBinds
        self.guest = guest
    }

    enum CodingKeys: String, CodingKey {
        case mode, rootfs, command, env, inputs, output, limits, devices, network, hostBinds, guest
    }

    // Only rootfs and command are required; everything else has the safe default (no network, no devices).
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        mode = try c.decodeIfPresent(Mode.self, forKey: .mode) ?? .plain
        rootfs = try c.decode(RootFileSystem.self, forKey: .rootfs)
        command = try c.decode([String].self, forKey: .command)
        env = try c.decodeIfPresent([String: String].self, forKey: .env) ?? [:]
        inputs = try c.decodeIfPresent([JobInput].self, forKey: .inputs) ?? []
        output = try c.decodeIfPresent(String.self, forKey: .output)
        limits = try c.decodeIfPresent(JobLimits.self, forKey: .limits) ?? JobLimits()
        devices = try c.decodeIfPresent([String].self, forKey: .devices) ?? []
        network = try c.decodeIfPresent(Network.self, forKey: .network) ?? .none
        hostBinds = try c.decodeIfPresent([String].self, forKey: .hostBinds) ?? []
        guest = try c.decodeIfPresent(GuestImage.self, forKey: .guest)
    }

    /// Decodes a spec from JSON, turning decoder errors into one readable `JobSpecError.malformed` line.
    public static func decode(_ data: Data) throws -> JobSpec {
        do {
            return try JSONDecoder().decode(JobSpec.self, from: data)
        } catch let error as DecodingError {
            throw JobSpecError.malformed(describe(error))
        } catch {
            throw JobSpecError.malformed(String(describing: error))
        }
    }

    /// The canonical JSON form (sorted keys, no escaped slashes): the bytes a confidential guest's
    /// host-data commits to, so submitter, farmer and guest must all produce the same form.
    public func canonicalJSON() -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        // Encoding plain strings, numbers and enums cannot fail.
        return try! encoder.encode(self)
    }

    /// SHA-256 of `canonicalJSON()`.
    public var digest: Data { Data(SHA256.hash(data: canonicalJSON())) }

    /// Checks the spec against itself and the host file system; throws the first problem found.
    public func validate() throws {
        if command.isEmpty || command[0].isEmpty { throw JobSpecError.emptyCommand }
        try rootfs.checkExists()
        var seen = Set<String>()
        for input in inputs {
            try JobInput.checkName(input.name)
            if !seen.insert(input.name).inserted { throw JobSpecError.duplicateInputName(input.name) }
            if !FileManager.default.fileExists(atPath: input.path) { throw JobSpecError.missingInput(input.path) }
        }
        for key in env.keys where key.isEmpty || key.contains("=") || key.contains("\0") {
            throw JobSpecError.badEnvironmentName(key)
        }
        for path in hostBinds {
            guard path.hasPrefix("/"), !path.split(separator: "/").contains("..") else {
                throw JobSpecError.badHostBind(path, "must be an absolute path without ..")
            }
            if !FileManager.default.fileExists(atPath: path) { throw JobSpecError.badHostBind(path, "does not exist") }
        }
        for device in devices {
            guard device.hasPrefix("/dev/"), !device.split(separator: "/").contains("..") else {
                throw JobSpecError.badDevice(device, "must be a path under /dev")
            }
            if !FileManager.default.fileExists(atPath: device) { throw JobSpecError.badDevice(device, "does not exist") }
        }
        try limits.validate()
        if let output {
            var isDirectory: ObjCBool = false
            if output.isEmpty { throw JobSpecError.badOutput("empty path") }
            if FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory), !isDirectory.boolValue {
                throw JobSpecError.badOutput("\(output) is a file")
            }
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let p = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? $0.stringValue }.joined(separator: ".")
            return p.isEmpty ? "" : " at \(p)"
        }
        switch error {
        case .keyNotFound(let key, let context): return "missing key \"\(key.stringValue)\"\(path(context))"
        case .typeMismatch(_, let context): return "\(context.debugDescription)\(path(context))"
        case .valueNotFound(_, let context): return "missing value\(path(context))"
        case .dataCorrupted(let context):
            let underlying = (context.underlyingError as NSError?)?.userInfo[NSDebugDescriptionErrorKey] as? String
            return "\(underlying ?? context.debugDescription)\(path(context))"
        @unknown default: return String(describing: error)
        }
    }
}

/// The root file system of a job: a plain folder, or an OCI image layout (folder or tar archive) that
/// is unpacked rootless with umoci before the run.
public struct RootFileSystem: Codable, Sendable, Equatable {
    public enum Kind: String, Codable, Sendable {
        case directory
        case ociLayout = "oci-layout"
        case ociArchive = "oci-archive"
    }

    public var kind: Kind
    public var path: String
    /// The tag (reference) inside an OCI layout; "latest" when absent.
    public var tag: String?

    public init(kind: Kind, path: String, tag: String? = nil) {
        self.kind = kind
        self.path = path
        self.tag = tag
    }

    /// A folder used as-is.
    public static func directory(_ path: String) -> RootFileSystem { .init(kind: .directory, path: path) }

    /// An OCI image: a layout folder (with `index.json`) or a tar of one, told apart by looking.
    public static func ociImage(_ path: String, tag: String? = nil) -> RootFileSystem {
        var isDirectory: ObjCBool = false
        let exists = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
        return .init(kind: exists && !isDirectory.boolValue ? .ociArchive : .ociLayout, path: path, tag: tag)
    }

    public func checkExists() throws {
        var isDirectory: ObjCBool = false
        guard !path.isEmpty, FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw JobSpecError.missingRootFileSystem(path)
        }
        switch kind {
        case .directory:
            if !isDirectory.boolValue { throw JobSpecError.missingRootFileSystem("\(path) (not a folder)") }
        case .ociLayout:
            if !FileManager.default.fileExists(atPath: path + "/index.json") {
                throw JobSpecError.badImage("\(path) is not an OCI image layout (no index.json)")
            }
        case .ociArchive:
            if isDirectory.boolValue { throw JobSpecError.badImage("\(path) is a folder, not an OCI archive") }
        }
        if let tag, tag.isEmpty || tag.contains("/") { throw JobSpecError.badImage("bad tag \"\(tag)\"") }
    }
}

/// One host file or folder given to the job read-only at `/in/<name>`.
public struct JobInput: Codable, Sendable, Equatable {
    /// The name under `/in`: one path component, never `.`, `..` or empty.
    public var name: String
    /// The host path.
    public var path: String

    public init(name: String, path: String) {
        self.name = name
        self.path = path
    }

    /// An input named after the last component of its host path.
    public init(path: String) {
        self.init(name: URL(fileURLWithPath: path).lastPathComponent, path: path)
    }

    enum CodingKeys: String, CodingKey { case name, path }

    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let path = try c.decode(String.self, forKey: .path)
        self.init(name: try c.decodeIfPresent(String.self, forKey: .name) ?? URL(fileURLWithPath: path).lastPathComponent,
                  path: path)
    }

    /// Refuses names that could escape `/in` or clash with its structure.
    static func checkName(_ name: String) throws {
        if name.isEmpty || name == "." || name == ".." || name.contains("/") || name.contains("\0") {
            throw JobSpecError.badInputName(name)
        }
    }
}

/// Resource limits; nil means "no limit of this kind".
public struct JobLimits: Codable, Sendable, Equatable {
    /// CPU time share in cores (1.5 = one and a half cores' worth of time).
    public var cpus: Double?
    public var memoryBytes: UInt64?
    /// Most processes and threads alive at once.
    public var pids: Int?
    /// Wall-clock seconds before the job and all its children are killed (exit 124).
    public var timeSeconds: Double?
    /// Most bytes the job may leave in `/out`.
    public var outputBytes: UInt64?
    /// Size of the job's private `/tmp` (a tmpfs, which the kernel would otherwise let grow to half the RAM).
    public var tmpBytes: UInt64?

    public init(cpus: Double? = nil, memoryBytes: UInt64? = nil, pids: Int? = nil,
                timeSeconds: Double? = nil, outputBytes: UInt64? = nil, tmpBytes: UInt64? = nil) {
        self.cpus = cpus
        self.memoryBytes = memoryBytes
        self.pids = pids
        self.timeSeconds = timeSeconds
        self.outputBytes = outputBytes
        self.tmpBytes = tmpBytes
    }

    /// What every plain job gets unless its spec asks otherwise: 1024 processes and threads, a 1 GiB `/tmp`,
    /// 16 GiB left in `/out`. Enough for any transcode or build step; small enough that one job cannot fork the
    /// host to a halt, fill its memory through /tmp or its disk through /out.
    public static let defaultPids = 1024
    public static let defaultTmpBytes: UInt64 = 1 << 30
    public static let defaultOutputBytes: UInt64 = 16 << 30

    /// These limits with the defaults filled in where none was asked.
    public func withDefaults() -> JobLimits {
        var limits = self
        limits.pids = pids ?? Self.defaultPids
        limits.tmpBytes = tmpBytes ?? Self.defaultTmpBytes
        limits.outputBytes = outputBytes ?? Self.defaultOutputBytes
        return limits
    }

    public func validate() throws {
        if let cpus, !(cpus > 0 && cpus.isFinite) { throw JobSpecError.badLimit("cpus must be above 0") }
        // Below a few MiB not even the sandbox's own init fits; refuse instead of failing obscurely.
        if let memoryBytes, memoryBytes < 4 << 20 { throw JobSpecError.badLimit("memory must be at least 4M") }
        if let pids, pids < 2 { throw JobSpecError.badLimit("pids must be at least 2") }
        if let timeSeconds, !(timeSeconds > 0 && timeSeconds.isFinite) { throw JobSpecError.badLimit("time must be above 0 seconds") }
        if let tmpBytes, tmpBytes < 1 << 20 { throw JobSpecError.badLimit("tmp must be at least 1M") }
    }
}

/// What a confidential guest boots: firmware, a kernel and initrd measured into the launch digest,
/// and the LUKS-encrypted disk the guest unlocks once attestation releases its key.
public struct GuestImage: Codable, Sendable, Equatable {
    public var firmware: String
    public var kernel: String
    public var initrd: String
    public var append: String
    public var disk: String

    public init(firmware: String, kernel: String, initrd: String, append: String = "console=ttyS0", disk: String) {
        self.firmware = firmware
        self.kernel = kernel
        self.initrd = initrd
        self.append = append
        self.disk = disk
    }
}

/// Why a job spec cannot run; each reads as one line.
public enum JobSpecError: Error, Equatable, CustomStringConvertible {
    case malformed(String)
    case emptyCommand
    case missingRootFileSystem(String)
    case badImage(String)
    case badInputName(String)
    case duplicateInputName(String)
    case missingInput(String)
    case badEnvironmentName(String)
    case badHostBind(String, String)
    case badDevice(String, String)
    case badLimit(String)
    case badSize(String)
    case badOutput(String)

    public var description: String {
        switch self {
        case .malformed(let detail): return "malformed job spec: \(detail)"
        case .emptyCommand: return "job spec has no command"
        case .missingRootFileSystem(let path): return "root file system not found: \(path)"
        case .badImage(let detail): return "bad OCI image: \(detail)"
        case .badInputName(let name):
            return "bad input name \"\(name)\": must be one path component (no '/', not '.' or '..', not empty)"
        case .duplicateInputName(let name): return "two inputs are named \"\(name)\" under /in"
        case .missingInput(let path): return "input not found: \(path)"
        case .badEnvironmentName(let name): return "bad environment variable name \"\(name)\""
        case .badHostBind(let path, let why): return "bad host bind \(path): \(why)"
        case .badDevice(let path, let why): return "bad device \(path): \(why)"
        case .badLimit(let why): return "bad limit: \(why)"
        case .badSize(let text): return "bad size \"\(text)\": use a whole number with an optional K, M, G or T suffix (e.g. 512M)"
        case .badOutput(let why): return "bad output folder: \(why)"
        }
    }
}

/// Sizes as people write them: `1048576`, `512K`, `512M`, `2G`, `1T` (binary multiples; `512MiB`, `512MB` read the same).
public enum ByteSize {
    public static func parse(_ text: String) throws -> UInt64 {
        var digits = Substring(text.trimmingCharacters(in: .whitespaces))
        var unit: UInt64 = 1
        for suffix in ["iB", "B"] where digits.count > 1 && digits.hasSuffix(suffix) {
            digits = digits.dropLast(suffix.count)
            break
        }
        if let last = digits.last, last.isLetter {
            switch last.uppercased() {
            case "K": unit = 1 << 10
            case "M": unit = 1 << 20
            case "G": unit = 1 << 30
            case "T": unit = 1 << 40
            default: throw JobSpecError.badSize(text)
            }
            digits = digits.dropLast()
        }
        guard !digits.isEmpty, digits.allSatisfy(\.isASCII), digits.allSatisfy(\.isNumber),
              let value = UInt64(digits) else { throw JobSpecError.badSize(text) }
        let (product, overflow) = value.multipliedReportingOverflow(by: unit)
        if overflow { throw JobSpecError.badSize(text) }
        return product
    }
}
