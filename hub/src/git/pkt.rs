//! Git's pkt-line framing: reading a request body packet by packet with every length checked,
//! and writing text lines, flush/delimiter packets and side-band multiplexed data.

use super::Error;

/// The largest pkt-line Git allows, length prefix included.
pub(crate) const MAX_PKT_LEN: usize = 65520;
/// The largest payload of one pkt-line.
pub(crate) const MAX_PAYLOAD: usize = MAX_PKT_LEN - 4;

/// One packet of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pkt<'a> {
    /// `0000`: the end of a section or message.
    Flush,
    /// `0001`: separates a protocol-v2 command's capabilities from its arguments.
    Delim,
    /// `0002`: the end of a stateless response (protocol v2).
    ResponseEnd,
    /// A line's payload, its trailing newline removed.
    Line(&'a [u8]),
}

/// Reads pkt-lines from a buffer; any malformed length is an error, never a panic.
#[derive(Debug)]
pub(crate) struct Reader<'a> {
    rest: &'a [u8],
}

impl<'a> Reader<'a> {
    pub(crate) fn new(body: &'a [u8]) -> Reader<'a> {
        Reader { rest: body }
    }

    /// The next packet, or `None` at the end of the body.
    pub(crate) fn next_pkt(&mut self) -> Result<Option<Pkt<'a>>, Error> {
        if self.rest.is_empty() {
            return Ok(None);
        }
        let (Some(prefix), Some(after)) = (self.rest.get(..4), self.rest.get(4..)) else {
            return Err(Error::protocol(
                "the request ends inside a pkt-line length prefix",
            ));
        };
        let len = std::str::from_utf8(prefix)
            .ok()
            .filter(|s| s.bytes().all(|b| b.is_ascii_hexdigit()))
            .and_then(|s| usize::from_str_radix(s, 16).ok())
            .ok_or_else(|| {
                Error::protocol(format!(
                    "a pkt-line length prefix is not four hex digits: {:?}",
                    String::from_utf8_lossy(prefix)
                ))
            })?;
        let special = match len {
            0 => Some(Pkt::Flush),
            1 => Some(Pkt::Delim),
            2 => Some(Pkt::ResponseEnd),
            3 => return Err(Error::protocol("a pkt-line has the invalid length 3")),
            _ => None,
        };
        if let Some(pkt) = special {
            self.rest = after;
            return Ok(Some(pkt));
        }
        if len > MAX_PKT_LEN {
            return Err(Error::TooLarge(format!(
                "a pkt-line is {len} bytes long; the limit is {MAX_PKT_LEN}"
            )));
        }
        let payload_len = len - 4;
        let (Some(payload), Some(rest)) = (after.get(..payload_len), after.get(payload_len..))
        else {
            return Err(Error::protocol(
                "the request ends inside a pkt-line (truncated body?)",
            ));
        };
        self.rest = rest;
        Ok(Some(Pkt::Line(
            payload.strip_suffix(b"\n").unwrap_or(payload),
        )))
    }
}

/// A request line as text, or a protocol error naming what was expected.
pub(crate) fn text<'a>(line: &'a [u8], what: &str) -> Result<&'a str, Error> {
    std::str::from_utf8(line).map_err(|_| Error::protocol(format!("{what} is not valid UTF-8")))
}

/// Appends one pkt-line with `payload`.
pub(crate) fn write_line(out: &mut Vec<u8>, payload: &[u8]) -> Result<(), Error> {
    if payload.len() > MAX_PAYLOAD {
        return Err(Error::TooLarge(format!(
            "a response line of {} bytes does not fit a pkt-line",
            payload.len()
        )));
    }
    out.extend_from_slice(format!("{:04x}", payload.len() + 4).as_bytes());
    out.extend_from_slice(payload);
    Ok(())
}

/// Appends one text pkt-line (the caller includes the newline).
pub(crate) fn write_text(out: &mut Vec<u8>, line: &str) -> Result<(), Error> {
    write_line(out, line.as_bytes())
}

