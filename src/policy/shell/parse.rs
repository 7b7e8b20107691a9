//! Parsing with brush-parser and the walk over its syntax tree: lists, pipelines, compound
//! commands, functions, redirections. Simple commands are expanded (`expand.rs`) and handed to
//! the dispatcher (`wrappers.rs`), which peels wrappers and recurses into nested scripts.

use std::collections::HashMap;
use std::rc::Rc;

use brush_parser::ast::{self, SourceLocation};

use super::{Command, Redirect, RedirectKind, Script, ShellEnv, Stdin, Word};

/// Deepest nesting of scripts inside scripts (`bash -c "bash -c …"`, function calls, `$(..)`).
pub(crate) const MAX_DEPTH: usize = 8;
/// Largest script analysed, in bytes.
pub(crate) const MAX_INPUT: usize = 64 * 1024;
/// Most commands emitted for one script (brace expansion and loops can multiply them).
const MAX_COMMANDS: usize = 4096;
/// Deepest syntactic nesting (brackets, braces, `if`/`case`/`do` blocks) parsed; deeper
/// input could exhaust the parser's stack.
const MAX_SYNTAX_NESTING: usize = 40;
/// Most commands walked (loop unrolling, function calls and fan-out multiply them).
const MAX_STEPS: usize = 20_000;
/// Most words produced by expansion in one analysis.
pub(crate) const MAX_WORDS: usize = 20_000;
/// Loops over at most this many static values are unrolled; longer ones bind the variable to
/// an unknown value.
const MAX_UNROLL: usize = 16;

/// The value of a shell variable as far as the analyser knows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Val {
    Known(String),
    /// An indexed array (`a=(rm -rf /)`).
    Array(Vec<String>),
    /// A glob pattern bash expanded before binding (`for f in .env*`): each value is one of the
    /// files it matches, so a use stands for the pattern even when quoted.
    Glob(String),
    Unknown,
}

/// One argument of a command under analysis: the word, plus what a process substitution in
/// that position produces (`Some(None)`: unknown output, `Some(Some(t))`: static output).
#[derive(Debug, Clone)]
pub(crate) struct Arg {
    pub w: Word,
    pub procsub: Option<Option<String>>,
}

impl Arg {
    pub(crate) fn lit(text: &str) -> Self {
        Arg {
            w: Word {
                text: text.to_string(),
                glob: false,
                dynamic: false,
            },
            procsub: None,
        }
    }

    /// An argument taken from a command's input (`xargs`). Glob characters in it are judged as
    /// a pattern: a listing's output stands for files as patterns, and a pattern is the wider
    /// reading of a literal name that holds `*`.
    pub(crate) fn input(text: &str) -> Self {
        let mut a = Arg::lit(text);
        a.w.glob = crate::policy::paths::has_glob_chars(text);
        a
    }
}

/// A command under analysis (before it becomes a [`Command`]).
#[derive(Debug, Clone, Default)]
pub(crate) struct Cmd {
    pub args: Vec<Arg>,
    pub wrappers: Vec<String>,
    pub assignments: Vec<(String, String)>,
    pub redirects: Vec<Redirect>,
    pub stdin: Stdin,
    /// The text arriving on stdin when it is known statically (heredoc, here-string, a pipe
    /// from a literal `echo`/`printf`).
    pub stdin_text: Option<String>,
    pub text: String,
    /// The piped-in text is a listing of file names (from `ls`, `find`, a grep of names), not
    /// content: a filter passing it on still prints names.
    pub names_in: bool,
    /// The names piped in are those a `find` with these tests selects (see `Walker::find_tests`).
    pub find_tests: Option<String>,
}

/// Shell state that a subshell cannot change for its parent.
pub(crate) struct Saved {
    vars: HashMap<String, Val>,
    funcs: HashMap<String, (Rc<ast::FunctionBody>, bool)>,
    aliases: HashMap<String, String>,
    cwd: Option<String>,
    dirstack: Vec<Option<String>>,
}

