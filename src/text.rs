//! Offsets: the core works in UTF-8 byte offsets; Python sees code-point offsets.

/// Converts ascending-or-not UTF-8 byte offsets (each on a char boundary of `text`) into
/// code-point offsets, in one pass over the text however many offsets there are.
///
/// ```
/// let mut offs = vec![0, 2, 6];
/// ravelin::text::bytes_to_chars("é😀x", &mut offs); // é is 2 bytes, 😀 4
/// assert_eq!(offs, vec![0, 1, 2]);
/// ```
pub fn bytes_to_chars(text: &str, offsets: &mut [usize]) {
    if text.is_ascii() {
        return;
    }
    let mut order: Vec<usize> = (0..offsets.len()).collect();
    order.sort_unstable_by_key(|&i| offsets[i]);
    let bytes = text.as_bytes();
    let (mut byte, mut chars) = (0usize, 0usize);
    for i in order {
        let target = offsets[i].min(bytes.len());
        chars += bytes[byte..target]
            .iter()
            .filter(|&&b| !is_continuation(b))
            .count();
        byte = target;
        offsets[i] = chars;
    }
}

/// UTF-8 continuation bytes are `0b10xx_xxxx`; every other byte starts a code point.
fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

#[cfg(test)]
mod tests {
    use super::bytes_to_chars;

    #[test]
    fn maps_multibyte_and_unsorted_offsets() {
        let text = "a\u{200b}你好😀z"; // 1 + 3 + 3 + 3 + 4 + 1 bytes
        let mut offs = vec![15, 0, 1, 4, 10, 14];
        bytes_to_chars(text, &mut offs);
        assert_eq!(offs, vec![6, 0, 1, 2, 4, 5]);
    }

    #[test]
    fn ascii_is_identity() {
        let mut offs = vec![3, 1];
        bytes_to_chars("abcd", &mut offs);
        assert_eq!(offs, vec![3, 1]);
    }
}
