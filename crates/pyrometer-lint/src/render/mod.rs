//! Output formats for a [`Report`](crate::Report). Each renderer reads only the report.

pub(crate) mod json;
pub(crate) mod sarif;
pub(crate) mod text;

use std::path::Path;

/// A path for output: as given, with `/` separators.
pub(crate) fn display_path(path: &Path) -> String {
    let text = path.to_string_lossy();
    if std::path::MAIN_SEPARATOR == '/' {
        text.into_owned()
    } else {
        text.replace(std::path::MAIN_SEPARATOR, "/")
    }
}