/// The walker: state of one analysis.
pub(crate) struct Walker<'e> {
    pub env: &'e ShellEnv,
    pub vars: HashMap<String, Val>,
    /// Functions defined so far, and whether the definition was conditional.
    pub funcs: HashMap<String, (Rc<ast::FunctionBody>, bool)>,
    pub aliases: HashMap<String, String>,
    pub git_aliases: HashMap<String, String>,
    /// Positional parameters (`$1`…) inside a function call or `sh -c`; None at top level.
    pub positional: Option<Vec<Word>>,
    /// `$0` inside `sh -c SCRIPT NAME …`.
    pub dollar0: Option<Word>,
    /// Files written earlier in the script with statically known content (None: unknown
    /// content), keyed by path as written joined to the cwd; a later run of such a file is
    /// analysed too.
    pub files: HashMap<String, Option<String>>,
    pub cwd: Option<String>,
    /// Unknown-cwd marker already reported.
    pub dirstack: Vec<Option<String>>,
    pub nested: Vec<String>,
    pub wrap_prefix: Vec<String>,
    pub depth: usize,
    /// >0 while inside a branch that may or may not run (if/case bodies, loops, `&&`/`||`).
    pub cond: usize,
    pub src: Rc<str>,
    /// `src` is ASCII, so brush's character positions are byte offsets.
    pub src_ascii: bool,
    pub out: Script,
    /// Standard input that commands inherit from an enclosing compound command, function call
    /// or `sh -c` (`curl … | { bash; }`), with its static text when known.
    pub inherited: Option<(Stdin, Option<String>)>,
    /// The static output of the command just walked stands for file names (set by listings and
    /// the filters they feed), and whether the next pipeline segment receives such names.
    pub names: bool,
    pub piped_names: bool,
    /// The tests of the `find` whose listing the command just walked printed (`-type f
    /// -mtime +30`), and those handed to the next pipeline segment: the names it receives are
    /// only those the tests select.
    pub find_tests: Option<String>,
    pub piped_find_tests: Option<String>,
    /// Commands walked and words expanded so far (bounded: see MAX_STEPS, MAX_WORDS).
    pub steps: usize,
    pub words: usize,
    /// Parser work and bytes produced by expansion so far (bounded: see `budget.rs`).
    pub parse_work: u64,
    pub parsed_tokens: usize,
    pub parsed_bytes: usize,
    /// Work charged for brush-parser's word grammar (bounded: see `budget::word_cost`).
    pub word_work: u64,
    pub bytes: usize,
}

impl<'e> Walker<'e> {
    pub(crate) fn new(env: &'e ShellEnv) -> Self {
        Walker {
            env,
            vars: HashMap::new(),
            funcs: HashMap::new(),
            aliases: HashMap::new(),
            git_aliases: HashMap::new(),
            positional: None,
            cwd: None,
            dirstack: Vec::new(),
            nested: Vec::new(),
            wrap_prefix: Vec::new(),
            depth: 0,
            cond: 0,
            src: Rc::from(""),
            src_ascii: true,
            out: Script::default(),
            steps: 0,
            words: 0,
            parse_work: 0,
            parsed_tokens: 0,
            parsed_bytes: 0,
            word_work: 0,
            bytes: 0,
            inherited: None,
            names: false,
            piped_names: false,
            find_tests: None,
            piped_find_tests: None,
            dollar0: None,
            files: HashMap::new(),
        }
    }

    pub(crate) fn problem(&mut self, p: impl Into<String>) {
        let p = p.into();
        if !self.out.problems.contains(&p) {
            self.out.problems.push(p);
        }
    }

    /// Ends the analysis: the work budget is spent. Whatever is left is not walked, and the
    /// call is refused (`Script::budget_exhausted`).
    pub(crate) fn exhaust(&mut self, why: impl Into<String>) {
        if self.out.budget_exhausted.is_none() {
            self.out.budget_exhausted = Some(why.into());
        }
    }

    /// The work budget is spent: stop walking.
    pub(crate) fn exhausted(&self) -> bool {
        self.out.budget_exhausted.is_some()
    }

    /// Counts `n` bytes produced by expansion; false (and the analysis ends) once over budget.
    pub(crate) fn spend_bytes(&mut self, n: usize) -> bool {
        self.bytes = self.bytes.saturating_add(n);
        if self.bytes > super::budget::EXPANDED_BYTES {
            self.exhaust(format!(
                "expansion produced over {} bytes",
                super::budget::EXPANDED_BYTES
            ));
        }
        !self.exhausted()
    }

    /// Charges the word grammar's work on `raw` (see `budget::word_cost`); false (and the
    /// analysis ends) once over budget: the text must then not be handed to the grammar.
    pub(crate) fn spend_word(&mut self, raw: &str, grammar: super::budget::Grammar) -> bool {
        let cost = super::budget::word_cost(raw, grammar);
        self.word_work = self.word_work.saturating_add(cost);
        if self.word_work > super::budget::WORD_WORK {
            self.exhaust(format!(
                "substitutions or quotes nested too deeply: reading the words would take over {} steps",
                super::budget::WORD_WORK
            ));
        }
        !self.exhausted()
    }

    /// Parse and walk a script (top level or nested).
    pub(crate) fn script(&mut self, text: &str) {
        if text.len() > MAX_INPUT {
            self.exhaust(format!(
                "script of {} bytes is over the {MAX_INPUT}-byte analysis limit",
                text.len()
            ));
            return;
        }
        if self.depth > MAX_DEPTH {
            self.problem(format!("nesting deeper than {MAX_DEPTH} levels"));
            return;
        }
        let Some((program, text)) = self.parse(text, "") else {
            return;
        };
        let saved_ascii = std::mem::replace(&mut self.src_ascii, text.is_ascii());
        let saved = std::mem::replace(&mut self.src, text);
        for list in &program.complete_commands {
            self.list(list);
        }
        self.src = saved;
        self.src_ascii = saved_ascii;
    }

