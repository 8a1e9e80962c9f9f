//! The `.npy` header: a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
//!
//! NumPy writes it with `repr()` and reads it with `ast.literal_eval`, so
//! other writers (older NumPy, Python 2, hand-rolled tools) vary in quoting,
//! spacing, key order and trailing commas. A small literal parser accepts all
//! of those instead of matching NumPy's exact text.

use super::error::ParseError;

/// Header dicts nest at most a couple of levels; the limit only protects the
/// recursive parser from hostile input like `((((((((...`.
const MAX_DEPTH: usize = 32;

/// Parses header text (already decoded from latin-1 / UTF-8) into its three
/// fields. `offset` is where the header starts in the file, for messages.
pub(super) fn parse_header(text: &str, offset: usize) -> Result<Header, ParseError> {
    let dict = LiteralParser::new(text, offset).parse_header()?;
    interpret_header(dict).map_err(|e| match e.help {
        Some(_) => e,
        None => e.with_help("re-save the array with np.save"),
    })
}

/// The supported element types.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dtype {
    F32,
    F64,
    I64,
    I32,
    U8,
    Bool,
}

impl Dtype {
    pub(super) fn name(self) -> &'static str {
        match self {
            Dtype::F32 => "float32",
            Dtype::F64 => "float64",
            Dtype::I64 => "int64",
            Dtype::I32 => "int32",
            Dtype::U8 => "uint8",
            Dtype::Bool => "bool",
        }
    }

    pub(super) fn itemsize(self) -> usize {
        match self {
            Dtype::F64 | Dtype::I64 => 8,
            Dtype::F32 | Dtype::I32 => 4,
            Dtype::U8 | Dtype::Bool => 1,
        }
    }

    /// The descr the writer uses (little-endian, like NumPy on x86/ARM).
    pub(super) fn descr(self) -> &'static str {
        match self {
            Dtype::F32 => "<f4",
            Dtype::F64 => "<f8",
            Dtype::I64 => "<i8",
            Dtype::I32 => "<i4",
            Dtype::U8 => "|u1",
            Dtype::Bool => "|b1",
        }
    }
}

const SUPPORTED: &str = "float32 '<f4', float64 '<f8', int64 '<i8', int32 '<i4' \
     (or big-endian '>f4' '>f8' '>i8' '>i4'), uint8 '|u1', bool '|b1'";

const CONVERT_HELP: &str =
    "convert the array before saving, e.g. np.save(path, arr.astype(np.float32))";

/// Interprets a `descr` string; returns the dtype and whether it is
/// big-endian.
fn parse_descr(descr: &str) -> Result<(Dtype, bool), ParseError> {
    let place = "header field 'descr'";
    let (order, code) = match descr.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (Some(c), &descr[1..]),
        _ => (None, descr),
    };
    let one_byte = match code {
        "u1" => Some(Dtype::U8),
        "b1" | "?" => Some(Dtype::Bool),
        _ => None,
    };
    if let Some(d) = one_byte {
        return Ok((d, false));
    }
    let multi = match code {
        "f4" => Some(Dtype::F32),
        "f8" => Some(Dtype::F64),
        "i8" => Some(Dtype::I64),
        "i4" => Some(Dtype::I32),
        _ => None,
    };
    match (multi, order) {
        (Some(d), Some('<')) => Ok((d, false)),
        (Some(d), Some('>')) => Ok((d, true)),
        (Some(d), _) => Err(ParseError::new(
            place,
            format!(
                "dtype '{descr}' ({}) has no explicit byte order, so its bytes \
                 cannot be interpreted; supported: {SUPPORTED}",
                d.name()
            ),
        )
        .with_help("save with np.save, which always writes '<' or '>'")),
        (None, _) if code.starts_with('O') => Err(ParseError::new(
            place,
            format!(
                "object arrays (dtype '{descr}') hold pickled Python objects and cannot be read"
            ),
        )
        .with_help(
            "save a numeric array instead, e.g. np.save(path, np.asarray(x, dtype=np.float32))",
        )),
        (None, _) => Err(ParseError::new(
            place,
            format!(
                "unsupported dtype '{descr}'{}; supported: {SUPPORTED}",
                describe_dtype(code)
            ),
        )
        .with_help(CONVERT_HELP)),
    }
}

