//! Sprig's encodings: `b64enc`, `b64dec`, `b32enc`, `b32dec` (standard alphabets, padded).
//! Decoding errors come back as the result string, with Go's message, as Sprig does.

use super::super::Ctx;
use crate::value::Value;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
const B32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

fn str_arg(args: &[Value]) -> String {
    match args.first() {
        Some(Value::Str(s)) => s.to_string(),
        Some(Value::Nil) | None => String::new(),
        Some(other) => other.go_string(),
    }
}

/// Encodes `data` with an alphabet of 2^`bits` symbols in quanta of `chars` characters.
fn encode(data: &[u8], alphabet: &[u8], bits: u32, chars: usize) -> String {
    let mut out = String::new();
    let mut acc: u64 = 0;
    let mut nbits = 0;
    let mask = (1u64 << bits) - 1;
    for &b in data {
        acc = (acc << 8) | u64::from(b);
        nbits += 8;
        while nbits >= bits {
            nbits -= bits;
            let idx = usize::try_from((acc >> nbits) & mask).unwrap_or(0);
            out.push(char::from(alphabet.get(idx).copied().unwrap_or(b'=')));
        }
    }
    if nbits > 0 {
        let idx = usize::try_from((acc << (bits - nbits)) & mask).unwrap_or(0);
        out.push(char::from(alphabet.get(idx).copied().unwrap_or(b'=')));
    }
    while !out.len().is_multiple_of(chars) {
        out.push('=');
    }
    out
}

/// Decodes as Go's padded standard decoders do; the error names the byte offset as Go's
/// `CorruptInputError` does.
fn decode(text: &str, alphabet: &[u8], bits: u32, chars: usize) -> Result<Vec<u8>, String> {
    let name = if bits == 6 { "base64" } else { "base32" };
    let corrupt = |at: usize| format!("illegal {name} data at input byte {at}");
    // Go skips newlines.
    let symbols: Vec<(usize, u8)> = text
        .bytes()
        .enumerate()
        .filter(|(_, b)| *b != b'\n' && *b != b'\r')
        .collect();
    let mut out = Vec::new();
    let mut acc: u64 = 0;
    let mut nbits = 0;
    for (q, quantum) in symbols.chunks(chars).enumerate() {
        let start = quantum.first().map_or(0, |(i, _)| *i);
        for (k, &(at, b)) in quantum.iter().enumerate() {
            if b == b'=' {
                let valid = if bits == 6 {
                    k >= 2
                } else {
                    matches!(k, 2 | 4 | 5 | 7)
                };
                let rest_pad = quantum.iter().skip(k).all(|(_, c)| *c == b'=');
                if !valid || !rest_pad || quantum.len() != chars {
                    return Err(corrupt(at));
                }
                if let Some((next, _)) = symbols.get((q + 1) * chars) {
                    return Err(corrupt(*next));
                }
                break;
            }
            let Some(v) = alphabet.iter().position(|&a| a == b) else {
                return Err(corrupt(at));
            };
            acc = (acc << bits) | u64::try_from(v).unwrap_or(0);
            nbits += bits;
            if nbits >= 8 {
                nbits -= 8;
                out.push(u8::try_from((acc >> nbits) & 0xFF).unwrap_or(0));
            }
        }
        if quantum.len() != chars {
            return Err(corrupt(start));
        }
        acc = 0;
        nbits = 0;
    }
    Ok(out)
}

fn lossy(bytes: Vec<u8>) -> Value {
    Value::from(
        String::from_utf8(bytes)
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned()),
    )
}

/// Base64 of raw bytes (`randBytes` uses it too).
pub(crate) fn base64(data: &[u8]) -> String {
    encode(data, B64, 6, 4)
}

pub(super) fn b64enc(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(base64(str_arg(args).as_bytes())))
}

pub(super) fn b64dec(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    Ok(decode(&str_arg(args), B64, 6, 4).map_or_else(Value::from, lossy))
}

pub(super) fn b32enc(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(encode(str_arg(args).as_bytes(), B32, 5, 8)))
}

pub(super) fn b32dec(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    Ok(decode(&str_arg(args), B32, 5, 8).map_or_else(Value::from, lossy))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(f: super::super::super::Func, s: &str) -> String {
        f(&mut Ctx::new([0; 32], 0), &[Value::str(s)])
            .unwrap()
            .go_string()
    }

    /// Expected texts are Helm's output.
    #[test]
    fn encodes_and_decodes_as_sprig_does() {
        for (f, input, want) in [
            (
                b64enc as super::super::super::Func,
                "hello?>",
                "aGVsbG8/Pg==",
            ),
            (b64enc, "", ""),
            (b64enc, "a", "YQ=="),
            (b64dec, "aGVsbG8=", "hello"),
            (b64dec, "aGVs\nbG8=", "hello"),
            (b64dec, "!!", "illegal base64 data at input byte 0"),
            (b64dec, "aGVsbG8", "illegal base64 data at input byte 4"),
            (b64dec, "YQ==YQ==", "illegal base64 data at input byte 4"),
            (b32enc, "hello", "NBSWY3DP"),
            (b32enc, "a", "ME======"),
            (b32dec, "NBSWY3DP", "hello"),
            (b32dec, "ME======", "a"),
            (b32dec, "!!", "illegal base32 data at input byte 0"),
        ] {
            assert_eq!(call(f, input), want, "{input}");
        }
    }
}