    /// Analyse a nested script (`bash -c`, `eval`, heredoc…) in a subshell-like scope.
    pub(crate) fn nested_script(
        &mut self,
        text: &str,
        label: &str,
        wrappers: &[String],
        positional: Option<Vec<Word>>,
        subshell: bool,
    ) {
        if !label.is_empty() {
            self.nested.push(label.to_string());
        }
        let wrap_len = self.wrap_prefix.len();
        self.wrap_prefix.extend(wrappers.iter().cloned());
        let saved_pos = match positional {
            Some(p) => Some(self.positional.replace(p)),
            None => None,
        };
        let saved = subshell.then(|| self.save());
        self.depth += 1;
        self.script(text);
        self.depth -= 1;
        if let Some(s) = saved {
            self.restore(s);
        }
        if let Some(p) = saved_pos {
            self.positional = p;
        }
        self.wrap_prefix.truncate(wrap_len);
        if !label.is_empty() {
            self.nested.pop();
        }
    }

    /// Variables, functions, aliases and cwd, saved around a subshell.
    pub(crate) fn save(&self) -> Saved {
        Saved {
            vars: self.vars.clone(),
            funcs: self.funcs.clone(),
            aliases: self.aliases.clone(),
            cwd: self.cwd.clone(),
            dirstack: self.dirstack.clone(),
        }
    }

    pub(crate) fn restore(&mut self, s: Saved) {
        self.vars = s.vars;
        self.funcs = s.funcs;
        self.aliases = s.aliases;
        self.cwd = s.cwd;
        self.dirstack = s.dirstack;
    }

    /// Set a variable; inside a conditional branch a conflicting value makes it unknown.
    pub(crate) fn set_var(&mut self, name: &str, v: Val) {
        let size = match &v {
            Val::Known(s) | Val::Glob(s) => s.len(),
            Val::Array(a) => a.iter().map(|s| s.len() + 1).sum(),
            Val::Unknown => 0,
        };
        if size > super::budget::VALUE_BYTES {
            self.exhaust(format!(
                "variable {name} would hold over {} bytes",
                super::budget::VALUE_BYTES
            ));
            self.vars.insert(name.to_string(), Val::Unknown);
            return;
        }
        if self.cond > 0
            && let Some(old) = self.vars.get(name)
            && *old != v
        {
            self.vars.insert(name.to_string(), Val::Unknown);
            return;
        }
        self.vars.insert(name.to_string(), v);
    }

    /// Walk one command of a function body.
    pub(crate) fn walk_command(&mut self, c: &ast::Command) {
        self.command(c, None);
    }

    fn list(&mut self, list: &ast::CompoundList) {
        for item in &list.0 {
            self.and_or(&item.0);
        }
    }

    fn and_or(&mut self, ao: &ast::AndOrList) {
        self.pipeline(&ao.first);
        if !ao.additional.is_empty() {
            self.cond += 1;
            for next in &ao.additional {
                match next {
                    ast::AndOr::And(p) | ast::AndOr::Or(p) => self.pipeline(p),
                }
            }
            self.cond -= 1;
        }
    }

    fn pipeline(&mut self, p: &ast::Pipeline) {
        let multi = p.seq.len() > 1;
        // None: not piped; Some(t): piped, with the previous segment's static output if known.
        let mut input: Option<Option<String>> = None;
        let mut names = false;
        let mut tests: Option<String> = None;
        // The previous segment's own command (in `self.out.commands`), handed the argv of the
        // segment reading its output.
        let mut feeder: Option<usize> = None;
        for cmd in &p.seq {
            let start = self.out.commands.len();
            let saved = multi.then(|| self.save());
            self.piped_names = names && input.is_some();
            self.piped_find_tests = tests.take().filter(|_| self.piped_names);
            self.names = false;
            self.find_tests = None;
            let output = self.command(cmd, input.take());
            names = std::mem::take(&mut self.names);
            tests = self.find_tests.take().filter(|_| names);
            if let Some(s) = saved {
                self.restore(s);
            }
            let own = |c: &Command| c.nested_in.len() == self.nested.len();
            let emitted = start..self.out.commands.len();
            if let Some(f) = feeder.take()
                && let Some(reader) = emitted.clone().find(|&k| {
                    own(&self.out.commands[k]) && self.out.commands[k].stdin == Stdin::Pipe
                })
            {
                let argv = self.out.commands[reader]
                    .args()
                    .iter()
                    .map(|a| a.to_string())
                    .collect();
                self.out.commands[f].piped_to = Some(argv);
            }
            feeder = emitted.rev().find(|&k| own(&self.out.commands[k]));
            input = Some(output);
        }
    }

