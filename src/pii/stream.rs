//! Redaction of a streamed answer, chunk by chunk, never emitting part of a secret.
//!
//! The redactor holds back the last `hold` bytes of what it has seen (a bounded look-behind
//! buffer) and only emits text up to a cut that lies on whitespace and outside every finding.
//! It also keeps a little already-emitted text so context words before a later entity count.

use std::sync::Arc;

use super::{redact, Detector, Operators};
use crate::error::{CoreError, Result};

/// Bytes of emitted text kept for context scoring (the context window is 48).
const CONTEXT: usize = 64;
/// Text without any whitespace longer than this is emitted anyway (redacted) so memory stays
/// bounded: a 10 MB base64 line must not be buffered whole.
const MAX_HOLD: usize = 64 * 1024;

pub struct StreamRedactor {
    detector: Arc<Detector>,
    ops: Operators,
    entities: Option<Vec<String>>,
    buf: String,
    /// How many bytes at the front of `buf` were already emitted (context only).
    emitted: usize,
    hold: usize,
    finished: bool,
}

fn floor_boundary(s: &str, mut i: usize) -> usize {
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl StreamRedactor {
    /// `hold` is the look-behind in bytes: the longest entity that may contain whitespace.
    pub fn new(
        detector: Arc<Detector>,
        ops: Operators,
        entities: Option<Vec<String>>,
        hold: usize,
    ) -> Result<Self> {
        if !(16..=MAX_HOLD).contains(&hold) {
            return Err(CoreError::argument(
                "hold",
                format!("must be within [16, {MAX_HOLD}], got {hold}"),
            ));
        }
        if let Some(e) = &entities {
            detector.detect("", Some(e))?;
        }
        Ok(Self {
            detector,
            ops,
            entities,
            buf: String::new(),
            emitted: 0,
            hold,
            finished: false,
        })
    }

    /// Takes the next chunk and returns the redacted text that is now safe to emit.
    pub fn push(&mut self, chunk: &str) -> Result<String> {
        if self.finished {
            return Err(CoreError::argument("chunk", "the stream is finished"));
        }
        self.buf.push_str(chunk);
        self.emit(false)
    }

    /// Emits everything still held. The redactor accepts no chunk after this.
    pub fn finish(&mut self) -> Result<String> {
        if self.finished {
            return Ok(String::new());
        }
        let out = self.emit(true);
        self.finished = true;
        out
    }

    fn emit(&mut self, last: bool) -> Result<String> {
        if !last && self.buf.len() - self.emitted <= self.hold {
            return Ok(String::new());
        }
        let mut cut = if last {
            self.buf.len()
        } else {
            self.safe_cut()
        };
        if cut <= self.emitted {
            return Ok(String::new()); // nothing safe yet: skip the detection pass
        }
        let findings = self.detector.detect(&self.buf, self.entities.as_deref())?;
        // Never cut through a finding: hold it back whole.
        if let Some(f) = findings.iter().find(|f| f.start < cut && cut < f.end) {
            cut = f.start;
        }
        if cut <= self.emitted {
            return Ok(String::new());
        }
        let ours: Vec<_> = findings
            .into_iter()
            .filter(|f| f.start >= self.emitted && f.end <= cut)
            .map(|mut f| {
                f.start -= self.emitted;
                f.end -= self.emitted;
                f
            })
            .collect();
        let out = redact(&self.buf[self.emitted..cut], &ours, &self.ops);
        let keep_from = floor_boundary(&self.buf, cut.saturating_sub(CONTEXT));
        self.buf.drain(..keep_from);
        self.emitted = cut - keep_from;
        Ok(out)
    }

    /// The last whitespace at least `hold` bytes before the end; or, when a whitespace-free run
    /// outgrows `MAX_HOLD`, a char boundary `hold` bytes before the end.
    fn safe_cut(&self) -> usize {
        let target = floor_boundary(&self.buf, self.buf.len() - self.hold);
        let pending = &self.buf.as_bytes()[self.emitted..target];
        match pending.iter().rposition(u8::is_ascii_whitespace) {
            Some(i) => self.emitted + i + 1,
            None if self.buf.len() - self.emitted > MAX_HOLD => target,
            None => self.emitted,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_split_point_gives_the_batch_result() {
        let text = "Hi, mail ana@example.org or call +44 20 7946 0958. Key ghp_abcdefghijklmnopqrstuvwxyzABCDEFGHIJ \
                    and card 4111 1111 1111 1111 ok. password: Tr0ub4dor&3 then AKIAIOSFODNN7EXAMPLE end.";
        let detector = Detector::global();
        let ops = Operators::replace();
        let want = redact(text, &detector.detect(text, None).unwrap(), &ops);
        assert!(!want.contains("ghp_") && !want.contains("4111"));
        for split in 0..=text.len() {
            if !text.is_char_boundary(split) {
                continue;
            }
            let mut s = StreamRedactor::new(detector.clone(), ops.clone(), None, 32).unwrap();
            let mut got = s.push(&text[..split]).unwrap();
            got += &s.push(&text[split..]).unwrap();
            got += &s.finish().unwrap();
            assert_eq!(got, want, "split at {split}");
        }
    }
}
