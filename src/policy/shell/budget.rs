//! The analysis work budget: what one analysis may spend before it stops and the call is
//! refused (finding `shell.analysis_budget`).
//!
//! The shell grammar (brush-parser 0.4, a PEG parser without memoisation) parses some nested
//! constructs again for each alternative it tries, so a few shapes cost time doubling per
//! level of nesting:
//!
//! - the last item of a `case` without `;;` (`case x in x) … esac`) is parsed as an item
//!   ending in `;;`, fails, and is parsed again as the last item;
//! - an item whose body does not parse is parsed twice by each enclosing item on the way out;
//! - unbalanced parentheses are scanned again from every `(` as arithmetic.
//!
//! [`prepare`] runs on the token stream, in linear time, before the parser: unbalanced
//! parentheses are a parse error at once; a `;;` is added before an `esac` that ends an item
//! without one (bash accepts both, the parser then has nothing to retry); and what remains
//! (items whose body may not parse) is bounded against [`PARSE_WORK`].

use brush_parser::Token;

/// Most parse work spent on one analysis, nested scripts included, in token visits over the
/// linear cost (see [`prepare`]): room for hundreds of tokens in case statements nested two
/// or three deep, while the worst input within it still parses in milliseconds.
pub(crate) const PARSE_WORK: u64 = 512;

/// Most tokens parsed in one analysis: a substitution walked again in each loop iteration or
/// function call is parsed again each time.
pub(crate) const PARSED_TOKENS: usize = 100_000;

/// Most bytes tokenized in one analysis: the script, and each substitution's text every time
/// it is walked (in each loop iteration or function call).
pub(crate) const PARSED_BYTES: usize = 1024 * 1024;

/// Most bytes produced by expansion (words, variable values, heredoc bodies) in one analysis.
pub(crate) const EXPANDED_BYTES: usize = 4 * 1024 * 1024;

/// Longest value the analyser keeps for one variable; a longer one (`a=$a$a` repeated) ends the
/// analysis.
pub(crate) const VALUE_BYTES: usize = super::parse::MAX_INPUT;

/// Most work the word grammar may spend in one analysis, in character visits weighted by
/// nesting (see [`word_cost`]): a few hundred kilobytes of everyday words, while the worst
/// input within it parses in milliseconds.
pub(crate) const WORD_WORK: u64 = 1 << 20;

/// Which of brush-parser's word grammars reads a text.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Grammar {
    /// A word: quotes, `$(..)`, `${..}`, backquotes.
    Word,
    /// A heredoc body: like a word, but quotes outside substitutions are plain characters.
    Heredoc,
    /// Brace expansion: a word in which `{` also opens a group.
    Brace,
}

/// An upper bound of the work brush-parser's word grammar (a PEG parser without
/// memoisation) spends on `raw`: its length times two to the power of the deepest nesting of
/// the constructs it may try twice (`$(`, `(` inside a substitution, `${`, double quotes inside
/// a substitution, backquotes, and `{` for brace expansion). An opener that is never closed
/// counts as nesting to the end of the text, which is where the grammar's retries come from:
/// each failed attempt at a construct is followed by another reading of the same text (as
/// literal text, or as the next alternative). Linear in `raw`; saturates at `u64::MAX`.
pub(crate) fn word_cost(raw: &str, grammar: Grammar) -> u64 {
    let b = raw.as_bytes();
    // Open constructs, innermost last: b'"', b'`', b'(' (`$(` or `(`), b'{' (`${` or `{`).
    let mut open: Vec<u8> = Vec::new();
    let mut deepest = 0usize;
    let mut i = 0;
    while i < b.len() {
        let top = open.last().copied();
        // Backquoted text is read as plain characters up to the closing backquote (it is
        // parsed, and charged, again when its script is walked).
        if top == Some(b'`') {
            match b[i] {
                b'\\' => i += 1,
                b'`' => {
                    open.pop();
                }
                _ => {}
            }
            i += 1;
            continue;
        }
        let quoted = top == Some(b'"') || (top.is_none() && grammar == Grammar::Heredoc);
        match b[i] {
            b'\\' => i += 1,
            b'\'' if !quoted => {
                if let Some(len) = b[i + 1..].iter().position(|&c| c == b'\'') {
                    i += len + 1;
                }
            }
            b'"' if top == Some(b'"') => {
                open.pop();
            }
            b'"' if !quoted => open.push(b'"'),
            b'`' => open.push(b'`'),
            b'$' if matches!(b.get(i + 1), Some(b'(' | b'{')) => {
                open.push(b[i + 1]);
                i += 1;
            }
            b'(' if !quoted && top.is_some() => open.push(b'('),
            b')' if !quoted && top == Some(b'(') => {
                open.pop();
            }
            b'{' if !quoted && grammar == Grammar::Brace => open.push(b'{'),
            b'}' if top == Some(b'{') => {
                open.pop();
            }
            _ => {}
        }
        deepest = deepest.max(open.len());
        i += 1;
    }
    let len = b.len() as u64 + 1;
    match 1u64.checked_shl(deepest as u32) {
        Some(w) if deepest < 64 => len.saturating_mul(w),
        _ => u64::MAX,
    }
}

