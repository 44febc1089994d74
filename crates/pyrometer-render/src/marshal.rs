//! A writer for the subset of Python's `marshal` format that pstats files use: dicts, tuples,
//! ints, floats and strings. Any Python 3 reads what this writes.

/// A value to marshal.
#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Int(i64),
    Float(f64),
    Str(String),
    Tuple(Vec<Value>),
    Dict(Vec<(Value, Value)>),
}

pub fn dumps(value: &Value) -> Vec<u8> {
    let mut out = Vec::new();
    write(value, &mut out);
    out
}

fn write(value: &Value, out: &mut Vec<u8>) {
    match value {
        Value::Int(v) => {
            if let Ok(small) = i32::try_from(*v) {
                out.push(b'i');
                out.extend_from_slice(&small.to_le_bytes());
            } else {
                write_long(*v, out);
            }
        }
        Value::Float(v) => {
            out.push(b'g');
            out.extend_from_slice(&v.to_le_bytes());
        }
        Value::Str(s) => {
            out.push(b'u');
            out.extend_from_slice(&(s.len() as i32).to_le_bytes());
            out.extend_from_slice(s.as_bytes());
        }
        Value::Tuple(items) => {
            out.push(b'(');
            out.extend_from_slice(&(items.len() as i32).to_le_bytes());
            for item in items {
                write(item, out);
            }
        }
        Value::Dict(pairs) => {
            out.push(b'{');
            for (k, v) in pairs {
                write(k, out);
                write(v, out);
            }
            out.push(b'0');
        }
    }
}

/// `TYPE_LONG`: a signed digit count, then 15-bit digits, least significant first.
fn write_long(v: i64, out: &mut Vec<u8>) {
    let negative = v < 0;
    let mut magnitude = v.unsigned_abs();
    let mut digits = Vec::new();
    while magnitude > 0 {
        digits.push((magnitude & 0x7fff) as u16);
        magnitude >>= 15;
    }
    let n = digits.len() as i32;
    out.push(b'l');
    out.extend_from_slice(&(if negative { -n } else { n }).to_le_bytes());
    for d in digits {
        out.extend_from_slice(&d.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_the_types_pstats_needs() {
        assert_eq!(dumps(&Value::Int(5)), b"i\x05\x00\x00\x00");
        assert_eq!(
            dumps(&Value::Int(1 << 40)),
            b"l\x03\x00\x00\x00\x00\x00\x00\x00\x00\x04".to_vec()
        );
        assert_eq!(dumps(&Value::Str("ab".into())), b"u\x02\x00\x00\x00ab");
        let t = dumps(&Value::Tuple(vec![Value::Int(1), Value::Float(0.5)]));
        assert_eq!(&t[..5], b"(\x02\x00\x00\x00");
        assert_eq!(dumps(&Value::Dict(vec![])), b"{0");
    }
}
