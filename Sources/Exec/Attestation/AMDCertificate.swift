import Crypto
import _CryptoExtras
import Foundation
import SwiftASN1

/// An X.509 certificate from AMD's key distribution service (ARK, ASK, ASVK, VCEK or VLEK),
/// split with SwiftASN1 into the parts attestation needs. Parsing checks structure only; trust comes from
/// ``CertificateChain``.
public struct AMDCertificate: Sendable {
    /// The whole certificate, DER.
    public let der: [UInt8]
    /// The DER `tbsCertificate`: the bytes the issuer signed.
    public let tbsDER: [UInt8]
    /// Dotted OID of the outer `signatureAlgorithm`.
    public let signatureAlgorithmOID: String
    /// RSASSA-PSS parameters when the algorithm is RSASSA-PSS.
    public let pssParameters: PSSParameters?
    /// The signature bits.
    public let signature: [UInt8]
    /// Serial number, big-endian bytes (VCEKs use 0).
    public let serialNumber: [UInt8]
    /// Issuer and subject common names (`ARK-Milan`, `SEV-Milan`, `SEV-VCEK`, ...).
    public let issuerCommonName: String?
    public let subjectCommonName: String?
    /// Validity window.
    public let notBefore: Date
    public let notAfter: Date
    /// DER SubjectPublicKeyInfo.
    public let subjectPublicKeyInfoDER: [UInt8]
    /// The subject's key: RSA for ARK/ASK/ASVK, EC P-384 for VCEK/VLEK.
    public let publicKey: PublicKey
    /// Extension values (the contents of `extnValue`) by dotted OID.
    public let extensions: [String: [UInt8]]

    /// A subject public key this code can use.
    public enum PublicKey: @unchecked Sendable {  // unchecked: swift-crypto keys are immutable values not yet marked Sendable
        case rsa(_RSA.Signing.PublicKey)
        case p384(P384.Signing.PublicKey)
        case unsupported(String)
    }

    /// The RSASSA-PSS-params of a signature (RFC 4055); nil fields were absent (their defaults are SHA-1).
    public struct PSSParameters: Sendable, Equatable {
        public let hashOID: String?
        public let maskGenHashOID: String?
        public let saltLength: Int?
    }

    static let rsassaPSS = "1.2.840.113549.1.1.10"
    static let sha384 = "2.16.840.1.101.3.4.2.2"
    static let rsaEncryption = "1.2.840.113549.1.1.1"
    static let ecPublicKey = "1.2.840.10045.2.1"
    static let secp384r1 = "1.3.132.0.34"
    static let commonName = "2.5.4.3"

    /// Parses one DER certificate.
    public init(der input: [UInt8]) throws {
        do {
            try self.init(strictDER: input)
        } catch let error as AttestationInputError {
            throw error
        } catch {
            // SwiftASN1 errors are multi-line and internal; name the failure in one line.
            throw AttestationInputError("certificate is malformed DER (\(String(describing: error).split(separator: "\n").first ?? ""))")
        }
    }

    private init(strictDER input: [UInt8]) throws {
        let root: ASN1Node
        do { root = try DER.parse(input) } catch {
            throw AttestationInputError("certificate is not valid DER (\(input.count) bytes)")
        }
        guard root.encodedBytes.count == input.count else {
            throw AttestationInputError("certificate has \(input.count - root.encodedBytes.count) trailing bytes after the DER")
        }
        let top = try Self.children(root, "Certificate", count: 3)
        let tbsNode = top[0]
        let tbs = try Self.children(tbsNode, "tbsCertificate")
        // Version [0] is optional; everything after it is positional.
        var i = 0
        if tbs.first?.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) { i = 1 }
        guard tbs.count >= i + 6 else { throw AttestationInputError("certificate tbsCertificate has \(tbs.count) fields, too few") }
        serialNumber = try Self.primitive(tbs[i], .integer, "serialNumber")
        let innerAlg = tbs[i + 1]
        issuerCommonName = try Self.commonName(tbs[i + 2])
        let validity = try Self.children(tbs[i + 3], "validity", count: 2)
        notBefore = try Self.time(validity[0])
        notAfter = try Self.time(validity[1])
        subjectCommonName = try Self.commonName(tbs[i + 4])
        let spki = tbs[i + 5]
        subjectPublicKeyInfoDER = Array(spki.encodedBytes)
        publicKey = try Self.publicKey(spki)

        var exts: [String: [UInt8]] = [:]
        for node in tbs[(i + 6)...] where node.identifier == ASN1Identifier(tagWithNumber: 3, tagClass: .contextSpecific) {
            let wrapper = try Self.children(node, "extensions", count: 1, tag: node.identifier)
            for ext in try Self.children(wrapper[0], "extensions") {
                let parts = try Self.children(ext, "extension")
                guard parts.count == 2 || parts.count == 3 else { throw AttestationInputError("certificate extension has \(parts.count) fields") }
                let oid = try Self.oid(parts[0], "extension id")
                exts[oid] = try Self.primitive(parts[parts.count - 1], .octetString, "extnValue")
            }
        }
        extensions = exts

