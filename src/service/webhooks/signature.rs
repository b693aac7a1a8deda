//! The `X-Casebook-Signature` header: `sha256=` and the hex HMAC-SHA256 of
//! the request body, keyed with the webhook's secret (as GitHub signs).

use hmac::{Hmac, Mac};
use sha2::Sha256;

pub const SIGNATURE_PREFIX: &str = "sha256=";

/// The header's value for `body`.
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    let digest = mac.finalize().into_bytes();
    let mut value = String::with_capacity(SIGNATURE_PREFIX.len() + 64);
    value.push_str(SIGNATURE_PREFIX);
    for byte in digest {
        value.push_str(&format!("{byte:02x}"));
    }
    value
}

#[cfg(test)]
mod tests {
    use super::sign;

    #[test]
    fn the_signature_is_the_rfc_4231_hmac_sha256_in_hex() {
        // RFC 4231, test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
