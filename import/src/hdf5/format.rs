//! The on-disk structures of the HDF5 subset Keras writes, each parsed with
//! every read bounds-checked (see `docs/import.md`).
//!
//! Supported: superblock versions 0 to 3; object header versions 1 and 2
//! with continuation blocks; old-style groups (symbol table message, v1
//! B-tree, local heap, symbol table nodes) and new-style compact groups
//! (link messages); dataspace v1/v2; datatypes fixed-point, IEEE
//! floating-point (16/32/64 bits, either byte order), fixed-length strings
//! and variable-length strings; contiguous and compact data layouts
//! (versions 1 to 4); attribute messages v1 to v3; global heap collections.
//!
//! Refused with a clear message: chunked or filtered (compressed) datasets,
//! dense (fractal-heap) link or attribute storage, shared (committed)
//! datatypes, external storage, any other datatype class.

use std::collections::HashSet;

use super::cursor::{bad, show_bytes, within, Cursor, Result};

pub const SIGNATURE: &[u8; 8] = b"\x89HDF\r\n\x1a\n";

/// Object header message types used here.
pub mod msg {
    pub const NIL: u16 = 0x00;
    pub const DATASPACE: u16 = 0x01;
    pub const LINK_INFO: u16 = 0x02;
    pub const DATATYPE: u16 = 0x03;
    pub const LAYOUT: u16 = 0x08;
    pub const EXTERNAL: u16 = 0x07;
    pub const LINK: u16 = 0x06;
    pub const FILTERS: u16 = 0x0B;
    pub const ATTRIBUTE: u16 = 0x0C;
    pub const CONTINUATION: u16 = 0x10;
    pub const SYMBOL_TABLE: u16 = 0x11;
    pub const ATTRIBUTE_INFO: u16 = 0x15;
}

/// Deepest B-tree accepted; real files have one or two levels.
const MAX_BTREE_DEPTH: usize = 32;
/// Most continuation blocks one object header may chain.
const MAX_CONTINUATIONS: usize = 4096;

/// The whole file in memory plus the superblock facts every read needs.
pub struct Raw {
    pub data: Vec<u8>,
    /// Size of file addresses ("offsets") in bytes.
    pub so: usize,
    /// Size of lengths in bytes.
    pub sl: usize,
    /// Absolute offset that addresses are relative to.
    pub base: u64,
    /// Object header address of the root group.
    pub root: u64,
    pub version: u8,
}

impl Raw {
    /// Parses the superblock, found at byte 0 or at 512, 1024, 2048, ...
    pub fn new(data: Vec<u8>) -> Result<Raw> {
        let mut at = 0usize;
        loop {
            if data.len() >= at + 8 && &data[at..at + 8] == SIGNATURE {
                break;
            }
            at = if at == 0 { 512 } else { at * 2 };
            if at + 8 > data.len() {
                let head = &data[..data.len().min(8)];
                let what = if data.is_empty() {
                    "the file is empty (0 bytes)".to_string()
                } else {
                    format!("it starts with {}", show_bytes(head))
                };
                return Err(bad(
                    0,
                    format!("not an HDF5 file: no HDF5 signature found ({what})"),
                ));
            }
        }
        let (so, sl, base, root, version) = {
            let mut c = Cursor::new(&data[at..], at as u64, "superblock");
            c.skip(8)?;
            let version = c.u8()?;
            match version {
                0 | 1 => {
                    c.skip(4)?; // free-space, root table, reserved, shared header versions
                    let so = c.u8()? as usize;
                    let sl = c.u8()? as usize;
                    check_sizes(so, sl, c.at())?;
                    c.skip(1 + 2 + 2 + 4)?; // reserved, leaf K, internal K, flags
                    if version == 1 {
                        c.skip(4)?; // indexed storage K, reserved
                    }
                    let base = c.uint(so)?;
                    c.skip(3 * so)?; // free space, end of file, driver block
                    c.skip(so)?; // root symbol table entry: link name offset
                    let root = c.uint(so)?;
                    (so, sl, base, root, version)
                }
                2 | 3 => {
                    let so = c.u8()? as usize;
                    let sl = c.u8()? as usize;
                    check_sizes(so, sl, c.at())?;
                    c.skip(1)?; // consistency flags
                    let base = c.uint(so)?;
                    c.skip(2 * so)?; // extension, end of file
                    let root = c.uint(so)?;
                    (so, sl, base, root, version)
                }
                v => {
                    return Err(bad(
                        at as u64 + 8,
                        format!(
                            "unsupported HDF5 superblock version {v} (this reader knows 0 to 3)"
                        ),
                    ))
                }
            }
        };
        Ok(Raw {
            data,
            so,
            sl,
            base,
            root,
            version,
        })
    }

