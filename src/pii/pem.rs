//! PEM private-key blocks, in plain text, indented YAML, or JSON with literal `\n` escapes.
//!
//! Literal search instead of a regex: a block can be kilobytes long, and a lazy `.*?` from
//! every BEGIN to a missing END would rescan the text once per BEGIN.

use memchr::memmem;

const BEGIN: &[u8] = b"-----BEGIN ";
const END: &[u8] = b"-----END ";
const DASHES: &[u8] = b"-----";
/// A header label longer than this is not a PEM label (`ENCRYPTED PRIVATE KEY` is 21).
const MAX_LABEL: usize = 40;

/// Calls `push(start, end)` for every private-key block. A block without its END line (a
/// truncated paste) runs to the end of its base64 body, so its key material is still covered.
pub fn find(text: &str, push: &mut impl FnMut(usize, usize)) {
    let bytes = text.as_bytes();
    let begins = memmem::Finder::new(BEGIN);
    let ends = memmem::Finder::new(END);
    let mut at = 0;
    while let Some(found) = begins.find(&bytes[at..]) {
        let start = at + found;
        let label_start = start + BEGIN.len();
        let Some(label_len) = label_end(&bytes[label_start..]) else {
            at = label_start;
            continue;
        };
        let header_end = label_start + label_len + DASHES.len();
        if !bytes[label_start..label_start + label_len].ends_with(b"PRIVATE KEY") {
            at = header_end;
            continue;
        }
        let end = match ends.find(&bytes[header_end..]) {
            Some(e) => {
                let e = header_end + e + END.len();
                label_end(&bytes[e..]).map_or(e, |l| e + l + DASHES.len())
            }
            None => header_end + body_len(&bytes[header_end..]),
        };
        push(start, end);
        at = end;
    }
}

/// Length of an upper-case label followed by `-----`, if the bytes start with one.
fn label_end(bytes: &[u8]) -> Option<usize> {
    let n = bytes
        .iter()
        .take(MAX_LABEL + 1)
        .take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || **c == b' ')
        .count();
    (n <= MAX_LABEL && bytes[n..].starts_with(DASHES)).then_some(n)
}

/// Length of the base64 body (with whitespace and `\n` escapes) following a header.
fn body_len(bytes: &[u8]) -> usize {
    let (mut i, mut line_start) = (0, true);
    while i < bytes.len() {
        let newline = match bytes[i] {
            b'\\' if bytes.get(i + 1) == Some(&b'n') => 2,
            b'\n' => 1,
            _ => 0,
        };
        if newline > 0 {
            if line_start && i > 0 {
                break; // a blank line ends the block
            }
            i += newline;
            line_start = true;
            continue;
        }
        match bytes[i] {
            b' ' | b'\t' | b'\r' if line_start => i += 1,
            c if c.is_ascii_alphanumeric()
                || matches!(c, b'+' | b'/' | b'=' | b'-' | b':' | b',') =>
            {
                i += 1;
                line_start = false;
            }
            _ => break,
        }
    }
    // Do not swallow the whitespace after the body.
    while i > 0 && bytes[i - 1].is_ascii_whitespace() {
        i -= 1;
    }
    i
}

#[cfg(test)]
mod tests {
    fn spans(text: &str) -> Vec<(usize, usize)> {
        let mut out = Vec::new();
        super::find(text, &mut |s, e| out.push((s, e)));
        out
    }

    #[test]
    fn finds_plain_escaped_and_truncated_blocks() {
        let plain =
            "k = \"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----\" x";
        let (s, e) = spans(plain)[0];
        assert_eq!(
            &plain[s..e],
            "-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----"
        );
        let escaped = r#"{"k": "-----BEGIN PRIVATE KEY-----\nMIIE\n-----END PRIVATE KEY-----"}"#;
        let (s, e) = spans(escaped)[0];
        assert!(escaped[s..e].ends_with("-----END PRIVATE KEY-----"));
        let cut = "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\nAAAA\n\nthanks";
        let (s, e) = spans(cut)[0];
        assert_eq!(
            &cut[s..e],
            "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXk\nAAAA"
        );
    }

    #[test]
    fn public_keys_and_many_begins_are_not_keys() {
        assert!(spans("-----BEGIN PUBLIC KEY-----\nAAAA\n-----END PUBLIC KEY-----").is_empty());
        let many = "-----BEGIN ".repeat(100_000);
        assert!(spans(&many).is_empty());
    }
}
