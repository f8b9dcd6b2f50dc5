//! Sprig's certificate functions made deterministic: `genPrivateKey`, `genCA`, `genCAWithKey`,
//! `genSelfSignedCert`, `genSelfSignedCertWithKey`, `genSignedCert`, `genSignedCertWithKey` and
//! `buildCustomCert`.
//!
//! Key material and serial numbers come from a keyed stream (SHA-256 of the render's seed, the
//! draw number and a block counter, one draw per call), validity starts at the render's clock,
//! and every signature scheme used is deterministic (RSA PKCS#1 v1.5 with SHA-256, ECDSA P-256
//! with RFC 6979 nonces, Ed25519), so the same seed and clock give byte-identical PEM. The
//! certificates have the layout Go's `x509.CreateCertificate` gives Sprig's templates: the
//! common name as the only subject attribute, key usage, server and client extended key usage,
//! basic constraints, a subject key identifier on CAs (truncated SHA-256), an authority key
//! identifier on signed certificates, and IP and DNS subject alternative names.

use super::super::Ctx;
use crate::value::{Map, Object, Value};
use base64::Engine as _;
use rsa::pkcs1::{DecodeRsaPrivateKey as _, EncodeRsaPrivateKey as _};
use rsa::pkcs8::{DecodePrivateKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use sha2::Digest as _;
use std::convert::Infallible;
use std::net::IpAddr;
use std::rc::Rc;
use x509_cert::der::{Decode as _, Encode as _};

/// Sprig's RSA size for certificates it makes a key for.
const CERT_RSA_BITS: usize = 2048;
/// Sprig's RSA size for `genPrivateKey "rsa"`.
const PRIVATE_KEY_RSA_BITS: usize = 4096;

/// The byte stream of one draw (the random functions' construction under its own label),
/// usable as a random number generator by the key generators.
#[derive(Debug)]
struct KeyStream(super::random::Stream);

impl KeyStream {
    /// The stream of the render's next draw.
    fn new(ctx: &mut Ctx) -> KeyStream {
        KeyStream(super::random::Stream::labelled(
            ctx,
            b"gatehouse-render certs v1",
        ))
    }

    fn byte(&mut self) -> u8 {
        self.0.byte()
    }

    fn bytes<const N: usize>(&mut self) -> [u8; N] {
        let mut out = [0; N];
        self.fill(&mut out);
        out
    }

    fn fill(&mut self, dst: &mut [u8]) {
        for b in dst {
            *b = self.byte();
        }
    }
}

impl rand_core::TryRng for KeyStream {
    type Error = Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok(u32::from_le_bytes(self.bytes()))
    }

    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        Ok(u64::from_le_bytes(self.bytes()))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        self.fill(dst);
        Ok(())
    }
}

impl rand_core::TryCryptoRng for KeyStream {}

/// A private key of one of the kinds Sprig makes or accepts.
enum Key {
    Rsa(Box<rsa::PrivateKey>),
    Ec(p256::SecretKey),
    Ed(ed25519_dalek::SigningKey),
}

impl Key {
    fn rsa(stream: &mut KeyStream, bits: usize) -> Result<Key, String> {
        rsa::PrivateKey::new(stream, bits)
            .map(|k| Key::Rsa(Box::new(k)))
            .map_err(|e| format!("failed to generate private key: {e}"))
    }

    fn ecdsa(stream: &mut KeyStream) -> Key {
        Key::Ec(<p256::SecretKey as p256::elliptic_curve::Generate>::generate_from_rng(stream))
    }

    fn ed25519(stream: &mut KeyStream) -> Key {
        Key::Ed(ed25519_dalek::SigningKey::from_bytes(&stream.bytes()))
    }

    /// The DER `SubjectPublicKeyInfo` of the key's public half.
    fn spki(&self) -> Result<Vec<u8>, String> {
        let doc = match self {
            Key::Rsa(k) => k.to_public_key().to_public_key_der(),
            Key::Ec(k) => k.public_key().to_public_key_der(),
            Key::Ed(k) => k.verifying_key().to_public_key_der(),
        };
        doc.map(|d| d.as_bytes().to_vec())
            .map_err(|e| format!("x509: {e}"))
    }

    /// The key as Go's `pemBlockForKey` writes it: PKCS#1 for RSA, SEC 1 for ECDSA, PKCS#8
    /// (version 1, no public key) for Ed25519.
    fn pem(&self) -> Result<String, String> {
        let fail = |e: &dyn std::fmt::Display| format!("failed to encode private key: {e}");
        Ok(match self {
            Key::Rsa(k) => {
                let der = k.to_pkcs1_der().map_err(|e| fail(&e))?;
                pem_encode("RSA PRIVATE KEY", der.as_bytes())
            }
            Key::Ec(k) => {
                let der = k.to_sec1_der().map_err(|e| fail(&e))?;
                pem_encode("EC PRIVATE KEY", &der)
            }
            Key::Ed(k) => {
                let pair = ed25519_dalek::pkcs8::KeypairBytes {
                    secret_key: k.to_bytes(),
                    public_key: None,
                };
                let der = pair.to_pkcs8_der().map_err(|e| fail(&e))?;
                pem_encode("PRIVATE KEY", der.as_bytes())
            }
        })
    }