    /// A cursor over `len` bytes at file address `addr`.
    pub fn at<'a>(&'a self, addr: u64, len: u64, what: &'a str) -> Result<Cursor<'a>> {
        let abs = self.base.checked_add(addr);
        let end = abs.and_then(|a| a.checked_add(len));
        match (abs, end) {
            (Some(a), Some(e)) if e <= self.data.len() as u64 => {
                Ok(Cursor::new(&self.data[a as usize..e as usize], a, what))
            }
            _ => Err(bad(
                addr,
                format!(
                    "the {what} ({len} bytes at address {addr:#x}) lies beyond the end of the file ({} bytes): is the file truncated?",
                    self.data.len()
                ),
            )),
        }
    }

    /// A cursor from `addr` to the end of the file.
    pub fn from<'a>(&'a self, addr: u64, what: &'a str) -> Result<Cursor<'a>> {
        let avail = (self.data.len() as u64).saturating_sub(self.base.saturating_add(addr));
        self.at(addr, avail, what)
    }

    // -------------------------------------------------- object headers ----

    /// All messages of the object header at `addr`, following continuations.
    pub fn object_header(&self, addr: u64) -> Result<Vec<Msg>> {
        let mut c = self.from(addr, "object header")?;
        let head = c.clone().take(4)?;
        if head == b"OHDR" {
            return self.object_header_v2(addr);
        }
        if head[0] != 1 {
            return Err(bad(
                addr,
                format!(
                    "expected an object header (version 1, or `OHDR`), found {}",
                    show_bytes(head)
                ),
            ));
        }
        c.skip(2)?; // version, reserved
        c.skip(2)?; // number of messages: the blocks say it all
        c.skip(4)?; // reference count
        let size = c.u32()? as u64;
        let mut msgs = Vec::new();
        let mut blocks = vec![(addr + 16, size)];
        let mut seen = HashSet::new();
        while let Some((start, len)) = blocks.pop() {
            if !seen.insert(start) || seen.len() > MAX_CONTINUATIONS {
                return Err(bad(start, "object header continuation blocks form a loop"));
            }
            let mut c = self.at(start, len, "object header message block")?;
            while c.remaining() >= 8 {
                let kind = c.u16()?;
                let size = c.u16()? as usize;
                let flags = c.u8()?;
                c.skip(3)?;
                let at = c.at();
                c.take(size).map_err(|_| {
                    bad(at, format!("message of type {kind:#x} claims {size} bytes but the header block has {} left", c.remaining()))
                })?;
                let m = Msg {
                    kind,
                    flags,
                    at: at - self.base,
                    len: size,
                };
                if kind == msg::CONTINUATION {
                    blocks.push(self.continuation(&m)?);
                } else if kind != msg::NIL {
                    msgs.push(m);
                }
            }
        }
        Ok(msgs)
    }

