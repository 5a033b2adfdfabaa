//! Sizes that what a pass reports must keep. A drift value is whatever AWS or the policy
//! holds (500 advanced selectors make one value of many kilobytes), and the places it is
//! written to have hard limits: an Event note is at most 1 KiB, the status object shares
//! etcd's 1.5 MiB with the spec, an SNS message is at most 256 KiB. Text is cut at a
//! character boundary, with how much was left out, so the limit holds in bytes.

/// A drift value in status and in notifications.
pub const DRIFT_VALUE_BYTES: usize = 1024;
/// A Kubernetes Event note (the API refuses more than 1 KiB).
pub const EVENT_NOTE_BYTES: usize = 1024;
/// A check's message in a notification.
pub const CHECK_MESSAGE_BYTES: usize = 2048;

/// `text` if it fits in `max` bytes; otherwise its longest prefix that, with the marker
/// saying how much was cut, fits.
pub fn text(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let marker = format!("… ({} bytes more)", text.len());
    let mut end = max.saturating_sub(marker.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    let cut = text.len() - end;
    let marker = format!("… ({cut} bytes more)");
    format!("{}{marker}", &text[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_text_is_kept_and_long_text_fits_in_bytes_at_a_char_boundary() {
        assert_eq!(text("logging", 10), "logging");
        let long = "é".repeat(2000); // 4000 bytes
        let cut = text(&long, 1024);
        assert!(cut.len() <= 1024, "{} bytes", cut.len());
        assert!(cut.starts_with("éé") && cut.ends_with("bytes more)"), "{cut}");
        let kept = cut.split('…').next().unwrap().len();
        assert!(cut.contains(&format!("({} bytes more)", 4000 - kept)), "{cut}");
    }
}
