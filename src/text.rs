//! Untrusted text made safe for a terminal, a log line or a failure record: control characters
//! escaped, and every value and line bounded. The lowest floor: it uses nothing of this crate.

/// Untrusted text (API messages, host names, paths) made safe for a terminal: one line, every
/// control character shown escaped (`\u{1b}`) instead of acting on the user's terminal.
pub fn printable(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
    }
    out
}

/// The most of one untrusted value (an image name, a host, an annotation, a token's claim, an
/// API's message) a message or a log line shows, in bytes: a real one is far shorter.
pub const MAX_SHOWN: usize = 512;
/// The most of a whole message (a stderr line, a failure's cause, a logged error) in bytes.
pub const MAX_LINE: usize = 4096;

/// [`printable`], and at most `max` bytes of it (cut on a character boundary, an escape kept
/// whole), followed by `... (N bytes)` naming the length of `s` when it was cut: so that no input
/// can make a stderr line, a log line or a failure record of more than about `max` bytes.
pub fn printable_cut(s: &str, max: usize) -> String {
    let mut out = String::with_capacity(s.len().min(max) + 24);
    for c in s.chars() {
        let before = out.len();
        if c.is_control() {
            out.extend(c.escape_unicode());
        } else {
            out.push(c);
        }
        if out.len() > max {
            out.truncate(before);
            out.push_str(&format!("... ({} bytes)", s.len()));
            break;
        }
    }
    out
}

/// One untrusted value for a message or a log line: [`printable_cut`] to [`MAX_SHOWN`].
pub fn shown(s: &str) -> String {
    printable_cut(s, MAX_SHOWN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untrusted_text_is_cut_to_a_bound_and_says_how_long_it_was() {
        assert_eq!(printable_cut("short", 10), "short");
        assert_eq!(printable_cut("0123456789", 10), "0123456789");
        assert_eq!(printable_cut("0123456789x", 10), "0123456789... (11 bytes)");
        // Never inside a character, nor inside an escape.
        assert_eq!(printable_cut("ééé", 5), "éé... (6 bytes)");
        assert_eq!(printable_cut("ab\u{1b}cd", 7), "ab... (5 bytes)");
        assert_eq!(printable_cut("ab\u{1b}cd", 8), "ab\\u{1b}... (5 bytes)");
        assert_eq!(printable_cut("ab\u{1b}", 8), "ab\\u{1b}");
        let huge = "a".repeat(1 << 20);
        assert!(shown(&huge).len() <= MAX_SHOWN + 24);
        assert!(printable_cut(&"\n".repeat(1 << 20), MAX_LINE).len() <= MAX_LINE + 24);
    }
}
