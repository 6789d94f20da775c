//! New UIDs in the PS3.5 B.2 form `2.25.<128-bit integer>`, derived deterministically: from
//! an original UID and the key store's secret (the same original gives the same new UID in
//! every run and on every machine sharing the key), or from a fixed seed (demo data).

use hmac::{Hmac, KeyInit, Mac};
use sha2::{Digest, Sha256};

fn from_digest(d: &[u8]) -> String {
    let mut b = [0u8; 16];
    b.copy_from_slice(&d[..16]);
    // Mark it as a version-8 (custom) UUID with the RFC 9562 variant, as B.2 expects a UUID.
    b[6] = (b[6] & 0x0F) | 0x80;
    b[8] = (b[8] & 0x3F) | 0x80;
    format!("2.25.{}", u128::from_be_bytes(b))
}

/// The new UID for `original` under `secret`.
///
/// # Panics
///
/// Never: an HMAC key may be of any length, and the fallback key is a fixed 32 bytes.
#[must_use]
pub fn derive(secret: &[u8], original: &str) -> String {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret).unwrap_or_else(|_| {
        // HMAC accepts keys of any length; this cannot happen.
        <Hmac<Sha256> as KeyInit>::new_from_slice(&[0u8; 32]).expect("HMAC key")
    });
    mac.update(b"dams-uid-v1\0");
    mac.update(original.as_bytes());
    from_digest(&mac.finalize().into_bytes())
}

/// A UID from a seed string (for generated demo and benchmark data).
#[must_use]
pub fn from_seed(seed: &str) -> String {
    from_digest(&Sha256::digest(seed.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deterministic_valid_and_secret_dependent() {
        let a = derive(b"secret-1", "1.2.3.4");
        assert_eq!(a, derive(b"secret-1", "1.2.3.4"));
        assert_ne!(a, derive(b"secret-2", "1.2.3.4"));
        assert_ne!(a, derive(b"secret-1", "1.2.3.5"));
        assert!(a.starts_with("2.25.") && a.len() <= 64, "{a}");
        assert!(a[5..].chars().all(|c| c.is_ascii_digit()) && !a[5..].starts_with('0'));
        assert_eq!(from_seed("x"), from_seed("x"));
    }
}
