//! Sprig's password functions: `bcrypt`, `htpasswd` and `derivePassword`.
//!
//! `bcrypt` and `htpasswd` hash with bcrypt at Go's default cost (10) in the `$2a$` format
//! Apache and Go write. Sprig salts from the system's random source; here the 16 salt bytes are
//! drawn from the render's seeded stream, so a render is byte-identical across runs while every
//! hash still verifies against its password. `derivePassword` is the Master Password algorithm
//! (scrypt with N=32768, r=8, p=2, then HMAC-SHA256 over the site and counter, read through a
//! template of character classes) and is deterministic, so it matches Helm's output exactly.
//!
//! Both hashes are slow on purpose, so a render may compute at most [`MAX_SLOW_HASHES`] of
//! them: a chart that loops over them fails instead of holding the renderer for minutes.

use hmac::Mac as _;

use super::super::Ctx;
use super::random::Stream;
use crate::value::Value;

/// Go's `bcrypt.DefaultCost`, which Sprig uses.
const BCRYPT_COST: u32 = 10;

/// Longest password Go's bcrypt accepts, in bytes.
const BCRYPT_MAX_PASSWORD: usize = 72;

/// How many bcrypt hashes and password derivations one render may compute.
pub(crate) const MAX_SLOW_HASHES: u32 = 100;

/// The Master Password algorithm's key scope.
const MASTER_PASSWORD_SEED: &[u8] = b"com.lyndir.masterpassword";

/// Output templates per password type, as Sprig lists them.
fn password_templates(kind: &str) -> Option<&'static [&'static str]> {
    Some(match kind {
        "maximum" => &["anoxxxxxxxxxxxxxxxxx", "axxxxxxxxxxxxxxxxxno"],
        "long" => &[
            "CvcvnoCvcvCvcv",
            "CvcvCvcvnoCvcv",
            "CvcvCvcvCvcvno",
            "CvccnoCvcvCvcv",
            "CvccCvcvnoCvcv",
            "CvccCvcvCvcvno",
            "CvcvnoCvccCvcv",
            "CvcvCvccnoCvcv",
            "CvcvCvccCvcvno",
            "CvcvnoCvcvCvcc",
            "CvcvCvcvnoCvcc",
            "CvcvCvcvCvccno",
            "CvccnoCvccCvcv",
            "CvccCvccnoCvcv",
            "CvccCvccCvcvno",
            "CvcvnoCvccCvcc",
            "CvcvCvccnoCvcc",
            "CvcvCvccCvccno",
            "CvccnoCvcvCvcc",
            "CvccCvcvnoCvcc",
            "CvccCvcvCvccno",
        ],
        "medium" => &["CvcnoCvc", "CvcCvcno"],
        "short" => &["Cvcn"],
        "basic" => &["aaanaaan", "aannaaan", "aaannaaa"],
        "pin" => &["nnnn"],
        _ => return None,
    })
}

/// The characters a template class stands for.
fn template_characters(class: u8) -> &'static [u8] {
    match class {
        b'V' => b"AEIOU",
        b'C' => b"BCDFGHJKLMNPQRSTVWXYZ",
        b'v' => b"aeiou",
        b'c' => b"bcdfghjklmnpqrstvwxyz",
        b'A' => b"AEIOUBCDFGHJKLMNPQRSTVWXYZ",
        b'a' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz",
        b'n' => b"0123456789",
        b'o' => b"@&%?,=[]_:-+*$#!'^~;()/.",
        b'x' => b"AEIOUaeiouBCDFGHJKLMNPQRSTVWXYZbcdfghjklmnpqrstvwxyz0123456789!@#$%^&*()",
        _ => b"",
    }
}

fn want_args<'a, const N: usize>(name: &str, args: &'a [Value]) -> Result<&'a [Value; N], String> {
    args.try_into().map_err(|_| {
        format!(
            "wrong number of args for {name}: want {N} got {}",
            args.len()
        )
    })
}

fn wrong_type(expected: &str, v: &Value) -> String {
    let got = match v {
        Value::Nil => "interface {}",
        other => other.type_name(),
    };
    format!("wrong type for value; expected {expected}; got {got}")
}

fn string_arg(v: &Value) -> Result<&str, String> {
    v.as_str().ok_or_else(|| wrong_type("string", v))
}

/// A `uint32` parameter: an integer literal, truncated to 32 bits as Go's `reflect.SetUint`
/// does; a negative literal is refused with Go's message.
fn uint32_arg(v: &Value) -> Result<u32, String> {
    match v {
        Value::Int(i) if *i < 0 => Err(format!("expected unsigned integer; found {i}")),
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
        Value::Int(i) => Ok(*i as u32),
        other => Err(wrong_type("uint32", other)),
    }
}

