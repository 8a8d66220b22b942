//! Offsets: the core works in UTF-8 byte offsets; Python sees code-point offsets. And the
//! character classes the scanners ask of every character.

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

/// `char::is_alphabetic`, the scripts most text beyond ASCII is written in answered from
/// their ranges first: the standard library's table search costs a few hundred instructions
/// a character there (a test checks every code point against it).
pub fn is_alphabetic(c: char) -> bool {
    match c {
        'a'..='z' | 'A'..='Z' => true,
        '\0'..='\u{7F}' | '\u{2000}'..='\u{206F}' => false,
        _ => is_common_letter(c) || c.is_alphabetic(),
    }
}

/// `char::is_alphanumeric`, answered as [`is_alphabetic`] is.
pub fn is_alphanumeric(c: char) -> bool {
    match c {
        '0'..='9' | 'a'..='z' | 'A'..='Z' => true,
        '\0'..='\u{7F}' | '\u{2000}'..='\u{206F}' => false,
        _ => is_common_letter(c) || c.is_alphanumeric(),
    }
}

/// Letters of Greek, Cyrillic, kana, CJK ideographs and Hangul syllables (blocks, or the
/// parts of them that are all letters).
fn is_common_letter(c: char) -> bool {
    matches!(c,
        '\u{0388}'..='\u{038A}' | '\u{038E}'..='\u{03A1}' | '\u{03A3}'..='\u{03F5}'
        | '\u{0400}'..='\u{0481}' | '\u{048A}'..='\u{052F}'
        | '\u{3041}'..='\u{3096}' | '\u{30A1}'..='\u{30FA}'
        | '\u{4E00}'..='\u{9FFF}' | '\u{AC00}'..='\u{D7A3}')
}

/// UTF-8 continuation bytes are `0b10xx_xxxx`; every other byte starts a code point.
fn is_continuation(b: u8) -> bool {
    b & 0xC0 == 0x80
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn character_classes_agree_with_the_standard_library() {
        for c in (0..=0x10_FFFF).filter_map(char::from_u32) {
            assert_eq!(is_alphabetic(c), c.is_alphabetic(), "{c:?}");
            assert_eq!(is_alphanumeric(c), c.is_alphanumeric(), "{c:?}");
        }
    }

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
