//! The Claude Code door: hook payloads in, decisions out; installer and watchdog.
