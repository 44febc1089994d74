//! Source decoding by the PEP 263 coding cookie (`# -*- coding: latin-1 -*-` on line 1 or 2).
//!
//! UTF-8 (the default) is read as is. A few single-byte encodings are decoded with a table of
//! their upper half (bytes 0x80-0xFF; the lower half is ASCII): Latin-1, and the tables below,
//! generated with CPython 3.11.7's codecs (`bytes(range(128, 256)).decode(name)`, U+FFFD for a
//! byte the codec rejects). Any other declared encoding is reported as unsupported, not as a
//! parse error.

/// Why a file's bytes could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DecodeError {
    /// The bytes are not valid in the (declared or default) encoding.
    Invalid(String),
    /// A coding cookie names an encoding this reader does not decode.
    Unsupported(String),
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Invalid(encoding) => write!(f, "not valid {encoding}"),
            Self::Unsupported(encoding) => write!(
                f,
                "unsupported source encoding `{encoding}` (PEP 263 coding cookie); UTF-8, \
                 Latin-1, cp1252, KOI8-R/U and ISO-8859-2/5/15 are read"
            ),
        }
    }
}

/// Decodes a source file per its coding cookie (UTF-8 without one).
pub(crate) fn decode(bytes: Vec<u8>) -> Result<String, DecodeError> {
    let Some(cookie) = coding_cookie(&bytes) else {
        return String::from_utf8(bytes).map_err(|_| DecodeError::Invalid("UTF-8".to_string()));
    };
    let normalized = cookie.to_ascii_lowercase().replace('_', "-");
    let table = match normalized.as_str() {
        "utf-8" | "utf8" | "utf-8-sig" => {
            return String::from_utf8(bytes).map_err(|_| DecodeError::Invalid(cookie.clone()));
        }
        "latin-1" | "latin1" | "iso-8859-1" | "iso8859-1" | "iso-latin-1" | "l1" => {
            return Ok(bytes.iter().map(|&byte| char::from(byte)).collect());
        }
        "cp1252" | "windows-1252" => CP1252,
        "koi8-r" => KOI8_R,
        "koi8-u" => KOI8_U,
        "iso-8859-2" | "iso8859-2" | "latin-2" | "latin2" => ISO8859_2,
        "iso-8859-5" | "iso8859-5" | "cyrillic" => ISO8859_5,
        "iso-8859-15" | "iso8859-15" | "latin-9" | "latin9" => ISO8859_15,
        _ => return Err(DecodeError::Unsupported(cookie)),
    };
    let upper: Vec<char> = table.chars().collect();
    bytes
        .iter()
        .map(|&byte| match byte {
            0..=0x7F => Some(char::from(byte)),
            _ => Some(upper[usize::from(byte - 0x80)]).filter(|&c| c != '\u{FFFD}'),
        })
        .collect::<Option<String>>()
        .ok_or(DecodeError::Invalid(cookie))
}

/// The encoding named by a PEP 263 cookie: a comment on line 1, or on line 2 when line 1 is a
/// comment or blank, matching `coding[:=]\s*([-\w.]+)`.
fn coding_cookie(bytes: &[u8]) -> Option<String> {
    let mut lines = bytes.split(|&byte| byte == b'\n');
    for _ in 0..2 {
        let line = lines.next()?;
        let trimmed = line.trim_ascii_start();
        if !trimmed.starts_with(b"#") {
            // Only blank lines may precede the cookie's line.
            if trimmed.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            return None;
        }
        let text = String::from_utf8_lossy(trimmed);
        if let Some(at) = text.find("coding") {
            let rest = &text[at + "coding".len()..];
            if let Some(rest) = rest.strip_prefix([':', '=']) {
                let name: String = rest
                    .trim_start_matches([' ', '\t'])
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
                    .collect();
                if !name.is_empty() {
                    return Some(name);
                }
            }
        }
    }
    None
}