/// A human name for a dtype code we do not support, e.g. ` (float16)`.
fn describe_dtype(code: &str) -> String {
    let mut chars = code.chars();
    let kind = chars.next();
    let size: String = chars.collect();
    let bits = size.parse::<usize>().ok().map(|b| b * 8);
    let name = match (kind, bits) {
        (Some('f'), Some(b)) => format!("float{b}"),
        (Some('i'), Some(b)) => format!("int{b}"),
        (Some('u'), Some(b)) => format!("uint{b}"),
        (Some('c'), Some(b)) => format!("complex{b}"),
        (Some('U'), _) => "unicode string".to_string(),
        (Some('S' | 'a'), _) => "byte string".to_string(),
        (Some('V'), _) => "raw void/record".to_string(),
        (Some('M'), _) => "datetime64".to_string(),
        (Some('m'), _) => "timedelta64".to_string(),
        _ => return String::new(),
    };
    format!(" ({name})")
}

/// A Python literal value as found in `.npy` headers.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    None,
    Tuple(Vec<Value>),
    List(Vec<Value>),
    Dict(Vec<(Value, Value)>),
}

impl Value {
    /// Short description for error messages.
    fn describe(&self) -> String {
        match self {
            Value::Str(s) => format!("the string '{s}'"),
            Value::Int(i) => format!("the integer {i}"),
            Value::Bool(b) => if *b { "True" } else { "False" }.to_string(),
            Value::None => "None".to_string(),
            Value::Tuple(_) => "a tuple".to_string(),
            Value::List(_) => "a list".to_string(),
            Value::Dict(_) => "a dict".to_string(),
        }
    }
}

struct LiteralParser {
    chars: Vec<char>,
    pos: usize,
    /// For error messages: where the header starts in the file.
    header_offset: usize,
}

impl LiteralParser {
    fn new(src: &str, header_offset: usize) -> Self {
        LiteralParser {
            chars: src.chars().collect(),
            pos: 0,
            header_offset,
        }
    }