        let (algOID, pss) = try Self.algorithm(top[1])
        guard innerAlg.encodedBytes == top[1].encodedBytes else {
            throw AttestationInputError("certificate's inner and outer signature algorithms differ")
        }
        signatureAlgorithmOID = algOID
        pssParameters = pss
        let bits: ASN1BitString
        do { bits = try ASN1BitString(derEncoded: top[2]) } catch {
            throw AttestationInputError("certificate signatureValue is not a BIT STRING")
        }
        guard bits.paddingBits == 0 else { throw AttestationInputError("certificate signatureValue is not whole bytes") }
        signature = Array(bits.bytes)
        tbsDER = Array(tbsNode.encodedBytes)
        der = input
    }

    /// Reads every certificate in a file: PEM (one or more `CERTIFICATE` blocks) or a single DER certificate.
    public static func loadAll(fileContents data: [UInt8], name: String) throws -> [AMDCertificate] {
        guard !data.isEmpty else { throw AttestationInputError("\(name) is empty") }
        let marker = "-----BEGIN CERTIFICATE-----"
        if let text = String(bytes: data, encoding: .utf8), text.contains(marker) {
            var certs: [AMDCertificate] = []
            for block in text.components(separatedBy: marker).dropFirst() {
                guard let end = block.range(of: "-----END CERTIFICATE-----") else {
                    throw AttestationInputError("\(name): PEM certificate block has no END line")
                }
                let body = block[..<end.lowerBound].filter { !$0.isWhitespace }
                guard let der = Data(base64Encoded: String(body)) else {
                    throw AttestationInputError("\(name): PEM certificate block is not valid base64")
                }
                do { certs.append(try AMDCertificate(der: Array(der))) } catch let e as AttestationInputError {
                    throw AttestationInputError("\(name): \(e.description)")
                }
            }
            return certs
        }
        guard data.first == 0x30 else { throw AttestationInputError("\(name) is neither a PEM nor a DER certificate") }
        do { return [try AMDCertificate(der: data)] } catch let e as AttestationInputError {
            throw AttestationInputError("\(name): \(e.description)")
        }
    }

    /// SHA-256 over the DER certificate, as pinned for the ARKs.
    public var sha256Fingerprint: [UInt8] { Array(SHA256.hash(data: der)) }

    /// Whether subject and issuer name the same entity (an ARK).
    public var isSelfIssued: Bool { issuerCommonName != nil && issuerCommonName == subjectCommonName }

    /// Whether `issuer`'s RSA key produced this certificate's RSASSA-PSS (SHA-384, MGF1-SHA-384, salt 48)
    /// signature over the tbsCertificate. Any other algorithm or parameter set is refused.
    public func isSigned(by issuer: AMDCertificate) -> Bool {
        guard case .rsa(let key) = issuer.publicKey, signatureAlgorithmOID == Self.rsassaPSS,
              let pss = pssParameters, pss.hashOID == Self.sha384, pss.maskGenHashOID == Self.sha384,
              pss.saltLength == nil || pss.saltLength == SHA384.byteCount else { return false }
        // _CryptoExtras' .PSS uses a salt as long as the digest: 48 bytes for SHA-384, as AMD signs.
        let signature = _RSA.Signing.RSASignature(rawRepresentation: self.signature)
        return key.isValidSignature(signature, for: SHA384.hash(data: tbsDER), padding: .PSS)
    }

    /// Whether the certificate is valid at `date` (inclusive bounds).
    public func isValid(at date: Date) -> Bool { notBefore <= date && date <= notAfter }

    // MARK: - DER walking

    /// The children of a constructed node, which must carry `tag` (SEQUENCE unless told otherwise).
    static func children(_ node: ASN1Node, _ what: String, count: Int? = nil, tag: ASN1Identifier = .sequence) throws -> [ASN1Node] {
        guard node.identifier == tag, case .constructed(let nodes) = node.content else {
            throw AttestationInputError("certificate \(what) is not an ASN.1 \(tag == .sequence ? "SEQUENCE" : tag == .set ? "SET" : "constructed value")")
        }
        let list = Array(nodes)
        if let count, list.count != count {
            throw AttestationInputError("certificate \(what) has \(list.count) fields, expected \(count)")
        }
        return list
    }

    static func primitive(_ node: ASN1Node, _ tag: ASN1Identifier, _ what: String) throws -> [UInt8] {
        guard node.identifier == tag, case .primitive(let bytes) = node.content else {
            throw AttestationInputError("certificate \(what) has the wrong ASN.1 type")
        }
        return Array(bytes)
    }

    static func oid(_ node: ASN1Node, _ what: String) throws -> String {
        do { return try ASN1ObjectIdentifier(derEncoded: node).description } catch {
            throw AttestationInputError("certificate \(what) is not an OBJECT IDENTIFIER")
        }
    }

    static func commonName(_ name: ASN1Node) throws -> String? {
        for rdn in try children(name, "name") {
            for attribute in try children(rdn, "name attribute set", tag: .set) {
                let pair = try children(attribute, "name attribute", count: 2)
                if try oid(pair[0], "name attribute type") == Self.commonName,
                   case .primitive(let value) = pair[1].content {
                    return String(decoding: value, as: UTF8.self)
                }
            }
        }
        return nil
    }

    static func time(_ node: ASN1Node) throws -> Date {
        let parts: (Int, Int, Int, Int, Int, Int)
        do {
            if node.identifier == .utcTime {
                let t = try UTCTime(derEncoded: node)
                parts = (t.year, t.month, t.day, t.hours, t.minutes, t.seconds)
            } else {
                let t = try GeneralizedTime(derEncoded: node)
                parts = (t.year, t.month, t.day, t.hours, t.minutes, t.seconds)
            }
        } catch {
            throw AttestationInputError("certificate validity time is malformed")
        }
        // Days since 1970-01-01 in the proleptic Gregorian calendar (H. Hinnant's days_from_civil).
        let (y0, m, d) = (parts.0, parts.1, parts.2)
        let y = m <= 2 ? y0 - 1 : y0
        let era = (y >= 0 ? y : y - 399) / 400
        let yoe = y - era * 400
        let doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        let days = era * 146097 + doe - 719468
        let seconds = days * 86400 + parts.3 * 3600 + parts.4 * 60 + parts.5
        return Date(timeIntervalSince1970: TimeInterval(seconds))
    }

    static func algorithm(_ node: ASN1Node) throws -> (String, PSSParameters?) {
        let parts = try children(node, "signatureAlgorithm")
        guard let first = parts.first else { throw AttestationInputError("certificate signatureAlgorithm is empty") }
        let algOID = try oid(first, "signature algorithm")
        guard algOID == rsassaPSS, parts.count == 2 else { return (algOID, nil) }
        var hash: String? = nil, mgfHash: String? = nil, salt: Int? = nil
        for field in try children(parts[1], "RSASSA-PSS-params") {
            guard field.identifier.tagClass == .contextSpecific else { continue }
            let inner = try children(field, "RSASSA-PSS-params field", count: 1, tag: field.identifier)[0]
            switch field.identifier.tagNumber {
            case 0:
                hash = try oid(try children(inner, "hashAlgorithm").first ?? inner, "hashAlgorithm")
            case 1:
                let mgf = try children(inner, "maskGenAlgorithm")
                guard mgf.count == 2 else { throw AttestationInputError("certificate maskGenAlgorithm is malformed") }
                mgfHash = try oid(try children(mgf[1], "MGF1 hash").first ?? mgf[1], "MGF1 hash")
            case 2:
                do { salt = try Int(derEncoded: inner) } catch {
                    throw AttestationInputError("certificate PSS saltLength is not an INTEGER")
                }
            default: continue
            }
        }
        return (algOID, PSSParameters(hashOID: hash, maskGenHashOID: mgfHash, saltLength: salt))
    }

    static func publicKey(_ spki: ASN1Node) throws -> PublicKey {
        let parts = try children(spki, "subjectPublicKeyInfo", count: 2)
        let alg = try children(parts[0], "SPKI algorithm")
        guard let first = alg.first else { throw AttestationInputError("certificate SPKI algorithm is empty") }
        let algOID = try oid(first, "SPKI algorithm")
        let keyBits: [UInt8]
        do { keyBits = Array(try ASN1BitString(derEncoded: parts[1]).bytes) } catch {
            throw AttestationInputError("certificate subjectPublicKey is not a BIT STRING")
        }
        switch algOID {
        case rsaEncryption, rsassaPSS:
            // Read n and e from RSAPublicKey ourselves: AMD labels the key RSASSA-PSS, which key parsers often refuse.
            let rsa: ASN1Node
            do { rsa = try DER.parse(keyBits) } catch { throw AttestationInputError("certificate RSA key is not DER") }
            let ne = try children(rsa, "RSAPublicKey", count: 2)
            let n = try primitive(ne[0], .integer, "RSA modulus")
            let e = try primitive(ne[1], .integer, "RSA exponent")
            do { return .rsa(try _RSA.Signing.PublicKey(n: n, e: e)) } catch {
                return .unsupported("RSA key refused: \(error)")
            }
        case ecPublicKey:
            let curve = alg.count == 2 ? try? oid(alg[1], "EC curve") : nil
            guard curve == secp384r1 else { return .unsupported("EC curve \(curve ?? "none")") }
            do { return .p384(try P384.Signing.PublicKey(derRepresentation: Array(spki.encodedBytes))) } catch {
                throw AttestationInputError("certificate P-384 public key is not a valid point")
            }
        default:
            return .unsupported(algOID)
        }
    }
}