    /// Walk one command; returns its standard output when it is known statically.
    fn command(&mut self, c: &ast::Command, input: Option<Option<String>>) -> Option<String> {
        self.steps += 1;
        if self.out.commands.len() >= MAX_COMMANDS || self.steps > MAX_STEPS {
            self.exhaust(format!(
                "script too large to analyse (over {MAX_COMMANDS} commands or {MAX_STEPS} steps)"
            ));
        }
        if self.exhausted() {
            return None;
        }
        match c {
            ast::Command::Simple(s) => self.simple(s, input),
            ast::Command::Compound(cc, redirects) => {
                let mut stdin = input.map(|text| (Stdin::Pipe, text));
                if let Some(r) = redirects
                    && let Some(from) = self.redirect_only(&r.0, c)
                {
                    stdin = Some(from);
                }
                let saved = match stdin {
                    Some(s) => Some(self.inherited.replace(s)),
                    None => None,
                };
                self.compound(cc);
                if let Some(old) = saved {
                    self.inherited = old;
                }
                None
            }
            ast::Command::Function(f) => {
                self.funcs.insert(
                    f.fname.value.clone(),
                    (Rc::new(f.body.clone()), self.cond > 0),
                );
                None
            }
            ast::Command::ExtendedTest(t, redirects) => {
                self.ext_test(&t.expr);
                if let Some(r) = redirects {
                    self.redirect_only(&r.0, c);
                }
                None
            }
        }
    }

    /// Redirections of a compound command: emitted as a command with no argv.
    /// Returns the standard input the redirections give the compound's commands.
    fn redirect_only(
        &mut self,
        rs: &[ast::IoRedirect],
        c: &ast::Command,
    ) -> Option<(Stdin, Option<String>)> {
        let mut cmd = Cmd {
            text: self.source_text(c),
            ..Cmd::default()
        };
        for r in rs {
            self.redirect(r, &mut cmd);
        }
        let stdin =
            (cmd.stdin != Stdin::Inherited).then(|| (cmd.stdin.clone(), cmd.stdin_text.clone()));
        if !cmd.redirects.is_empty() {
            self.emit(cmd);
        }
        stdin
    }

    fn ext_test(&mut self, e: &ast::ExtendedTestExpr) {
        match e {
            ast::ExtendedTestExpr::And(a, b) | ast::ExtendedTestExpr::Or(a, b) => {
                self.ext_test(a);
                self.ext_test(b);
            }
            ast::ExtendedTestExpr::Not(a) | ast::ExtendedTestExpr::Parenthesized(a) => {
                self.ext_test(a)
            }
            ast::ExtendedTestExpr::UnaryTest(_, w) => {
                self.expand_one(&w.value);
            }
            ast::ExtendedTestExpr::BinaryTest(_, a, b) => {
                self.expand_one(&a.value);
                self.expand_one(&b.value);
            }
        }
    }

    fn compound(&mut self, cc: &ast::CompoundCommand) {
        match cc {
            ast::CompoundCommand::Arithmetic(a) => {
                // The grammar reads `( (cmd) )` as arithmetic too; bash reads `((` as
                // arithmetic only when the parentheses touch: otherwise these are subshells.
                let text = self.source_text(a);
                match text.strip_prefix('(').and_then(|t| t.strip_suffix(')')) {
                    Some(inner) if !inner.starts_with('(') => {
                        let inner = inner.to_string();
                        self.nested_script(&inner, "", &[], None, true);
                    }
                    _ => self.arith(&a.expr.value),
                }
            }
            ast::CompoundCommand::ArithmeticForClause(f) => {
                for e in [&f.initializer, &f.condition, &f.updater]
                    .into_iter()
                    .flatten()
                {
                    self.arith(&e.value);
                }
                self.cond += 1;
                self.list(&f.body.list);
                self.cond -= 1;
            }
            ast::CompoundCommand::BraceGroup(b) => self.list(&b.list),
            ast::CompoundCommand::Subshell(s) => {
                let saved = self.save();
                self.list(&s.list);
                self.restore(saved);
            }
            ast::CompoundCommand::ForClause(f) => self.for_clause(f),
            ast::CompoundCommand::CaseClause(c) => {
                self.expand_one(&c.value.value);
                self.cond += 1;
                for item in &c.cases {
                    for p in &item.patterns {
                        self.expand_one(&p.value);
                    }
                    if let Some(body) = &item.cmd {
                        self.list(body);
                    }
                }
                self.cond -= 1;
            }
            ast::CompoundCommand::IfClause(i) => {
                self.list(&i.condition);
                self.cond += 1;
                self.list(&i.then);
                for e in i.elses.iter().flatten() {
                    if let Some(c) = &e.condition {
                        self.list(c);
                    }
                    self.list(&e.body);
                }
                self.cond -= 1;
            }
            ast::CompoundCommand::WhileClause(w) | ast::CompoundCommand::UntilClause(w) => {
                self.cond += 1;
                self.list(&w.0);
                self.list(&w.1.list);
                self.cond -= 1;
            }
            ast::CompoundCommand::Coprocess(c) => {
                self.command(&c.body, None);
            }
        }
    }