    fn err(&self, message: impl Into<String>) -> ParseError {
        ParseError::new(
            format!(
                "header dict, character {} (from byte {})",
                self.pos, self.header_offset
            ),
            message,
        )
        .with_help("the header must be a Python dict literal as written by np.save; re-save the array with NumPy")
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(c) if c.is_whitespace()) {
            self.pos += 1;
        }
    }

    fn expect(&mut self, c: char) -> Result<(), ParseError> {
        self.skip_ws();
        match self.peek() {
            Some(x) if x == c => {
                self.pos += 1;
                Ok(())
            }
            Some(x) => Err(self.err(format!("expected '{c}', found '{x}'"))),
            None => Err(self.err(format!("expected '{c}', found the end of the header"))),
        }
    }

    /// The whole header: one dict, then only whitespace.
    fn parse_header(&mut self) -> Result<Value, ParseError> {
        self.skip_ws();
        if self.peek() != Some('{') {
            return Err(self.err("the header is not a dict (it must start with '{')"));
        }
        let v = self.value(0)?;
        self.skip_ws();
        if let Some(c) = self.peek() {
            return Err(self.err(format!("unexpected '{c}' after the closing '}}'")));
        }
        Ok(v)
    }

    fn value(&mut self, depth: usize) -> Result<Value, ParseError> {
        if depth > MAX_DEPTH {
            return Err(self.err("values are nested too deeply"));
        }
        self.skip_ws();
        match self.peek() {
            None => Err(self.err("unexpected end of the header")),
            Some('{') => self.dict(depth),
            Some('(') => self.seq(depth, '(', ')'),
            Some('[') => self.seq(depth, '[', ']'),
            Some('\'' | '"') => self.string().map(Value::Str),
            Some(c) if c == '-' || c == '+' || c.is_ascii_digit() => self.int(),
            Some(c) if c.is_alphabetic() || c == '_' => {
                let start = self.pos;
                while matches!(self.peek(), Some(c) if c.is_alphanumeric() || c == '_') {
                    self.pos += 1;
                }
                let word: String = self.chars[start..self.pos].iter().collect();
                match word.as_str() {
                    "True" => Ok(Value::Bool(true)),
                    "False" => Ok(Value::Bool(false)),
                    "None" => Ok(Value::None),
                    _ => {
                        self.pos = start;
                        Err(self.err(format!("unexpected name '{word}'")))
                    }
                }
            }
            Some(c) => Err(self.err(format!("unexpected character '{c}'"))),
        }
    }

    fn dict(&mut self, depth: usize) -> Result<Value, ParseError> {
        self.expect('{')?;
        let mut items = Vec::new();
        loop {
            self.skip_ws();
            if self.peek() == Some('}') {
                self.pos += 1;
                return Ok(Value::Dict(items));
            }
            let key = self.value(depth + 1)?;
            self.expect(':')?;
            let val = self.value(depth + 1)?;
            items.push((key, val));
            self.skip_ws();
            match self.peek() {
                Some(',') => self.pos += 1,
                Some('}') => {}
                Some(c) => return Err(self.err(format!("expected ',' or '}}', found '{c}'"))),
                None => return Err(self.err("the dict is not closed with '}'")),
            }
        }
    }

    /// Tuples and lists. Like Python, `(x)` without a comma is just `x`.
    fn seq(&mut self, depth: usize, open: char, close: char) -> Result<Value, ParseError> {
        self.expect(open)?;
        let mut items = Vec::new();
        let mut saw_comma = false;
        loop {
            self.skip_ws();
            if self.peek() == Some(close) {
                self.pos += 1;
                break;
            }
            items.push(self.value(depth + 1)?);
            self.skip_ws();
            match self.peek() {
                Some(',') => {
                    saw_comma = true;
                    self.pos += 1;
                }
                Some(c) if c == close => {}
                Some(c) => return Err(self.err(format!("expected ',' or '{close}', found '{c}'"))),
                None => return Err(self.err(format!("'{open}' is not closed with '{close}'"))),
            }
        }
        if open == '[' {
            return Ok(Value::List(items));
        }
        if items.len() == 1 && !saw_comma {
            return Ok(items.remove(0));
        }
        Ok(Value::Tuple(items))
    }

    fn string(&mut self) -> Result<String, ParseError> {
        let quote = self.peek().unwrap_or('\'');
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.err("a string is not closed")),
                Some(c) if c == quote => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') => {
                    self.pos += 1;
                    match self.peek() {
                        None => return Err(self.err("a string is not closed")),
                        Some(e) => {
                            self.pos += 1;
                            match e {
                                'n' => out.push('\n'),
                                't' => out.push('\t'),
                                '\\' | '\'' | '"' => out.push(e),
                                other => {
                                    out.push('\\');
                                    out.push(other);
                                }
                            }
                        }
                    }
                }
                Some(c) => {
                    self.pos += 1;
                    out.push(c);
                }
            }
        }
    }

    /// Integers, with the `L` suffix Python 2 wrote for longs (`(3L, 4L)`).
    fn int(&mut self) -> Result<Value, ParseError> {
        let start = self.pos;
        if matches!(self.peek(), Some('-' | '+')) {
            self.pos += 1;
        }
        while matches!(self.peek(), Some(c) if c.is_ascii_digit() || c == '_') {
            self.pos += 1;
        }
        let text: String = self.chars[start..self.pos]
            .iter()
            .filter(|&&c| c != '_')
            .collect();
        if matches!(self.peek(), Some('L' | 'l')) {
            self.pos += 1;
        }
        if matches!(self.peek(), Some(c) if c.is_alphanumeric() || c == '.') {
            return Err(self.err(format!(
                "expected an integer, found '{text}{}...'",
                self.peek().unwrap_or(' ')
            )));
        }
        text.parse::<i64>().map(Value::Int).map_err(|_| {
            self.pos = start;
            self.err(format!("'{text}' is not a valid integer (or is too large)"))
        })
    }
}

/// The three fields of a `.npy` header.
#[derive(Debug)]
pub(super) struct Header {
    pub(super) dtype: Dtype,
    pub(super) big_endian: bool,
    pub(super) fortran_order: bool,
    pub(super) shape: Vec<usize>,
}

