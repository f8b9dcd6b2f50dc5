//! The exact decimal arithmetic behind Sprig's float functions (`addf`, `subf`, `mulf`,
//! `divf`, `add1f`): each operand becomes the shortest decimal that reads back as its float64
//! (so `0.1` is exactly one tenth), sums and products are exact, quotients are rounded half away
//! from zero to 16 decimal places, and the result is the nearest float64. That is why
//! `addf 0.1 0.2` prints `0.3` in Helm, not `0.30000000000000004`.

use std::cmp::Ordering;

/// `± digits × 10^exp`, digits most significant first, without leading zeros (zero has none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Decimal {
    neg: bool,
    digits: Vec<u8>,
    exp: i64,
}

/// Digits of a quotient kept after the decimal point.
const DIVISION_PRECISION: i64 = 16;

impl Decimal {
    fn zero() -> Decimal {
        Decimal {
            neg: false,
            digits: Vec::new(),
            exp: 0,
        }
    }

    /// The shortest decimal that reads back as `x`; NaN and infinities have none.
    pub(super) fn from_f64(x: f64) -> Result<Decimal, String> {
        if !x.is_finite() {
            let shown = if x.is_nan() {
                "NaN"
            } else if x > 0.0 {
                "+Inf"
            } else {
                "-Inf"
            };
            return Err(format!("Cannot create a Decimal from {shown}"));
        }
        if x == 0.0 {
            return Ok(Decimal::zero());
        }
        let sci = format!("{:e}", x.abs());
        let (mantissa, exp) = sci.split_once('e').unwrap_or((&sci, "0"));
        let exp: i64 = exp.parse().unwrap_or(0);
        let digits: Vec<u8> = mantissa
            .bytes()
            .filter(u8::is_ascii_digit)
            .map(|d| d - b'0')
            .collect();
        let places = i64::try_from(digits.len()).unwrap_or(1) - 1;
        Ok(Decimal {
            neg: x < 0.0,
            digits,
            exp: exp - places,
        }
        .normalized())
    }

    /// The nearest float64 (overflowing to an infinity).
    pub(super) fn to_f64(&self) -> f64 {
        if self.digits.is_empty() {
            return 0.0;
        }
        let digits: String = self.digits.iter().map(|d| char::from(b'0' + d)).collect();
        let text = format!("{}{digits}e{}", if self.neg { "-" } else { "" }, self.exp);
        text.parse().unwrap_or(0.0)
    }

    fn normalized(mut self) -> Decimal {
        let leading = self.digits.iter().take_while(|&&d| d == 0).count();
        self.digits.drain(..leading);
        if self.digits.is_empty() {
            return Decimal::zero();
        }
        self
    }

    /// The digits scaled to exponent `exp` (which must not exceed `self.exp`).
    fn digits_at(&self, exp: i64) -> Vec<u8> {
        let mut d = self.digits.clone();
        let zeros = usize::try_from(self.exp - exp).unwrap_or(0);
        d.extend(std::iter::repeat_n(0, zeros));
        d
    }

    pub(super) fn add(&self, other: &Decimal) -> Decimal {
        if self.digits.is_empty() {
            return other.clone();
        }
        if other.digits.is_empty() {
            return self.clone();
        }
        let exp = self.exp.min(other.exp);
        let (a, b) = (self.digits_at(exp), other.digits_at(exp));
        let (neg, digits) = if self.neg == other.neg {
            (self.neg, add_digits(&a, &b))
        } else {
            match cmp_digits(&a, &b) {
                Ordering::Equal => return Decimal::zero(),
                Ordering::Greater => (self.neg, sub_digits(&a, &b)),
                Ordering::Less => (other.neg, sub_digits(&b, &a)),
            }
        };
        Decimal { neg, digits, exp }.normalized()
    }

    pub(super) fn sub(&self, other: &Decimal) -> Decimal {
        let mut negated = other.clone();
        negated.neg = !negated.neg;
        self.add(&negated)
    }

    pub(super) fn mul(&self, other: &Decimal) -> Decimal {
        if self.digits.is_empty() || other.digits.is_empty() {
            return Decimal::zero();
        }
        Decimal {
            neg: self.neg != other.neg,
            digits: mul_digits(&self.digits, &other.digits),
            exp: self.exp + other.exp,
        }
        .normalized()
    }

    /// `self / other` rounded half away from zero to 16 decimal places.
    pub(super) fn div(&self, other: &Decimal) -> Result<Decimal, String> {
        if other.digits.is_empty() {
            return Err("decimal division by 0".to_owned());
        }
        let divisor = other
            .digits
            .iter()
            .try_fold(0u128, |acc, &d| {
                acc.checked_mul(10)?.checked_add(u128::from(d))
            })
            .ok_or_else(|| "decimal division overflow".to_owned())?;
        // quotient = A × 10^shift / B, in units of 10^-16.
        let shift = self.exp - other.exp + DIVISION_PRECISION;
        let mut numerator = self.digits.clone();
        let mut cut = 0usize;
        if shift >= 0 {
            numerator.extend(std::iter::repeat_n(0, usize::try_from(shift).unwrap_or(0)));
        } else {
            cut = usize::try_from(-shift).unwrap_or(0);
        }
        // Dividing by B × 10^cut: drop the last `cut` digits, remembering them.
        let keep = numerator.len().saturating_sub(cut);
        let low: Vec<u8> = numerator.split_off(keep);
        let low_first = if low.len() < cut {
            0
        } else {
            low.first().copied().unwrap_or(0)
        };
        let (mut quotient, rem) = div_small(&numerator, divisor);
        let twice = rem.saturating_mul(2);
        let round_up = twice >= divisor || (cut > 0 && twice + 1 == divisor && low_first >= 5);
        if round_up {
            quotient = add_digits(&quotient, &[1]);
        }
        Ok(Decimal {
            neg: self.neg != other.neg,
            digits: quotient,
            exp: -DIVISION_PRECISION,
        }
        .normalized())
    }
}

