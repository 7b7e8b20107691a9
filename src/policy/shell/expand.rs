//! Word expansion as bash performs it: brace expansion, tilde, parameters (with the static
//! `${var:-default}`-style forms), command substitution (evaluated when its output is known
//! statically), arithmetic, quote removal, ANSI-C strings, field splitting on `$IFS`.
//! Globs are flagged, never expanded.

use brush_parser::word::{
    self, BraceExpressionMember, BraceExpressionOrText, Parameter, ParameterExpr,
    ParameterTestType, ParameterTransformOp, SpecialParameter, SubstringMatchKind, TildeExpr,
    WordPiece, WordPieceWithSource,
};

use super::Word;
use super::budget::Grammar;
use super::parse::{Arg, Val, Walker};

/// What `$$`, `$BASHPID`, `$RANDOM` and the shell's other counters are analysed as: some
/// number, which is all that matters when it is part of a path (`/tmp/build-$$`).
const STAND_IN_PID: &str = "4242";

/// Most words one brace expansion may produce.
const MAX_BRACE: usize = 1024;

/// One piece of an expanded word before field splitting.
enum Piece {
    /// Literal text; `quoted` text is neither split nor globbed.
    Lit { text: String, quoted: bool },
    /// The result of an expansion; unquoted known results are split on `$IFS`.
    Exp {
        text: String,
        quoted: bool,
        dynamic: bool,
    },
    /// A field boundary (`"$@"`).
    Break,
}

/// The value of a parameter.
enum Pv {
    One(Option<String>),
    Many(Vec<String>),
}

fn is_plain(raw: &str) -> bool {
    !raw.is_empty()
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_-./=:,@%+^".contains(&b))
}

/// Unquoted glob characters: `*`, `?`, or a `[` closed by a later `]`.
pub(crate) fn has_glob(s: &str) -> bool {
    s.contains(['*', '?']) || s.find('[').is_some_and(|i| s[i + 1..].contains(']'))
}