    /// The DER `AlgorithmIdentifier` of the key's signatures, as Go picks it.
    fn signature_algorithm(&self) -> Vec<u8> {
        match self {
            // sha256WithRSAEncryption, NULL parameters.
            Key::Rsa(_) => seq(&[
                &[
                    0x06, 0x09, 0x2A, 0x86, 0x48, 0x86, 0xF7, 0x0D, 0x01, 0x01, 0x0B,
                ],
                &[0x05, 0x00],
            ]),
            // ecdsa-with-SHA256.
            Key::Ec(_) => seq(&[&[0x06, 0x08, 0x2A, 0x86, 0x48, 0xCE, 0x3D, 0x04, 0x03, 0x02]]),
            // Ed25519.
            Key::Ed(_) => seq(&[&[0x06, 0x03, 0x2B, 0x65, 0x70]]),
        }
    }

    /// A deterministic signature over `msg`.
    fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, String> {
        use rsa::signature::{SignatureEncoding as _, Signer as _};
        let fail = |e: &dyn std::fmt::Display| format!("x509: signature failed: {e}");
        match self {
            Key::Rsa(k) => {
                let signer = rsa::pkcs1v15::SigningKey::<rsa::sha2::Sha256>::new((**k).clone());
                let sig = signer.try_sign(msg).map_err(|e| fail(&e))?;
                Ok(sig.to_vec())
            }
            Key::Ec(k) => {
                let signer = p256::ecdsa::SigningKey::from(k);
                let sig: p256::ecdsa::DerSignature = signer.try_sign(msg).map_err(|e| fail(&e))?;
                Ok(sig.to_vec())
            }
            Key::Ed(k) => Ok(k.sign(msg).to_bytes().to_vec()),
        }
    }
}

/// Go's `parsePrivateKeyPEM`: PKCS#8, or PKCS#1 / SEC 1 by the PEM type.
fn parse_key(pem: &str) -> Result<Key, String> {
    let Some((label, der)) = pem_decode(pem) else {
        return Err("no PEM data in input".to_owned());
    };
    if label == "PRIVATE KEY" {
        if let Ok(k) = rsa::PrivateKey::from_pkcs8_der(&der) {
            return Ok(Key::Rsa(Box::new(k)));
        }
        if let Ok(k) = p256::SecretKey::from_pkcs8_der(&der) {
            return Ok(Key::Ec(k));
        }
        return ed25519_dalek::SigningKey::from_pkcs8_der(&der)
            .map(Key::Ed)
            .map_err(|e| format!("decoding PEM as PKCS#8: {e}"));
    }
    let Some(kind) = label.strip_suffix(" PRIVATE KEY") else {
        return Err(format!("no private key data in PEM block of type {label}"));
    };
    match kind {
        "RSA" => rsa::PrivateKey::from_pkcs1_der(&der)
            .map(|k| Key::Rsa(Box::new(k)))
            .map_err(|e| format!("parsing RSA private key from PEM: {e}")),
        "EC" => p256::SecretKey::from_sec1_der(&der)
            .map(Key::Ec)
            .map_err(|e| format!("parsing EC private key from PEM: {e}")),
        _ => Err(format!("invalid private key type {label}")),
    }
}

/// Go's `pem.Encode`: base64 in lines of 64 characters between BEGIN and END lines.
fn pem_encode(label: &str, der: &[u8]) -> String {
    let b64 = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(line));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// The first PEM block in `text`: its label and decoded bytes (Go's `pem.Decode`, without
/// headers).
fn pem_decode(text: &str) -> Option<(String, Vec<u8>)> {
    let start = text.find("-----BEGIN ")?;
    let rest = text.get(start + "-----BEGIN ".len()..)?;
    let label_end = rest.find("-----")?;
    let label = rest.get(..label_end)?.to_owned();
    let body = rest.get(label_end + 5..)?;
    let end = body.find(&format!("-----END {label}-----"))?;
    let b64: String = body
        .get(..end)?
        .chars()
        .filter(|c| !c.is_ascii_whitespace())
        .collect();
    let der = base64::engine::general_purpose::STANDARD
        .decode(b64.as_bytes())
        .ok()?;
    Some((label, der))
}

