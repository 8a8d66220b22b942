//! The tokens an LLM API's response says it used.
//!
//! A budget charged with the provider's own count is charged what the provider bills: it
//! includes what the guard never sees (a system prompt or history the handler adds, the
//! model's reasoning tokens) and counts with the model's real tokenizer. Read from the usage
//! block of the chat and completions APIs of `OpenAI` (`usage.prompt_tokens` /
//! `completion_tokens`), Anthropic's messages and the Responses API (`usage.input_tokens` /
//! `output_tokens`, Anthropic's cache reads and writes added to the input), and Gemini
//! (`usageMetadata`, thinking tokens added to the output); in a stream, also inside
//! Anthropic's `message_start` (`message.usage`) and the Responses API's `response.completed`
//! (`response.usage`).

use serde_json::{Map, Value};

/// Counts past this are not believed (the budgets' own bound on one charge).
const MOST_TOKENS: u64 = 1_000_000_000_000;

/// The tokens a response reports; a side it does not report is `None`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Usage {
    pub input: Option<u64>,
    pub output: Option<u64>,
}

/// The usage `value` (a response body, or one streamed event) reports.
pub fn reported(value: &Value) -> Usage {
    let Some(top) = value.as_object() else {
        return Usage::default();
    };
    let nested = |outer: &str| top.get(outer)?.as_object()?.get("usage");
    let block = top
        .get("usage")
        .or_else(|| nested("message"))
        .or_else(|| nested("response"))
        .or_else(|| top.get("usageMetadata"));
    let Some(block) = block.and_then(Value::as_object) else {
        return Usage::default();
    };
    let input = side(
        block,
        &["prompt_tokens", "input_tokens", "promptTokenCount"],
        &["cache_creation_input_tokens", "cache_read_input_tokens"],
    );
    let output = side(
        block,
        &["completion_tokens", "output_tokens", "candidatesTokenCount"],
        &["thoughtsTokenCount"],
    );
    Usage { input, output }
}

/// The first of `names` the block holds as a count, plus any of `extra` it holds.
fn side(block: &Map<String, Value>, names: &[&str], extra: &[&str]) -> Option<u64> {
    let count = |name: &&str| block.get(*name)?.as_u64().filter(|&n| n <= MOST_TOKENS);
    let first = names.iter().find_map(count)?;
    Some(
        extra
            .iter()
            .filter_map(count)
            .fold(first, u64::saturating_add),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn usage(input: Option<u64>, output: Option<u64>) -> Usage {
        Usage { input, output }
    }

    #[test]
    fn reads_the_usage_of_each_api_shape() {
        let openai = json!({"choices": [], "usage": {"prompt_tokens": 12, "completion_tokens": 5,
            "total_tokens": 17, "completion_tokens_details": {"reasoning_tokens": 3}}});
        assert_eq!(reported(&openai), usage(Some(12), Some(5)));
        let anthropic = json!({"type": "message", "usage": {"input_tokens": 10,
            "cache_creation_input_tokens": 100, "cache_read_input_tokens": 1000,
            "output_tokens": 7}});
        assert_eq!(reported(&anthropic), usage(Some(1110), Some(7)));
        let start = json!({"type": "message_start", "message": {"usage": {"input_tokens": 25,
            "output_tokens": 1}}});
        assert_eq!(reported(&start), usage(Some(25), Some(1)));
        let delta = json!({"type": "message_delta", "usage": {"output_tokens": 15}});
        assert_eq!(reported(&delta), usage(None, Some(15)));
        let responses = json!({"type": "response.completed", "response": {"usage": {
            "input_tokens": 9, "output_tokens": 4}}});
        assert_eq!(reported(&responses), usage(Some(9), Some(4)));
        let gemini = json!({"candidates": [], "usageMetadata": {"promptTokenCount": 8,
            "candidatesTokenCount": 6, "thoughtsTokenCount": 20}});
        assert_eq!(reported(&gemini), usage(Some(8), Some(26)));
        let embeddings = json!({"data": [], "usage": {"prompt_tokens": 4, "total_tokens": 4}});
        assert_eq!(reported(&embeddings), usage(Some(4), None));
    }

    #[test]
    fn what_is_not_a_count_is_not_believed() {
        for value in [
            json!({"usage": {"prompt_tokens": -1, "completion_tokens": 1.5}}),
            json!({"usage": {"prompt_tokens": "12", "completion_tokens": null}}),
            json!({"usage": {"input_tokens": 2_000_000_000_000_u64}}),
            json!({"usage": [1, 2]}),
            json!({"answer": "no usage here"}),
            json!(["usage"]),
            json!("usage"),
        ] {
            assert_eq!(reported(&value), Usage::default(), "{value}");
        }
    }
}
