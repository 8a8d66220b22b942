//! (placeholder: filled in by the ratelimit work)
