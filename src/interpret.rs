//! `genms interpret "<prompt>"`: shows how genms reads a request — the constraints it becomes, the phrases it
//! recognised and the words it did not understand — as one JSON object (pretty-printed unless `--compact`).
//! Contradictory or empty prompts fail with a one-line error naming the clashing phrases.

use anyhow::Context;
use clap::Args;
use genms_shared::constraints::interpret;

#[derive(Debug, Args)]
pub struct InterpretArgs {
    /// The request in plain words, e.g. "a lead-free perovskite oxide semiconductor with a band gap between 1 and
    /// 2 eV, not CsSnI3". Several words without quotes are joined with spaces.
    #[arg(required = true, num_args = 1..)]
    pub prompt: Vec<String>,
    /// Print the JSON on one line instead of indented.
    #[arg(long, env = "GENMS_COMPACT_JSON")]
    pub compact: bool,
}

pub fn run(args: InterpretArgs) -> anyhow::Result<()> {
    let prompt = args.prompt.join(" ");
    let interpretation = interpret(&prompt).with_context(|| format!("cannot interpret {prompt:?}"))?;
    let json = if args.compact {
        serde_json::to_string(&interpretation)
    } else {
        serde_json::to_string_pretty(&interpretation)
    }
    .context("cannot serialise the interpretation")?;
    println!("{json}");
    Ok(())
}