    fn for_clause(&mut self, f: &ast::ForClauseCommand) {
        let values: Option<Vec<Word>> = match &f.values {
            Some(ws) => {
                let mut all = Vec::new();
                for w in ws {
                    all.extend(self.expand_fields(&w.value).into_iter().map(|a| a.w));
                }
                Some(all)
            }
            None => self.positional.clone(),
        };
        self.cond += 1;
        match values {
            Some(vs)
                if !vs.is_empty() && vs.len() <= MAX_UNROLL && vs.iter().all(|w| !w.dynamic) =>
            {
                for v in vs {
                    let v = if v.glob {
                        Val::Glob(v.text)
                    } else {
                        Val::Known(v.text)
                    };
                    self.vars.insert(f.variable_name.clone(), v);
                    self.list(&f.body.list);
                }
            }
            _ => {
                self.vars.insert(f.variable_name.clone(), Val::Unknown);
                self.list(&f.body.list);
            }
        }
        self.cond -= 1;
    }

    /// Walk the command substitutions of an arithmetic expression.
    pub(crate) fn arith(&mut self, text: &str) {
        // A `)` before its `(`: bash may read `$(( cmd) ))` as a subshell in a substitution,
        // which runs commands rather than computing a number.
        let mut open = 0usize;
        for c in text.chars() {
            match c {
                '(' => open += 1,
                ')' if open == 0 => {
                    self.problem(format!(
                        "arithmetic expression that may run as commands: (({text}))"
                    ));
                    break;
                }
                ')' => open -= 1,
                _ => {}
            }
        }
        if text.contains("$(") || text.contains('`') {
            self.expand_one(text);
        }
    }

    /// The source text of a node, for explanations.
    fn source_text(&self, c: &impl SourceLocation) -> String {
        if let Some(loc) = c.location()
            && self.src_ascii
            && loc.start.index <= loc.end.index
            && loc.end.index <= self.src.len()
        {
            return self.src[loc.start.index..loc.end.index].to_string();
        }
        String::new()
    }

    fn simple(&mut self, s: &ast::SimpleCommand, input: Option<Option<String>>) -> Option<String> {
        let names_in = std::mem::take(&mut self.piped_names);
        let find_tests = self.piped_find_tests.take();
        let mut cmd = Cmd {
            text: self.source_text(s),
            ..Cmd::default()
        };
        if let Some(inp) = input {
            cmd.stdin = Stdin::Pipe;
            cmd.stdin_text = inp;
        }
        let mut plain_assign: Vec<(String, Val)> = Vec::new();
        if let Some(prefix) = &s.prefix {
            for item in &prefix.0 {
                match item {
                    ast::CommandPrefixOrSuffixItem::AssignmentWord(a, _) => {
                        let (name, val) = self.assignment(a);
                        if let Val::Known(v) = &val {
                            cmd.assignments.push((name.clone(), v.clone()));
                        } else {
                            cmd.assignments.push((name.clone(), "$(..)".to_string()));
                        }
                        plain_assign.push((name, val));
                    }
                    other => self.item(other, &mut cmd),
                }
            }
        }
        if let Some(w) = &s.word_or_name {
            cmd.args.extend(self.expand_fields(&w.value));
        }
        if let Some(suffix) = &s.suffix {
            for item in &suffix.0 {
                self.item(item, &mut cmd);
            }
        }
        if cmd.stdin == Stdin::Inherited
            && let Some((stdin, text)) = &self.inherited
        {
            cmd.stdin = stdin.clone();
            cmd.stdin_text = text.clone();
        }
        // File names piped into something that is not a filter or xargs (`find … | python3`):
        // the patterns standing for them are not the text it reads.
        if names_in {
            let word = cmd.args.first().map(|a| a.w.text.as_str()).unwrap_or("");
            if super::filters::passes_names(super::wrappers::basename(word))
                || word == "xargs"
                || word == "parallel"
            {
                cmd.names_in = true;
                if word == "xargs" {
                    cmd.find_tests = find_tests;
                }
            } else {
                cmd.stdin_text = None;
            }
        }
        if cmd.args.is_empty() {
            for (name, val) in plain_assign {
                self.set_var(&name, val);
            }
            cmd.assignments.clear();
            if !cmd.redirects.is_empty() {
                self.emit(cmd);
            }
            return None;
        }
        // `exec < FILE` changes the standard input of every later command.
        let exec_stdin =
            (cmd.args.len() == 1 && cmd.args[0].w.text == "exec" && cmd.stdin != Stdin::Inherited)
                .then(|| (cmd.stdin.clone(), cmd.stdin_text.clone()));
        // Only this command's own output decides (substitutions in its words ran already).
        self.names = false;
        let out = self.run(cmd);
        if exec_stdin.is_some() {
            self.inherited = exec_stdin;
        }
        out
    }