/// A DER TLV.
fn tlv(tag: u8, content: &[u8]) -> Vec<u8> {
    let mut out = vec![tag];
    let len = content.len();
    if len < 0x80 {
        out.push(u8::try_from(len).unwrap_or(0));
    } else {
        let bytes = len.to_be_bytes();
        let skip = bytes.iter().take_while(|b| **b == 0).count();
        let significant = bytes.get(skip..).unwrap_or(&[]);
        out.push(0x80 | u8::try_from(significant.len()).unwrap_or(0));
        out.extend_from_slice(significant);
    }
    out.extend_from_slice(content);
    out
}

/// A DER SEQUENCE of already-encoded parts.
fn seq(parts: &[&[u8]]) -> Vec<u8> {
    tlv(0x30, &parts.concat())
}

/// One extension: OID, critical flag when set, and the DER value.
fn extension(oid: &[u8], critical: bool, value: &[u8]) -> Vec<u8> {
    let crit: &[u8] = if critical { &[0x01, 0x01, 0xFF] } else { &[] };
    seq(&[oid, crit, &tlv(0x04, value)])
}

/// Go's ASN.1 `PrintableString` alphabet (asterisk and ampersand excluded).
fn printable(s: &str) -> bool {
    s.bytes().all(|b| {
        b.is_ascii_alphanumeric()
            || (b'\''..=b')').contains(&b)
            || (b'+'..=b'/').contains(&b)
            || matches!(b, b' ' | b':' | b'=' | b'?')
    })
}

/// The DER name holding just the common name `cn` (empty when `cn` is).
fn name(cn: &str) -> Vec<u8> {
    if cn.is_empty() {
        return seq(&[]);
    }
    let tag = if printable(cn) { 0x13 } else { 0x0C };
    let atv = seq(&[&[0x06, 0x03, 0x55, 0x04, 0x03], &tlv(tag, cn.as_bytes())]);
    seq(&[&tlv(0x31, &atv)])
}

/// The DER time Go writes: UTCTime for 1950 to 2049, GeneralizedTime otherwise.
fn time(unix: i64) -> Result<Vec<u8>, String> {
    let invalid = || "x509: certificate validity is out of range".to_owned();
    let secs = u64::try_from(unix).map_err(|_| invalid())?;
    let dt = x509_cert::der::DateTime::from_unix_duration(std::time::Duration::from_secs(secs))
        .map_err(|_| invalid())?;
    x509_cert::time::Time::from(dt)
        .to_der()
        .map_err(|_| invalid())
}

/// The subjectPublicKey bits of a DER `SubjectPublicKeyInfo`.
fn public_key_bits(spki: &[u8]) -> Result<Vec<u8>, String> {
    let info = x509_cert::spki::SubjectPublicKeyInfoOwned::from_der(spki)
        .map_err(|e| format!("x509: {e}"))?;
    Ok(info.subject_public_key.raw_bytes().to_vec())
}

/// What Sprig's `getBaseCertTemplate` and the CA override put in a certificate.
struct Template {
    cn: String,
    ips: Vec<IpAddr>,
    dns: Vec<String>,
    days: i64,
    is_ca: bool,
}

/// The issuing side: its subject, public key and subject key identifier, and its signing key.
struct Issuer<'a> {
    subject: Vec<u8>,
    spki: Vec<u8>,
    key_id: Option<Vec<u8>>,
    key: &'a Key,
}

