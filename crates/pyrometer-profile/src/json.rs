//! The JSON export: the same tables as the `.pyro` file, in an envelope that names the format.
//!
//! ```json
//! {"format": "pyrometer-profile", "version": 2, "profile": {"meta": {…}, "strings": […], …}}
//! ```

use serde::{Deserialize, Serialize};

use crate::model::Profile;
use crate::pyro::{FORMAT_VERSION, FileError};

pub const JSON_FORMAT_NAME: &str = "pyrometer-profile";

#[derive(Serialize)]
struct EnvelopeOut<'a> {
    format: &'static str,
    version: u16,
    profile: &'a Profile,
}

#[derive(Deserialize)]
struct EnvelopeIn {
    format: String,
    version: u16,
    profile: Profile,
}

pub fn to_json(profile: &Profile) -> String {
    let envelope = EnvelopeOut {
        format: JSON_FORMAT_NAME,
        version: FORMAT_VERSION,
        profile,
    };
    serde_json::to_string_pretty(&envelope).expect("the profile model always serializes")
}

pub fn from_json(bytes: &[u8]) -> Result<Profile, FileError> {
    let envelope: EnvelopeIn = serde_json::from_slice(bytes).map_err(|e| {
        if e.is_eof() {
            FileError::Corrupt(format!("JSON ends early ({e})"))
        } else {
            FileError::Corrupt(format!("JSON: {e}"))
        }
    })?;
    if envelope.format != JSON_FORMAT_NAME {
        return Err(FileError::NotAProfile);
    }
    if envelope.version > FORMAT_VERSION {
        return Err(FileError::TooNew {
            found: envelope.version,
        });
    }
    envelope.profile.validate().map_err(FileError::Corrupt)?;
    Ok(envelope.profile)
}