const CP1252: &str = concat!(
    "\u{20AC}\u{FFFD}\u{201A}\u{0192}\u{201E}\u{2026}\u{2020}\u{2021}\u{02C6}\u{2030}\u{0160}\u{2039}",
    "\u{0152}\u{FFFD}\u{017D}\u{FFFD}\u{FFFD}\u{2018}\u{2019}\u{201C}\u{201D}\u{2022}\u{2013}\u{2014}",
    "\u{02DC}\u{2122}\u{0161}\u{203A}\u{0153}\u{FFFD}\u{017E}\u{0178}\u{00A0}\u{00A1}\u{00A2}\u{00A3}",
    "\u{00A4}\u{00A5}\u{00A6}\u{00A7}\u{00A8}\u{00A9}\u{00AA}\u{00AB}\u{00AC}\u{00AD}\u{00AE}\u{00AF}",
    "\u{00B0}\u{00B1}\u{00B2}\u{00B3}\u{00B4}\u{00B5}\u{00B6}\u{00B7}\u{00B8}\u{00B9}\u{00BA}\u{00BB}",
    "\u{00BC}\u{00BD}\u{00BE}\u{00BF}\u{00C0}\u{00C1}\u{00C2}\u{00C3}\u{00C4}\u{00C5}\u{00C6}\u{00C7}",
    "\u{00C8}\u{00C9}\u{00CA}\u{00CB}\u{00CC}\u{00CD}\u{00CE}\u{00CF}\u{00D0}\u{00D1}\u{00D2}\u{00D3}",
    "\u{00D4}\u{00D5}\u{00D6}\u{00D7}\u{00D8}\u{00D9}\u{00DA}\u{00DB}\u{00DC}\u{00DD}\u{00DE}\u{00DF}",
    "\u{00E0}\u{00E1}\u{00E2}\u{00E3}\u{00E4}\u{00E5}\u{00E6}\u{00E7}\u{00E8}\u{00E9}\u{00EA}\u{00EB}",
    "\u{00EC}\u{00ED}\u{00EE}\u{00EF}\u{00F0}\u{00F1}\u{00F2}\u{00F3}\u{00F4}\u{00F5}\u{00F6}\u{00F7}",
    "\u{00F8}\u{00F9}\u{00FA}\u{00FB}\u{00FC}\u{00FD}\u{00FE}\u{00FF}",
);

const KOI8_R: &str = concat!(
    "\u{2500}\u{2502}\u{250C}\u{2510}\u{2514}\u{2518}\u{251C}\u{2524}\u{252C}\u{2534}\u{253C}\u{2580}",
    "\u{2584}\u{2588}\u{258C}\u{2590}\u{2591}\u{2592}\u{2593}\u{2320}\u{25A0}\u{2219}\u{221A}\u{2248}",
    "\u{2264}\u{2265}\u{00A0}\u{2321}\u{00B0}\u{00B2}\u{00B7}\u{00F7}\u{2550}\u{2551}\u{2552}\u{0451}",
    "\u{2553}\u{2554}\u{2555}\u{2556}\u{2557}\u{2558}\u{2559}\u{255A}\u{255B}\u{255C}\u{255D}\u{255E}",
    "\u{255F}\u{2560}\u{2561}\u{0401}\u{2562}\u{2563}\u{2564}\u{2565}\u{2566}\u{2567}\u{2568}\u{2569}",
    "\u{256A}\u{256B}\u{256C}\u{00A9}\u{044E}\u{0430}\u{0431}\u{0446}\u{0434}\u{0435}\u{0444}\u{0433}",
    "\u{0445}\u{0438}\u{0439}\u{043A}\u{043B}\u{043C}\u{043D}\u{043E}\u{043F}\u{044F}\u{0440}\u{0441}",
    "\u{0442}\u{0443}\u{0436}\u{0432}\u{044C}\u{044B}\u{0437}\u{0448}\u{044D}\u{0449}\u{0447}\u{044A}",
    "\u{042E}\u{0410}\u{0411}\u{0426}\u{0414}\u{0415}\u{0424}\u{0413}\u{0425}\u{0418}\u{0419}\u{041A}",
    "\u{041B}\u{041C}\u{041D}\u{041E}\u{041F}\u{042F}\u{0420}\u{0421}\u{0422}\u{0423}\u{0416}\u{0412}",
    "\u{042C}\u{042B}\u{0417}\u{0428}\u{042D}\u{0429}\u{0427}\u{042A}",
);