/// Appends a flush packet.
pub(crate) fn flush(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0000");
}

/// Appends a delimiter packet.
pub(crate) fn delim(out: &mut Vec<u8>) {
    out.extend_from_slice(b"0001");
}

/// A writer that frames what is written to it as side-band packets on one band, each carrying
/// at most `max_data` bytes, passing each packet on as it fills.
pub(crate) struct Sideband<'a> {
    out: &'a mut dyn std::io::Write,
    band: u8,
    max_data: usize,
    /// The packet being filled: its band byte, then data.
    packet: Vec<u8>,
}

impl<'a> Sideband<'a> {
    pub(crate) fn new(out: &'a mut dyn std::io::Write, band: u8, max_data: usize) -> Sideband<'a> {
        let max_data = max_data.clamp(1, MAX_PAYLOAD - 1);
        let mut packet = Vec::with_capacity(max_data + 1);
        packet.push(band);
        Sideband {
            out,
            band,
            max_data,
            packet,
        }
    }

    fn send(&mut self) -> std::io::Result<()> {
        if self.packet.len() > 1 {
            let header = format!("{:04x}", self.packet.len() + 4);
            self.out.write_all(header.as_bytes())?;
            self.out.write_all(&self.packet)?;
            self.packet.truncate(1);
        }
        Ok(())
    }

    /// Sends what is left, then the flush packet that ends the band.
    pub(crate) fn finish(mut self) -> std::io::Result<()> {
        self.send()?;
        self.out.write_all(b"0000")
    }
}

impl std::io::Write for Sideband<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let room = self.max_data + 1 - self.packet.len();
        let n = buf.len().min(room);
        self.packet.extend_from_slice(&buf[..n]);
        if self.packet.len() == self.max_data + 1 {
            self.send()?;
        }
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.send()?;
        self.out.flush()
    }
}

impl std::fmt::Debug for Sideband<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sideband")
            .field("band", &self.band)
            .field("max_data", &self.max_data)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn all(body: &[u8]) -> Result<Vec<Pkt<'_>>, Error> {
        let mut r = Reader::new(body);
        let mut v = Vec::new();
        while let Some(p) = r.next_pkt()? {
            v.push(p);
        }
        Ok(v)
    }

    #[test]
    fn reads_lines_and_special_packets() {
        let v = all(b"000ahello\n00010000000bworld!\n0002").unwrap();
        assert_eq!(
            v,
            vec![
                Pkt::Line(b"hello"),
                Pkt::Delim,
                Pkt::Flush,
                Pkt::Line(b"world!"),
                Pkt::ResponseEnd
            ]
        );
    }

    #[test]
    fn malformed_lengths_are_errors() {
        for bad in [&b"00"[..], b"zzzz", b"0003", b"0010short", b"fff0", b"+00a"] {
            assert!(all(bad).is_err(), "{bad:?} was accepted");
        }
        assert!(matches!(all(b"ffffxxxx"), Err(Error::TooLarge(_))));
    }

    #[test]
    fn sideband_splits_large_data_however_it_is_written() {
        use std::io::Write as _;
        let mut out = Vec::new();
        let mut band = Sideband::new(&mut out, 1, 999);
        band.write_all(&[7u8; 1500]).unwrap();
        band.write_all(&[8u8; 1000]).unwrap();
        band.finish().unwrap();
        let v = all(&out).unwrap();
        assert_eq!(v.len(), 4, "three packets and the flush");
        assert!(matches!(v[0], Pkt::Line(l) if l.len() == 1000 && l[0] == 1));
        assert!(matches!(v[1], Pkt::Line(l) if l.len() == 1000 && l[1] == 7 && l[999] == 8));
        assert!(matches!(v[2], Pkt::Line(l) if l.len() == 503));
        assert!(matches!(v[3], Pkt::Flush));
    }
}