/// Go's `x509.CreateCertificate` for Sprig's templates, as a PEM `CERTIFICATE`.
fn create(
    ctx: &Ctx,
    stream: &mut KeyStream,
    t: &Template,
    subject_key: &Key,
    issuer: Option<&Issuer<'_>>,
) -> Result<String, String> {
    let spki = subject_key.spki()?;
    let subject = name(&t.cn);
    let (issuer_name, signer, issuer_key_id) = match issuer {
        Some(i) => {
            if i.key.spki()? != i.spki {
                return Err("x509: provided PrivateKey doesn't match parent's PublicKey".to_owned());
            }
            (i.subject.clone(), i.key, i.key_id.clone())
        }
        None => (subject.clone(), subject_key, None),
    };

    let serial: [u8; 16] = stream.bytes();
    let trimmed: Vec<u8> = serial.iter().copied().skip_while(|b| *b == 0).collect();
    let mut serial_int = Vec::with_capacity(17);
    if trimmed.first().is_none_or(|b| *b & 0x80 != 0) {
        serial_int.push(0);
    }
    serial_int.extend_from_slice(&trimmed);

    let not_after = t
        .days
        .checked_mul(86_400)
        .and_then(|d| ctx.now.checked_add(d))
        .ok_or_else(|| "x509: certificate validity is out of range".to_owned())?;
    let validity = seq(&[&time(ctx.now)?, &time(not_after)?]);

    let mut exts: Vec<Vec<u8>> = Vec::new();
    let key_usage: &[u8] = if t.is_ca {
        &[0x03, 0x02, 0x02, 0xA4]
    } else {
        &[0x03, 0x02, 0x05, 0xA0]
    };
    exts.push(extension(&[0x06, 0x03, 0x55, 0x1D, 0x0F], true, key_usage));
    let eku = seq(&[
        &[0x06, 0x08, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x01],
        &[0x06, 0x08, 0x2B, 0x06, 0x01, 0x05, 0x05, 0x07, 0x03, 0x02],
    ]);
    exts.push(extension(&[0x06, 0x03, 0x55, 0x1D, 0x25], false, &eku));
    let basic: &[u8] = if t.is_ca {
        &[0x30, 0x03, 0x01, 0x01, 0xFF]
    } else {
        &[0x30, 0x00]
    };
    exts.push(extension(&[0x06, 0x03, 0x55, 0x1D, 0x13], true, basic));
    if t.is_ca {
        let digest = sha2::Sha256::digest(public_key_bits(&spki)?);
        let id = digest.get(..20).unwrap_or(&[]);
        exts.push(extension(
            &[0x06, 0x03, 0x55, 0x1D, 0x0E],
            false,
            &tlv(0x04, id),
        ));
    }
    if let Some(id) = issuer_key_id.filter(|_| issuer_name != subject) {
        let aki = seq(&[&tlv(0x80, &id)]);
        exts.push(extension(&[0x06, 0x03, 0x55, 0x1D, 0x23], false, &aki));
    }
    if !t.dns.is_empty() || !t.ips.is_empty() {
        let mut names = Vec::new();
        for d in &t.dns {
            if !d.is_ascii() {
                return Err(format!("x509: {d:?} cannot be encoded as an IA5String"));
            }
            names.extend(tlv(0x82, d.as_bytes()));
        }
        for ip in &t.ips {
            let raw = match ip {
                IpAddr::V4(v4) => v4.octets().to_vec(),
                IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
                    Some(v4) => v4.octets().to_vec(),
                    None => v6.octets().to_vec(),
                },
            };
            names.extend(tlv(0x87, &raw));
        }
        let critical = t.cn.is_empty();
        exts.push(extension(
            &[0x06, 0x03, 0x55, 0x1D, 0x11],
            critical,
            &tlv(0x30, &names),
        ));
    }

    let alg = signer.signature_algorithm();
    let tbs = seq(&[
        &[0xA0, 0x03, 0x02, 0x01, 0x02],
        &tlv(0x02, &serial_int),
        &alg,
        &issuer_name,
        &validity,
        &subject,
        &spki,
        &tlv(0xA3, &tlv(0x30, &exts.concat())),
    ]);
    let signature = signer.sign(&tbs)?;
    let mut bits = vec![0];
    bits.extend_from_slice(&signature);
    let cert = seq(&[&tbs, &alg, &tlv(0x03, &bits)]);
    Ok(pem_encode("CERTIFICATE", &cert))
}

/// The object Sprig's certificate functions return: `.Cert` and `.Key`, both PEM.
#[derive(Debug)]
struct Certificate {
    cert: Rc<str>,
    key: Rc<str>,
}

impl Object for Certificate {
    fn type_name(&self) -> &str {
        "sprig.certificate"
    }

    fn field(&self, name: &str) -> Option<Value> {
        match name {
            "Cert" => Some(Value::Str(self.cert.clone())),
            "Key" => Some(Value::Str(self.key.clone())),
            _ => None,
        }
    }

    fn plain(&self) -> Value {
        let m = Map::new();
        m.insert("Cert", Value::Str(self.cert.clone()));
        m.insert("Key", Value::Str(self.key.clone()));
        Value::Map(m)
    }
}

fn certificate(cert: String, key: String) -> Value {
    Value::Object(Rc::new(Certificate {
        cert: cert.into(),
        key: key.into(),
    }))
}

/// Exactly `N` arguments, as Go's template call checks them.
fn arity<'a, const N: usize>(name: &str, args: &'a [Value]) -> Result<&'a [Value; N], String> {
    args.try_into().map_err(|_| {
        format!(
            "wrong number of args for {name}: want {N} got {}",
            args.len()
        )
    })
}

fn wrong_type(expected: &str, v: &Value) -> String {
    if v.is_nil() {
        return format!("invalid value; expected {expected}");
    }
    format!(
        "wrong type for value; expected {expected}; got {}",
        v.type_name()
    )
}

/// A `string` parameter.
fn string_arg(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| wrong_type("string", v))
}

/// An `int` parameter (float64 values from YAML are refused, as Go refuses them).
fn int_arg(v: &Value) -> Result<i64, String> {
    match v {
        Value::Int(i) => Ok(*i),
        _ => Err(wrong_type("int", v)),
    }
}

/// A `[]interface{}` parameter; nil is an empty list.
fn list_arg(v: &Value) -> Result<&[Value], String> {
    match v {
        Value::Nil => Ok(&[]),
        other => other
            .as_list()
            .ok_or_else(|| wrong_type("[]interface {}", other)),
    }
}

