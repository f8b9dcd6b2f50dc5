//! Sprig's random functions made deterministic: `randAlphaNum`, `randAlpha`, `randNumeric`,
//! `randAscii`, `randBytes`, `randInt`, `shuffle` and `uuidv4` draw from a keyed stream,
//! SHA-256 of the render's seed, the draw number and a block counter. Each call is one draw, so
//! the same seed gives the same sequence of outputs, and outputs have Helm's shapes (length,
//! alphabet, UUID version 4 layout).

use super::super::Ctx;
use crate::value::Value;
use sha2::Digest as _;

/// A byte stream for one draw: SHA-256 blocks of a label, the seed, the draw number and a
/// block counter. The label keeps the streams of different function families apart.
#[derive(Debug)]
pub(super) struct Stream {
    label: &'static [u8],
    seed: [u8; 32],
    draw: u64,
    block: u64,
    buf: [u8; 32],
    pos: usize,
}

impl Stream {
    fn new(ctx: &mut Ctx) -> Stream {
        Stream::labelled(ctx, b"gatehouse-render random v1")
    }

    /// The stream of the render's next draw, under `label`.
    pub(super) fn labelled(ctx: &mut Ctx, label: &'static [u8]) -> Stream {
        let draw = ctx.draws;
        ctx.draws = ctx.draws.wrapping_add(1);
        Stream {
            label,
            seed: ctx.seed,
            draw,
            block: 0,
            buf: [0; 32],
            pos: 32,
        }
    }

    /// The next byte.
    pub(super) fn byte(&mut self) -> u8 {
        if self.pos >= self.buf.len() {
            let mut h = sha2::Sha256::new();
            h.update(self.label);
            h.update(self.seed);
            h.update(self.draw.to_le_bytes());
            h.update(self.block.to_le_bytes());
            self.buf = h.finalize().into();
            self.block = self.block.wrapping_add(1);
            self.pos = 0;
        }
        let b = self.buf.get(self.pos).copied().unwrap_or(0);
        self.pos += 1;
        b
    }

    fn u64(&mut self) -> u64 {
        (0..8).fold(0u64, |acc, _| (acc << 8) | u64::from(self.byte()))
    }

    /// A uniform integer in `0..n` (n > 0), by rejection.
    fn below(&mut self, n: u64) -> u64 {
        if n <= 1 {
            return 0;
        }
        let zone = u64::MAX - (u64::MAX % n);
        loop {
            let v = self.u64();
            if v < zone {
                return v % n;
            }
        }
    }
}

/// Sprig's count argument: numbers and numeric strings.
fn count(args: &[Value]) -> Result<usize, String> {
    let n = match args.first() {
        Some(Value::Int(i) | Value::Int64(i)) => *i,
        #[allow(clippy::cast_possible_truncation)]
        Some(Value::Float(x)) => *x as i64,
        Some(Value::Str(s)) => s.trim().parse().unwrap_or(0),
        _ => 0,
    };
    if n < 0 {
        return Err("Count must be a non-negative number".to_owned());
    }
    usize::try_from(n).map_err(|e| e.to_string())
}

fn from_alphabet(ctx: &mut Ctx, args: &[Value], alphabet: &[u8]) -> Result<Value, String> {
    let n = count(args)?;
    let mut s = Stream::new(ctx);
    let len = u64::try_from(alphabet.len()).unwrap_or(1);
    let out: String = (0..n)
        .map(|_| {
            let i = usize::try_from(s.below(len)).unwrap_or(0);
            char::from(alphabet.get(i).copied().unwrap_or(b'a'))
        })
        .collect();
    Ok(Value::from(out))
}

const ALPHA: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ";
const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const DIGITS: &[u8] = b"0123456789";

pub(super) fn rand_alpha_num(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    from_alphabet(ctx, args, ALNUM)
}

pub(super) fn rand_alpha(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    from_alphabet(ctx, args, ALPHA)
}

pub(super) fn rand_numeric(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    from_alphabet(ctx, args, DIGITS)
}

pub(super) fn rand_ascii(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let printable: Vec<u8> = (32u8..=126).collect();
    from_alphabet(ctx, args, &printable)
}

/// `randBytes N`: N random bytes, base64-encoded.
pub(super) fn rand_bytes(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let n = count(args)?;
    let mut s = Stream::new(ctx);
    let bytes: Vec<u8> = (0..n).map(|_| s.byte()).collect();
    Ok(Value::from(super::encoding::base64(&bytes)))
}

fn int_arg(v: Option<&Value>) -> i64 {
    match v {
        Some(Value::Int(i) | Value::Int64(i)) => *i,
        #[allow(clippy::cast_possible_truncation)]
        Some(Value::Float(x)) => *x as i64,
        Some(Value::Str(s)) => s.trim().parse().unwrap_or(0),
        Some(Value::Bool(true)) => 1,
        _ => 0,
    }
}