    fn object_header_v2(&self, addr: u64) -> Result<Vec<Msg>> {
        let mut c = self.from(addr, "object header")?;
        c.skip(4)?;
        let version = c.u8()?;
        if version != 2 {
            return Err(bad(
                addr + 4,
                format!("unsupported object header version {version}"),
            ));
        }
        let flags = c.u8()?;
        if flags & 0x20 != 0 {
            c.skip(16)?; // times
        }
        if flags & 0x10 != 0 {
            c.skip(4)?; // attribute phase change
        }
        let size = c.uint(1 << (flags & 3))?;
        let start = c.at() - self.base;
        let crt_order = flags & 0x04 != 0;
        let mut msgs = Vec::new();
        let mut blocks = vec![(start, size)];
        let mut seen = HashSet::new();
        while let Some((start, len)) = blocks.pop() {
            if !seen.insert(start) || seen.len() > MAX_CONTINUATIONS {
                return Err(bad(start, "object header continuation blocks form a loop"));
            }
            let mut c = self.at(start, len, "object header message block")?;
            let head = if crt_order { 6 } else { 4 };
            while c.remaining() >= head {
                let kind = c.u8()? as u16;
                let size = c.u16()? as usize;
                let mflags = c.u8()?;
                if crt_order {
                    c.skip(2)?;
                }
                let at = c.at();
                c.take(size).map_err(|_| {
                    bad(at, format!("message of type {kind:#x} claims {size} bytes but the header block has {} left", c.remaining()))
                })?;
                let m = Msg {
                    kind,
                    flags: mflags,
                    at: at - self.base,
                    len: size,
                };
                if kind == msg::CONTINUATION {
                    let (a, l) = self.continuation(&m)?;
                    // `OCHK` signature first, checksum last.
                    let mut k = self.at(a, l, "object header continuation block")?;
                    k.signature(b"OCHK")?;
                    blocks.push((a + 4, l.saturating_sub(8)));
                } else if kind != msg::NIL {
                    msgs.push(m);
                }
            }
        }
        Ok(msgs)
    }

    fn continuation(&self, m: &Msg) -> Result<(u64, u64)> {
        let mut c = self.msg(m, "continuation message")?;
        let a = c
            .addr(self.so)?
            .ok_or_else(|| bad(m.at, "continuation message points nowhere"))?;
        let l = c.uint(self.sl)?;
        Ok((a, l))
    }

    /// A cursor over one message's data.
    pub fn msg<'a>(&'a self, m: &Msg, what: &'a str) -> Result<Cursor<'a>> {
        self.at(m.at, m.len as u64, what)
    }

    // ----------------------------------------------------------- groups ----

    /// The members of a group (name and object header address), or `None`
    /// if the object is not a group.
    pub fn links(&self, msgs: &[Msg]) -> Result<Option<Vec<(String, u64)>>> {
        if let Some(m) = msgs.iter().find(|m| m.kind == msg::SYMBOL_TABLE) {
            let mut c = self.msg(m, "symbol table message")?;
            let btree = c.addr(self.so)?;
            let heap = c
                .addr(self.so)?
                .ok_or_else(|| bad(m.at, "the group's local heap address is undefined"))?;
            let heap = self.local_heap(heap)?;
            let mut out = Vec::new();
            if let Some(btree) = btree {
                let mut seen = HashSet::new();
                self.btree_group(btree, heap, 0, &mut seen, &mut out)?;
            }
            return Ok(Some(out));
        }
        let mut is_group = false;
        let mut out = Vec::new();
        for m in msgs {
            match m.kind {
                msg::LINK_INFO => {
                    is_group = true;
                    let mut c = self.msg(m, "link info message")?;
                    c.skip(1)?;
                    let flags = c.u8()?;
                    if flags & 1 != 0 {
                        c.skip(8)?;
                    }
                    if c.addr(self.so)?.is_some() {
                        return Err(bad(
                            m.at,
                            "this group keeps its members in dense storage (a fractal heap), which this reader does not support",
                        )
                        .with_help("save the model with h5py's default `libver='earliest'` (Keras does), or fewer members per group"));
                    }
                }
                msg::LINK => {
                    is_group = true;
                    if let Some(link) = self.link(m)? {
                        out.push(link);
                    }
                }
                _ => {}
            }
        }
        Ok(is_group.then_some(out))
    }