/// Sprig's `getNetIPs`.
fn ips_arg(v: &Value) -> Result<Vec<IpAddr>, String> {
    list_arg(v)?
        .iter()
        .map(|ip| {
            let Some(s) = ip.as_str() else {
                return Err(format!(
                    "error parsing ip: {} is not a string",
                    ip.go_string()
                ));
            };
            s.parse().map_err(|_| format!("error parsing ip: {s}"))
        })
        .collect()
}

/// Sprig's `getAlternateDNSStrs`.
fn dns_arg(v: &Value) -> Result<Vec<String>, String> {
    list_arg(v)?
        .iter()
        .map(|d| {
            d.as_str().map(str::to_owned).ok_or_else(|| {
                format!(
                    "error processing alternate dns name: {} is not a string",
                    d.go_string()
                )
            })
        })
        .collect()
}

/// A `certificate` parameter: its PEM certificate and key.
fn ca_arg(v: &Value) -> Result<(String, String), String> {
    let expected = "sprig.certificate";
    let Value::Object(o) = v else {
        return Err(wrong_type(expected, v));
    };
    if o.type_name() != expected {
        return Err(format!(
            "wrong type for value; expected {expected}; got {}",
            o.type_name()
        ));
    }
    let field = |n: &str| o.field(n).map(|f| f.go_string()).unwrap_or_default();
    Ok((field("Cert"), field("Key")))
}

/// Builds a certificate for `t` with `key` (or a fresh 2048-bit RSA key), signed by `ca` or
/// self-signed.
fn issue(
    ctx: &mut Ctx,
    t: &Template,
    key: Option<Key>,
    ca: Option<(&str, &str)>,
) -> Result<Value, String> {
    let mut stream = KeyStream::new(ctx);
    let key = match key {
        Some(k) => k,
        None => Key::rsa(&mut stream, CERT_RSA_BITS)?,
    };
    let cert = match ca {
        None => create(ctx, &mut stream, t, &key, None)?,
        Some((ca_cert, ca_key)) => {
            let (_, der) =
                pem_decode(ca_cert).ok_or_else(|| "unable to decode certificate".to_owned())?;
            let parsed = x509_cert::Certificate::from_der(&der)
                .map_err(|e| format!("error parsing certificate: decodedSignerCert.Bytes: {e}"))?;
            let signer =
                parse_key(ca_key).map_err(|e| format!("error parsing private key: {e}"))?;
            let tbs = parsed.tbs_certificate();
            let subject = tbs.subject().to_der().map_err(|e| format!("x509: {e}"))?;
            let spki = tbs
                .subject_public_key_info()
                .to_der()
                .map_err(|e| format!("x509: {e}"))?;
            let key_id = tbs.extensions().and_then(|exts| {
                exts.iter()
                    .find(|e| {
                        e.extn_id == x509_cert::der::oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER
                    })
                    .and_then(|e| {
                        x509_cert::der::asn1::OctetString::from_der(e.extn_value.as_bytes()).ok()
                    })
                    .map(|o| o.as_bytes().to_vec())
            });
            let issuer = Issuer {
                subject,
                spki,
                key_id,
                key: &signer,
            };
            create(ctx, &mut stream, t, &key, Some(&issuer))?
        }
    };
    Ok(certificate(cert, key.pem()?))
}

fn ca_template(cn: &str, days: i64) -> Template {
    Template {
        cn: cn.to_owned(),
        ips: Vec::new(),
        dns: Vec::new(),
        days,
        is_ca: true,
    }
}

fn leaf_template(cn: &Value, ips: &Value, dns: &Value, days: &Value) -> Result<Template, String> {
    let cn = string_arg(cn)?.to_owned();
    let days = int_arg(days)?;
    Ok(Template {
        cn,
        ips: ips_arg(ips)?,
        dns: dns_arg(dns)?,
        days,
        is_ca: false,
    })
}

/// `genPrivateKey TYPE`: a PEM private key, `rsa` (4096-bit, also for an empty type), `ecdsa`
/// (P-256) or `ed25519`. An unknown type gives Sprig's `Unknown type TYPE` string.
pub(super) fn gen_private_key(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let [typ] = arity("genPrivateKey", args)?;
    let typ = string_arg(typ)?;
    let key = match typ {
        "" | "rsa" => Key::rsa(&mut KeyStream::new(ctx), PRIVATE_KEY_RSA_BITS)?,
        "ecdsa" => Key::ecdsa(&mut KeyStream::new(ctx)),
        "ed25519" => Key::ed25519(&mut KeyStream::new(ctx)),
        "dsa" => return Err("genPrivateKey: dsa keys are not supported".to_owned()),
        other => return Ok(Value::from(format!("Unknown type {other}"))),
    };
    Ok(Value::from(key.pem()?))
}