/// What [`prepare`] found wrong with a token stream.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Unfit {
    /// A `(` is never closed: the script cannot parse.
    Unbalanced,
}

/// Where a word stands, for telling the keyword `esac` from an argument spelled `esac`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Pos {
    /// A command may start here: reserved words are keywords.
    Command,
    /// Right after a closing keyword (`fi`, `done`, `}`, `esac`): another may follow.
    AfterClose,
    /// An argument, a redirection target or a `case` subject.
    Arg,
}

/// The extra visits of a token inside `items` case items: none inside one (an item that does
/// not parse is parsed twice: linear), doubling with each level around that.
fn item_weight(items: u32) -> u64 {
    match items {
        0 => 0,
        d => 1u64.checked_shl(d - 1).unwrap_or(u64::MAX) - 1,
    }
}

/// Redirection operators: the word after them is a file name or a descriptor.
fn is_redirection(op: &str) -> bool {
    matches!(
        op,
        "<" | ">" | ">>" | "<&" | ">&" | "<>" | ">|" | "<<" | "<<-" | "<<<" | "&>" | "&>>"
    )
}

/// Checks and adjusts `tokens` before they are parsed (see the module documentation);
/// returns the parse cost of the result: the token visits beyond a linear pass, when each
/// item a token is inside may be parsed twice by each item around it (see `item_weight`),
/// saturating at `u64::MAX`.
pub(crate) fn prepare(tokens: &mut Vec<Token>) -> Result<u64, Unfit> {
    // Open parentheses, each marked when it opens a case pattern (`(x)`).
    let mut parens: Vec<bool> = Vec::new();
    let mut items = 0u32;
    let mut cost: u64 = 0;
    let mut out = Vec::with_capacity(tokens.len());
    let mut pos = Pos::Command;
    // A case pattern may start here (after `case WORD in`, or after `;;`).
    let mut pattern_next = false;
    // The two words before, for recognising `case WORD in`.
    let mut words: [Option<String>; 2] = [None, None];
    for t in tokens.drain(..) {
        let mut weight = item_weight(items);
        match &t {
            Token::Operator(op, _) => {
                match op.as_str() {
                    "(" => parens.push(pattern_next),
                    ")" => match parens.pop() {
                        Some(false) => {}
                        Some(true) | None => items += 1,
                    },
                    ";;" | ";&" | ";;&" => items = items.saturating_sub(1),
                    _ => {}
                }
                pattern_next = match op.as_str() {
                    ";;" | ";&" | ";;&" => true,
                    "\n" => pattern_next,
                    _ => false,
                };
                pos = if is_redirection(op) {
                    Pos::Arg
                } else {
                    Pos::Command
                };
                words = [None, None];
            }
            Token::Word(w, loc) => {
                let keyword = pos == Pos::Command
                    || (pos == Pos::AfterClose
                        && matches!(w.as_str(), "fi" | "done" | "}" | "esac"));
                if keyword && w == "esac" && items > 0 {
                    let before = out
                        .iter()
                        .rev()
                        .find(|t| !matches!(t, Token::Operator(op, _) if op == "\n"));
                    match before {
                        // `pattern) esac`: an empty last item.
                        Some(Token::Operator(op, _)) if op == ")" => items -= 1,
                        Some(Token::Operator(op, _))
                            if matches!(op.as_str(), ";;" | ";&" | ";;&") => {}
                        _ => {
                            out.push(Token::Operator(";;".to_string(), loc.clone()));
                            items -= 1;
                            weight = item_weight(items);
                        }
                    }
                }
                pattern_next =
                    w == "in" && words[0].as_deref() == Some("case") && words[1].is_some();
                pos = match w.as_str() {
                    "fi" | "done" | "}" | "esac" if keyword => Pos::AfterClose,
                    "if" | "then" | "else" | "elif" | "do" | "while" | "until" | "{" | "!"
                    | "time"
                        if keyword =>
                    {
                        Pos::Command
                    }
                    _ => Pos::Arg,
                };
                words = [words[1].take(), Some(w.clone())];
            }
        }
        cost = cost.saturating_add(weight);
        out.push(t);
    }
    *tokens = out;
    if parens.iter().any(|pattern| !pattern) {
        return Err(Unfit::Unbalanced);
    }
    Ok(cost)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tokens(s: &str) -> Vec<Token> {
        brush_parser::uncached_tokenize_str(
            s,
            &brush_parser::ParserOptions::default().tokenizer_options(),
        )
        .unwrap()
    }

    fn cost(s: &str) -> Result<u64, Unfit> {
        prepare(&mut tokens(s))
    }

    fn texts(s: &str) -> Vec<String> {
        let mut t = tokens(s);
        prepare(&mut t).unwrap();
        t.iter().map(|t| t.to_str().to_string()).collect()
    }

    #[test]
    fn plain_commands_cost_nothing_extra() {
        assert_eq!(cost("ls -la src; a | b && c"), Ok(0));
        assert_eq!(cost("( ls ); f() { g; }; echo $(ls (x))"), Ok(0));
    }

    #[test]
    fn a_closed_case_costs_its_item_bodies_once() {
        let flat = "case $x in a) echo 1;; b) echo 2;; esac";
        assert_eq!(cost(flat), Ok(0));
        let two = "case $x in a) case $y in b) echo 1;; esac;; esac";
        assert_eq!(cost(two), Ok(3));
        assert_eq!(cost("case $x in a) esac; ls -la"), Ok(0));
    }

    #[test]
    fn a_missing_double_semicolon_is_added_before_a_keyword_esac() {
        assert_eq!(
            texts("case x in a) echo esac; esac"),
            [
                "case", "x", "in", "a", ")", "echo", "esac", ";", ";;", "esac"
            ]
        );
        assert_eq!(
            texts("case x in a) esac"),
            ["case", "x", "in", "a", ")", "esac"]
        );
        assert_eq!(
            texts("case x in a) if b; then c; fi esac"),
            [
                "case", "x", "in", "a", ")", "if", "b", ";", "then", "c", ";", "fi", ";;", "esac"
            ]
        );
        assert_eq!(
            texts("case x in a) echo fi esac;; esac"),
            [
                "case", "x", "in", "a", ")", "echo", "fi", "esac", ";;", "esac"
            ]
        );
        assert_eq!(
            texts("case x in a) b;; esac"),
            ["case", "x", "in", "a", ")", "b", ";;", "esac"]
        );
    }

    #[test]
    fn nested_case_items_double_per_level() {
        let nest = |d: usize| {
            let mut s = "echo x".to_string();
            for _ in 0..d {
                s = format!("case x in x) {s} |;; esac");
            }
            cost(&s).unwrap()
        };
        assert!(nest(10) > 100 * nest(2));
        assert!(nest(26) > PARSE_WORK);
    }

    #[test]
    fn word_cost_is_linear_in_flat_words_and_doubles_per_open_level() {
        assert_eq!(word_cost("src/main.rs", Grammar::Word), 12);
        // `"` and `$(` open two levels.
        assert_eq!(
            word_cost("\"$(git rev-parse HEAD)\"", Grammar::Word),
            24 * 4
        );
        // Single-quoted text and backquoted text are read once.
        assert_eq!(word_cost("'$( ( ( '", Grammar::Word), 10);
        assert_eq!(word_cost("`( ( (`", Grammar::Word), 8 * 2);
        // Quotes in a heredoc body are plain characters; braces count only for brace expansion.
        assert_eq!(word_cost("don't \"stop\"", Grammar::Heredoc), 13);
        assert_eq!(word_cost("{a,{b,c}}", Grammar::Word), 10);
        assert_eq!(word_cost("{a,{b,c}}", Grammar::Brace), 10 * 4);
        // What never closes nests to the end.
        let unclosed = "$(a \"$(b \"$(c \"$(d";
        assert_eq!(word_cost(unclosed, Grammar::Word), 19 * (1 << 7));
        let deep = "$(".repeat(70);
        assert_eq!(word_cost(&deep, Grammar::Word), u64::MAX);
    }

    #[test]
    fn unbalanced_parentheses_are_refused_at_once() {
        let s = format!("{} rm -rf / {}", "( ".repeat(24), "} ".repeat(24));
        assert_eq!(cost(&s), Err(Unfit::Unbalanced));
        assert_eq!(cost("echo ( a"), Err(Unfit::Unbalanced));
    }
}