    /// A link message; soft and external links are skipped (`None`).
    fn link(&self, m: &Msg) -> Result<Option<(String, u64)>> {
        let mut c = self.msg(m, "link message")?;
        let version = c.u8()?;
        if version != 1 {
            return Err(bad(
                m.at,
                format!("unsupported link message version {version}"),
            ));
        }
        let flags = c.u8()?;
        let kind = if flags & 0x08 != 0 { c.u8()? } else { 0 };
        if flags & 0x04 != 0 {
            c.skip(8)?;
        }
        if flags & 0x10 != 0 {
            c.skip(1)?;
        }
        let n = c.uint(1 << (flags & 3))? as usize;
        let at = c.at();
        let name = utf8(c.take(n)?, at, "link name")?;
        if kind != 0 {
            return Ok(None);
        }
        let addr = c
            .addr(self.so)?
            .ok_or_else(|| bad(c.at(), format!("link `{name}` points nowhere")))?;
        Ok(Some((name, addr)))
    }

    /// The data segment of a local heap: (address, size).
    fn local_heap(&self, addr: u64) -> Result<(u64, u64)> {
        let mut c = self.from(addr, "local heap")?;
        c.signature(b"HEAP")?;
        c.skip(4)?;
        let size = c.uint(self.sl)?;
        c.skip(self.sl)?;
        let data = c
            .addr(self.so)?
            .ok_or_else(|| bad(addr, "the local heap's data address is undefined"))?;
        self.at(data, size, "local heap data")?;
        Ok((data, size))
    }

    fn heap_name(&self, heap: (u64, u64), offset: u64) -> Result<String> {
        let mut c = self.at(heap.0, heap.1, "local heap data")?;
        if offset >= heap.1 {
            return Err(bad(
                heap.0,
                format!(
                    "a member name at heap offset {offset} lies outside the {}-byte local heap",
                    heap.1
                ),
            ));
        }
        c.skip(offset as usize)?;
        let start = c.at();
        let rest = c.take(c.remaining())?;
        let end = rest.iter().position(|&b| b == 0).ok_or_else(|| {
            bad(
                start,
                "a member name in the local heap has no terminating NUL",
            )
        })?;
        utf8(&rest[..end], start, "member name")
    }

    fn btree_group(
        &self,
        addr: u64,
        heap: (u64, u64),
        depth: usize,
        seen: &mut HashSet<u64>,
        out: &mut Vec<(String, u64)>,
    ) -> Result<()> {
        if depth > MAX_BTREE_DEPTH || !seen.insert(addr) {
            return Err(bad(
                addr,
                "the group's B-tree is deeper than possible or loops back on itself",
            ));
        }
        let mut c = self.from(addr, "group B-tree node")?;
        c.signature(b"TREE")?;
        let kind = c.u8()?;
        if kind != 0 {
            return Err(bad(
                addr + 4,
                format!("expected a group B-tree node (type 0), found type {kind}"),
            ));
        }
        let level = c.u8()?;
        let entries = c.u16()? as usize;
        c.skip(2 * self.so)?; // siblings
        for _ in 0..entries {
            c.skip(self.sl)?; // key
            let child = c
                .addr(self.so)?
                .ok_or_else(|| bad(c.at(), "a group B-tree child address is undefined"))?;
            if level > 0 {
                self.btree_group(child, heap, depth + 1, seen, out)?;
            } else {
                self.symbol_node(child, heap, seen, out)?;
            }
        }
        Ok(())
    }

    fn symbol_node(
        &self,
        addr: u64,
        heap: (u64, u64),
        seen: &mut HashSet<u64>,
        out: &mut Vec<(String, u64)>,
    ) -> Result<()> {
        if !seen.insert(addr) {
            return Err(bad(
                addr,
                "a symbol table node is listed twice in the group's B-tree",
            ));
        }
        let mut c = self.from(addr, "symbol table node")?;
        c.signature(b"SNOD")?;
        c.skip(2)?;
        let n = c.u16()? as usize;
        for _ in 0..n {
            let name_off = c.uint(self.so)?;
            let obj = c.addr(self.so)?.ok_or_else(|| {
                bad(
                    c.at(),
                    "a group member's object header address is undefined",
                )
            })?;
            c.skip(8 + 16)?; // cache type, reserved, scratch pad
            out.push((self.heap_name(heap, name_off)?, obj));
        }
        Ok(())
    }

    // ---------------------------------------------------- global heap ----