/// `genCA CN DAYS`: a self-signed CA certificate with a new 2048-bit RSA key.
pub(super) fn gen_ca(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let [cn, days] = arity("genCA", args)?;
    let t = ca_template(string_arg(cn)?, int_arg(days)?);
    issue(ctx, &t, None, None)
}

/// `genCAWithKey CN DAYS KEY`: a self-signed CA certificate for the PEM private key `KEY`.
pub(super) fn gen_ca_with_key(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let [cn, days, key] = arity("genCAWithKey", args)?;
    let t = ca_template(string_arg(cn)?, int_arg(days)?);
    let key = parse_key(string_arg(key)?).map_err(|e| format!("parsing private key: {e}"))?;
    issue(ctx, &t, Some(key), None)
}

/// `genSelfSignedCert CN IPS DNS DAYS`: a self-signed certificate with a new RSA key.
pub(super) fn gen_self_signed_cert(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let [cn, ips, dns, days] = arity("genSelfSignedCert", args)?;
    let t = leaf_template(cn, ips, dns, days)?;
    issue(ctx, &t, None, None)
}

/// `genSelfSignedCertWithKey CN IPS DNS DAYS KEY`: a self-signed certificate for `KEY`.
pub(super) fn gen_self_signed_cert_with_key(
    ctx: &mut Ctx,
    args: &[Value],
) -> Result<Value, String> {
    let [cn, ips, dns, days, key] = arity("genSelfSignedCertWithKey", args)?;
    let t = leaf_template(cn, ips, dns, days)?;
    let key = parse_key(string_arg(key)?).map_err(|e| format!("parsing private key: {e}"))?;
    issue(ctx, &t, Some(key), None)
}

/// `genSignedCert CN IPS DNS DAYS CA`: a certificate with a new RSA key, signed by `CA`.
pub(super) fn gen_signed_cert(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let [cn, ips, dns, days, ca] = arity("genSignedCert", args)?;
    let t = leaf_template(cn, ips, dns, days)?;
    let (ca_cert, ca_key) = ca_arg(ca)?;
    issue(ctx, &t, None, Some((&ca_cert, &ca_key)))
}

/// `genSignedCertWithKey CN IPS DNS DAYS CA KEY`: a certificate for `KEY`, signed by `CA`.
pub(super) fn gen_signed_cert_with_key(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let [cn, ips, dns, days, ca, key] = arity("genSignedCertWithKey", args)?;
    let t = leaf_template(cn, ips, dns, days)?;
    let (ca_cert, ca_key) = ca_arg(ca)?;
    let key = parse_key(string_arg(key)?).map_err(|e| format!("parsing private key: {e}"))?;
    issue(ctx, &t, Some(key), Some((&ca_cert, &ca_key)))
}