fn cmp_digits(a: &[u8], b: &[u8]) -> Ordering {
    let strip = |d: &[u8]| -> usize { d.iter().take_while(|&&x| x == 0).count() };
    let (a, b) = (
        a.get(strip(a)..).unwrap_or_default(),
        b.get(strip(b)..).unwrap_or_default(),
    );
    a.len().cmp(&b.len()).then_with(|| a.cmp(b))
}

fn add_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len().max(b.len()) + 1);
    let (mut ia, mut ib) = (a.iter().rev(), b.iter().rev());
    let mut carry = 0u8;
    loop {
        let (x, y) = (ia.next(), ib.next());
        if x.is_none() && y.is_none() {
            break;
        }
        let s = x.copied().unwrap_or(0) + y.copied().unwrap_or(0) + carry;
        out.push(s % 10);
        carry = s / 10;
    }
    if carry > 0 {
        out.push(carry);
    }
    out.reverse();
    out
}

/// `a - b` for `a >= b`.
fn sub_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(a.len());
    let mut ib = b.iter().rev();
    let mut borrow = 0i8;
    for &x in a.iter().rev() {
        let y = ib.next().copied().unwrap_or(0);
        let mut d = i8::try_from(x).unwrap_or(0) - i8::try_from(y).unwrap_or(0) - borrow;
        borrow = 0;
        if d < 0 {
            d += 10;
            borrow = 1;
        }
        out.push(u8::try_from(d).unwrap_or(0));
    }
    out.reverse();
    out
}

fn mul_digits(a: &[u8], b: &[u8]) -> Vec<u8> {
    let mut acc = vec![0u64; a.len() + b.len()];
    for (i, &x) in a.iter().rev().enumerate() {
        for (j, &y) in b.iter().rev().enumerate() {
            if let Some(slot) = acc.get_mut(i + j) {
                *slot += u64::from(x) * u64::from(y);
            }
        }
    }
    let mut carry = 0u64;
    for slot in &mut acc {
        let v = *slot + carry;
        *slot = v % 10;
        carry = v / 10;
    }
    let mut out: Vec<u8> = acc
        .iter()
        .rev()
        .map(|&d| u8::try_from(d).unwrap_or(0))
        .collect();
    while carry > 0 {
        out.insert(0, u8::try_from(carry % 10).unwrap_or(0));
        carry /= 10;
    }
    out
}

/// Long division by a small divisor: (quotient digits, remainder).
fn div_small(n: &[u8], d: u128) -> (Vec<u8>, u128) {
    let mut q = Vec::with_capacity(n.len());
    let mut rem = 0u128;
    for &digit in n {
        rem = rem * 10 + u128::from(digit);
        q.push(u8::try_from(rem / d).unwrap_or(0));
        rem %= d;
    }
    (q, rem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dec(x: f64) -> Decimal {
        Decimal::from_f64(x).unwrap_or_else(|_| Decimal::zero())
    }

    #[test]
    fn decimal_arithmetic_matches_shopspring() {
        assert_eq!(dec(0.1).add(&dec(0.2)).to_f64(), 0.3);
        assert_eq!(dec(3.3).sub(&dec(1.1)).to_f64(), 2.2);
        assert_eq!(dec(1.1).mul(&dec(3.0)).to_f64(), 3.3);
        assert_eq!(dec(0.1).mul(&dec(0.2)).to_f64(), 0.02);
        let third = dec(1.0).div(&dec(3.0)).map(|d| d.to_f64());
        assert_eq!(third, Ok(0.333_333_333_333_333_3));
        let two_thirds = dec(-2.0).div(&dec(3.0)).map(|d| d.to_f64());
        assert_eq!(two_thirds, Ok(-0.666_666_666_666_666_7));
        assert_eq!(dec(1.0).div(&dec(3e20)).map(|d| d.to_f64()), Ok(0.0));
        assert_eq!(
            dec(1e-10).div(&dec(3.0)).map(|d| d.to_f64()),
            Ok(3.33333e-11)
        );
        assert_eq!(dec(1e300).mul(&dec(1e10)).to_f64(), f64::INFINITY);
        assert_eq!(dec(1e300).add(&dec(1e-300)).to_f64(), 1e300);
        assert_eq!(
            dec(1.0).div(&dec(0.0)),
            Err("decimal division by 0".to_owned())
        );
        assert_eq!(
            Decimal::from_f64(f64::INFINITY),
            Err("Cannot create a Decimal from +Inf".to_owned())
        );
    }
}
