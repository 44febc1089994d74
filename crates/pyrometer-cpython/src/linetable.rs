//! Decoding `co_linetable` (CPython 3.11+, `Objects/locations.md`).
//!
//! Each entry starts with a byte `1ccccLLL`: it covers `L + 1` code units, and the code `c`
//! says what follows:
//! - 15: no location (the line is "none");
//! - 14: long form: signed-varint line delta, varint end-line delta, varint column + 1,
//!   varint end column + 1;
//! - 13: no columns: signed-varint line delta;
//! - 10–12: one line form: line delta `c - 10`, then two bytes (column, end column);
//! - 0–9: short form: same line, one byte of columns.
//!
//! Varints are 6-bit little-endian chunks with 0x40 meaning "more"; a signed varint `v` is
//! `v >> 1`, negated when `v & 1`. The line starts at `co_firstlineno`.
//!
//! A table is decoded once per code object into sorted address ranges ([`LineTable`]); a
//! lookup is then a binary search.

/// One run of code units with the same line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LineRange {
    /// First code unit of the run.
    pub start: u32,
    /// One past the last code unit.
    pub end: u32,
    /// The line, or `None` for instructions without a location.
    pub line: Option<u32>,
}

/// A decoded line table.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct LineTable {
    ranges: Vec<LineRange>,
}

/// Reads a varint at `*pos`; `None` when the table ends mid-number.
fn varint(table: &[u8], pos: &mut usize) -> Option<u32> {
    let mut value: u32 = 0;
    let mut shift = 0u32;
    loop {
        let b = *table.get(*pos)?;
        *pos += 1;
        value |= ((b & 0x3f) as u32).checked_shl(shift).unwrap_or(0);
        if b & 0x40 == 0 {
            return Some(value);
        }
        shift += 6;
        if shift > 30 {
            return None;
        }
    }
}

fn svarint(table: &[u8], pos: &mut usize) -> Option<i64> {
    let v = varint(table, pos)?;
    let magnitude = (v >> 1) as i64;
    Some(if v & 1 != 0 { -magnitude } else { magnitude })
}

impl LineTable {
    /// Decodes `table` for a code object whose first line is `first_line`. A truncated or
    /// malformed table decodes as far as it is readable.
    pub fn decode(table: &[u8], first_line: u32) -> LineTable {
        let mut ranges: Vec<LineRange> = Vec::new();
        let mut line = first_line as i64;
        let mut addr: u32 = 0;
        let mut pos = 0;
        while pos < table.len() {
            let first = table[pos];
            if first & 0x80 == 0 {
                // Not an entry start: the table is corrupt (or we lost sync); stop here.
                break;
            }
            pos += 1;
            let code = (first >> 3) & 0x0f;
            let len = (first & 0x07) as u32 + 1;
            let entry_line = match code {
                15 => None,
                14 => {
                    let Some(delta) = svarint(table, &mut pos) else {
                        break;
                    };
                    line += delta;
                    // end line delta, column + 1, end column + 1
                    for _ in 0..3 {
                        if varint(table, &mut pos).is_none() {
                            break;
                        }
                    }
                    Some(line)
                }
                13 => {
                    let Some(delta) = svarint(table, &mut pos) else {
                        break;
                    };
                    line += delta;
                    Some(line)
                }
                10..=12 => {
                    line += (code - 10) as i64;
                    pos += 2;
                    Some(line)
                }
                _ => {
                    pos += 1;
                    Some(line)
                }
            };
            let entry_line = entry_line.map(|l| l.clamp(0, u32::MAX as i64) as u32);
            let end = addr.saturating_add(len);
            match ranges.last_mut() {
                Some(last) if last.line == entry_line && last.end == addr => last.end = end,
                _ => ranges.push(LineRange {
                    start: addr,
                    end,
                    line: entry_line,
                }),
            }
            addr = end;
        }
        LineTable { ranges }
    }

