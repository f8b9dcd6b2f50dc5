//! Sprig's digests: `sha1sum`, `sha256sum`, `sha512sum` (lower-case hex) and `adler32sum`
//! (decimal).

use super::super::Ctx;
use crate::value::Value;
use sha1::Digest as _;

fn str_arg(args: &[Value]) -> String {
    match args.first() {
        Some(Value::Str(s)) => s.to_string(),
        Some(Value::Nil) | None => String::new(),
        Some(other) => other.go_string(),
    }
}

pub(super) fn sha1sum(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(hex::encode(sha1::Sha1::digest(
        str_arg(args).as_bytes(),
    ))))
}

pub(super) fn sha256sum(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(hex::encode(sha2::Sha256::digest(
        str_arg(args).as_bytes(),
    ))))
}

pub(super) fn sha512sum(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(hex::encode(sha2::Sha512::digest(
        str_arg(args).as_bytes(),
    ))))
}

/// Adler-32 of `data`.
fn adler32(data: &[u8]) -> u32 {
    const MOD: u32 = 65_521;
    let (mut a, mut b) = (1u32, 0u32);
    for chunk in data.chunks(5552) {
        for &byte in chunk {
            a += u32::from(byte);
            b += a;
        }
        a %= MOD;
        b %= MOD;
    }
    (b << 16) | a
}

pub(super) fn adler32sum(_: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    Ok(Value::from(adler32(str_arg(args).as_bytes()).to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Expected digests are Helm's output for "hello".
    #[test]
    fn digests_match_sprig() {
        let mut ctx = Ctx::new([0; 32], 0);
        let hello = [Value::str("hello")];
        for (f, want) in [
            (
                sha1sum as super::super::super::Func,
                "aaf4c61ddcc5e8a2dabede0f3b482cd9aea9434d",
            ),
            (
                sha256sum,
                "2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824",
            ),
            (
                sha512sum,
                "9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043",
            ),
            (adler32sum, "103547413"),
        ] {
            assert_eq!(f(&mut ctx, &hello).unwrap().go_string(), want);
        }
    }
}
