//! The arithmetic of log-file validation: SHA-256, gunzip, RSA signatures (aws-lc-rs,
//! already in the tree through rustls; flate2 for gzip).

use std::io::{BufRead, Read};

use aws_lc_rs::{digest, signature};
use flate2::bufread::GzDecoder;
use trailwarden_core::integrity::LogRead;

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex(digest::digest(&digest::SHA256, data).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The first gzip member of `compressed`, uncompressed, and whether bytes follow it.
/// CloudTrail writes one member; anything after it was added later.
pub fn gunzip_first(compressed: &[u8]) -> Option<(Vec<u8>, bool)> {
    let mut decoder = GzDecoder::new(compressed);
    let mut out = Vec::new();
    decoder.read_to_end(&mut out).ok()?;
    let mut rest = decoder.into_inner();
    let trailing = rest.fill_buf().map(|b| !b.is_empty()).unwrap_or(true);
    Some((out, trailing))
}

/// What a log file's bytes prove.
pub fn read_log(compressed: &[u8]) -> LogRead {
    match gunzip_first(compressed) {
        Some((content, trailing)) => LogRead::Read { sha256: sha256_hex(&content), trailing },
        None => LogRead::Unreadable,
    }
}

/// RSA PKCS#1 v1.5 with SHA-256, the key DER-encoded PKCS#1 (as ListPublicKeys gives it).
pub fn verify_rsa_sha256(der: &[u8], message: &[u8], signature: &[u8]) -> bool {
    signature::UnparsedPublicKey::new(&signature::RSA_PKCS1_2048_8192_SHA256, der).verify(message, signature).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::GzEncoder};
    use std::io::Write;

    fn gzip(data: &[u8]) -> Vec<u8> {
        let mut encoder = GzEncoder::new(Vec::new(), Compression::default());
        encoder.write_all(data).unwrap();
        encoder.finish().unwrap()
    }

    #[test]
    fn one_member_is_read_and_anything_after_it_is_noticed() {
        let one = gzip(b"{\"Records\":[]}");
        assert_eq!(gunzip_first(&one), Some((b"{\"Records\":[]}".to_vec(), false)));
        let mut two = one.clone();
        two.extend(gzip(b"{\"Records\":[{\"eventName\":\"Forged\"}]}"));
        assert_eq!(gunzip_first(&two), Some((b"{\"Records\":[]}".to_vec(), true)));
        let mut junk = one;
        junk.extend(b"x");
        assert_eq!(gunzip_first(&junk).map(|(_, trailing)| trailing), Some(true));
        assert_eq!(gunzip_first(b"not gzip"), None);
        assert_eq!(read_log(b"not gzip"), LogRead::Unreadable);
    }

    #[test]
    fn sha256_is_hex_of_the_standard_digest() {
        assert_eq!(sha256_hex(b""), "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
    }
}