/// `buildCustomCert B64CERT B64KEY`: a certificate object from base64-encoded PEM, checked the
/// way Sprig checks it.
pub(super) fn build_custom_cert(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let [cert, key] = arity("buildCustomCert", args)?;
    let b64 = base64::engine::general_purpose::STANDARD;
    let cert = b64
        .decode(string_arg(cert)?)
        .map_err(|_| "unable to decode base64 certificate".to_owned())?;
    let key = b64
        .decode(string_arg(key)?)
        .map_err(|_| "unable to decode base64 private key".to_owned())?;
    let cert = String::from_utf8_lossy(&cert).into_owned();
    let key = String::from_utf8_lossy(&key).into_owned();
    let (_, der) = pem_decode(&cert).ok_or_else(|| "unable to decode certificate".to_owned())?;
    x509_cert::Certificate::from_der(&der)
        .map_err(|e| format!("error parsing certificate: decodedCert.Bytes: {e}"))?;
    parse_key(&key).map_err(|e| format!("error parsing private key: {e}"))?;
    Ok(certificate(cert, key))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rsa::signature::Verifier as _;
    use x509_cert::der::oid::db::rfc5280::ID_CE_SUBJECT_ALT_NAME;
    use x509_cert::ext::pkix::SubjectAltName;
    use x509_cert::ext::pkix::name::GeneralName;

    const NOW: i64 = 1_700_000_000;

    fn ctx(seed: u8) -> Ctx {
        Ctx::new([seed; 32], NOW)
    }

    fn fields(v: &Value) -> (String, String) {
        let Value::Object(o) = v else {
            panic!("not a certificate: {v:?}")
        };
        assert_eq!(o.type_name(), "sprig.certificate");
        let get = |n: &str| o.field(n).unwrap().as_str().unwrap().to_owned();
        (get("Cert"), get("Key"))
    }

    fn parse(pem: &str) -> x509_cert::Certificate {
        let (label, der) = pem_decode(pem).unwrap();
        assert_eq!(label, "CERTIFICATE");
        x509_cert::Certificate::from_der(&der).unwrap()
    }

    fn list(items: &[&str]) -> Value {
        Value::List(Rc::new(items.iter().map(Value::str).collect()))
    }

    /// Runs `openssl verify` on the chain when openssl is installed.
    fn openssl_verify(ca: &str, cert: &str) {
        let Ok(out) = std::process::Command::new("openssl")
            .arg("version")
            .output()
        else {
            return;
        };
        assert!(out.status.success());
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("ca.pem"), ca).unwrap();
        std::fs::write(dir.path().join("cert.pem"), cert).unwrap();
        let out = std::process::Command::new("openssl")
            .args([
                "verify",
                "-attime",
                "1700000060",
                "-CAfile",
                "ca.pem",
                "cert.pem",
            ])
            .current_dir(dir.path())
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success() && stdout.contains("cert.pem: OK"),
            "{stdout} {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    #[test]
    fn certs_rsa_chain_is_deterministic_and_verifies() {
        let render = |seed: u8| {
            let mut c = ctx(seed);
            let ca = gen_ca(&mut c, &[Value::str("my-ca"), Value::Int(365)]).unwrap();
            let leaf = gen_signed_cert(
                &mut c,
                &[
                    Value::str("svc.ns"),
                    list(&["10.0.0.1"]),
                    list(&["a.b", "svc.ns.svc"]),
                    Value::Int(30),
                    ca.clone(),
                ],
            )
            .unwrap();
            assert_eq!(c.draws, 2);
            (fields(&ca), fields(&leaf))
        };
        let started = std::time::Instant::now();
        let ((ca_pem, ca_key), (leaf_pem, leaf_key)) = render(1);
        eprintln!("genCA + genSignedCert: {:?}", started.elapsed());
        assert_eq!(
            render(1),
            (
                (ca_pem.clone(), ca_key.clone()),
                (leaf_pem.clone(), leaf_key.clone())
            )
        );
        let mut other = ctx(2);
        let other_ca = gen_ca(&mut other, &[Value::str("my-ca"), Value::Int(365)]).unwrap();
        assert_ne!(fields(&other_ca).0, ca_pem);
        assert_ne!(fields(&other_ca).1, ca_key);

        assert!(ca_key.starts_with("-----BEGIN RSA PRIVATE KEY-----\n"));
        assert!(leaf_key.ends_with("-----END RSA PRIVATE KEY-----\n"));
        assert!(leaf_pem.starts_with("-----BEGIN CERTIFICATE-----\n"));
        assert!(leaf_pem.lines().all(|l| l.len() <= 64));

        let ca = parse(&ca_pem);
        let leaf = parse(&leaf_pem);
        let (ca_tbs, tbs) = (ca.tbs_certificate(), leaf.tbs_certificate());
        assert_eq!(ca_tbs.subject().to_string(), "CN=my-ca");
        assert_eq!(ca_tbs.issuer(), ca_tbs.subject());
        assert_eq!(tbs.issuer(), ca_tbs.subject());
        assert_eq!(tbs.subject().to_string(), "CN=svc.ns");
        let validity = tbs.validity();
        assert_eq!(
            validity.not_before.to_unix_duration().as_secs(),
            1_700_000_000
        );
        assert_eq!(
            validity.not_after.to_unix_duration().as_secs(),
            1_700_000_000 + 30 * 86_400
        );
        assert_eq!(
            ca_tbs.validity().not_after.to_unix_duration().as_secs(),
            1_700_000_000 + 365 * 86_400
        );
        let san = tbs
            .extensions()
            .unwrap()
            .iter()
            .find(|e| e.extn_id == ID_CE_SUBJECT_ALT_NAME)
            .unwrap();
        let san = SubjectAltName::from_der(san.extn_value.as_bytes()).unwrap();
        let names: Vec<String> = san
            .0
            .iter()
            .map(|n| match n {
                GeneralName::DnsName(d) => d.to_string(),
                GeneralName::IpAddress(ip) => format!("{:?}", ip.as_bytes()),
                other => panic!("unexpected name {other:?}"),
            })
            .collect();
        assert_eq!(names, ["a.b", "svc.ns.svc", "[10, 0, 0, 1]"]);

        // The leaf's signature verifies with the CA's public key, and its key is 2048-bit RSA.
        let ca_key = match parse_key(&ca_key).unwrap() {
            Key::Rsa(k) => k,
            _ => panic!("CA key is not RSA"),
        };
        assert_eq!(rsa::traits::PublicKeyParts::size(&*ca_key), 256);
        let verifier =
            rsa::pkcs1v15::VerifyingKey::<rsa::sha2::Sha256>::new(ca_key.to_public_key());
        let sig = rsa::pkcs1v15::Signature::try_from(leaf.signature().raw_bytes()).unwrap();
        verifier.verify(&tbs.to_der().unwrap(), &sig).unwrap();
        openssl_verify(&ca_pem, &leaf_pem);
    }

    #[test]
    fn certs_ecdsa_and_ed25519_keys() {
        let mut c = ctx(3);
        let ec = gen_private_key(&mut c, &[Value::str("ecdsa")]).unwrap();
        let ec = ec.as_str().unwrap().to_owned();
        assert!(ec.starts_with("-----BEGIN EC PRIVATE KEY-----\n"));
        let ed = gen_private_key(&mut c, &[Value::str("ed25519")]).unwrap();
        let ed = ed.as_str().unwrap().to_owned();
        assert!(ed.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        let ca = gen_ca_with_key(
            &mut c,
            &[Value::str("ec-ca"), Value::Int(5), Value::str(&ec)],
        )
        .unwrap();
        let (ca_pem, ca_key) = fields(&ca);
        assert_eq!(ca_key, ec);
        let args = [
            Value::str("ed"),
            Value::Nil,
            Value::Nil,
            Value::Int(7),
            ca.clone(),
            Value::str(&ed),
        ];
        let leaf = gen_signed_cert_with_key(&mut c, &args).unwrap();
        let again = gen_signed_cert_with_key(&mut ctx(3), &args).unwrap();
        // Same key, same CA; only the draw (and so the serial) differs.
        assert_ne!(fields(&leaf).0, fields(&again).0);
        let (leaf_pem, leaf_key) = fields(&leaf);
        assert_eq!(leaf_key, ed);
        let parsed = parse(&leaf_pem);
        assert_eq!(
            parsed.signature_algorithm().oid.to_string(),
            "1.2.840.10045.4.3.2"
        );
        assert!(parsed.tbs_certificate().extensions().unwrap().len() == 4);
        openssl_verify(&ca_pem, &leaf_pem);

        // The same seed gives the same keys.
        let mut d = ctx(3);
        let ec2 = gen_private_key(&mut d, &[Value::str("ecdsa")]).unwrap();
        assert_eq!(ec2.as_str(), Some(ec.as_str()));
        let custom = build_custom_cert(
            &mut d,
            &[
                Value::from(base64::engine::general_purpose::STANDARD.encode(&ca_pem)),
                Value::from(base64::engine::general_purpose::STANDARD.encode(&ca_key)),
            ],
        )
        .unwrap();
        assert_eq!(fields(&custom), (ca_pem, ca_key));
    }

    #[test]
    fn certs_argument_errors_are_sprigs() {
        let mut c = ctx(4);
        let err = |r: Result<Value, String>| r.unwrap_err();
        assert_eq!(
            err(gen_ca(&mut c, &[Value::str("x"), Value::str("365")])),
            "wrong type for value; expected int; got string"
        );
        assert_eq!(
            err(gen_ca(&mut c, &[Value::str("x")])),
            "wrong number of args for genCA: want 2 got 1"
        );
        assert_eq!(
            err(gen_signed_cert(
                &mut c,
                &[
                    Value::str("x"),
                    Value::Nil,
                    Value::Nil,
                    Value::Int(1),
                    Value::str("ca")
                ]
            )),
            "wrong type for value; expected sprig.certificate; got string"
        );
        assert_eq!(
            err(gen_self_signed_cert(
                &mut c,
                &[
                    Value::str("x"),
                    Value::List(Rc::new(vec![Value::Int(5)])),
                    Value::Nil,
                    Value::Int(1)
                ]
            )),
            "error parsing ip: 5 is not a string"
        );
        assert_eq!(
            err(gen_self_signed_cert(
                &mut c,
                &[
                    Value::str("x"),
                    list(&["10.0.0.300"]),
                    Value::Nil,
                    Value::Int(1)
                ]
            )),
            "error parsing ip: 10.0.0.300"
        );
        assert_eq!(
            err(gen_self_signed_cert(
                &mut c,
                &[
                    Value::str("x"),
                    Value::Nil,
                    Value::str("a.b"),
                    Value::Int(1)
                ]
            )),
            "wrong type for value; expected []interface {}; got string"
        );
        assert_eq!(
            err(gen_ca_with_key(
                &mut c,
                &[Value::str("x"), Value::Int(1), Value::str("junk")]
            )),
            "parsing private key: no PEM data in input"
        );
        assert_eq!(
            err(gen_ca_with_key(
                &mut c,
                &[
                    Value::str("x"),
                    Value::Int(1),
                    Value::str("-----BEGIN CERTIFICATE-----\nAA==\n-----END CERTIFICATE-----\n")
                ]
            )),
            "parsing private key: no private key data in PEM block of type CERTIFICATE"
        );
        assert_eq!(
            err(build_custom_cert(
                &mut c,
                &[Value::str("%%"), Value::str("")]
            )),
            "unable to decode base64 certificate"
        );
        let unknown = gen_private_key(&mut c, &[Value::str("foo")]).unwrap();
        assert_eq!(unknown.as_str(), Some("Unknown type foo"));
        // Argument errors draw nothing from the stream.
        assert_eq!(c.draws, 0);
    }
}