impl Walker<'_> {
    /// What a variable holds (None: never assigned and not known from the environment).
    pub(crate) fn lookup(&self, name: &str) -> Option<Val> {
        if let Some(v) = self.vars.get(name) {
            return Some(v.clone());
        }
        if let Some(v) = self.env.vars.get(name) {
            return Some(Val::Known(v.clone()));
        }
        match name {
            "HOME" => {
                let h = self.env.home.to_string_lossy();
                (!h.is_empty()).then(|| Val::Known(h.into_owned()))
            }
            "IFS" => Some(Val::Known(" \t\n".to_string())),
            // Shell counters that always hold a number.
            "RANDOM" | "SECONDS" | "EPOCHSECONDS" | "LINENO" | "BASHPID" => {
                Some(Val::Known(STAND_IN_PID.to_string()))
            }
            _ => None,
        }
    }

    fn ifs(&self) -> String {
        match self.lookup("IFS") {
            Some(Val::Known(s)) => s,
            _ => " \t\n".to_string(),
        }
    }

    fn home(&self) -> Option<String> {
        let h = self.env.home.to_string_lossy();
        (!h.is_empty()).then(|| h.into_owned())
    }

    /// Expand a word in argument position: brace expansion, expansions, field splitting.
    pub(crate) fn expand_fields(&mut self, raw: &str) -> Vec<Arg> {
        if is_plain(raw) {
            return vec![Arg::lit(raw)];
        }
        if self.words > super::parse::MAX_WORDS {
            let mut a = Arg::lit("<too many words>");
            a.w.dynamic = true;
            return vec![a];
        }
        let words = if raw.contains('{') {
            self.brace(raw)
        } else {
            vec![raw.to_string()]
        };
        let mut out = Vec::new();
        for w in words {
            if is_plain(&w) {
                out.push(Arg::lit(&w));
                continue;
            }
            let pieces = self.pieces(&w, false);
            self.split(pieces, &mut out);
        }
        self.words += out.len();
        let bytes = out.iter().map(|a| a.w.text.len()).sum();
        if self.words > super::parse::MAX_WORDS || !self.spend_bytes(bytes) {
            self.exhaust(format!(
                "expansion of more than {} words",
                super::parse::MAX_WORDS
            ));
            let mut a = Arg::lit("<too many words>");
            a.w.dynamic = true;
            return vec![a];
        }
        out
    }

    /// Expand a word without brace expansion or field splitting (assignment values,
    /// redirection targets, here-strings, `[[ .. ]]` operands).
    pub(crate) fn expand_word_nosplit(&mut self, raw: &str) -> Word {
        if is_plain(raw) {
            return Arg::lit(raw).w;
        }
        let mut w = Word {
            text: String::new(),
            glob: false,
            dynamic: false,
        };
        for p in self.pieces(raw, false) {
            match p {
                Piece::Lit { text, quoted } => {
                    w.glob |= !quoted && has_glob(&text);
                    w.text.push_str(&text);
                }
                Piece::Exp { text, dynamic, .. } => {
                    w.dynamic |= dynamic;
                    w.text.push_str(&text);
                }
                Piece::Break => w.text.push(' '),
            }
        }
        self.spend_bytes(w.text.len());
        w
    }

    /// Expand without splitting; returns the text and whether it is dynamic.
    pub(crate) fn expand_one(&mut self, raw: &str) -> (String, bool) {
        let w = self.expand_word_nosplit(raw);
        (w.text, w.dynamic)
    }

    /// Expand the body of an unquoted heredoc (substitutions run; quotes are literal).
    /// Returns the text and whether any part of it is dynamic.
    pub(crate) fn expand_heredoc(&mut self, raw: &str) -> (String, bool) {
        if !self.spend_word(raw, Grammar::Heredoc) {
            return (raw.to_string(), true);
        }
        match word::parse_heredoc(raw, &brush_parser::ParserOptions::default()) {
            Ok(pieces) => {
                let mut out = Vec::new();
                self.pieces_into(&pieces, true, &mut out);
                let mut dynamic = false;
                let text = out
                    .into_iter()
                    .map(|p| match p {
                        Piece::Lit { text, .. } => text,
                        Piece::Exp {
                            text, dynamic: d, ..
                        } => {
                            dynamic |= d;
                            text
                        }
                        Piece::Break => " ".to_string(),
                    })
                    .collect::<String>();
                self.spend_bytes(text.len());
                (text, dynamic)
            }
            Err(_) => {
                self.problem("heredoc body could not be parsed");
                (raw.to_string(), true)
            }
        }
    }

    fn brace(&mut self, raw: &str) -> Vec<String> {
        if !self.spend_word(raw, Grammar::Brace) {
            return vec![raw.to_string()];
        }
        match word::parse_brace_expansions(raw, &brush_parser::ParserOptions::default()) {
            Ok(Some(parts)) => {
                let mut acc = vec![String::new()];
                if !self.brace_seq(&parts, &mut acc) {
                    self.problem(format!("brace expansion of more than {MAX_BRACE} words"));
                    return vec![raw.to_string()];
                }
                acc
            }
            _ => vec![raw.to_string()],
        }
    }

    /// Append the expansion of `parts` to every prefix in `acc`; false when over the limit.
    fn brace_seq(&mut self, parts: &[BraceExpressionOrText], acc: &mut Vec<String>) -> bool {
        for part in parts {
            match part {
                BraceExpressionOrText::Text(t) => acc.iter_mut().for_each(|a| a.push_str(t)),
                BraceExpressionOrText::Expr(members) => {
                    let mut alts: Vec<String> = Vec::new();
                    for m in members {
                        match m {
                            BraceExpressionMember::NumberSequence {
                                start,
                                end,
                                increment,
                            } => {
                                let step = increment.unsigned_abs().max(1) as i64;
                                let mut i = *start;
                                loop {
                                    alts.push(i.to_string());
                                    if alts.len() > MAX_BRACE || i == *end {
                                        break;
                                    }
                                    let next = if start <= end { i + step } else { i - step };
                                    if (start <= end && next > *end) || (start > end && next < *end)
                                    {
                                        break;
                                    }
                                    i = next;
                                }
                            }
                            BraceExpressionMember::CharSequence {
                                start,
                                end,
                                increment,
                            } => {
                                let (s, e) = (*start as u32, *end as u32);
                                let step = increment.unsigned_abs().max(1) as usize;
                                let range: Vec<u32> = if s <= e {
                                    (s..=e).step_by(step).collect()
                                } else {
                                    (e..=s).rev().step_by(step).collect()
                                };
                                alts.extend(
                                    range
                                        .into_iter()
                                        .filter_map(char::from_u32)
                                        .map(String::from),
                                );
                            }
                            BraceExpressionMember::Child(c) => {
                                let mut sub = vec![String::new()];
                                if !self.brace_seq(c, &mut sub) {
                                    return false;
                                }
                                alts.extend(sub);
                            }
                        }
                        if alts.len() > MAX_BRACE {
                            return false;
                        }
                    }
                    if acc.len() * alts.len() > MAX_BRACE {
                        return false;
                    }
                    *acc = acc
                        .iter()
                        .flat_map(|a| alts.iter().map(move |b| format!("{a}{b}")))
                        .collect();
                }
            }
        }
        true
    }

    /// Split expanded pieces into fields, appending them to `out`.
    fn split(&self, pieces: Vec<Piece>, out: &mut Vec<Arg>) {
        let ifs = self.ifs();
        let mut cur = Word {
            text: String::new(),
            glob: false,
            dynamic: false,
        };
        let mut started = false;
        let push = |cur: &mut Word, started: &mut bool, out: &mut Vec<Arg>| {
            if *started {
                out.push(Arg {
                    w: std::mem::replace(
                        cur,
                        Word {
                            text: String::new(),
                            glob: false,
                            dynamic: false,
                        },
                    ),
                    procsub: None,
                });
            }
            *started = false;
        };
        for p in pieces {
            match p {
                Piece::Lit { text, quoted } => {
                    cur.glob |= !quoted && has_glob(&text);
                    cur.text.push_str(&text);
                    started = true;
                }
                Piece::Exp {
                    text,
                    quoted: true,
                    dynamic,
                }
                | Piece::Exp {
                    text,
                    quoted: false,
                    dynamic: dynamic @ true,
                } => {
                    cur.dynamic |= dynamic;
                    cur.text.push_str(&text);
                    started = true;
                }
                Piece::Exp { text, .. } => {
                    if ifs.is_empty() {
                        cur.glob |= has_glob(&text);
                        cur.text.push_str(&text);
                        started |= !text.is_empty();
                        continue;
                    }
                    let mut seg = String::new();
                    for c in text.chars() {
                        if ifs.contains(c) {
                            cur.glob |= has_glob(&seg);
                            cur.text.push_str(&seg);
                            seg.clear();
                            if !c.is_whitespace() {
                                started = true;
                            }
                            push(&mut cur, &mut started, out);
                        } else {
                            seg.push(c);
                            started = true;
                        }
                    }
                    cur.glob |= has_glob(&seg);
                    cur.text.push_str(&seg);
                }
                Piece::Break => push(&mut cur, &mut started, out),
            }
        }
        push(&mut cur, &mut started, out);
    }

    /// Parse a word into pieces and expand them.
    fn pieces(&mut self, raw: &str, quoted: bool) -> Vec<Piece> {
        let mut out = Vec::new();
        if !self.spend_word(raw, Grammar::Word) {
            out.push(Piece::Exp {
                text: raw.to_string(),
                quoted: true,
                dynamic: true,
            });
            return out;
        }
        match word::parse(raw, &brush_parser::ParserOptions::default()) {
            Ok(ps) => self.pieces_into(&ps, quoted, &mut out),
            Err(_) => {
                self.problem(format!("word could not be parsed: {raw}"));
                out.push(Piece::Exp {
                    text: raw.to_string(),
                    quoted: true,
                    dynamic: true,
                });
            }
        }
        out
    }

    fn pieces_into(&mut self, ps: &[WordPieceWithSource], quoted: bool, out: &mut Vec<Piece>) {
        for p in ps {
            match &p.piece {
                WordPiece::Text(t) => out.push(Piece::Lit {
                    text: t.clone(),
                    quoted,
                }),
                WordPiece::SingleQuotedText(t) => out.push(Piece::Lit {
                    text: t.clone(),
                    quoted: true,
                }),
                WordPiece::AnsiCQuotedText(t) => out.push(Piece::Lit {
                    text: ansi_c(t),
                    quoted: true,
                }),
                WordPiece::DoubleQuotedSequence(inner)
                | WordPiece::GettextDoubleQuotedSequence(inner) => {
                    // `""` is an empty field, not nothing.
                    out.push(Piece::Lit {
                        text: String::new(),
                        quoted: true,
                    });
                    self.pieces_into(inner, true, out);
                }
                WordPiece::TildeExpansion(t) => {
                    let (text, dynamic) = match t {
                        TildeExpr::Home => match self.home() {
                            Some(h) => (h, false),
                            None => ("~".to_string(), true),
                        },
                        TildeExpr::UserHome(u) if u == "root" => ("/root".to_string(), false),
                        TildeExpr::UserHome(u) => (format!("~{u}"), true),
                        TildeExpr::WorkingDir => match self.lookup("PWD") {
                            Some(Val::Known(p)) => (p, false),
                            _ => ("~+".to_string(), true),
                        },
                        _ => ("~-".to_string(), true),
                    };
                    out.push(Piece::Exp {
                        text,
                        quoted: true,
                        dynamic,
                    });
                }
                WordPiece::ParameterExpansion(e) => self.param_expr(e, quoted, out),
                WordPiece::CommandSubstitution(text) => {
                    let r = self.substitution_text(text, "$(..)");
                    out.push(subst_piece(r, quoted));
                }
                WordPiece::BackquotedCommandSubstitution(text) => {
                    let text = unescape_backquoted(text);
                    let r = self.substitution_text(&text, "$(..)");
                    out.push(subst_piece(r, quoted));
                }
                WordPiece::EscapeSequence(s) => {
                    let mut cs = s.chars();
                    cs.next();
                    let c = cs.next();
                    let text = match c {
                        Some('\n') => String::new(),
                        Some(c) if quoted && !matches!(c, '$' | '`' | '"' | '\\') => {
                            format!("\\{c}")
                        }
                        Some(c) => c.to_string(),
                        None => "\\".to_string(),
                    };
                    out.push(Piece::Lit { text, quoted: true });
                }
                WordPiece::ArithmeticExpression(e) => {
                    self.arith(&e.value);
                    let v = e.value.trim();
                    match v.parse::<i64>() {
                        Ok(n) => out.push(Piece::Exp {
                            text: n.to_string(),
                            quoted,
                            dynamic: false,
                        }),
                        Err(_) => out.push(Piece::Exp {
                            text: "$((..))".to_string(),
                            quoted,
                            dynamic: true,
                        }),
                    }
                }
            }
        }
    }

    fn param(&self, p: &Parameter) -> Pv {
        let known = |v: Option<Val>| match v {
            Some(Val::Known(s) | Val::Glob(s)) => Some(s),
            Some(Val::Array(a)) => Some(a.first().cloned().unwrap_or_default()),
            _ => None,
        };
        match p {
            Parameter::Named(n) => Pv::One(known(self.lookup(n))),
            Parameter::Positional(0) | Parameter::Special(SpecialParameter::ShellName) => Pv::One(
                self.dollar0
                    .as_ref()
                    .filter(|w| !w.dynamic)
                    .map(|w| w.text.clone()),
            ),
            Parameter::Positional(n) => {
                Pv::One(
                    self.positional
                        .as_ref()
                        .and_then(|ps| match ps.get(*n as usize - 1) {
                            Some(w) if !w.dynamic => Some(w.text.clone()),
                            Some(_) => None,
                            None => Some(String::new()),
                        }),
                )
            }
            Parameter::Special(SpecialParameter::AllPositionalParameters { concatenate }) => {
                match &self.positional {
                    Some(ps) if ps.iter().all(|w| !w.dynamic) => {
                        let v: Vec<String> = ps.iter().map(|w| w.text.clone()).collect();
                        if *concatenate {
                            Pv::One(Some(v.join(" ")))
                        } else {
                            Pv::Many(v)
                        }
                    }
                    _ => Pv::One(None),
                }
            }
            Parameter::Special(SpecialParameter::PositionalParameterCount) => {
                Pv::One(self.positional.as_ref().map(|p| p.len().to_string()))
            }
            // Always a number, never empty: a path built from it stays where it was.
            Parameter::Special(SpecialParameter::ProcessId) => Pv::One(Some(STAND_IN_PID.into())),
            Parameter::Special(SpecialParameter::LastExitStatus) => Pv::One(Some("0".into())),
            Parameter::Special(_) => Pv::One(None),
            Parameter::NamedWithIndex { name, index } => {
                match (self.lookup(name), index.trim().parse::<usize>()) {
                    (Some(Val::Array(a)), Ok(i)) => {
                        Pv::One(Some(a.get(i).cloned().unwrap_or_default()))
                    }
                    (Some(Val::Known(s)), Ok(0)) => Pv::One(Some(s)),
                    (Some(Val::Known(_)), Ok(_)) => Pv::One(Some(String::new())),
                    _ => Pv::One(None),
                }
            }
            Parameter::NamedWithAllIndices { name, concatenate } => match self.lookup(name) {
                Some(Val::Array(a)) if *concatenate => Pv::One(Some(a.join(" "))),
                Some(Val::Array(a)) => Pv::Many(a),
                other => Pv::One(known(other)),
            },
        }
    }

    /// A parameter's value with `${!name}` indirection applied.
    fn param_ind(&self, p: &Parameter, indirect: bool) -> Pv {
        let v = self.param(p);
        if !indirect {
            return v;
        }
        match v {
            Pv::One(Some(name)) => match self.lookup(&name) {
                Some(Val::Known(s)) => Pv::One(Some(s)),
                _ => Pv::One(None),
            },
            _ => Pv::One(None),
        }
    }

    fn param_expr(&mut self, e: &ParameterExpr, quoted: bool, out: &mut Vec<Piece>) {
        let placeholder = |p: &Parameter| p.to_string();
        let one = |text: Option<String>, p: &Parameter| match text {
            Some(t) => Piece::Exp {
                text: t,
                quoted,
                dynamic: false,
            },
            None => Piece::Exp {
                text: placeholder(p),
                quoted,
                dynamic: true,
            },
        };
        match e {
            ParameterExpr::Parameter {
                parameter: Parameter::Named(n),
                indirect: false,
            } if matches!(self.lookup(n), Some(Val::Glob(_))) => {
                if let Some(Val::Glob(g)) = self.lookup(n) {
                    out.push(Piece::Exp {
                        text: g,
                        quoted: false,
                        dynamic: false,
                    });
                }
            }
            ParameterExpr::Parameter {
                parameter,
                indirect,
            } => match self.param_ind(parameter, *indirect) {
                Pv::One(v) => out.push(one(v, parameter)),
                Pv::Many(vs) => {
                    for (i, v) in vs.into_iter().enumerate() {
                        if i > 0 {
                            out.push(if quoted {
                                Piece::Break
                            } else {
                                Piece::Exp {
                                    text: " ".to_string(),
                                    quoted: false,
                                    dynamic: false,
                                }
                            });
                        }
                        out.push(Piece::Exp {
                            text: v,
                            quoted,
                            dynamic: false,
                        });
                    }
                }
            },
            ParameterExpr::UseDefaultValues {
                parameter,
                indirect,
                test_type,
                default_value,
            }
            | ParameterExpr::AssignDefaultValues {
                parameter,
                indirect,
                test_type,
                default_value,
            } => {
                let v = self.param_scalar(parameter, *indirect);
                let use_default = match &v {
                    Some(s) => s.is_empty() && matches!(test_type, ParameterTestType::UnsetOrNull),
                    None => true,
                };
                if !use_default {
                    out.push(one(v, parameter));
                    return;
                }
                let (text, dynamic) = self.expand_one(default_value.as_deref().unwrap_or(""));
                // An unknown variable may be set: the default is only the likely value.
                let dynamic = dynamic || v.is_none();
                if let (ParameterExpr::AssignDefaultValues { .. }, Parameter::Named(n)) =
                    (e, parameter)
                    && v.is_some()
                {
                    let val = if dynamic {
                        Val::Unknown
                    } else {
                        Val::Known(text.clone())
                    };
                    self.set_var(n, val);
                }
                out.push(Piece::Exp {
                    text,
                    quoted,
                    dynamic,
                });
            }
            ParameterExpr::IndicateErrorIfNullOrUnset {
                parameter,
                indirect,
                ..
            } => {
                let v = self.param_scalar(parameter, *indirect);
                out.push(one(v, parameter));
            }
            ParameterExpr::UseAlternativeValue {
                parameter,
                indirect,
                test_type,
                alternative_value,
            } => {
                let v = self.param_scalar(parameter, *indirect);
                match v {
                    Some(s)
                        if s.is_empty() && matches!(test_type, ParameterTestType::UnsetOrNull) =>
                    {
                        out.push(one(Some(String::new()), parameter))
                    }
                    Some(_) => {
                        let (text, dynamic) =
                            self.expand_one(alternative_value.as_deref().unwrap_or(""));
                        out.push(Piece::Exp {
                            text,
                            quoted,
                            dynamic,
                        });
                    }
                    None => out.push(one(None, parameter)),
                }
            }
            ParameterExpr::ParameterLength {
                parameter,
                indirect,
            } => {
                let v = self.param_scalar(parameter, *indirect);
                out.push(one(v.map(|s| s.chars().count().to_string()), parameter));
            }
            ParameterExpr::RemoveSmallestSuffixPattern {
                parameter,
                indirect,
                pattern,
            }
            | ParameterExpr::RemoveLargestSuffixPattern {
                parameter,
                indirect,
                pattern,
            }
            | ParameterExpr::RemoveSmallestPrefixPattern {
                parameter,
                indirect,
                pattern,
            }
            | ParameterExpr::RemoveLargestPrefixPattern {
                parameter,
                indirect,
                pattern,
            } => {
                let v = self.param_scalar(parameter, *indirect);
                let pat = self.expand_word_nosplit(pattern.as_deref().unwrap_or(""));
                let r = match (v, pat.dynamic) {
                    (Some(s), false) => {
                        let (suffix, largest) = match e {
                            ParameterExpr::RemoveSmallestSuffixPattern { .. } => (true, false),
                            ParameterExpr::RemoveLargestSuffixPattern { .. } => (true, true),
                            ParameterExpr::RemoveSmallestPrefixPattern { .. } => (false, false),
                            _ => (false, true),
                        };
                        strip_pattern(&s, &pat.text, suffix, largest)
                    }
                    _ => None,
                };
                out.push(one(r, parameter));
            }
            ParameterExpr::Substring {
                parameter,
                indirect,
                offset,
                length,
            } => {
                let v = self.param_scalar(parameter, *indirect);
                let off = offset.value.trim().parse::<i64>().ok();
                let len = match length {
                    Some(l) => l.value.trim().parse::<i64>().ok().map(Some),
                    None => Some(None),
                };
                let r = match (v, off, len) {
                    (Some(s), Some(o), Some(l)) => substring(&s, o, l),
                    _ => None,
                };
                out.push(one(r, parameter));
            }
            ParameterExpr::Transform {
                parameter,
                indirect,
                op,
            } => {
                let v = self.param_scalar(parameter, *indirect);
                let r = v.and_then(|s| match op {
                    ParameterTransformOp::ToUpperCase => Some(s.to_uppercase()),
                    ParameterTransformOp::ToLowerCase => Some(s.to_lowercase()),
                    ParameterTransformOp::CapitalizeInitial => Some(first_upper(&s)),
                    ParameterTransformOp::ExpandEscapeSequences => Some(ansi_c(&s)),
                    _ => None,
                });
                out.push(one(r, parameter));
            }
            ParameterExpr::UppercaseFirstChar {
                parameter,
                indirect,
                pattern,
            } if pattern.as_deref().unwrap_or("").is_empty() => {
                let v = self.param_scalar(parameter, *indirect);
                out.push(one(v.map(|s| first_upper(&s)), parameter));
            }
            ParameterExpr::UppercasePattern {
                parameter,
                indirect,
                pattern,
            } if pattern.as_deref().unwrap_or("").is_empty() => {
                let v = self.param_scalar(parameter, *indirect);
                out.push(one(v.map(|s| s.to_uppercase()), parameter));
            }
            ParameterExpr::LowercaseFirstChar {
                parameter,
                indirect,
                pattern,
            } if pattern.as_deref().unwrap_or("").is_empty() => {
                let v = self.param_scalar(parameter, *indirect);
                out.push(one(
                    v.map(|s| {
                        let mut c = s.chars();
                        c.next()
                            .map(|f| f.to_lowercase().chain(c).collect())
                            .unwrap_or_default()
                    }),
                    parameter,
                ));
            }
            ParameterExpr::LowercasePattern {
                parameter,
                indirect,
                pattern,
            } if pattern.as_deref().unwrap_or("").is_empty() => {
                let v = self.param_scalar(parameter, *indirect);
                out.push(one(v.map(|s| s.to_lowercase()), parameter));
            }
            ParameterExpr::ReplaceSubstring {
                parameter,
                indirect,
                pattern,
                replacement,
                match_kind,
            } => {
                let v = self.param_scalar(parameter, *indirect);
                let pat = self.expand_word_nosplit(pattern);
                let rep = self.expand_word_nosplit(replacement.as_deref().unwrap_or(""));
                let r = match v {
                    Some(s) if !pat.dynamic && !rep.dynamic && !has_glob(&pat.text) => {
                        Some(replace(&s, &pat.text, &rep.text, match_kind))
                    }
                    _ => None,
                };
                out.push(one(r, parameter));
            }
            ParameterExpr::UppercaseFirstChar { parameter, .. }
            | ParameterExpr::UppercasePattern { parameter, .. }
            | ParameterExpr::LowercaseFirstChar { parameter, .. }
            | ParameterExpr::LowercasePattern { parameter, .. } => out.push(one(None, parameter)),
            ParameterExpr::VariableNames { .. } | ParameterExpr::MemberKeys { .. } => {
                out.push(Piece::Exp {
                    text: "${!..}".to_string(),
                    quoted,
                    dynamic: true,
                })
            }
        }
    }

    fn param_scalar(&self, p: &Parameter, indirect: bool) -> Option<String> {
        match self.param_ind(p, indirect) {
            Pv::One(v) => v,
            Pv::Many(v) => Some(v.join(" ")),
        }
    }
}

