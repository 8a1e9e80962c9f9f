//! A bounds-checked little-endian reader over a byte slice that knows where
//! the slice sits in the file, so that every error can name the byte offset.

use snnc_io::ParseError;

pub type Result<T> = std::result::Result<T, ParseError>;

/// An error at an absolute file offset.
pub fn bad(at: u64, message: impl Into<String>) -> ParseError {
    ParseError::new(format!("byte {at:#x}"), message)
}

/// Prefixes an error's place with an outer location ("object `/a/b`").
pub fn within(mut e: ParseError, outer: &str) -> ParseError {
    e.place = Some(match e.place.take() {
        Some(inner) => format!("{outer}: {inner}"),
        None => outer.to_string(),
    });
    e
}

/// The "undefined address" of HDF5: all bits set.
pub fn is_undefined(addr: u64, size: usize) -> bool {
    size == 8 && addr == u64::MAX || size < 8 && addr == (1u64 << (8 * size)) - 1
}

#[derive(Clone)]
pub struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    /// File offset of `bytes[0]`.
    start: u64,
    /// What is being read, for errors: "superblock", "dataspace message".
    what: &'a str,
}

impl<'a> Cursor<'a> {
    pub fn new(bytes: &'a [u8], start: u64, what: &'a str) -> Self {
        Cursor {
            bytes,
            pos: 0,
            start,
            what,
        }
    }

    /// File offset of the next byte.
    pub fn at(&self) -> u64 {
        self.start + self.pos as u64
    }

    pub fn remaining(&self) -> usize {
        self.bytes.len() - self.pos
    }

    pub fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(bad(
                self.at(),
                format!(
                    "the {} is cut short: it needs {n} more bytes here but only {} remain",
                    self.what,
                    self.remaining()
                ),
            ));
        }
        let s = &self.bytes[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    pub fn skip(&mut self, n: usize) -> Result<()> {
        self.take(n).map(|_| ())
    }

    /// Moves to offset `pos` inside the slice.
    pub fn seek(&mut self, pos: usize) -> Result<()> {
        if pos > self.bytes.len() {
            return Err(bad(self.at(), format!("the {} is cut short", self.what)));
        }
        self.pos = pos;
        Ok(())
    }

    pub fn pos(&self) -> usize {
        self.pos
    }

    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }

    pub fn u16(&mut self) -> Result<u16> {
        Ok(self.uint(2)? as u16)
    }

    pub fn u32(&mut self) -> Result<u32> {
        Ok(self.uint(4)? as u32)
    }

    /// A little-endian unsigned integer of `n` bytes (1 to 8).
    pub fn uint(&mut self, n: usize) -> Result<u64> {
        let b = self.take(n)?;
        Ok(b.iter()
            .rev()
            .fold(0u64, |acc, &x| (acc << 8) | u64::from(x)))
    }

    /// An address of the file's offset size; `None` when undefined.
    pub fn addr(&mut self, size: usize) -> Result<Option<u64>> {
        let a = self.uint(size)?;
        Ok((!is_undefined(a, size)).then_some(a))
    }

    /// Checks a 4-byte signature such as `TREE`.
    pub fn signature(&mut self, sig: &[u8; 4]) -> Result<()> {
        let at = self.at();
        let got = self.take(4)?;
        if got != sig {
            return Err(bad(
                at,
                format!(
                    "expected the {} signature `{}`, found {}",
                    self.what,
                    String::from_utf8_lossy(sig),
                    show_bytes(got)
                ),
            ));
        }
        Ok(())
    }
}

/// Printable form of a few bytes for error messages.
pub fn show_bytes(b: &[u8]) -> String {
    if b.iter().all(|c| c.is_ascii_graphic()) {
        format!("`{}`", String::from_utf8_lossy(b))
    } else {
        let hex: Vec<String> = b.iter().map(|x| format!("{x:02x}")).collect();
        format!("bytes {}", hex.join(" "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_little_endian_and_refuses_overruns() {
        let b = [1u8, 2, 3, 4, 5, 6, 7, 8, 9];
        let mut c = Cursor::new(&b, 0x100, "test block");
        assert_eq!(c.u16().unwrap(), 0x0201);
        assert_eq!(c.u32().unwrap(), 0x06050403);
        assert_eq!(c.at(), 0x106);
        let e = c.u32().unwrap_err();
        assert_eq!(e.place.as_deref(), Some("byte 0x106"));
        assert!(e.message.contains("test block is cut short"), "{e}");
        let mut c = Cursor::new(&[0xff; 8], 0, "x");
        assert_eq!(c.addr(8).unwrap(), None);
        assert!(is_undefined(0xffff_ffff, 4));
        assert!(!is_undefined(0xffff_fffe, 4));
    }
}
