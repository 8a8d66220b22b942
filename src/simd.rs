//! SSE2 helpers for the byte classifiers (`injection::survey`, `injection::features`,
//! `normalize`, `tokens::features`). SSE2 is part of every x86-64 CPU, so the intrinsics are
//! sound there; they are `unsafe fn` at the 1.80 MSRV.
#![allow(unsafe_code)]

use std::arch::x86_64::{
    __m128i, _mm_add_epi8, _mm_cmpeq_epi8, _mm_cmplt_epi8, _mm_loadu_si128, _mm_movemask_epi8,
    _mm_set1_epi8,
};

/// One byte as the `i8` the signed compares see.
pub const fn signed(b: u8) -> i8 {
    i8::from_ne_bytes([b])
}

/// `0xFF` in each byte of `x` lying in `lo..=hi` (`lo <= hi`, a range of fewer than 128
/// bytes): a wrapping bias moves the range to the bottom of the signed bytes, so one signed
/// compare tests both ends.
///
/// # Safety
/// SSE2 only, which every x86-64 CPU has.
#[allow(clippy::inline_always)]
#[inline(always)]
pub unsafe fn within(x: __m128i, lo: u8, hi: u8) -> __m128i {
    let bias = _mm_set1_epi8(signed(0x80u8.wrapping_sub(lo)));
    let limit = _mm_set1_epi8(signed(0x81 + (hi - lo)));
    _mm_cmplt_epi8(_mm_add_epi8(x, bias), limit)
}

/// Bit `k` set where `bytes[k]` is `b`: sixteen compares in one.
#[inline]
pub fn equal_bits(bytes: &[u8; 16], b: u8) -> u32 {
    // SAFETY: SSE2 is part of every x86-64 CPU; the load reads the array's 16 bytes.
    unsafe {
        let x = _mm_loadu_si128(bytes.as_ptr().cast());
        _mm_movemask_epi8(_mm_cmpeq_epi8(x, _mm_set1_epi8(signed(b)))) as u32
    }
}