fn subst_piece(r: Option<String>, quoted: bool) -> Piece {
    match r {
        Some(mut s) => {
            while s.ends_with('\n') {
                s.pop();
            }
            Piece::Exp {
                text: s,
                quoted,
                dynamic: false,
            }
        }
        None => Piece::Exp {
            text: "$(..)".to_string(),
            quoted,
            dynamic: true,
        },
    }
}

fn unescape_backquoted(t: &str) -> String {
    let mut out = String::with_capacity(t.len());
    let mut cs = t.chars().peekable();
    while let Some(c) = cs.next() {
        if c == '\\'
            && let Some(&n) = cs.peek()
            && matches!(n, '\\' | '`' | '$')
        {
            out.push(n);
            cs.next();
            continue;
        }
        out.push(c);
    }
    out
}

fn first_upper(s: &str) -> String {
    let mut c = s.chars();
    c.next()
        .map(|f| f.to_uppercase().chain(c).collect())
        .unwrap_or_default()
}

fn substring(s: &str, off: i64, len: Option<i64>) -> Option<String> {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len() as i64;
    let start = if off < 0 {
        (n + off).max(0)
    } else {
        off.min(n)
    };
    let end = match len {
        None => n,
        Some(l) if l < 0 => (n + l).max(start),
        Some(l) => (start + l).min(n),
    };
    Some(chars[start as usize..end as usize].iter().collect())
}

