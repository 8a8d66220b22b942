//! One shard of the limiter's state: key hash -> slot, slots packed in one `Vec<u64>`.
//!
//! Keys are stored as their 64-bit keyed `SipHash`, never as text: a few words per key, and no
//! raw API key sits in memory longer than the call. Stale slots are swept when the shard has
//! doubled since the last sweep, so the work is amortised O(1) per new key, memory follows the
//! keys active within the longest window, and no background thread is needed.

use std::collections::HashMap;
use std::hash::{BuildHasherDefault, Hasher};

/// The hashes are already keyed `SipHash` output: hashing them again would only cost time.
#[derive(Default)]
pub struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 = (self.0 << 8) | u64::from(b);
        }
    }

    fn write_u64(&mut self, n: u64) {
        self.0 = n;
    }
}

/// Below this many keys a shard is never swept.
const MIN_SWEEP: usize = 1024;

pub struct Shard {
    index: HashMap<u64, u32, BuildHasherDefault<PassThrough>>,
    words: Vec<u64>,
    free: Vec<u32>,
    sweep_at: usize,
}

impl Default for Shard {
    fn default() -> Self {
        Self {
            index: HashMap::default(),
            words: Vec::new(),
            free: Vec::new(),
            sweep_at: MIN_SWEEP,
        }
    }
}

impl Shard {
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// The state of `key`, if it has one.
    pub fn get(&self, key: u64, stride: usize) -> Option<&[u64]> {
        let slot = *self.index.get(&key)? as usize * stride;
        Some(&self.words[slot..slot + stride])
    }

    /// Stores `state` for `key`, first sweeping slots for which `stale` holds when the shard
    /// has grown enough.
    pub fn put(&mut self, key: u64, state: &[u64], is_stale: impl Fn(&[u64]) -> bool) {
        let stride = state.len();
        if let Some(&slot) = self.index.get(&key) {
            let at = slot as usize * stride;
            self.words[at..at + stride].copy_from_slice(state);
            return;
        }
        if self.index.len() >= self.sweep_at {
            self.sweep(stride, is_stale);
        }
        let slot = if let Some(slot) = self.free.pop() {
            let at = slot as usize * stride;
            self.words[at..at + stride].copy_from_slice(state);
            slot
        } else {
            self.words.extend_from_slice(state);
            (self.words.len() / stride - 1) as u32
        };
        self.index.insert(key, slot);
    }

    pub fn remove(&mut self, key: u64) {
        if let Some(slot) = self.index.remove(&key) {
            self.free.push(slot);
        }
    }

    fn sweep(&mut self, stride: usize, is_stale: impl Fn(&[u64]) -> bool) {
        let words = &self.words;
        let free = &mut self.free;
        self.index.retain(|_, slot| {
            let at = *slot as usize * stride;
            let keep = !is_stale(&words[at..at + stride]);
            if !keep {
                free.push(*slot);
            }
            keep
        });
        let live = self.index.len();
        if live * 4 < self.words.len() / stride {
            self.compact(stride);
        }
        self.sweep_at = (live * 2).max(MIN_SWEEP);
    }

    /// Moves live slots to the front and returns the rest of the memory.
    fn compact(&mut self, stride: usize) {
        let mut words = Vec::with_capacity(self.index.len() * stride);
        for slot in self.index.values_mut() {
            let at = *slot as usize * stride;
            *slot = (words.len() / stride) as u32;
            words.extend_from_slice(&self.words[at..at + stride]);
        }
        self.words = words;
        self.free = Vec::new();
        self.index.shrink_to_fit();
    }
}
