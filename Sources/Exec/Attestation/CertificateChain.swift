import Crypto
import Foundation

/// The AMD roots this verifier trusts, pinned by SHA-256 of the ARK certificate's DER.
/// Tests inject their own pins; production uses ``amd``.
public struct TrustAnchors: Sendable {
    /// Pinned ARK fingerprint for each product.
    public var pinnedARKs: [AMDProduct: [UInt8]]

    public init(pinnedARKs: [AMDProduct: [UInt8]]) { self.pinnedARKs = pinnedARKs }

    /// AMD's ARKs. Computed with `openssl x509 -noout -fingerprint -sha256` from the ark.pem files of
    /// virtee/sev `src/certs/snp/builtin/{milan,genoa,turin}` (byte-identical to go-sev-guest's `verify/trust`).
    public static let amd = TrustAnchors(pinnedARKs: [
        .milan: Bytes.fromHex("69d063b45344d26a2e94e1f4210de49ef555308287d4c174445c95639a540bcd")!,
        .genoa: Bytes.fromHex("4c6598d19c18719c5dfd4a7d335f674e5bfe1d8f800cea2cf270c10d103db2f1")!,
        .turin: Bytes.fromHex("1f084161a44bb6d93778a904877d4819cafa5d05ef4193b2ded9dd9c73dd3f6a")!,
    ])

    /// The product whose pinned ARK is `certificate`, if any.
    public func product(pinning certificate: AMDCertificate) -> AMDProduct? {
        let fingerprint = certificate.sha256Fingerprint
        return pinnedARKs.first { $0.value == fingerprint }?.key
    }
}

/// The certificates that endorse a report: the leaf (VCEK or VLEK), its signer (ASK or ASVK) and the ARK.
public struct CertificateChain: Sendable {
    /// The key that signed the report.
    public let leaf: AMDCertificate
    /// The ASK (for a VCEK) or ASVK (for a VLEK), if one was supplied.
    public let intermediate: AMDCertificate?
    /// The self-issued AMD root, if one was supplied.
    public let root: AMDCertificate?

    /// Whether the leaf is a VLEK (its subject or issuer says so) rather than a VCEK.
    public var leafIsVLEK: Bool {
        (leaf.subjectCommonName ?? "").contains("VLEK") || (leaf.issuerCommonName ?? "").contains("VLEK")
    }

    /// Picks the leaf from `leafFile` (its first certificate) and the ASK/ASVK and ARK from all supplied certificates:
    /// the ARK is the self-issued one, the intermediate the one the leaf names as issuer (else the first other).
    public init(leafFile: [AMDCertificate], chainFile: [AMDCertificate]) throws {
        guard let leaf = leafFile.first else { throw AttestationInputError("no VCEK/VLEK certificate given") }
        self.leaf = leaf
        let pool = (Array(leafFile.dropFirst()) + chainFile).filter { $0.der != leaf.der }
        root = pool.first { $0.isSelfIssued }
        let intermediates = pool.filter { !$0.isSelfIssued }
        intermediate = intermediates.first { $0.subjectCommonName == leaf.issuerCommonName } ?? intermediates.first
    }

    /// Builds a chain from parts already chosen.
    public init(leaf: AMDCertificate, intermediate: AMDCertificate?, root: AMDCertificate?) {
        self.leaf = leaf
        self.intermediate = intermediate
        self.root = root
    }

    /// Runs the chain checks, each a named step: ARK pinned, ARK self-signed, ARK→ASK/ASVK, ASK/ASVK→VCEK/VLEK,
    /// and every certificate valid at `date`. Returns the checks and the product the pinned ARK names.
    public func verify(anchors: TrustAnchors, at date: Date) -> (checks: [VerificationCheck], product: AMDProduct?) {
        var checks: [VerificationCheck] = []
        let (mid, leafName) = leafIsVLEK ? ("asvk", "vlek") : ("ask", "vcek")
        var product: AMDProduct? = nil
        if let root {
            product = anchors.product(pinning: root)
            let cn = root.subjectCommonName ?? "?"
            let fp = Bytes.hex(root.sha256Fingerprint)
            checks.append(.init(name: "ark_pinned", ok: product != nil,
                                detail: product.map { "\(cn) matches the pinned \($0.rawValue) ARK sha256 \(fp)" }
                                    ?? "\(cn) sha256 \(fp) is not a pinned AMD root"))
            let selfSigned = root.isSigned(by: root)
            checks.append(.init(name: "ark_self_signed", ok: selfSigned,
                                detail: selfSigned ? "\(cn) RSASSA-PSS SHA-384 self-signature verifies" : "\(cn) self-signature does not verify"))
        } else {
            checks.append(.init(name: "ark_pinned", ok: false, detail: "no self-issued ARK among the certificates"))
            checks.append(.init(name: "ark_self_signed", ok: false, detail: "no ARK"))
        }
        if let intermediate, let root {
            let ok = intermediate.isSigned(by: root)
            checks.append(.init(name: "\(mid)_signed_by_ark", ok: ok,
                                detail: "\(intermediate.subjectCommonName ?? "?") by \(root.subjectCommonName ?? "?"): " + (ok ? "signature verifies" : "signature does not verify")))
        } else {
            checks.append(.init(name: "\(mid)_signed_by_ark", ok: false, detail: intermediate == nil ? "no \(mid.uppercased()) certificate" : "no ARK"))
        }
        if let intermediate {
            let ok = leaf.isSigned(by: intermediate)
            checks.append(.init(name: "\(leafName)_signed_by_\(mid)", ok: ok,
                                detail: "\(leaf.subjectCommonName ?? "?") (issuer \(leaf.issuerCommonName ?? "?")) by \(intermediate.subjectCommonName ?? "?"): " + (ok ? "signature verifies" : "signature does not verify")))
        } else {
            checks.append(.init(name: "\(leafName)_signed_by_\(mid)", ok: false, detail: "no \(mid.uppercased()) certificate"))
        }
        let all = [leaf, intermediate, root].compactMap { $0 }
        let expired = all.filter { !$0.isValid(at: date) }
        let iso = ISO8601DateFormatter()
        let stamp = iso.string(from: date)
        checks.append(.init(name: "certificates_valid", ok: expired.isEmpty,
                            detail: expired.isEmpty ? "all \(all.count) certificates valid at \(stamp)"
                                : expired.map { "\($0.subjectCommonName ?? "?") valid \(iso.string(from: $0.notBefore))..\(iso.string(from: $0.notAfter)), not at \(stamp)" }.joined(separator: "; ")))
        if product == nil { product = leaf.issuerCommonName.flatMap(AMDProduct.from(commonName:)) }
        return (checks, product)
    }
}