    fn assignment(&mut self, a: &ast::Assignment) -> (String, Val) {
        let name = match &a.name {
            ast::AssignmentName::VariableName(n) => n.clone(),
            ast::AssignmentName::ArrayElementName(n, _) => n.clone(),
        };
        let val = match &a.value {
            ast::AssignmentValue::Scalar(w) => {
                let (text, dynamic) = self.expand_one(&w.value);
                if dynamic {
                    Val::Unknown
                } else {
                    Val::Known(text)
                }
            }
            ast::AssignmentValue::Array(items) => {
                let mut parts = Vec::new();
                let mut dynamic = false;
                for (_, w) in items {
                    for f in self.expand_fields(&w.value) {
                        dynamic |= f.w.dynamic;
                        parts.push(f.w.text);
                    }
                }
                if dynamic {
                    Val::Unknown
                } else {
                    Val::Array(parts)
                }
            }
        };
        let val = match (a.append, val, self.lookup(&name)) {
            (true, Val::Known(v), Some(Val::Known(old))) => Val::Known(old + &v),
            (true, Val::Array(v), Some(Val::Array(mut old))) => {
                old.extend(v);
                Val::Array(old)
            }
            (true, Val::Array(v), Some(Val::Known(old))) => {
                Val::Array(std::iter::once(old).chain(v).collect())
            }
            (true, _, _) => Val::Unknown,
            (false, v, _) => v,
        };
        (name, val)
    }

    fn item(&mut self, item: &ast::CommandPrefixOrSuffixItem, cmd: &mut Cmd) {
        match item {
            ast::CommandPrefixOrSuffixItem::IoRedirect(r) => self.redirect(r, cmd),
            ast::CommandPrefixOrSuffixItem::Word(w) => {
                cmd.args.extend(self.expand_fields(&w.value));
            }
            ast::CommandPrefixOrSuffixItem::AssignmentWord(_, w) => {
                cmd.args.extend(self.expand_fields(&w.value));
            }
            ast::CommandPrefixOrSuffixItem::ProcessSubstitution(kind, sub) => {
                let (label, text) = match kind {
                    ast::ProcessSubstitutionKind::Read => ("<(..)", "<(..)"),
                    ast::ProcessSubstitutionKind::Write => (">(..)", ">(..)"),
                };
                let out = match kind {
                    ast::ProcessSubstitutionKind::Read => self.substitution(&sub.list, label),
                    ast::ProcessSubstitutionKind::Write => {
                        self.substitution_in(&sub.list, label, Some(None))
                    }
                };
                let mut a = Arg::lit(text);
                a.w.dynamic = true;
                a.procsub = Some(match kind {
                    ast::ProcessSubstitutionKind::Read => out,
                    ast::ProcessSubstitutionKind::Write => None,
                });
                cmd.args.push(a);
            }
        }
    }

    /// Walk the commands of a `$(..)`/`<(..)` body; returns its static output if known.
    pub(crate) fn substitution(&mut self, list: &ast::CompoundList, label: &str) -> Option<String> {
        self.substitution_in(list, label, None)
    }

    /// Walk a substitution body whose first command reads `input` (`>(..)` reads a pipe).
    pub(crate) fn substitution_in(
        &mut self,
        list: &ast::CompoundList,
        label: &str,
        first_input: Option<Option<String>>,
    ) -> Option<String> {
        self.nested.push(label.to_string());
        self.depth += 1;
        let saved = self.save();
        let mut output = None;
        if self.depth > MAX_DEPTH {
            self.problem(format!("nesting deeper than {MAX_DEPTH} levels"));
        } else if list.0.len() == 1 && list.0[0].0.additional.is_empty() {
            let p = &list.0[0].0.first;
            let mut input: Option<Option<String>> = first_input;
            for cmd in &p.seq {
                let out = self.command(cmd, input.take());
                input = Some(out);
            }
            output = input.flatten();
        } else {
            self.list(list);
        }
        self.restore(saved);
        self.depth -= 1;
        self.nested.pop();
        output
    }

    /// Parse and walk the text of a `$(..)` or backquoted substitution.
    pub(crate) fn substitution_text(&mut self, text: &str, label: &str) -> Option<String> {
        if self.depth >= MAX_DEPTH {
            self.problem(format!("nesting deeper than {MAX_DEPTH} levels"));
            return None;
        }
        let (p, text) = self.parse(text, &format!(" in {label}"))?;
        let saved_ascii = std::mem::replace(&mut self.src_ascii, text.is_ascii());
        let saved = std::mem::replace(&mut self.src, text);
        let out = if p.complete_commands.len() == 1 {
            self.substitution(&p.complete_commands[0], label)
        } else {
            for l in &p.complete_commands {
                self.substitution(l, label);
            }
            None
        };
        self.src = saved;
        self.src_ascii = saved_ascii;
        out
    }