    /// Object `index` of the global heap collection at `addr`.
    pub fn global_object(&self, addr: u64, index: u32) -> Result<&[u8]> {
        let mut c = self.from(addr, "global heap collection")?;
        c.signature(b"GCOL")?;
        c.skip(4)?;
        let size = c.uint(self.sl)?;
        let mut c = self.at(addr, size, "global heap collection")?;
        c.skip(8 + self.sl)?;
        while c.remaining() >= 8 + self.sl {
            let at = c.at();
            let i = c.u16()?;
            if i == 0 {
                break; // free space to the end of the collection
            }
            c.skip(6)?;
            let n = c.uint(self.sl)?;
            let n = usize::try_from(n)
                .map_err(|_| bad(at, "a global heap object size does not fit in memory"))?;
            if n > c.remaining() {
                return Err(bad(
                    at,
                    format!(
                        "global heap object {i} claims {n} bytes but its collection has {} left",
                        c.remaining()
                    ),
                ));
            }
            let data = c.take(n)?;
            if u32::from(i) == index {
                return Ok(data);
            }
            c.skip((8 - n % 8) % 8)
                .or_else(|_| c.seek(c.pos() + c.remaining()))?;
        }
        Err(bad(
            addr,
            format!("the global heap collection has no object {index}"),
        ))
    }
}

fn check_sizes(so: usize, sl: usize, at: u64) -> Result<()> {
    for (what, s) in [("offset", so), ("length", sl)] {
        if ![2, 4, 8].contains(&s) {
            return Err(bad(
                at,
                format!("invalid size of {what}s in the superblock: {s} (must be 2, 4 or 8)"),
            ));
        }
    }
    Ok(())
}

pub fn utf8(b: &[u8], at: u64, what: &str) -> Result<String> {
    String::from_utf8(b.to_vec()).map_err(|_| {
        bad(
            at,
            format!(
                "the {what} is not valid UTF-8: {}",
                show_bytes(&b[..b.len().min(16)])
            ),
        )
    })
}

/// One object header message: its type, flags and where its data is.
#[derive(Clone, Copy, Debug)]
pub struct Msg {
    pub kind: u16,
    pub flags: u8,
    /// File address of the message data.
    pub at: u64,
    pub len: usize,
}

impl Msg {
    pub fn shared(&self) -> bool {
        self.flags & 0x02 != 0
    }
}

// ---------------------------------------------------------- dataspace ----

/// Dimensions of a dataspace; `None` for a null dataspace (no elements).
pub fn dataspace(c: &mut Cursor, sl: usize) -> Result<Option<Vec<u64>>> {
    let at = c.at();
    let version = c.u8()?;
    let rank = c.u8()? as usize;
    let _flags = c.u8()?; // max dims present: not needed
    let null = match version {
        1 => {
            c.skip(5)?;
            false
        }
        2 => {
            let kind = c.u8()?;
            if kind > 2 {
                return Err(bad(at + 3, format!("unknown dataspace type {kind}")));
            }
            kind == 2
        }
        v => {
            return Err(bad(
                at,
                format!("unsupported dataspace message version {v}"),
            ))
        }
    };
    if rank > 32 {
        return Err(bad(
            at + 1,
            format!("a dataspace of rank {rank} (HDF5 allows at most 32)"),
        ));
    }
    let mut dims = Vec::with_capacity(rank);
    for _ in 0..rank {
        dims.push(c.uint(sl)?);
    }
    Ok((!null).then_some(dims))
}

// ----------------------------------------------------------- datatype ----

#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Dtype {
    /// Fixed-point integer.
    Int {
        size: usize,
        signed: bool,
        big_endian: bool,
    },
    /// IEEE float of 2, 4 or 8 bytes.
    Float { size: usize, big_endian: bool },
    /// Fixed-length string of `size` bytes; `space_padded` strips spaces.
    FixedString { size: usize, space_padded: bool },
    /// Variable-length string: each element points into the global heap.
    VlenString,
}

