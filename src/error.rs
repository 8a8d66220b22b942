//! One error type for the whole core: an opaque struct with a kind, as in `regex::Error`.

use std::fmt;

/// What went wrong, coarse enough for the bindings to map each kind to one Python exception.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// An argument is out of range or malformed (the message names the argument).
    InvalidArgument,
    /// A user-supplied rule or pattern does not compile (the message names the rule).
    InvalidRule,
    /// A name (model, encoding, entity type, operator) is not known; the message lists known ones.
    UnknownName,
}

/// An error from the core. The message is safe to show: it never contains secret input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CoreError {
    kind: ErrorKind,
    message: String,
}

impl CoreError {
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self {
            kind,
            message: message.into(),
        }
    }

    /// An `InvalidArgument` error whose message starts with the argument's name.
    pub fn argument(name: &str, problem: impl fmt::Display) -> Self {
        Self::new(ErrorKind::InvalidArgument, format!("{name}: {problem}"))
    }

    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for CoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for CoreError {}

pub type Result<T> = std::result::Result<T, CoreError>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argument_error_names_the_argument() {
        let e = CoreError::argument("threshold", "must be within [0, 1], got 7");
        assert_eq!(e.kind(), ErrorKind::InvalidArgument);
        assert_eq!(e.to_string(), "threshold: must be within [0, 1], got 7");
    }
}
