//! `schema ledger`: the JSON Schema of every ledger record.

use super::Ctx;
use anyhow::Result;
use clap::Args;

/// Options of `schema`.
#[derive(Debug, Args)]
pub struct SchemaArgs {
    /// Which schema.
    #[arg(value_parser = ["ledger"])]
    pub what: String,
}

/// Prints the schema.
pub fn run(_ctx: &Ctx, _args: SchemaArgs) -> Result<i32> {
    let schema = crate::ledger::event::json_schema();
    println!("{}", serde_json::to_string_pretty(&schema)?);
    Ok(0)
}
