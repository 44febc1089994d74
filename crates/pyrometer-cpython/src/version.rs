//! CPython versions, as `PY_VERSION_HEX` encodes them.

use std::fmt;

/// A CPython version, decoded from `PY_VERSION_HEX` (`Py_Version`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PyVersion {
    pub major: u8,
    pub minor: u8,
    pub micro: u8,
    /// 0xA alpha, 0xB beta, 0xC release candidate, 0xF final.
    pub level: u8,
    pub serial: u8,
}

impl PyVersion {
    pub fn from_hex(hex: u32) -> PyVersion {
        PyVersion {
            major: (hex >> 24) as u8,
            minor: (hex >> 16) as u8,
            micro: (hex >> 8) as u8,
            level: ((hex >> 4) & 0xf) as u8,
            serial: (hex & 0xf) as u8,
        }
    }

    pub fn hex(self) -> u32 {
        (self.major as u32) << 24
            | (self.minor as u32) << 16
            | (self.micro as u32) << 8
            | (self.level as u32 & 0xf) << 4
            | (self.serial as u32 & 0xf)
    }

    pub fn is_final(self) -> bool {
        self.level == 0xf
    }
}

impl fmt::Display for PyVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}.{}.{}", self.major, self.minor, self.micro)?;
        match self.level {
            0xa => write!(f, "a{}", self.serial),
            0xb => write!(f, "b{}", self.serial),
            0xc => write!(f, "rc{}", self.serial),
            _ => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_decode_and_print() {
        let v = PyVersion::from_hex(0x030c01f0);
        assert_eq!((v.major, v.minor, v.micro), (3, 12, 1));
        assert!(v.is_final());
        assert_eq!(v.to_string(), "3.12.1");
        assert_eq!(v.hex(), 0x030c01f0);
        assert_eq!(PyVersion::from_hex(0x030f00b4).to_string(), "3.15.0b4");
        assert_eq!(PyVersion::from_hex(0x030d00c1).to_string(), "3.13.0rc1");
    }
}