    /// The line of code unit `addrq` (`PyCode_Addr2Line(code, 2 * addrq)`): `None` when the
    /// instruction has no location or lies outside the table.
    pub fn line_at(&self, addrq: u32) -> Option<u32> {
        let i = self.ranges.partition_point(|r| r.end <= addrq);
        let r = self.ranges.get(i)?;
        if r.start <= addrq { r.line } else { None }
    }

    /// Code units covered by the table.
    pub fn code_units(&self) -> u32 {
        self.ranges.last().map_or(0, |r| r.end)
    }

    pub fn ranges(&self) -> &[LineRange] {
        &self.ranges
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_every_entry_form() {
        // short form (code 0) for 2 units, one-line form +1 (code 11) for 1 unit, no-column
        // form -1 (code 13, svarint 3) for 3 units, no location (code 15) for 1 unit, long
        // form +5 (code 14, svarint 10, then three varints) for 2 units.
        let table = [
            0x80 | 1,
            0x05,
            0x80 | (11 << 3),
            0x01,
            0x02,
            0x80 | (13 << 3) | 2,
            0x03,
            0x80 | (15 << 3),
            0x80 | (14 << 3) | 1,
            0x0a,
            0x00,
            0x01,
            0x02,
        ];
        let t = LineTable::decode(&table, 10);
        assert_eq!(t.line_at(0), Some(10));
        assert_eq!(t.line_at(1), Some(10));
        assert_eq!(t.line_at(2), Some(11));
        assert_eq!(t.line_at(3), Some(10));
        assert_eq!(t.line_at(5), Some(10));
        assert_eq!(t.line_at(6), None);
        assert_eq!(t.line_at(7), Some(15));
        assert_eq!(t.line_at(8), Some(15));
        assert_eq!(t.line_at(9), None);
        assert_eq!(t.code_units(), 9);
    }

    #[test]
    fn varints_span_several_bytes() {
        // svarint 2*1000 = 2000 = 0b11111_010000 -> chunks 0x10 | 0x40, 0x1f
        let table = [0x80 | (13 << 3), 0x50, 0x1f];
        let t = LineTable::decode(&table, 1);
        assert_eq!(t.line_at(0), Some(1001));
    }

    fn hex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }

    /// Real `co_linetable` bytes from CPython 3.11 to 3.15 (argparse and an edge-case
    /// module: multi-line expressions, a 1500-line jump, try/finally, with, comprehensions),
    /// with the line CPython's own `co_lines()` gives each code unit
    /// (`tools/gen_linetable_fixtures.py`).
    #[test]
    fn matches_cpython_co_lines_on_real_tables() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data");
        for version in ["3.11", "3.12", "3.13", "3.14", "3.15"] {
            let text = std::fs::read_to_string(dir.join(format!("linetable-{version}.txt")))
                .expect("fixture");
            let mut checked = 0;
            for line in text.lines().filter(|l| !l.starts_with('#')) {
                let f: Vec<&str> = line.split(' ').collect();
                let (name, first, table, ranges) = (f[0], f[1], f[2], f[3]);
                let t = LineTable::decode(&hex(table), first.parse().unwrap());
                for r in ranges.split(',').filter(|r| !r.is_empty()) {
                    let p: Vec<&str> = r.split(':').collect();
                    let (start, end): (u32, u32) = (p[0].parse().unwrap(), p[1].parse().unwrap());
                    let want = (p[2] != "-").then(|| p[2].parse::<u32>().unwrap());
                    for unit in start / 2..end / 2 {
                        assert_eq!(t.line_at(unit), want, "{version} {name} unit {unit}");
                        checked += 1;
                    }
                }
            }
            assert!(
                checked > 5000,
                "{version}: only {checked} code units checked"
            );
        }
    }

    #[test]
    fn garbage_never_panics() {
        let mut x: u32 = 12345;
        for _ in 0..2000 {
            let bytes: Vec<u8> = (0..64)
                .map(|_| {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    x as u8
                })
                .collect();
            let t = LineTable::decode(&bytes, 7);
            for a in 0..200 {
                let _ = t.line_at(a);
            }
        }
    }
}