fn interpret_header(dict: Value) -> Result<Header, ParseError> {
    let Value::Dict(items) = dict else {
        return Err(ParseError::new("header", "the header is not a dict"));
    };
    let mut descr = None;
    let mut fortran = None;
    let mut shape = None;
    // Python semantics: a later duplicate key wins. Unknown keys are ignored.
    for (k, v) in items {
        match k {
            Value::Str(s) if s == "descr" => descr = Some(v),
            Value::Str(s) if s == "fortran_order" => fortran = Some(v),
            Value::Str(s) if s == "shape" => shape = Some(v),
            _ => {}
        }
    }
    let missing = |field: &str| {
        ParseError::new(
            "header",
            format!("the header dict has no '{field}' key (it needs 'descr', 'fortran_order' and 'shape')"),
        )
        .with_help("re-save the array with np.save")
    };

    let (dtype, big_endian) = match descr.ok_or_else(|| missing("descr"))? {
        Value::Str(s) => parse_descr(&s)?,
        Value::List(_) => {
            return Err(ParseError::new(
                "header field 'descr'",
                "structured (record) arrays with named fields are not supported",
            )
            .with_help(
                "save each field as its own array, e.g. np.savez(path, a=rec['a'], b=rec['b'])",
            ))
        }
        other => {
            return Err(ParseError::new(
                "header field 'descr'",
                format!(
                    "expected a dtype string such as '<f4', found {}",
                    other.describe()
                ),
            ))
        }
    };

    let fortran_order = match fortran.ok_or_else(|| missing("fortran_order"))? {
        Value::Bool(b) => b,
        other => {
            return Err(ParseError::new(
                "header field 'fortran_order'",
                format!("expected True or False, found {}", other.describe()),
            ))
        }
    };

    let shape_place = "header field 'shape'";
    let dims = match shape.ok_or_else(|| missing("shape"))? {
        Value::Tuple(d) | Value::List(d) => d,
        other => {
            return Err(ParseError::new(
                shape_place,
                format!(
                    "expected a tuple of non-negative integers like (3, 4), found {}",
                    other.describe()
                ),
            ))
        }
    };
    let mut shape = Vec::with_capacity(dims.len());
    for (i, d) in dims.iter().enumerate() {
        match d {
            Value::Int(n) if *n >= 0 => match usize::try_from(*n) {
                Ok(n) => shape.push(n),
                Err(_) => {
                    return Err(ParseError::new(
                        shape_place,
                        format!("dimension {i} ({n}) is too large for this machine"),
                    ))
                }
            },
            other => {
                return Err(ParseError::new(
                    shape_place,
                    format!(
                        "dimension {i} must be a non-negative integer, found {}",
                        other.describe()
                    ),
                ))
            }
        }
    }
    Ok(Header {
        dtype,
        big_endian,
        fortran_order,
        shape,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Header, String> {
        parse_header(text, 10).map_err(|e| e.to_string())
    }

    #[test]
    fn literal_values() {
        let v = LiteralParser::new(
            "{'a': (1, -2,), \"b\": [True, None], 'c': ('x'), 'd': ()}",
            0,
        )
        .parse_header()
        .unwrap();
        let Value::Dict(items) = v else {
            panic!("not a dict")
        };
        assert_eq!(
            items[0].1,
            Value::Tuple(vec![Value::Int(1), Value::Int(-2)])
        );
        assert_eq!(
            items[1].1,
            Value::List(vec![Value::Bool(true), Value::None])
        );
        assert_eq!(items[2].1, Value::Str("x".into()), "(x) without comma is x");
        assert_eq!(items[3].1, Value::Tuple(vec![]));
        let v = LiteralParser::new(r"{'it\'s': 'a\\b'}", 0)
            .parse_header()
            .unwrap();
        assert_eq!(
            v,
            Value::Dict(vec![(Value::Str("it's".into()), Value::Str("a\\b".into()))])
        );
    }

    #[test]
    fn header_fields() {
        let h = parse("{'descr': '>i4', 'fortran_order': True, 'shape': (2, 0, 3), }\n").unwrap();
        assert_eq!(
            (h.dtype, h.big_endian, h.fortran_order),
            (Dtype::I32, true, true)
        );
        assert_eq!(h.shape, vec![2, 0, 3]);
        let h = parse("{'descr': '|u1', 'fortran_order': False, 'shape': ()}").unwrap();
        assert_eq!((h.dtype, h.shape.len()), (Dtype::U8, 0));
    }

    #[test]
    fn errors_give_place_and_help() {
        for (text, want) in [
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (1,)",
                "not closed",
            ),
            (
                "{'descr': '<f4' 'fortran_order': False}",
                "expected ',' or '}'",
            ),
            ("{'descr: '<f4'}", "expected ':'"),
            ("{'descr': <f4}", "unexpected character '<'"),
            (
                "{'descr': '<f4', 'fortran_order': false, 'shape': (1,)}",
                "unexpected name 'false'",
            ),
            (
                "{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}",
                "too large",
            ),
            (
                "{'descr': '<m8', 'fortran_order': False, 'shape': (1,)}",
                "timedelta64",
            ),
            (
                "{'descr': 7, 'fortran_order': False, 'shape': (1,)}",
                "dtype string",
            ),
        ] {
            let err = parse(text).expect_err(want);
            assert!(err.contains(want), "want {want:?} in: {err}");
            assert!(err.contains("help:"), "no fix in: {err}");
        }
        let err = parse("{'descr': '<f4', 'fortran_order': False, 'shape': (1,)").unwrap_err();
        assert!(err.starts_with("header dict, character "), "{err}");
    }
}
