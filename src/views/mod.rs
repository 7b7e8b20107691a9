//! What people look at, all from the ledger: `log`, `replay` (text and HTML) and `export`
//! (JSON Lines, CSV, SARIF). Read-only over the ledger.
//!
//! The building blocks, for any view (the dashboard and the compliance report use them too):
//! - [`Source`]: streams records ([`Entry`]) from the ledger, resolves `latest`/id prefixes, and
//!   reads one session fast through a rebuildable index sidecar ([`index`]);
//! - [`Filter`]: the filters of `log`/`export` (session, time, risk, verdict, action, door,
//!   tool, rule, text);
//! - [`Call`]/[`Item`] and [`Joiner`]: a decision joined with its outcome, permission request,
//!   the other door's decision and any enforcement gap;
//! - [`SessionView`]: one session's story (header, timeline, closing summary);
//! - [`html::PageMeta`] and `templates/base.html` + `templates/style.css`: the shared HTML layout
//!   with a strict Content-Security-Policy.

pub mod calls;
pub mod dashboard;
pub mod diffs;
pub mod entry;
pub mod export;
pub mod filter;
pub mod html;
pub mod index;
pub mod log;
pub mod members;
pub mod replay;
pub mod session;
pub mod source;
pub mod text;

pub use calls::{Call, Item, Joiner, join};
pub use entry::Entry;
pub use filter::{Filter, SessionSel};
pub use session::SessionView;
pub use source::Source;