    /// Parses `text` (a whole script or a substitution's text; `place` names the latter in
    /// messages), or records why not: nesting too deep for the parser, a parse error, or a
    /// parser panic (brush-parser 0.4 can panic on malformed input). Returns the program and
    /// the source its locations point into.
    pub(crate) fn parse(&mut self, text: &str, place: &str) -> Option<(ast::Program, Rc<str>)> {
        if syntax_nesting(text) > MAX_SYNTAX_NESTING {
            self.problem(format!(
                "script nested more than {MAX_SYNTAX_NESTING} levels deep"
            ));
            return None;
        }
        // A script that ends without a newline inside `$(` with a here-document operator
        // (`x=$(<< |l `) sends brush-parser 0.4's tokenizer into an endless allocation: the
        // hook process would die, and a dead hook lets the call through. A final newline
        // changes nothing for bash and avoids that path.
        let text: Rc<str> = if text.ends_with('\n') {
            Rc::from(text)
        } else {
            Rc::from(format!("{text}\n"))
        };
        let options = brush_parser::ParserOptions::default();
        let tokenized = std::panic::catch_unwind(|| {
            brush_parser::uncached_tokenize_str(&text, &options.tokenizer_options())
        });
        let mut tokens = match tokenized {
            Ok(Ok(tokens)) => tokens,
            Ok(Err(e)) => {
                self.problem(format!("shell parse error{place}: {e}"));
                return None;
            }
            Err(_) => {
                self.problem(format!(
                    "shell parse error{place}: the tokenizer failed on this input"
                ));
                return None;
            }
        };
        self.parsed_tokens += tokens.len();
        self.parsed_bytes += text.len();
        if self.parsed_tokens > super::budget::PARSED_TOKENS
            || self.parsed_bytes > super::budget::PARSED_BYTES
        {
            self.exhaust(format!(
                "scripts and substitutions re-parsed over {} tokens or {} bytes",
                super::budget::PARSED_TOKENS,
                super::budget::PARSED_BYTES
            ));
            return None;
        }
        match super::budget::prepare(&mut tokens) {
            Ok(cost) => self.parse_work = self.parse_work.saturating_add(cost),
            Err(super::budget::Unfit::Unbalanced) => {
                self.problem(format!("shell parse error{place}: a `(` is never closed"));
                return None;
            }
        }
        if self.parse_work > super::budget::PARSE_WORK {
            self.exhaust(format!(
                "case statements nested too deeply: parsing would take over {} steps",
                super::budget::PARSE_WORK
            ));
            return None;
        }
        let parsed = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            brush_parser::parse_tokens(&tokens, &options)
        }));
        match parsed {
            Ok(Ok(program)) => Some((program, text)),
            Ok(Err(e)) => {
                self.problem(format!("shell parse error{place}: {e}"));
                None
            }
            Err(_) => {
                self.problem(format!(
                    "shell parse error{place}: the parser failed on this input"
                ));
                None
            }
        }
    }

    fn redirect(&mut self, r: &ast::IoRedirect, cmd: &mut Cmd) {
        match r {
            ast::IoRedirect::File(fd, kind, target) => {
                let rk = match kind {
                    ast::IoFileRedirectKind::Read => Some(RedirectKind::Read),
                    ast::IoFileRedirectKind::Write | ast::IoFileRedirectKind::Clobber => {
                        Some(RedirectKind::Write)
                    }
                    ast::IoFileRedirectKind::Append => Some(RedirectKind::Append),
                    ast::IoFileRedirectKind::ReadAndWrite => Some(RedirectKind::ReadWrite),
                    ast::IoFileRedirectKind::DuplicateInput => None,
                    ast::IoFileRedirectKind::DuplicateOutput => Some(RedirectKind::Write),
                };
                let target_word = match target {
                    ast::IoFileRedirectTarget::Filename(w) => {
                        Some(self.expand_word_nosplit(&w.value))
                    }
                    ast::IoFileRedirectTarget::Fd(_) => None,
                    ast::IoFileRedirectTarget::Duplicate(w) => {
                        // `>&file` writes to a file; `>&2`, `>&-` duplicate descriptors.
                        let w = self.expand_word_nosplit(&w.value);
                        let is_fd = w.text == "-"
                            || w.text
                                .trim_end_matches('-')
                                .chars()
                                .all(|c| c.is_ascii_digit());
                        (!is_fd && !w.text.is_empty()).then_some(w)
                    }
                    ast::IoFileRedirectTarget::ProcessSubstitution(pk, sub) => {
                        let label = match pk {
                            ast::ProcessSubstitutionKind::Read => "<(..)",
                            ast::ProcessSubstitutionKind::Write => ">(..)",
                        };
                        let piped =
                            matches!(pk, ast::ProcessSubstitutionKind::Write).then_some(None);
                        let out = self.substitution_in(&sub.list, label, piped);
                        if matches!(kind, ast::IoFileRedirectKind::Read) && fd.unwrap_or(0) == 0 {
                            cmd.stdin = Stdin::Pipe;
                            cmd.stdin_text = out;
                        }
                        None
                    }
                };
                let (Some(rk), Some(w)) = (rk, target_word) else {
                    return;
                };
                if rk == RedirectKind::Read && fd.unwrap_or(0) == 0 {
                    cmd.stdin = Stdin::File(w.clone());
                    cmd.stdin_text = None;
                }
                if !is_pseudo_device(&w.text) {
                    cmd.redirects.push(Redirect {
                        kind: rk,
                        target: w,
                    });
                }
            }
            ast::IoRedirect::OutputAndError(w, append) => {
                let w = self.expand_word_nosplit(&w.value);
                if !is_pseudo_device(&w.text) {
                    let kind = if *append {
                        RedirectKind::Append
                    } else {
                        RedirectKind::Write
                    };
                    cmd.redirects.push(Redirect { kind, target: w });
                }
            }
            ast::IoRedirect::HereDocument(fd, doc) => {
                let (mut text, dynamic) = if doc.requires_expansion {
                    self.expand_heredoc(&doc.doc.value)
                } else {
                    (doc.doc.value.clone(), false)
                };
                if doc.remove_tabs {
                    text = text
                        .split_inclusive('\n')
                        .map(|l| l.trim_start_matches('\t'))
                        .collect();
                }
                if fd.unwrap_or(0) == 0 {
                    cmd.stdin = Stdin::Text(text.clone());
                    cmd.stdin_text = (!dynamic).then_some(text);
                }
            }
            ast::IoRedirect::HereString(fd, w) => {
                let w = self.expand_word_nosplit(&w.value);
                if fd.unwrap_or(0) == 0 {
                    let text = format!("{}\n", w.text);
                    cmd.stdin = Stdin::Text(text.clone());
                    cmd.stdin_text = (!w.dynamic).then_some(text);
                }
            }
        }
    }

    /// The key under which a file written by the script is remembered.
    pub(crate) fn file_key(&self, path: &str) -> String {
        match &self.cwd {
            Some(base) if !path.starts_with('/') => format!(
                "{}/{}",
                base.trim_end_matches('/'),
                path.trim_start_matches("./")
            ),
            _ => path.trim_start_matches("./").to_string(),
        }
    }

    /// Turn a finished command into a [`Command`] and record it.
    pub(crate) fn emit(&mut self, c: Cmd) {
        let mut wrappers = self.wrap_prefix.clone();
        wrappers.extend(c.wrappers);
        self.out.commands.push(Command {
            argv: c.args.into_iter().map(|a| a.w).collect(),
            wrappers,
            assignments: c.assignments,
            redirects: c.redirects,
            stdin: c.stdin,
            input_text: c.stdin_text,
            cwd: self.cwd.clone(),
            nested_in: self.nested.clone(),
            text: c.text,
            piped_to: None,
        });
    }
}