fn replace(s: &str, pat: &str, rep: &str, kind: &SubstringMatchKind) -> String {
    if pat.is_empty() {
        return s.to_string();
    }
    match kind {
        SubstringMatchKind::Prefix => match s.strip_prefix(pat) {
            Some(rest) => format!("{rep}{rest}"),
            None => s.to_string(),
        },
        SubstringMatchKind::Suffix => match s.strip_suffix(pat) {
            Some(rest) => format!("{rest}{rep}"),
            None => s.to_string(),
        },
        SubstringMatchKind::FirstOccurrence => s.replacen(pat, rep, 1),
        SubstringMatchKind::Anywhere => s.replace(pat, rep),
    }
}

/// Match a shell pattern made of literals, `*` and `?` (None: a bracket class). Linear-space
/// dynamic programming: no backtracking blow-up on patterns like `*a*a*a*b`.
fn glob_match(pat: &[char], s: &[char]) -> Option<bool> {
    if pat.contains(&'[') {
        return None;
    }
    // row[j]: pat[..i] matches s[..j].
    let mut row = vec![false; s.len() + 1];
    row[0] = true;
    for p in pat {
        let mut next = vec![false; s.len() + 1];
        match p {
            '*' => {
                let mut any = false;
                for j in 0..=s.len() {
                    any |= row[j];
                    next[j] = any;
                }
            }
            c => {
                for j in 1..=s.len() {
                    next[j] = row[j - 1] && (*c == '?' || s[j - 1] == *c);
                }
            }
        }
        row = next;
    }
    Some(row[s.len()])
}