const KOI8_U: &str = concat!(
    "\u{2500}\u{2502}\u{250C}\u{2510}\u{2514}\u{2518}\u{251C}\u{2524}\u{252C}\u{2534}\u{253C}\u{2580}",
    "\u{2584}\u{2588}\u{258C}\u{2590}\u{2591}\u{2592}\u{2593}\u{2320}\u{25A0}\u{2219}\u{221A}\u{2248}",
    "\u{2264}\u{2265}\u{00A0}\u{2321}\u{00B0}\u{00B2}\u{00B7}\u{00F7}\u{2550}\u{2551}\u{2552}\u{0451}",
    "\u{0454}\u{2554}\u{0456}\u{0457}\u{2557}\u{2558}\u{2559}\u{255A}\u{255B}\u{0491}\u{255D}\u{255E}",
    "\u{255F}\u{2560}\u{2561}\u{0401}\u{0404}\u{2563}\u{0406}\u{0407}\u{2566}\u{2567}\u{2568}\u{2569}",
    "\u{256A}\u{0490}\u{256C}\u{00A9}\u{044E}\u{0430}\u{0431}\u{0446}\u{0434}\u{0435}\u{0444}\u{0433}",
    "\u{0445}\u{0438}\u{0439}\u{043A}\u{043B}\u{043C}\u{043D}\u{043E}\u{043F}\u{044F}\u{0440}\u{0441}",
    "\u{0442}\u{0443}\u{0436}\u{0432}\u{044C}\u{044B}\u{0437}\u{0448}\u{044D}\u{0449}\u{0447}\u{044A}",
    "\u{042E}\u{0410}\u{0411}\u{0426}\u{0414}\u{0415}\u{0424}\u{0413}\u{0425}\u{0418}\u{0419}\u{041A}",
    "\u{041B}\u{041C}\u{041D}\u{041E}\u{041F}\u{042F}\u{0420}\u{0421}\u{0422}\u{0423}\u{0416}\u{0412}",
    "\u{042C}\u{042B}\u{0417}\u{0428}\u{042D}\u{0429}\u{0427}\u{042A}",
);

const ISO8859_2: &str = concat!(
    "\u{0080}\u{0081}\u{0082}\u{0083}\u{0084}\u{0085}\u{0086}\u{0087}\u{0088}\u{0089}\u{008A}\u{008B}",
    "\u{008C}\u{008D}\u{008E}\u{008F}\u{0090}\u{0091}\u{0092}\u{0093}\u{0094}\u{0095}\u{0096}\u{0097}",
    "\u{0098}\u{0099}\u{009A}\u{009B}\u{009C}\u{009D}\u{009E}\u{009F}\u{00A0}\u{0104}\u{02D8}\u{0141}",
    "\u{00A4}\u{013D}\u{015A}\u{00A7}\u{00A8}\u{0160}\u{015E}\u{0164}\u{0179}\u{00AD}\u{017D}\u{017B}",
    "\u{00B0}\u{0105}\u{02DB}\u{0142}\u{00B4}\u{013E}\u{015B}\u{02C7}\u{00B8}\u{0161}\u{015F}\u{0165}",
    "\u{017A}\u{02DD}\u{017E}\u{017C}\u{0154}\u{00C1}\u{00C2}\u{0102}\u{00C4}\u{0139}\u{0106}\u{00C7}",
    "\u{010C}\u{00C9}\u{0118}\u{00CB}\u{011A}\u{00CD}\u{00CE}\u{010E}\u{0110}\u{0143}\u{0147}\u{00D3}",
    "\u{00D4}\u{0150}\u{00D6}\u{00D7}\u{0158}\u{016E}\u{00DA}\u{0170}\u{00DC}\u{00DD}\u{0162}\u{00DF}",
    "\u{0155}\u{00E1}\u{00E2}\u{0103}\u{00E4}\u{013A}\u{0107}\u{00E7}\u{010D}\u{00E9}\u{0119}\u{00EB}",
    "\u{011B}\u{00ED}\u{00EE}\u{010F}\u{0111}\u{0144}\u{0148}\u{00F3}\u{00F4}\u{0151}\u{00F6}\u{00F7}",
    "\u{0159}\u{016F}\u{00FA}\u{0171}\u{00FC}\u{00FD}\u{0163}\u{02D9}",
);

