import Foundation

/// Trial runs of the sandbox engines: each runs a trivial job and reports what happened.
enum EngineTrial {
    /// bwrap with the namespaces and unprivileged uid the plain sandbox uses, running the host's `true`.
    static func bubblewrap() -> HostProbe.EngineCheck {
        guard let path = HostTools.find("bwrap") else {
            return .init(name: "bwrap", path: nil, version: nil, works: false, detail: "not installed")
        }
        let version = (try? HostTools.run(path, ["--version"]))?.output.trimmingCharacters(in: .whitespacesAndNewlines)
            .split(separator: " ").last.map(String.init)
        let args = ["--unshare-all", "--uid", "65534", "--gid", "65534", "--cap-drop", "ALL", "--die-with-parent",
                    "--ro-bind", "/", "/", "--proc", "/proc", "--dev", "/dev", "--", "/bin/sh", "-c", "echo prism-probe-ok"]
        return check("bwrap", path, version, try? HostTools.run(path, args))
    }

    /// runc with a rootless spec over a one-file rootfs made from the host's static busybox.
    static func runc() -> HostProbe.EngineCheck {
        guard let path = HostTools.find("runc") else {
            return .init(name: "runc", path: nil, version: nil, works: false, detail: "not installed")
        }
        let version = (try? HostTools.run(path, ["--version"]))?.output.split(separator: "\n").first
            .flatMap { $0.split(separator: " ").last.map(String.init) }
        guard FileManager.default.fileExists(atPath: "/bin/busybox") else {
            return .init(name: "runc", path: path, version: version, works: false, detail: "not tried: no /bin/busybox for a trial rootfs")
        }
        let bundle = FileManager.default.temporaryDirectory.appendingPathComponent("prism-runc-\(UUID().uuidString)")
        defer { try? FileManager.default.removeItem(at: bundle) }
        do {
            try FileManager.default.createDirectory(at: bundle.appendingPathComponent("rootfs/bin"), withIntermediateDirectories: true)
            try FileManager.default.copyItem(atPath: "/bin/busybox", toPath: bundle.path + "/rootfs/bin/busybox")
            let spec = try HostTools.run(path, ["spec", "--rootless", "--bundle", bundle.path])
            guard spec.status == 0 else { return check("runc", path, version, spec) }
            let configURL = bundle.appendingPathComponent("config.json")
            guard var config = try JSONSerialization.jsonObject(with: Data(contentsOf: configURL)) as? [String: Any],
                  var process = config["process"] as? [String: Any] else {
                return .init(name: "runc", path: path, version: version, works: false, detail: "runc spec wrote no usable config.json")
            }
            process["terminal"] = false
            process["args"] = ["/bin/busybox", "echo", "prism-probe-ok"]
            config["process"] = process
            try JSONSerialization.data(withJSONObject: config).write(to: configURL)
            let state = bundle.appendingPathComponent("state").path
            return check("runc", path, version, try HostTools.run(path, ["--root", state, "run", "--bundle", bundle.path,
                                                                      "prism-probe-\(UUID().uuidString.prefix(8))"]))
        } catch {
            return .init(name: "runc", path: path, version: version, works: false, detail: "\(error)")
        }
    }

    private static func check(_ name: String, _ path: String, _ version: String?, _ result: (status: Int32, output: String)?) -> HostProbe.EngineCheck {
        guard let result else { return .init(name: name, path: path, version: version, works: false, detail: "could not start") }
        if result.status == 0 && result.output.contains("prism-probe-ok") {
            return .init(name: name, path: path, version: version, works: true, detail: "trial job ran")
        }
        let reason = result.output.split(separator: "\n").last.map(String.init) ?? ""
        return .init(name: name, path: path, version: version, works: false, detail: "exit \(result.status): \(reason)")
    }
}