/// Counts one slow hash against the render's budget.
fn spend(ctx: &mut Ctx, name: &str) -> Result<(), String> {
    ctx.slow_hashes = ctx.slow_hashes.saturating_add(1);
    if ctx.slow_hashes > MAX_SLOW_HASHES {
        return Err(format!(
            "{name}: the render exceeded its budget of {MAX_SLOW_HASHES} password hashes"
        ));
    }
    Ok(())
}

/// Sprig's `bcrypt`: the `$2a$10$...` hash of `password` with a salt from the render's stream,
/// or Sprig's message when Go's bcrypt refuses the password.
fn bcrypt_hash(ctx: &mut Ctx, password: &str) -> String {
    if password.len() > BCRYPT_MAX_PASSWORD {
        return "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes"
            .to_owned();
    }
    let mut stream = Stream::labelled(ctx, b"gatehouse-render bcrypt salt v1");
    let salt: [u8; 16] = std::array::from_fn(|_| stream.byte());
    match bcrypt::hash_with_salt(password, BCRYPT_COST, salt) {
        Ok(parts) => parts.format_for_version(bcrypt::Version::TwoA),
        Err(e) => format!("failed to encrypt string with bcrypt: {e}"),
    }
}

/// `bcrypt PASSWORD`.
pub(super) fn bcrypt(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let [password] = want_args("bcrypt", args)?;
    let password = string_arg(password)?;
    spend(ctx, "bcrypt")?;
    Ok(Value::from(bcrypt_hash(ctx, password)))
}

/// `htpasswd USER PASSWORD`: an Apache `htpasswd` line, `USER:$2a$10$...`. A user name with a
/// colon cannot be written to such a file; Sprig returns `invalid username: USER` instead.
pub(super) fn htpasswd(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let [user, password] = want_args("htpasswd", args)?;
    let (user, password) = (string_arg(user)?, string_arg(password)?);
    if user.contains(':') {
        return Ok(Value::from(format!("invalid username: {user}")));
    }
    spend(ctx, "htpasswd")?;
    Ok(Value::from(format!(
        "{user}:{}",
        bcrypt_hash(ctx, password)
    )))
}

/// `derivePassword COUNTER TYPE PASSWORD USER SITE`: the Master Password algorithm.
pub(super) fn derive_password(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let [counter, kind, password, user, site] = want_args("derivePassword", args)?;
    let counter = uint32_arg(counter)?;
    let (kind, password, user, site) = (
        string_arg(kind)?,
        string_arg(password)?,
        string_arg(user)?,
        string_arg(site)?,
    );
    let Some(templates) = password_templates(kind) else {
        return Ok(Value::from(format!("cannot find password template {kind}")));
    };
    spend(ctx, "derivePassword")?;
    Ok(Value::from(master_password(
        counter, templates, password, user, site,
    )?))
}

/// A length as the algorithm writes it: 32 bits, big-endian.
fn be32_len(s: &str) -> Result<[u8; 4], String> {
    u32::try_from(s.len())
        .map(u32::to_be_bytes)
        .map_err(|_| "failed to derive password: input too long".to_owned())
}