const ISO8859_5: &str = concat!(
    "\u{0080}\u{0081}\u{0082}\u{0083}\u{0084}\u{0085}\u{0086}\u{0087}\u{0088}\u{0089}\u{008A}\u{008B}",
    "\u{008C}\u{008D}\u{008E}\u{008F}\u{0090}\u{0091}\u{0092}\u{0093}\u{0094}\u{0095}\u{0096}\u{0097}",
    "\u{0098}\u{0099}\u{009A}\u{009B}\u{009C}\u{009D}\u{009E}\u{009F}\u{00A0}\u{0401}\u{0402}\u{0403}",
    "\u{0404}\u{0405}\u{0406}\u{0407}\u{0408}\u{0409}\u{040A}\u{040B}\u{040C}\u{00AD}\u{040E}\u{040F}",
    "\u{0410}\u{0411}\u{0412}\u{0413}\u{0414}\u{0415}\u{0416}\u{0417}\u{0418}\u{0419}\u{041A}\u{041B}",
    "\u{041C}\u{041D}\u{041E}\u{041F}\u{0420}\u{0421}\u{0422}\u{0423}\u{0424}\u{0425}\u{0426}\u{0427}",
    "\u{0428}\u{0429}\u{042A}\u{042B}\u{042C}\u{042D}\u{042E}\u{042F}\u{0430}\u{0431}\u{0432}\u{0433}",
    "\u{0434}\u{0435}\u{0436}\u{0437}\u{0438}\u{0439}\u{043A}\u{043B}\u{043C}\u{043D}\u{043E}\u{043F}",
    "\u{0440}\u{0441}\u{0442}\u{0443}\u{0444}\u{0445}\u{0446}\u{0447}\u{0448}\u{0449}\u{044A}\u{044B}",
    "\u{044C}\u{044D}\u{044E}\u{044F}\u{2116}\u{0451}\u{0452}\u{0453}\u{0454}\u{0455}\u{0456}\u{0457}",
    "\u{0458}\u{0459}\u{045A}\u{045B}\u{045C}\u{00A7}\u{045E}\u{045F}",
);

const ISO8859_15: &str = concat!(
    "\u{0080}\u{0081}\u{0082}\u{0083}\u{0084}\u{0085}\u{0086}\u{0087}\u{0088}\u{0089}\u{008A}\u{008B}",
    "\u{008C}\u{008D}\u{008E}\u{008F}\u{0090}\u{0091}\u{0092}\u{0093}\u{0094}\u{0095}\u{0096}\u{0097}",
    "\u{0098}\u{0099}\u{009A}\u{009B}\u{009C}\u{009D}\u{009E}\u{009F}\u{00A0}\u{00A1}\u{00A2}\u{00A3}",
    "\u{20AC}\u{00A5}\u{0160}\u{00A7}\u{0161}\u{00A9}\u{00AA}\u{00AB}\u{00AC}\u{00AD}\u{00AE}\u{00AF}",
    "\u{00B0}\u{00B1}\u{00B2}\u{00B3}\u{017D}\u{00B5}\u{00B6}\u{00B7}\u{017E}\u{00B9}\u{00BA}\u{00BB}",
    "\u{0152}\u{0153}\u{0178}\u{00BF}\u{00C0}\u{00C1}\u{00C2}\u{00C3}\u{00C4}\u{00C5}\u{00C6}\u{00C7}",
    "\u{00C8}\u{00C9}\u{00CA}\u{00CB}\u{00CC}\u{00CD}\u{00CE}\u{00CF}\u{00D0}\u{00D1}\u{00D2}\u{00D3}",
    "\u{00D4}\u{00D5}\u{00D6}\u{00D7}\u{00D8}\u{00D9}\u{00DA}\u{00DB}\u{00DC}\u{00DD}\u{00DE}\u{00DF}",
    "\u{00E0}\u{00E1}\u{00E2}\u{00E3}\u{00E4}\u{00E5}\u{00E6}\u{00E7}\u{00E8}\u{00E9}\u{00EA}\u{00EB}",
    "\u{00EC}\u{00ED}\u{00EE}\u{00EF}\u{00F0}\u{00F1}\u{00F2}\u{00F3}\u{00F4}\u{00F5}\u{00F6}\u{00F7}",
    "\u{00F8}\u{00F9}\u{00FA}\u{00FB}\u{00FC}\u{00FD}\u{00FE}\u{00FF}",
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decodes_by_cookie() {
        assert_eq!(decode(b"x = 1\n".to_vec()).unwrap(), "x = 1\n");
        let latin = b"# -*- encoding: iso-8859-1 -*-\ns = '\xe9'\n".to_vec();
        assert!(decode(latin).unwrap().ends_with("s = '\u{e9}'\n"));
        let koi8 = b"#!/usr/bin/env python\n# -*- coding: koi8-r -*-\ns = '\xf0'\n".to_vec();
        assert!(decode(koi8).unwrap().ends_with("s = '\u{41f}'\n"));
        assert_eq!(
            decode(b"# coding: cp932\nx = 1\n".to_vec()),
            Err(DecodeError::Unsupported("cp932".to_string()))
        );
        assert_eq!(
            decode(b"x = '\xe9'\n".to_vec()),
            Err(DecodeError::Invalid("UTF-8".to_string()))
        );
        // A cookie on line 3, or after code, does not count.
        assert!(decode(b"x = 1\n# coding: latin-1\ny = '\xe9'\n".to_vec()).is_err());
    }
}
