//! The OpenAI-compatible chat-completions backend: any server that speaks `POST {base}/chat/completions` (OpenAI,
//! vLLM, llama.cpp's server, Ollama's `/v1`, TGI, LM Studio, ...).
//!
//! One proposal: retrieve known examples that fit the task ([`llm_text::retrieve_examples`]), build the chat prompt
//! ([`llm_text::build_messages`]), ask for about 1.5 n formulae, parse the answer ([`llm_text::extract_formulas`]) and
//! run every candidate through the shared filters. When fewer than n survive, ask again (at most
//! [`OpenAiConfig::max_requests`] requests) with everything already drawn added to the exclusion list and the seed
//! advanced by one.
//!
//! Score. When the server returns token log-probabilities (`"logprobs": true`, see
//! [`OpenAiConfig::request_logprobs`]), a formula's `logprob` is the sum of the log-probabilities of the tokens
//! overlapping its first occurrence in the answer (the model's probability of writing it there). Otherwise it is the
//! rank score `-ln(rank + 1)`, rank counting distinct parsed formulae from 0 across all requests of the proposal —
//! the model's own order, mapped to a log scale so that it sorts and combines like the other backends' scores.
//!
//! Errors name the URL and say what failed (connection, timeout, HTTP status with the server's message, unreadable
//! JSON); the API key is sent only in the `Authorization` header and is redacted from any text a server echoes.

use std::path::Path;
use std::time::Duration;

use genms_shared::search::{ProposeTask, ProposedFormula};
use serde_json::{json, Value};

use super::data::KnownData;
use super::llm_text::{self, Filters};
use super::{FormulaProposer, ProposeStats, ProposerError};

/// Most formulae asked for in one request.
pub const MAX_ASK: u32 = 200;
/// Largest `n` a task may ask for.
pub const MAX_PROPOSALS: u32 = 10_000;

/// Where and how to call the model.
#[derive(Debug, Clone)]
pub struct OpenAiConfig {
    /// Base URL of the API, e.g. `http://host:8000/v1` (`/chat/completions` is appended unless already there).
    pub base_url: String,
    /// Model name sent in the request.
    pub model: String,
    /// Bearer token; `None` sends no `Authorization` header (local servers).
    pub api_key: Option<String>,
    /// Whole-request timeout.
    pub timeout: Duration,
    pub temperature: f64,
    /// Most requests per proposal (>= 1).
    pub max_requests: u32,
    /// Send `"logprobs": true` and score formulae by token log-probability (not every server supports it).
    pub request_logprobs: bool,
    /// Known examples shown in the prompt.
    pub examples: usize,
}

impl OpenAiConfig {
    pub fn new(base_url: impl Into<String>, model: impl Into<String>) -> OpenAiConfig {
        OpenAiConfig {
            base_url: base_url.into(),
            model: model.into(),
            api_key: None,
            timeout: Duration::from_secs(120),
            temperature: 0.7,
            max_requests: 3,
            request_logprobs: false,
            examples: 20,
        }
    }

    /// The API key from `GENMS_LLM_API_KEY`, else `OPENAI_API_KEY` (empty values count as unset).
    pub fn api_key_from_env() -> Option<String> {
        ["GENMS_LLM_API_KEY", "OPENAI_API_KEY"]
            .iter()
            .filter_map(|k| std::env::var(k).ok())
            .map(|v| v.trim().to_string())
            .find(|v| !v.is_empty())
    }

    /// The chat-completions URL.
    pub fn endpoint(&self) -> String {
        let base = self.base_url.trim().trim_end_matches('/');
        if base.ends_with("/chat/completions") {
            base.to_string()
        } else {
            format!("{base}/chat/completions")
        }
    }
}

/// The text of one answer and, when the server sent them, its tokens with log-probabilities.
#[derive(Debug, Clone, PartialEq)]
pub struct Completion {
    pub content: String,
    pub tokens: Option<Vec<(String, f64)>>,
}

/// OpenAI-compatible chat-completions proposer (see the module notes).
pub struct OpenAiProposer {
    cfg: OpenAiConfig,
    agent: ureq::Agent,
    data: KnownData,
}

impl OpenAiProposer {
    /// Loads the known-formula data (retrieval and novelty) and prepares the HTTP client; does not contact the
    /// server.
    pub fn load(cfg: OpenAiConfig, compositions_dir: &Path, known_formulas: &Path) -> Result<Self, ProposerError> {
        if cfg.model.trim().is_empty() {
            return Err(ProposerError::InvalidTask("the LLM model name is empty".into()));
        }
        let url = cfg.endpoint();
        if !(url.starts_with("http://") || url.starts_with("https://")) {
            let why = "the URL must start with http:// or https://".to_string();
            return Err(ProposerError::Llm { url, why });
        }
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .timeout_global(Some(cfg.timeout))
            .http_status_as_error(false)
            .user_agent("genms")
            .build()
            .into();
        Ok(OpenAiProposer { data: KnownData::load(compositions_dir, known_formulas)?, cfg, agent })
    }

    /// Whether a reduced formula is on the novelty list.
    pub fn is_known(&self, reduced_formula: &str) -> bool {
        self.data.known.contains(reduced_formula)
    }

    fn err(&self, why: impl Into<String>) -> ProposerError {
        let mut why = why.into();
        if let Some(key) = self.cfg.api_key.as_deref().filter(|k| k.len() >= 4) {
            why = why.replace(key, "***");
        }
        ProposerError::Llm { url: self.cfg.endpoint(), why }
    }