fn strip_pattern(s: &str, pat: &str, suffix: bool, largest: bool) -> Option<String> {
    let p: Vec<char> = pat.chars().collect();
    let c: Vec<char> = s.chars().collect();
    let n = c.len();
    let mut cuts: Vec<usize> = (0..=n).collect();
    if suffix != largest {
        cuts.reverse();
    }
    for k in cuts {
        let (keep, cut) = if suffix {
            (&c[..k], &c[k..])
        } else {
            (&c[k..], &c[..k])
        };
        if glob_match(&p, cut)? {
            return Some(keep.iter().collect());
        }
    }
    Some(s.to_string())
}

/// Decode the body of an ANSI-C `$'..'` string.
pub(crate) fn ansi_c(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let cs: Vec<char> = s.chars().collect();
    let mut i = 0;
    let hex = |cs: &[char], i: usize, max: usize| -> (u32, usize) {
        let mut v = 0u32;
        let mut n = 0;
        while n < max && i + n < cs.len() && cs[i + n].is_ascii_hexdigit() {
            v = v * 16 + cs[i + n].to_digit(16).unwrap_or(0);
            n += 1;
        }
        (v, n)
    };
    while i < cs.len() {
        let c = cs[i];
        if c != '\\' || i + 1 >= cs.len() {
            out.push(c);
            i += 1;
            continue;
        }
        let e = cs[i + 1];
        i += 2;
        match e {
            'a' => out.push('\x07'),
            'b' => out.push('\x08'),
            'e' | 'E' => out.push('\x1b'),
            'f' => out.push('\x0c'),
            'n' => out.push('\n'),
            'r' => out.push('\r'),
            't' => out.push('\t'),
            'v' => out.push('\x0b'),
            '\\' | '\'' | '"' | '?' => out.push(e),
            '0'..='7' => {
                let mut v = e.to_digit(8).unwrap_or(0);
                let mut n = 1;
                while n < 3 && i < cs.len() && ('0'..='7').contains(&cs[i]) {
                    v = v * 8 + cs[i].to_digit(8).unwrap_or(0);
                    i += 1;
                    n += 1;
                }
                out.push(char::from_u32(v & 0xff).unwrap_or('\u{fffd}'));
            }
            'x' => {
                let (v, n) = hex(&cs, i, 2);
                if n == 0 {
                    out.push_str("\\x");
                } else {
                    out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                    i += n;
                }
            }
            'u' | 'U' => {
                let (v, n) = hex(&cs, i, if e == 'u' { 4 } else { 8 });
                if n == 0 {
                    out.push('\\');
                    out.push(e);
                } else {
                    out.push(char::from_u32(v).unwrap_or('\u{fffd}'));
                    i += n;
                }
            }
            'c' if i < cs.len() => {
                out.push(char::from_u32((cs[i] as u32) & 0x1f).unwrap_or('\u{fffd}'));
                i += 1;
            }
            other => {
                out.push('\\');
                out.push(other);
            }
        }
    }
    out
}