/// Parses a datatype message. `so` is the file's offset size (vlen
/// elements hold a global heap address).
pub fn datatype(c: &mut Cursor, so: usize) -> Result<(Dtype, usize)> {
    let at = c.at();
    let b0 = c.u8()?;
    let (class, version) = (b0 & 0x0f, b0 >> 4);
    if !(1..=5).contains(&version) {
        return Err(bad(at, format!("unsupported datatype version {version}")));
    }
    let bits = c.take(3)?;
    let bits = u32::from(bits[0]) | u32::from(bits[1]) << 8 | u32::from(bits[2]) << 16;
    let size = c.u32()? as usize;
    let dt = match class {
        0 => {
            c.skip(4)?; // bit offset, precision
            if ![1, 2, 4, 8].contains(&size) {
                return Err(bad(at, format!("unsupported integer size of {size} bytes")));
            }
            Dtype::Int {
                size,
                signed: bits & 0x08 != 0,
                big_endian: bits & 0x01 != 0,
            }
        }
        1 => {
            let offset = c.u16()?;
            let precision = c.u16()?;
            let exp_loc = c.u8()?;
            let exp_size = c.u8()?;
            let man_loc = c.u8()?;
            let man_size = c.u8()?;
            let bias = c.u32()?;
            let ieee = match size {
                2 => (10, 5, 0, 10, 15),
                4 => (23, 8, 0, 23, 127),
                8 => (52, 11, 0, 52, 1023),
                _ => (0, 0, 0, 0, 0),
            };
            let byte_order = bits & 0x41;
            if offset != 0
                || usize::from(precision) != size * 8
                || (exp_loc, exp_size, man_loc, man_size, bias) != ieee
                || byte_order == 0x40
                || byte_order == 0x41
            {
                return Err(bad(
                    at,
                    format!(
                        "a {size}-byte floating-point type that is not IEEE binary16/32/64 (precision {precision}, exponent {exp_size} bits at {exp_loc}, mantissa {man_size} bits at {man_loc}, bias {bias})"
                    ),
                ));
            }
            Dtype::Float {
                size,
                big_endian: byte_order == 0x01,
            }
        }
        3 => Dtype::FixedString {
            size,
            space_padded: bits & 0x0f == 2,
        },
        9 => {
            let kind = bits & 0x0f;
            if kind != 1 {
                return Err(bad(
                    at,
                    "a variable-length sequence (not a string), which this reader does not support",
                ));
            }
            let expected = 4 + so + 4;
            if size != expected {
                return Err(bad(
                    at,
                    format!(
                        "a variable-length string element of {size} bytes (expected {expected})"
                    ),
                ));
            }
            // The base type (one byte characters) follows; not needed.
            Dtype::VlenString
        }
        other => {
            let name = match other {
                2 => "time",
                4 => "bitfield",
                5 => "opaque",
                6 => "compound",
                7 => "reference",
                8 => "enum",
                10 => "array",
                _ => "unknown",
            };
            return Err(bad(
                at,
                format!("datatype class {other} ({name}) is not supported: only integers, IEEE floats and strings are"),
            ));
        }
    };
    Ok((dt, size))
}

// ------------------------------------------------------------- layout ----

pub enum Layout {
    /// `size` bytes at an address (`None`: never written, all fill value).
    Contiguous { addr: Option<u64>, size: u64 },
    /// The data is inside the message itself.
    Compact { at: u64, size: u64 },
}

pub fn layout(c: &mut Cursor, so: usize, sl: usize) -> Result<Layout> {
    let at = c.at();
    let version = c.u8()?;
    let refuse_chunked = || {
        bad(
            at,
            "this dataset is chunked (possibly compressed), which this reader does not support",
        )
        .with_help(
            "Keras writes contiguous datasets; re-save the model with Keras' model.save(...)",
        )
    };
    match version {
        1 | 2 => {
            let rank = c.u8()? as usize;
            let class = c.u8()?;
            c.skip(5)?;
            match class {
                0 => {
                    c.skip(4 * rank)?;
                    let size = u64::from(c.u32()?);
                    Ok(Layout::Compact { at: c.at(), size })
                }
                1 => {
                    let addr = c.addr(so)?;
                    let mut size = 1u64;
                    for _ in 0..rank {
                        size = size.saturating_mul(u64::from(c.u32()?));
                    }
                    Ok(Layout::Contiguous { addr, size })
                }
                2 => Err(refuse_chunked()),
                k => Err(bad(at, format!("unknown data layout class {k}"))),
            }
        }
        3 | 4 => match c.u8()? {
            0 => {
                let size = u64::from(c.u16()?);
                Ok(Layout::Compact { at: c.at(), size })
            }
            1 => {
                let addr = c.addr(so)?;
                let size = c.uint(sl)?;
                Ok(Layout::Contiguous { addr, size })
            }
            2 => Err(refuse_chunked()),
            3 => Err(bad(
                at,
                "a virtual dataset, which this reader does not support",
            )),
            k => Err(bad(at, format!("unknown data layout class {k}"))),
        },
        v => Err(bad(
            at,
            format!("unsupported data layout message version {v}"),
        )),
    }
}

