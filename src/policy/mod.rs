//! Classification and policy: what a call does, how risky it is, and what the policy says.

pub mod shell;
