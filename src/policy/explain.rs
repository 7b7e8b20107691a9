//! `explain`: how the policy judges one call typed by a person — the call built from a tool
//! name and its input, its classification and the decision with every matching rule. Used by
//! `policy explain` and the dashboard's policy page, so both judge exactly the same call.

use super::rules::Decision;
use super::{Env, Policy, classify};
use crate::call::{Classification, Door, ToolCall};
use anyhow::{Result, bail};
use serde_json::{Value, json};
use std::path::PathBuf;

/// A typed call and how the policy judged it.
#[derive(Debug, Clone)]
pub struct Explanation {
    pub call: ToolCall,
    pub classification: Classification,
    pub decision: Decision,
}

/// The call meant by `tool` and `input` in `cwd`: a JSON object is the tool's input; for
/// `Bash`, any other text is the command.
pub fn typed_call(tool: &str, input: &str, cwd: PathBuf) -> Result<ToolCall> {
    let parsed = serde_json::from_str::<Value>(input)
        .ok()
        .filter(Value::is_object);
    let input = match parsed {
        Some(v) => v,
        None if tool == "Bash" => json!({ "command": input }),
        None => bail!(
            "for {tool}, give the tool input as a JSON object, e.g. {{\"file_path\": \"src/main.rs\"}}"
        ),
    };
    Ok(ToolCall::new(Door::Hook, tool, input, cwd))
}

/// Classifies and decides the typed call with `policy` (changes nothing, records nothing).
pub fn explain(
    policy: &Policy,
    env: &Env,
    tool: &str,
    input: &str,
    cwd: PathBuf,
) -> Result<Explanation> {
    let call = typed_call(tool, input, cwd)?;
    let classification = classify(&call, env);
    let decision = policy.decide(&call, &classification, env);
    Ok(Explanation {
        call,
        classification,
        decision,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_is_a_bash_command_and_other_tools_need_json() {
        let call = typed_call("Bash", "git push --force", "/p".into()).unwrap();
        assert_eq!(call.input, json!({"command": "git push --force"}));
        let call = typed_call("Read", r#"{"file_path": ".env"}"#, "/p".into()).unwrap();
        assert_eq!(call.input, json!({"file_path": ".env"}));
        let e = typed_call("Read", ".env", "/p".into()).unwrap_err();
        assert!(e.to_string().contains("JSON object"), "{e}");
        // A JSON value that is not an object is a command for Bash.
        let call = typed_call("Bash", "42", "/p".into()).unwrap();
        assert_eq!(call.input, json!({"command": "42"}));
    }
}