/// A parsed attribute message: name, type, shape and where its raw data is.
pub struct AttrMsg {
    pub name: String,
    pub dtype: Dtype,
    pub elem_size: usize,
    pub dims: Option<Vec<u64>>,
    /// File address and length of the raw element bytes.
    pub data_at: u64,
    pub data_len: usize,
}

pub fn attribute(raw: &Raw, m: &Msg) -> Result<AttrMsg> {
    let mut c = raw.msg(m, "attribute message")?;
    let version = c.u8()?;
    if !(1..=3).contains(&version) {
        return Err(bad(
            m.at,
            format!("unsupported attribute message version {version}"),
        ));
    }
    let flags = c.u8()?;
    let name_size = c.u16()? as usize;
    let dt_size = c.u16()? as usize;
    let ds_size = c.u16()? as usize;
    if version == 3 {
        c.skip(1)?; // name encoding
    }
    if version >= 2 && flags & 0x03 != 0 {
        return Err(bad(
            m.at,
            "an attribute with a shared datatype or dataspace, which this reader does not support",
        ));
    }
    let pad = |n: usize| if version == 1 { n.div_ceil(8) * 8 } else { n };
    let name_at = c.at();
    let name_bytes = c.take(pad(name_size))?;
    let name_bytes = &name_bytes[..name_size.min(name_bytes.len())];
    let end = name_bytes
        .iter()
        .position(|&b| b == 0)
        .unwrap_or(name_bytes.len());
    let name = utf8(&name_bytes[..end], name_at, "attribute name")?;
    let ctx = format!("attribute `{name}`");
    let parse = |c: &mut Cursor| -> Result<_> {
        let dt_at = c.at();
        let mut dt = Cursor::new(c.take(pad(dt_size))?, dt_at, "attribute datatype");
        let (dtype, elem_size) = datatype(&mut dt, raw.so)?;
        let ds_at = c.at();
        let mut ds = Cursor::new(c.take(pad(ds_size))?, ds_at, "attribute dataspace");
        let dims = dataspace(&mut ds, raw.sl)?;
        let n = element_count(dims.as_deref(), ds_at)?;
        let len = n.checked_mul(elem_size as u64).filter(|&l| l <= c.remaining() as u64).ok_or_else(|| {
            bad(c.at(), format!("its {n} elements of {elem_size} bytes do not fit in the {} bytes left in the message", c.remaining()))
        })?;
        Ok((dtype, elem_size, dims, c.at() - raw.base, len as usize))
    };
    let (dtype, elem_size, dims, data_at, data_len) = parse(&mut c).map_err(|e| within(e, &ctx))?;
    Ok(AttrMsg {
        name,
        dtype,
        elem_size,
        dims,
        data_at,
        data_len,
    })
}

/// Product of the dimensions (1 for a scalar, 0 for a null dataspace),
/// refusing overflow.
pub fn element_count(dims: Option<&[u64]>, at: u64) -> Result<u64> {
    match dims {
        None => Ok(0),
        Some(d) => d
            .iter()
            .try_fold(1u64, |acc, &x| acc.checked_mul(x))
            .ok_or_else(|| {
                bad(
                    at,
                    format!("the dataspace {d:?} has more elements than can be addressed"),
                )
            }),
    }
}