/// `randInt MIN MAX`: an integer in `[MIN, MAX)`.
pub(super) fn rand_int(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let (min, max) = (int_arg(args.first()), int_arg(args.get(1)));
    let span = max.checked_sub(min).filter(|s| *s > 0);
    let Some(span) = span else {
        return Err("invalid argument to Intn".to_owned());
    };
    let mut s = Stream::new(ctx);
    let v = i64::try_from(s.below(span.unsigned_abs())).unwrap_or(0);
    Ok(Value::Int(min + v))
}

/// `shuffle STRING`: the string's characters in a random order.
pub(super) fn shuffle(ctx: &mut Ctx, args: &[Value]) -> Result<Value, String> {
    let text = match args.first() {
        Some(Value::Str(s)) => s.to_string(),
        Some(Value::Nil) | None => String::new(),
        Some(other) => other.go_string(),
    };
    let mut chars: Vec<char> = text.chars().collect();
    let mut s = Stream::new(ctx);
    for i in (1..chars.len()).rev() {
        let j = usize::try_from(s.below(u64::try_from(i + 1).unwrap_or(1))).unwrap_or(0);
        chars.swap(i, j);
    }
    Ok(Value::from(chars.into_iter().collect::<String>()))
}

/// `uuidv4`: a version 4, variant 1 UUID in its 36-character form.
pub(super) fn uuidv4(ctx: &mut Ctx, _: &[Value]) -> Result<Value, String> {
    let mut s = Stream::new(ctx);
    let mut b: Vec<u8> = (0..16).map(|_| s.byte()).collect();
    if let Some(x) = b.get_mut(6) {
        *x = (*x & 0x0F) | 0x40;
    }
    if let Some(x) = b.get_mut(8) {
        *x = (*x & 0x3F) | 0x80;
    }
    let h = hex::encode(&b);
    let part = |r: std::ops::Range<usize>| h.get(r).unwrap_or("");
    Ok(Value::from(format!(
        "{}-{}-{}-{}-{}",
        part(0..8),
        part(8..12),
        part(12..16),
        part(16..20),
        part(20..32)
    )))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ctx() -> Ctx {
        Ctx::new([7; 32], 0)
    }

    #[test]
    fn outputs_have_helms_shapes() {
        let mut c = ctx();
        let n = [Value::Int(40)];
        let s = rand_alpha_num(&mut c, &n).unwrap();
        let s = s.as_str().unwrap();
        assert_eq!(s.len(), 40);
        assert!(s.bytes().all(|b| b.is_ascii_alphanumeric()));
        let a = rand_alpha(&mut c, &n).unwrap();
        assert!(a.as_str().unwrap().bytes().all(|b| b.is_ascii_alphabetic()));
        let d = rand_numeric(&mut c, &n).unwrap();
        assert!(d.as_str().unwrap().bytes().all(|b| b.is_ascii_digit()));
        let p = rand_ascii(&mut c, &n).unwrap();
        assert!(p.as_str().unwrap().bytes().all(|b| (32..=126).contains(&b)));
        let bytes = rand_bytes(&mut c, &[Value::Int(3)]).unwrap();
        assert_eq!(bytes.as_str().unwrap().len(), 4);
        let u = uuidv4(&mut c, &[]).unwrap();
        let u = u.as_str().unwrap();
        assert_eq!(u.len(), 36);
        assert_eq!(u.as_bytes()[14], b'4');
        assert!(matches!(u.as_bytes()[19], b'8' | b'9' | b'a' | b'b'));
        for _ in 0..50 {
            let i = rand_int(&mut c, &[Value::Int(-3), Value::Int(4)]).unwrap();
            assert!(matches!(i, Value::Int(-3..=3)));
        }
        assert!(rand_int(&mut c, &[Value::Int(4), Value::Int(4)]).is_err());
        let sh = shuffle(&mut c, &[Value::str("abcdef")]).unwrap();
        let mut chars: Vec<char> = sh.as_str().unwrap().chars().collect();
        chars.sort_unstable();
        assert_eq!(chars.into_iter().collect::<String>(), "abcdef");
    }

    #[test]
    fn same_seed_same_sequence_and_each_call_differs() {
        let (mut a, mut b) = (ctx(), ctx());
        let first = rand_alpha_num(&mut a, &[Value::Int(16)])
            .unwrap()
            .go_string();
        assert_eq!(
            first,
            rand_alpha_num(&mut b, &[Value::Int(16)])
                .unwrap()
                .go_string()
        );
        let second = rand_alpha_num(&mut a, &[Value::Int(16)])
            .unwrap()
            .go_string();
        assert_ne!(first, second);
        assert_eq!(a.draws, 2);
        let mut other = Ctx::new([8; 32], 0);
        assert_ne!(
            first,
            rand_alpha_num(&mut other, &[Value::Int(16)])
                .unwrap()
                .go_string()
        );
    }
}