    /// The request body for `messages`.
    pub fn request_body(&self, messages: &[llm_text::ChatMessage], seed: u64, ask: u32) -> Value {
        let mut body = json!({
            "model": self.cfg.model,
            "messages": messages,
            "temperature": self.cfg.temperature,
            "seed": seed,
            "n": 1,
            "max_tokens": (24 * ask + 256).min(16_384),
        });
        if self.cfg.request_logprobs {
            body["logprobs"] = json!(true);
        }
        body
    }

    /// One chat-completions call.
    pub fn complete(&self, body: &Value) -> Result<Completion, ProposerError> {
        let text = serde_json::to_string(body).map_err(|e| self.err(format!("cannot encode the request: {e}")))?;
        let mut req = self.agent.post(self.cfg.endpoint()).header("Content-Type", "application/json");
        if let Some(key) = &self.cfg.api_key {
            req = req.header("Authorization", format!("Bearer {key}"));
        }
        let timeout = self.cfg.timeout.as_secs_f64();
        let mut resp = req.send(text).map_err(|e| match e {
            ureq::Error::Timeout(_) => self.err(format!("no answer within {timeout} s (timed out)")),
            ureq::Error::Io(io) => self.err(format!("connection failed: {io}")),
            other => self.err(format!("request failed: {other}")),
        })?;
        let status = resp.status().as_u16();
        let body = resp.body_mut().read_to_string().map_err(|e| match e {
            ureq::Error::Timeout(_) => self.err(format!("no complete answer within {timeout} s (timed out)")),
            other => self.err(format!("cannot read the answer (HTTP {status}): {other}")),
        })?;
        if !(200..300).contains(&status) {
            let message = serde_json::from_str::<Value>(&body)
                .ok()
                .and_then(|v| v.pointer("/error/message").and_then(Value::as_str).map(str::to_string))
                .unwrap_or_else(|| body.chars().take(300).collect());
            return Err(self.err(format!("HTTP {status}: {}", message.trim())));
        }
        parse_completion(&body).map_err(|why| self.err(why))
    }

    /// [`FormulaProposer::propose`] plus what was drawn before filtering.
    pub fn propose_with_stats(
        &self,
        task: &ProposeTask,
    ) -> Result<(Vec<ProposedFormula>, ProposeStats), ProposerError> {
        if task.n > MAX_PROPOSALS {
            return Err(ProposerError::InvalidTask(format!("n = {} exceeds {MAX_PROPOSALS}", task.n)));
        }
        let n = task.n as usize;
        let mut filters = Filters::new(task, &self.data.known);
        if n == 0 {
            return Ok((Vec::new(), filters.stats));
        }
        let examples = llm_text::retrieve_examples(&self.data, task, self.cfg.examples);
        let mut drawn: Vec<String> = Vec::new();
        let mut out: Vec<ProposedFormula> = Vec::new();
        for round in 0..self.cfg.max_requests.max(1) {
            let remaining = (n - out.len()) as u32;
            let ask = (remaining + remaining / 2 + 5).min(MAX_ASK);
            let exclusions = llm_text::exclusion_list(task, &examples, &drawn);
            let messages = llm_text::build_messages(task, &examples, &exclusions, ask);
            let completion =
                self.complete(&self.request_body(&messages, task.seed.wrapping_add(u64::from(round)), ask))?;
            let found = llm_text::extract_formulas(&completion.content);
            let fresh: Vec<_> = found.into_iter().filter(|f| !drawn.contains(&f.formula)).collect();
            if fresh.is_empty() {
                break;
            }
            for f in fresh {
                let rank = drawn.len();
                drawn.push(f.formula.clone());
                let logprob = completion
                    .tokens
                    .as_ref()
                    .and_then(|t| llm_text::span_logprob(&completion.content, t, &f.span))
                    .unwrap_or(-((rank + 1) as f64).ln());
                if let Some(formula) = filters.check(&f.formula) {
                    out.push(ProposedFormula { formula, logprob });
                }
            }
            if out.len() >= n {
                break;
            }
        }
        out.sort_by(|a, b| b.logprob.total_cmp(&a.logprob));
        out.truncate(n);
        Ok((out, filters.stats))
    }
}

/// Content and token log-probabilities of a chat-completions answer.
pub fn parse_completion(body: &str) -> Result<Completion, String> {
    let v: Value = serde_json::from_str(body).map_err(|e| {
        let head: String = body.chars().take(120).collect();
        format!("the answer is not JSON ({e}): {head:?}")
    })?;
    let choice = v.pointer("/choices/0").ok_or("the answer has no choices[0] (not a chat-completions response)")?;
    let content = choice
        .pointer("/message/content")
        .and_then(Value::as_str)
        .or_else(|| choice.get("text").and_then(Value::as_str))
        .ok_or("choices[0].message.content is missing or not text")?
        .to_string();
    let tokens = choice.pointer("/logprobs/content").and_then(Value::as_array).and_then(|list| {
        list.iter()
            .map(|t| Some((t.get("token")?.as_str()?.to_string(), t.get("logprob")?.as_f64()?)))
            .collect::<Option<Vec<_>>>()
    });
    Ok(Completion { content, tokens })
}

impl FormulaProposer for OpenAiProposer {
    fn name(&self) -> &str {
        "openai"
    }

    fn propose(&self, task: &ProposeTask) -> Result<Vec<ProposedFormula>, ProposerError> {
        self.propose_with_stats(task).map(|(out, _)| out)
    }
}

#[cfg(test)]
mod tests;
