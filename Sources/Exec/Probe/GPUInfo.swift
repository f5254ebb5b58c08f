import Foundation
#if canImport(Glibc)
import Glibc
#endif

/// A display-class PCI device (class 0x03xx) as sysfs lists it.
public struct PCIGPU: Codable, Sendable, Equatable {
    public var address: String
    /// e.g. "0x10de" (NVIDIA), "0x1002" (AMD), "0x8086" (Intel).
    public var vendorID: String
    public var deviceID: String
    public var classCode: String
    /// The bound kernel driver, if any.
    public var driver: String?

    /// Scans /sys/bus/pci/devices.
    public static func scan(root: String = "/sys/bus/pci/devices") -> [PCIGPU] {
        let entries = ((try? FileManager.default.contentsOfDirectory(atPath: root)) ?? []).sorted()
        return entries.compactMap { address in
            func field(_ name: String) -> String? {
                (try? String(contentsOfFile: "\(root)/\(address)/\(name)", encoding: .utf8))?.trimmingCharacters(in: .whitespacesAndNewlines)
            }
            guard let classCode = field("class"), classCode.hasPrefix("0x03") else { return nil }
            let driver = try? FileManager.default.destinationOfSymbolicLink(atPath: "\(root)/\(address)/driver")
            return PCIGPU(address: address, vendorID: field("vendor") ?? "", deviceID: field("device") ?? "",
                          classCode: classCode, driver: driver.map { URL(fileURLWithPath: $0).lastPathComponent })
        }
    }
}

/// What NVIDIA's management library reports, read by loading libnvidia-ml.so.1 at run time (so Prism
/// neither links nor needs the driver where there is none).
public struct NVMLReport: Codable, Sendable, Equatable {
    public var driverVersion: String?
    public var devices: [String]

    private typealias InitFunction = @convention(c) () -> Int32
    private typealias CountFunction = @convention(c) (UnsafeMutablePointer<UInt32>) -> Int32
    private typealias HandleFunction = @convention(c) (UInt32, UnsafeMutablePointer<OpaquePointer?>) -> Int32
    private typealias NameFunction = @convention(c) (OpaquePointer?, UnsafeMutablePointer<CChar>, UInt32) -> Int32
    private typealias DriverFunction = @convention(c) (UnsafeMutablePointer<CChar>, UInt32) -> Int32

    /// nil when the library is absent or nvmlInit fails (no driver, no device).
    public static func read() -> NVMLReport? {
        guard let library = dlopen("libnvidia-ml.so.1", RTLD_NOW | RTLD_LOCAL) else { return nil }
        defer { dlclose(library) }
        func symbol<T>(_ name: String, as: T.Type) -> T? {
            dlsym(library, name).map { unsafeBitCast($0, to: T.self) }
        }
        guard let initialize = symbol("nvmlInit_v2", as: InitFunction.self), initialize() == 0 else { return nil }
        defer { if let shutdown = symbol("nvmlShutdown", as: InitFunction.self) { _ = shutdown() } }
        var report = NVMLReport(driverVersion: nil, devices: [])
        // NVML_SYSTEM_DRIVER_VERSION_V2_BUFFER_SIZE and NVML_DEVICE_NAME_V2_BUFFER_SIZE are 80 and 96.
        var buffer = [CChar](repeating: 0, count: 128)
        if let driver = symbol("nvmlSystemGetDriverVersion", as: DriverFunction.self), driver(&buffer, 128) == 0 {
            report.driverVersion = String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        var count: UInt32 = 0
        guard let getCount = symbol("nvmlDeviceGetCount_v2", as: CountFunction.self), getCount(&count) == 0,
              let getHandle = symbol("nvmlDeviceGetHandleByIndex_v2", as: HandleFunction.self),
              let getName = symbol("nvmlDeviceGetName", as: NameFunction.self) else { return report }
        for index in 0..<count {
            var handle: OpaquePointer?
            guard getHandle(index, &handle) == 0 else { continue }
            buffer = [CChar](repeating: 0, count: 128)
            if getName(handle, &buffer, 128) == 0 { report.devices.append(String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)) }
        }
        return report
    }
}

/// Host device nodes a job needs for GPU work: NVIDIA's control and per-GPU nodes, and DRM render/card nodes.
public enum GPUDeviceNodes {
    public static func present() -> [String] {
        var nodes: [String] = []
        let dev = (try? FileManager.default.contentsOfDirectory(atPath: "/dev")) ?? []
        nodes += dev.filter { $0.hasPrefix("nvidia") && !$0.hasSuffix("-caps") }.sorted().map { "/dev/" + $0 }
        let dri = (try? FileManager.default.contentsOfDirectory(atPath: "/dev/dri")) ?? []
        nodes += dri.filter { $0.hasPrefix("renderD") || $0.hasPrefix("card") }.sorted().map { "/dev/dri/" + $0 }
        return nodes.filter { path in
            var info = stat()
            return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFCHR
        }
    }
}