/// An upper bound of the syntactic nesting of a script: brackets, braces, backquotes and
/// `if`/`case`/`do` blocks, quotes ignored (so it can only over-count).
pub(crate) fn syntax_nesting(text: &str) -> usize {
    let b = text.as_bytes();
    let (mut depth, mut max) = (0usize, 0usize);
    let mut backquote = false;
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        if c.is_ascii_alphabetic() {
            let start = i;
            while i < b.len() && (b[i].is_ascii_alphanumeric() || b[i] == b'_') {
                i += 1;
            }
            match &b[start..i] {
                b"if" | b"case" | b"do" => depth += 1,
                b"fi" | b"esac" | b"done" => depth = depth.saturating_sub(1),
                _ => {}
            }
            max = max.max(depth);
            continue;
        }
        match c {
            b'(' | b'{' | b'[' => depth += 1,
            b')' | b'}' | b']' => depth = depth.saturating_sub(1),
            b'`' => {
                backquote = !backquote;
                if backquote {
                    depth += 1;
                } else {
                    depth = depth.saturating_sub(1);
                }
            }
            _ => {}
        }
        max = max.max(depth);
        i += 1;
    }
    max
}

/// Targets that are not files: writing to them changes nothing on disk.
fn is_pseudo_device(t: &str) -> bool {
    matches!(
        t,
        "/dev/null" | "/dev/stdout" | "/dev/stderr" | "/dev/stdin" | "/dev/tty"
    ) || t.starts_with("/dev/fd/")
}