fn master_password(
    counter: u32,
    templates: &[&str],
    password: &str,
    user: &str,
    site: &str,
) -> Result<String, String> {
    let mut salt = MASTER_PASSWORD_SEED.to_vec();
    salt.extend_from_slice(&be32_len(user)?);
    salt.extend_from_slice(user.as_bytes());
    let params =
        scrypt::Params::new(15, 8, 2).map_err(|e| format!("failed to derive password: {e}"))?;
    let mut key = [0u8; 64];
    scrypt::scrypt(password.as_bytes(), &salt, &params, &mut key)
        .map_err(|e| format!("failed to derive password: {e}"))?;

    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(&key)
        .map_err(|e| format!("failed to derive password: {e}"))?;
    mac.update(MASTER_PASSWORD_SEED);
    mac.update(&be32_len(site)?);
    mac.update(site.as_bytes());
    mac.update(&counter.to_be_bytes());
    let seed = mac.finalize().into_bytes();

    let at = |i: usize| usize::from(seed.get(i).copied().unwrap_or(0));
    let template = templates
        .get(at(0) % templates.len().max(1))
        .copied()
        .unwrap_or("");
    Ok(template
        .bytes()
        .enumerate()
        .map(|(i, class)| {
            let chars = template_characters(class);
            char::from(
                chars
                    .get(at(i + 1) % chars.len().max(1))
                    .copied()
                    .unwrap_or(b'?'),
            )
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Ctx {
        Ctx::new([7; 32], 0)
    }

    fn s(x: &str) -> Value {
        Value::str(x)
    }

    fn text(v: Result<Value, String>) -> String {
        v.unwrap().as_str().unwrap().to_owned()
    }

    #[test]
    fn htpasswd_lines_verify_and_repeat_with_the_seed() {
        let line = text(htpasswd(&mut ctx(), &[s("admin"), s("s3cret")]));
        let (user, hash) = line.split_once(':').unwrap();
        assert_eq!(user, "admin");
        assert!(hash.starts_with("$2a$10$"), "{hash}");
        assert_eq!(hash.len(), 60);
        assert!(bcrypt::verify("s3cret", hash).unwrap());
        assert!(!bcrypt::verify("other", hash).unwrap());
        // The same seed gives the same line; another seed, or the next draw, another salt.
        assert_eq!(text(htpasswd(&mut ctx(), &[s("admin"), s("s3cret")])), line);
        let mut other = Ctx::new([8; 32], 0);
        assert_ne!(text(htpasswd(&mut other, &[s("admin"), s("s3cret")])), line);
        let mut c = ctx();
        let first = text(bcrypt(&mut c, &[s("x")]));
        let second = text(bcrypt(&mut c, &[s("x")]));
        assert_ne!(first, second);
        assert!(bcrypt::verify("x", &second).unwrap());
    }

    #[test]
    fn bcrypt_matches_go_for_the_same_salt() {
        // Helm's `htpasswd "user" "pass"`: the same password and salt hash to the same text.
        let helm = "$2a$10$yg1aCBAlakOL1j1ttBrKze3ws6GeJuvCKn.duioB9jfZj8p9RVNj6";
        assert!(bcrypt::verify("pass", helm).unwrap());
        let salt = helm.parse::<bcrypt::HashParts>().unwrap().get_salt_raw();
        let ours = bcrypt::hash_with_salt("pass", BCRYPT_COST, salt).unwrap();
        assert_eq!(ours.format_for_version(bcrypt::Version::TwoA), helm);
    }

    #[test]
    fn sprig_refusals_are_returned_as_text() {
        assert_eq!(
            text(htpasswd(&mut ctx(), &[s("us:er"), s("pass")])),
            "invalid username: us:er"
        );
        assert_eq!(
            text(bcrypt(&mut ctx(), &[s(&"x".repeat(73))])),
            "failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes"
        );
        assert_eq!(
            text(htpasswd(&mut ctx(), &[s("u"), s(&"x".repeat(73))])),
            "u:failed to encrypt string with bcrypt: bcrypt: password length exceeds 72 bytes"
        );
        assert_eq!(text(bcrypt(&mut ctx(), &[s(&"x".repeat(72))])).len(), 60);
        assert_eq!(
            htpasswd(&mut ctx(), &[s("u")]).unwrap_err(),
            "wrong number of args for htpasswd: want 2 got 1"
        );
        assert_eq!(
            htpasswd(&mut ctx(), &[Value::Int(1), s("p")]).unwrap_err(),
            "wrong type for value; expected string; got int"
        );
    }

    /// Outputs of Helm v4 for the same arguments.
    #[test]
    fn derive_password_matches_helm() {
        for (counter, kind, password, user, site, want) in [
            (
                1,
                "long",
                "password",
                "user",
                "example.com",
                "ZedaFaxcZaso9*",
            ),
            (0, "maximum", "p", "u", "s", "i4_UYeFNhVEJISX)fcIW"),
            (1, "medium", "p", "", "", "Civ9;Zeh"),
            (3, "short", "pässwörd", "ユーザー", "example.com", "Zul1"),
            (1, "basic", "", "u", "s", "FR68kNZ8"),
            (1, "pin", "p", "u", "s", "2461"),
            (4_294_967_295, "long", "p", "u", "s", "TevwJixhQoko8:"),
            // A literal beyond 32 bits wraps, as Go's reflect.SetUint does.
            (4_294_967_296, "long", "p", "u", "s", "WupeHanuFiyi6@"),
        ] {
            let args = [Value::Int(counter), s(kind), s(password), s(user), s(site)];
            assert_eq!(text(derive_password(&mut ctx(), &args)), want, "{args:?}");
        }
        let args = [Value::Int(1), s("nope"), s("p"), s("u"), s("s")];
        assert_eq!(
            text(derive_password(&mut ctx(), &args)),
            "cannot find password template nope"
        );
        let args = [Value::Int(-1), s("long"), s("p"), s("u"), s("s")];
        assert_eq!(
            derive_password(&mut ctx(), &args).unwrap_err(),
            "expected unsigned integer; found -1"
        );
        let args = [Value::Int64(1), s("long"), s("p"), s("u"), s("s")];
        assert_eq!(
            derive_password(&mut ctx(), &args).unwrap_err(),
            "wrong type for value; expected uint32; got int64"
        );
    }

    #[test]
    fn slow_hashes_are_budgeted_per_render() {
        let mut c = ctx();
        c.slow_hashes = MAX_SLOW_HASHES;
        assert_eq!(
            bcrypt(&mut c, &[s("x")]).unwrap_err(),
            "bcrypt: the render exceeded its budget of 100 password hashes"
        );
    }
}
