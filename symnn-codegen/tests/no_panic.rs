//! The macro must never panic, hang or overflow its stack: malformed, random and extreme
//! inputs get `compile_error!`s that point into the input.
//!
//! Deterministic, seeded fuzzing of the engine (`symnn_codegen::derive` + `emit`). Each
//! generator is one test; case `k` of a generator draws from its own SplitMix64 stream
//! (seed, generator, `k`), so every input can be regenerated from its number:
//!
//! | generator | inputs |
//! |---|---|
//! | `soup` | random soups of DSL-ish tokens (keywords, every builtin, extreme literals, brackets) |
//! | `grammar` | loosely typed programs from a small grammar of the DSL (mostly rejected by the checker) |
//! | `typed` | shape-correct random networks (`tests/support/netgen.rs`, the differential test's generator): random widths, every builtin and loss, dense layers, wide (tensor-tier) layers, loops, `fn`s; mostly accepted |
//! | `token_mutation` | 1-4 token edits (delete, replace, insert, swap, duplicate a range, truncate) of a valid program |
//! | `byte_mutation` | byte edits (truncate, delete, insert, flip, duplicate) of a valid program's text |
//! | `extreme` | valid programs with literals, shapes and loop bounds swapped for extreme ones, nesting 1-150 deep, names up to 4,000 characters |
//! | `long_loops` | random networks with 20-200-iteration loops (the differential test's loop generator), rolled or forced unrolled, a third of them with token edits |
//!
//! plus fixed cases: the valid seeds, the extreme literals, deep nesting (300 levels).
//!
//! Every input runs on a fresh worker thread with an 8 MiB stack (rustc's for proc
//! macros) under `catch_unwind`, with a time limit: a panic, a hang (the input is
//! reported and the test fails), a rejection with an error at the call site instead
//! of a token of the input, or an accepted program whose generated code is not Rust
//! syntax fails the test with the input. A stack overflow aborts the test binary with
//! `thread 'fuzz <generator> #<case>' has overflowed its stack`; print that input with
//! `SYMNN_FUZZ_SHOW=<generator>:<case> cargo test -p symnn-codegen --test no_panic show_input -- --nocapture`.
//!
//! Environment (see docs/TESTING.md): `SYMNN_FUZZ_CASES` (inputs per generator; by
//! default 1000 soups, 500 of each of grammar/token/byte, 40 typed, 60 extreme, 12 long-loop: about
//! half a minute in a debug build), `SYMNN_FUZZ_SEED` (default 0),
//! `SYMNN_FUZZ_TIMEOUT_SECS` (per input; default 600 in debug builds, 120 in release:
//! a legal 100,000-iteration loop takes ~35 s to expand in release).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::str::FromStr;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

#[path = "support/netgen.rs"]
mod netgen;

use netgen::Rng;

/// The worker threads' stack: what rustc gives a proc macro.
const STACK: usize = 8 << 20;

fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(text) => text
            .trim()
            .replace('_', "")
            .parse()
            .unwrap_or_else(|e| panic!("{name}={text:?}: {e}")),
        Err(_) => default,
    }
}

/// Inputs per generator: `SYMNN_FUZZ_CASES` if set, else `default` (chosen so the
/// whole file takes well under a minute in a debug build).
fn cases(default: usize) -> usize {
    env_u64("SYMNN_FUZZ_CASES", default as u64) as usize
}

fn timeout() -> Duration {
    let default = if cfg!(debug_assertions) { 600 } else { 120 };
    Duration::from_secs(env_u64("SYMNN_FUZZ_TIMEOUT_SECS", default))
}

/// The random stream of case `case` of generator `generator`.
fn case_rng(generator: &str, case: usize) -> Rng {
    let mut h = env_u64("SYMNN_FUZZ_SEED", 0) ^ 0x5EED_F022_0000_0000;
    for b in generator.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
    }
    let mut rng = Rng(h ^ (case as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
    rng.next();
    rng
}

/// What the engine did with one input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Verdict {
    /// Not even tokens (unbalanced brackets, a stray quote, ...): rustc's lexer would
    /// reject it before the macro runs.
    NotTokens,
    /// Expanded to items (the generated code parses as Rust).
    Accepted,
    /// Rejected with this many errors, every one pointing into the input.
    Rejected(usize),
}

/// Runs the engine on `source` and checks the outcome: `Err` describes a defect (an
/// error at the call site, generated code that is not Rust syntax).
fn judge(source: &str) -> Result<Verdict, String> {
    let Ok(tokens) = TokenStream::from_str(source) else {
        return Ok(Verdict::NotTokens);
    };
    let has_tokens = !tokens.is_empty();
    match symnn_codegen::derive(tokens) {
        Ok((_, derived)) => {
            let code = symnn_codegen::emit::emit(&derived);
            syn::parse2::<syn::File>(code)
                .map_err(|e| format!("the generated code is not Rust syntax: {e}"))?;
            Ok(Verdict::Accepted)
        }
        Err(errors) => spanned(source, has_tokens, errors).map(Verdict::Rejected),
    }
}

/// Checks that every error points into `source` (at the call site only if the input has
/// no token at all); returns how many errors there are.
fn spanned(source: &str, has_tokens: bool, errors: syn::Error) -> Result<usize, String> {
    let mut count = 0;
    for error in errors {
        count += 1;
        let range = error.span().byte_range();
        let call_site = range == proc_macro2::Span::call_site().byte_range();
        if (has_tokens && call_site) || range.end > source.len() {
            return Err(format!(
                "an error at {range:?}, not at a token of the input: {error}"
            ));
        }
    }
    Ok(count)
}

/// The outcome of one input on a worker thread.
#[derive(Debug)]
enum Outcome {
    Done(Result<Verdict, String>, Duration),
    Panicked(String),
    Hung,
}

/// Runs `check(input())` on a fresh thread named `fuzz <name>` with an 8 MiB stack
/// (fresh thread: a fresh proc-macro2 source map, which grows with every tokenized
/// text), under `catch_unwind`, waiting at most `limit`. A hung thread is left running
/// (the test fails anyway).
fn isolated<G, F>(name: String, input: G, limit: Duration, check: F) -> Outcome
where
    G: FnOnce() -> String + Send + 'static,
    F: FnOnce(&str) -> Result<Verdict, String> + Send + 'static,
{
    let (send, receive) = mpsc::channel();
    std::thread::Builder::new()
        .name(name)
        .stack_size(STACK)
        .spawn(move || {
            let started = Instant::now();
            let result = catch_unwind(AssertUnwindSafe(|| check(&input())));
            let outcome = match result {
                Ok(verdict) => Outcome::Done(verdict, started.elapsed()),
                Err(payload) => Outcome::Panicked(
                    payload
                        .downcast_ref::<&str>()
                        .map(|s| (*s).to_owned())
                        .or_else(|| payload.downcast_ref::<String>().cloned())
                        .unwrap_or_else(|| "(not a string)".to_owned()),
                ),
            };
            let _ = send.send(outcome);
        })
        .expect("spawn a worker thread");
    receive.recv_timeout(limit).unwrap_or(Outcome::Hung)
}

/// Counts of one generator's run.
#[derive(Default)]
struct Stats {
    inputs: usize,
    not_tokens: usize,
    accepted: usize,
    rejected: usize,
    errors: usize,
    slowest: (Duration, usize),
    failures: Vec<String>,
}

fn shorten(source: &str) -> String {
    if source.len() <= 3000 {
        return source.to_owned();
    }
    let mut cut = 1500;
    while !source.is_char_boundary(cut) {
        cut -= 1;
    }
    let mut tail = source.len() - 1500;
    while !source.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{} <... {} bytes ...> {}",
        &source[..cut],
        source.len() - 3000,
        &source[tail..]
    )
}

/// Runs `count` inputs of `generator` through [`judge`] and fails with every defect.
fn fuzz(name: &str, count: usize, generator: fn(&mut Rng) -> String) -> Stats {
    let stats = fuzz_with(name, count, generator, judge);
    assert!(
        stats.failures.is_empty(),
        "{name}: {} defects (regenerate an input with SYMNN_FUZZ_SHOW={name}:<case>):\n\n{}",
        stats.failures.len(),
        stats.failures.join("\n\n")
    );
    stats
}

fn fuzz_with(
    name: &str,
    count: usize,
    generator: fn(&mut Rng) -> String,
    check: fn(&str) -> Result<Verdict, String>,
) -> Stats {
    let started = Instant::now();
    let limit = timeout();
    let mut stats = Stats::default();
    for case in 0..count {
        stats.inputs += 1;
        let owned = name.to_owned();
        let input = move || generator(&mut case_rng(&owned, case));
        let outcome = isolated(format!("fuzz {name} #{case}"), input, limit, check);
        let hung = matches!(outcome, Outcome::Hung);
        let defect = match outcome {
            Outcome::Done(Ok(verdict), took) => {
                if took > stats.slowest.0 {
                    stats.slowest = (took, case);
                }
                match verdict {
                    Verdict::NotTokens => stats.not_tokens += 1,
                    Verdict::Accepted => stats.accepted += 1,
                    Verdict::Rejected(errors) => {
                        stats.rejected += 1;
                        stats.errors += errors;
                    }
                }
                None
            }
            Outcome::Done(Err(defect), _) => Some(defect),
            Outcome::Panicked(message) => Some(format!("panicked: {message}")),
            Outcome::Hung => Some(format!("no answer within {limit:?} (hang)")),
        };
        if let Some(defect) = defect {
            if stats.failures.len() < 20 {
                // (Generated again: the worker made it.)
                let source = generator(&mut case_rng(name, case));
                stats
                    .failures
                    .push(format!("{name} #{case}: {defect}\n{}", shorten(&source)));
            }
            if hung {
                // The hung worker keeps a core; stop this generator here.
                break;
            }
        }
    }
    println!(
        "{name}: {} inputs: {} accepted, {} rejected ({} errors, all spanned), {} not tokens; \
         {} defects; slowest #{} in {:.1?}; {:.1?} in all",
        stats.inputs,
        stats.accepted,
        stats.rejected,
        stats.errors,
        stats.not_tokens,
        stats.failures.len(),
        stats.slowest.1,
        stats.slowest.0,
        started.elapsed()
    );
    stats
}

/// Valid programs, the seeds of the mutations.
const VALID: &[&str] = &[
    "pub struct Seed003 {
        input x1, x2;
        target y;
        param w0 = 0.1, w13 = 0.2, w14 = 0.8, w23 = 0.6, w24 = 0.4, w35 = 0.1, w45 = 0.5;
        let f3 = sigmoid((x1 * w13 + w0) + (x2 * w23 + w0));
        let f4 = sigmoid((x1 * w14 + w0) + (x2 * w24 + w0));
        output f5 = sigmoid((f3 * w35 + w0) + (f4 * w45 + w0));
        loss = -(y * ln(f5) + (1.0 - y) * ln(1.0 - f5));
    }",
    "pub struct Mlp {
        type Float = f32;
        input x[2];
        target t[1];
        let h1 = dense(x, 8, tanh);
        let h2 = dense(h1, 8, tanh);
        output y = dense(h2, 1, identity);
        loss = mse(y, t);
    }",
    "struct Xor {
        input x[2];
        target t;
        let h = dense(x, 4, tanh);
        output y = sigmoid(dot(h, v) + c);
        param v[4], c = 0.0;
        loss = bce(y, t);
    }",
    "struct Loops {
        input x[4];
        let mut z = [0.0, 0.0, 0.0, 0.0];
        for i in 0..3 { z[i + 1] = z[i] + x[i]; }
        for _ in 0..=2 { z += 1.0; z *= 0.5; }
        for i in 0..2 { for j in 0..2 { z[i * 2 + j] -= i; } }
        output y = z;
        loss = sum(y);
    }",
    "struct Fns {
        fn s(u) = 1.0 / (1.0 + exp(-u));
        fn mix(a, b) = s(a) * b + w;
        input x[3];
        target t[2];
        param w = 0.5;
        let h = dense(x, 2, s);
        output y = mix(h, 2.0) + s(w);
        loss = mse(y, t);
    }",
    "struct Linear {
        input v[2];
        param m[2][2] = [[1.0, 0.5], [0.0, 1.0]], b[2] = 0.1, k[2][3] = 0.0;
        let a = m.T * v + b;
        let c = transpose(k) * a;
        let r = m[1] + m[0][1] * k[1][2];
        output y = [a[0].powi(2), a[1].max(r[0]), powi(c[2], -1), min(r[1], 0.0)];
        loss = sum(y) + mean(m * m);
    }",
    "struct Classifier {
        input x[3];
        target t[3];
        param w[3][3] = 0.1;
        let z = w * x;
        output p = softmax(z);
        loss = cross_entropy(z, t) + 0.01 * sum(w * w) + bce_logits(z, t) + bce(p, t);
    }",
    "struct Misc {
        input a, b[2];
        param s = 1.0;
        output y = leaky_relu(a, 0.1) + softplus(a) + sq(a) + pow(abs(a), 1.5) + sqrt(s * s) + sin(a) * cos(a)
            + relu(a) + log(exp(a)) + sum(log_softmax(b));
        loss = y;
    }",
];

const WORDS: &[&str] = &[
    "input",
    "target",
    "param",
    "fn",
    "let",
    "mut",
    "for",
    "in",
    "output",
    "loss",
    "type",
    "Float",
    "f32",
    "f64",
    "struct",
    "pub",
    "x",
    "y",
    "t",
    "v",
    "m",
    "w",
    "h",
    "z",
    "i",
    "j",
    "_",
    "tanh",
    "dense",
    "sum",
    "powi",
    "max",
    "softmax",
    "mse",
    "identity",
    "T",
    "transpose",
    "0",
    "1",
    "2",
    "3",
    "0.5",
    "1e-3",
    "-1",
    "100000000000",
    "99999999999999999999999",
    "1u8",
    "'a'",
    "\"s\"",
    "+",
    "-",
    "*",
    "/",
    "=",
    "+=",
    "-=",
    "*=",
    "/=",
    ";",
    ",",
    ".",
    "..",
    "..=",
    "::",
    "#",
    "!",
    "&",
    "<",
    ">",
    "==",
    "?",
    "@",
];

const NAMES: &[&str] = &[
    "x", "v", "m", "w", "b", "h", "z", "y", "t", "i", "j", "f", "g", "u", "q",
];
const FUNCS: &[&str] = &[
    "exp",
    "ln",
    "log",
    "sqrt",
    "abs",
    "sin",
    "cos",
    "tanh",
    "sigmoid",
    "relu",
    "leaky_relu",
    "softplus",
    "sq",
    "powi",
    "pow",
    "max",
    "min",
    "identity",
    "sum",
    "mean",
    "dot",
    "softmax",
    "log_softmax",
    "transpose",
    "dense",
    "diff",
    "laplacian",
    "mse",
    "bce",
    "bce_logits",
    "cross_entropy",
    "sparse_cross_entropy",
    "f",
    "g",
    "nope",
    "x",
];
const NUMBERS: &[&str] = &[
    "0",
    "1",
    "2",
    "3",
    "0.5",
    "2.0",
    "-1",
    "1e-3",
    "7",
    "-2147483648",
    "2147483647",
    "1e308",
    "1e-320",
    "4000000000",
];

fn expr(rng: &mut Rng, depth: usize) -> String {
    let choice = if depth >= 4 {
        rng.below(2)
    } else {
        rng.below(11)
    };
    match choice {
        0 => rng.pick(NAMES).to_owned(),
        1 => rng.pick(NUMBERS).to_owned(),
        2 => format!("-{}", expr(rng, depth + 1)),
        3 | 4 => format!(
            "({} {} {})",
            expr(rng, depth + 1),
            rng.pick(&["+", "-", "*", "/"]),
            expr(rng, depth + 1)
        ),
        5 => {
            let n = rng.below(4);
            let elems: Vec<String> = (0..n).map(|_| expr(rng, depth + 1)).collect();
            format!("[{}]", elems.join(", "))
        }
        6 => format!("{}[{}]", rng.pick(NAMES), index(rng)),
        7 => format!("{}[{}][{}]", rng.pick(NAMES), index(rng), index(rng)),
        8 => {
            let n = rng.below(4);
            let args: Vec<String> = (0..n).map(|_| expr(rng, depth + 1)).collect();
            format!("{}({})", rng.pick(FUNCS), args.join(", "))
        }
        9 => format!(
            "dense({}, {}, {})",
            expr(rng, depth + 1),
            rng.pick(NUMBERS),
            rng.pick(FUNCS)
        ),
        _ => format!(
            "{}.{}",
            rng.pick(NAMES),
            rng.pick(&["T", "tanh()", "powi(2)", "max(1.0)", "sum()"])
        ),
    }
}

fn index(rng: &mut Rng) -> String {
    match rng.below(5) {
        0 => "i".to_owned(),
        1 => "i + 1".to_owned(),
        2 => "j * 2 - i".to_owned(),
        3 => rng.pick(NAMES).to_owned(),
        _ => rng.pick(NUMBERS).to_owned(),
    }
}

fn dims(rng: &mut Rng) -> String {
    let n = [0, 0, 1, 1, 2, 3][rng.below(6)];
    (0..n)
        .map(|_| {
            format!(
                "[{}]",
                rng.pick(&["0", "1", "2", "3", "4", "1000000000", "100000000", "65536"])
            )
        })
        .collect()
}

fn stmt(rng: &mut Rng, depth: usize) -> String {
    let name = rng.pick(NAMES);
    match rng.below(if depth >= 2 { 10 } else { 11 }) {
        0 => format!("input {name}{};", dims(rng)),
        1 => format!("target {name}{};", dims(rng)),
        2 => format!(
            "param {name}{} = {};",
            dims(rng),
            rng.pick(&["0.5", "[1.0, 2.0]", "[[1.0], [2.0]]", "-1"])
        ),
        3 => format!(
            "fn {}({}) = {};",
            rng.pick(&["f", "g", "tanh"]),
            rng.pick(&["u", "u, q", "", "u, u"]),
            expr(rng, 1)
        ),
        4 | 5 => format!(
            "let {}{name} = {};",
            if rng.chance(40) { "mut " } else { "" },
            expr(rng, 0)
        ),
        6 => format!(
            "{name}{} {} {};",
            if rng.chance(30) { "[i]" } else { "" },
            rng.pick(&["=", "+=", "*="]),
            expr(rng, 0)
        ),
        7 => format!("output {name} = {};", expr(rng, 0)),
        8 => format!("loss = {};", expr(rng, 0)),
        9 => format!("type Float = {};", rng.pick(&["f32", "f64", "i32"])),
        _ => {
            let var = rng.pick(&["i", "j", "_", "x"]);
            let range = rng.pick(&[
                "0..3",
                "0..=2",
                "2..1",
                "0..n",
                "0..1000000",
                "0..4000000000",
                "-1..2",
                "0..2.5",
            ]);
            let body: Vec<String> = (0..rng.below(4)).map(|_| stmt(rng, depth + 1)).collect();
            format!("for {var} in {range} {{ {} }}", body.join(" "))
        }
    }
}

fn program(rng: &mut Rng) -> String {
    let mut body = String::new();
    if rng.chance(70) {
        body.push_str("input x[2], v[3]; param w[2][2], m[3][2] = 0.5; target t[2]; ");
    }
    for _ in 0..rng.below(8) {
        body.push_str(&stmt(rng, 0));
        body.push(' ');
    }
    if rng.chance(50) {
        body.push_str("output y = w * x; loss = mse(y, t);");
    }
    format!("struct N {{ {body} }}")
}

/// The tokens of a program as strings, delimiters as separate items, joint punctuation merged.
fn flatten(stream: TokenStream, out: &mut Vec<String>) {
    let mut joint = String::new();
    for tree in stream {
        match tree {
            TokenTree::Group(group) => {
                let (open, close) = match group.delimiter() {
                    Delimiter::Parenthesis => ("(", ")"),
                    Delimiter::Bracket => ("[", "]"),
                    Delimiter::Brace => ("{", "}"),
                    Delimiter::None => ("", ""),
                };
                out.push(open.to_owned());
                flatten(group.stream(), out);
                out.push(close.to_owned());
            }
            TokenTree::Punct(punct) => {
                joint.push(punct.as_char());
                if punct.spacing() == Spacing::Alone {
                    out.push(std::mem::take(&mut joint));
                }
            }
            other => out.push(other.to_string()),
        }
    }
    if !joint.is_empty() {
        out.push(joint);
    }
}

/// Joins tokens, dropping unmatched closers and closing what is left open.
fn rebalance(tokens: &[String]) -> String {
    let mut stack = Vec::new();
    let mut out = String::new();
    for token in tokens {
        match token.as_str() {
            "(" | "[" | "{" => stack.push(match token.as_str() {
                "(" => ")",
                "[" => "]",
                _ => "}",
            }),
            ")" | "]" | "}" => {
                if stack.last() == Some(&token.as_str()) {
                    stack.pop();
                } else {
                    continue;
                }
            }
            _ => {}
        }
        out.push_str(token);
        out.push(' ');
    }
    while let Some(close) = stack.pop() {
        out.push_str(close);
    }
    out
}

/// Extreme literals: ends of i32/i64/u64/u128, the ends of f64 and f32, subnormals,
/// huge sizes and loop bounds, suffixed and odd forms.
const EXTREMES: &[&str] = &[
    "2147483647",
    "-2147483648",
    "2147483648",
    "-2147483649",
    "4294967296",
    "4000000000",
    "100000000",
    "65536",
    "9223372036854775807",
    "-9223372036854775808",
    "18446744073709551615",
    "18446744073709551616",
    "340282366920938463463374607431768211456",
    "1e308",
    "-1e308",
    "1.7976931348623157e308",
    "1e309",
    "1e-320",
    "4.9e-324",
    "1e-400",
    "1e39",
    "3.5e38",
    "1e-46",
    "0.0",
    "-0.0",
    "0",
    "1u8",
    "1.5f32",
    "1e308f64",
    "0x10",
    "1_000",
    "2.",
];

/// A random token for soups and mutations: a DSL-ish word, a builtin name or an
/// extreme literal.
fn any_token(rng: &mut Rng) -> String {
    match rng.below(10) {
        0 | 1 => {
            let names: Vec<&str> = symnn_codegen::builtins::names().collect();
            rng.pick(&names).to_owned()
        }
        2 => rng.pick(EXTREMES).to_owned(),
        _ => rng.pick(WORDS).to_owned(),
    }
}

fn soup(rng: &mut Rng, depth: usize, out: &mut String) {
    let len = rng.below(12);
    for _ in 0..len {
        if depth < 3 && rng.chance(15) {
            let (open, close) = [("(", ")"), ("[", "]"), ("{", "}")][rng.below(3)];
            out.push_str(open);
            soup(rng, depth + 1, out);
            out.push_str(close);
        } else {
            out.push_str(&any_token(rng));
        }
        out.push(' ');
    }
}

fn gen_soup(rng: &mut Rng) -> String {
    let mut body = String::new();
    soup(rng, 0, &mut body);
    match rng.below(3) {
        0 => body,
        1 => format!("struct N {{ {body} }}"),
        _ => format!("struct N {{ input x[2]; {body} }}"),
    }
}

/// A shape-correct random network (the differential test's generator), sometimes wide
/// (tensor tier), `f32`, or with a `tensor_threshold`.
fn gen_typed(rng: &mut Rng) -> String {
    let variant = rng.below(1 << 20);
    let f32 = rng.chance(25);
    let wide = rng.chance(20);
    let (source, _, _) = netgen::network(Rng(rng.next()), "Fuzz", f32, variant, wide);
    match rng.below(8) {
        0 => format!("#[symnn(tensor_threshold = 0)] {source}"),
        1 => format!(
            "#[symnn(tensor_threshold = {})] {source}",
            rng.pick(&["1", "8", "64", "1000000", "18446744073709551615", "-1"])
        ),
        _ => source,
    }
}

/// A random network with long loops (the differential test's loop generator: 20-200
/// iterations, vector or scalar state, reads at index formulas, nested short loops,
/// loops in sequence), with the loops rolled (the default, or `loop_threshold = 0`) or
/// forced unrolled, sometimes in the tensor tier; one in three with 1-4 token edits.
fn gen_long_loops(rng: &mut Rng) -> String {
    let variant = rng.below(1 << 20);
    let f32 = rng.chance(25);
    let net = netgen::loop_network(Rng(rng.next()), "Fuzz", f32, variant);
    let source = match rng.below(6) {
        0 => format!("#[symnn(loop_threshold = 0)] {}", net.source),
        1 => format!(
            "#[symnn(loop_threshold = {})] {}",
            rng.pick(&["1", "500", "18446744073709551615", "-3", "1e3"]),
            net.source
        ),
        2 => format!("#[symnn(tensor_threshold = 0)] {}", net.source),
        _ => net.source,
    };
    if rng.chance(33) {
        mutate_tokens(rng, &source)
    } else {
        source
    }
}

/// A valid program: a hand-written seed or a random network.
fn valid_source(rng: &mut Rng) -> String {
    if rng.chance(40) {
        rng.pick(VALID).to_owned()
    } else {
        gen_typed(rng)
    }
}

fn tokens_of(source: &str) -> Vec<String> {
    let mut tokens = Vec::new();
    flatten(
        TokenStream::from_str(source).expect("a valid program tokenizes"),
        &mut tokens,
    );
    tokens
}

fn gen_token_mutation(rng: &mut Rng) -> String {
    let source = valid_source(rng);
    mutate_tokens(rng, &source)
}

/// 1-4 token edits of `source`, mostly with the brackets rebalanced.
fn mutate_tokens(rng: &mut Rng, source: &str) -> String {
    let mut tokens = tokens_of(source);
    for _ in 0..1 + rng.below(4) {
        if tokens.is_empty() {
            break;
        }
        let at = rng.below(tokens.len());
        match rng.below(7) {
            0 => {
                tokens.remove(at);
            }
            1 => tokens[at] = any_token(rng),
            2 => tokens.insert(at, any_token(rng)),
            3 => {
                let other = rng.below(tokens.len());
                tokens.swap(at, other);
            }
            4 => {
                let end = (at + 1 + rng.below(20)).min(tokens.len());
                let range: Vec<String> = tokens[at..end].to_vec();
                let to = rng.below(tokens.len());
                tokens.splice(to..to, range);
            }
            5 => tokens.truncate(at),
            _ => {
                let end = (at + 1 + rng.below(20)).min(tokens.len());
                tokens.drain(at..end);
            }
        }
    }
    if rng.chance(90) {
        rebalance(&tokens)
    } else {
        tokens.join(" ")
    }
}

fn gen_byte_mutation(rng: &mut Rng) -> String {
    const ALPHABET: &[u8] = b"()[]{}<>;,.:=+-*/#!&|'\"\\ \n\t0123456789eE_xwyT";
    let mut bytes = valid_source(rng).into_bytes();
    for _ in 0..1 + rng.below(3) {
        if bytes.is_empty() {
            break;
        }
        let at = rng.below(bytes.len());
        match rng.below(6) {
            0 => bytes.truncate(at),
            1 => {
                let end = (at + 1 + rng.below(20)).min(bytes.len());
                bytes.drain(at..end);
            }
            2 => {
                let byte = if rng.chance(80) {
                    ALPHABET[rng.below(ALPHABET.len())]
                } else {
                    rng.next() as u8
                };
                bytes.insert(at, byte);
            }
            3 => bytes[at] ^= 1 << rng.below(8),
            4 => {
                let end = (at + 1 + rng.below(40)).min(bytes.len());
                let range: Vec<u8> = bytes[at..end].to_vec();
                let to = rng.below(bytes.len());
                bytes.splice(to..to, range);
            }
            _ => {
                let digit = b'0' + rng.below(10) as u8;
                let run = vec![digit; 1 + rng.below(40)];
                bytes.splice(at..at, run);
            }
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

/// Replaces each number literal of `source` with an extreme one with probability
/// `percent`.
fn swap_numbers(rng: &mut Rng, source: &str, percent: u64) -> String {
    let chars: Vec<char> = source.chars().collect();
    let mut out = String::new();
    let mut k = 0;
    while k < chars.len() {
        let starts_number = chars[k].is_ascii_digit()
            && (k == 0 || !(chars[k - 1].is_alphanumeric() || chars[k - 1] == '_'));
        if !starts_number {
            out.push(chars[k]);
            k += 1;
            continue;
        }
        let mut end = k;
        while end < chars.len()
            && (chars[end].is_ascii_alphanumeric()
                || chars[end] == '_'
                || (chars[end] == '.' && chars.get(end + 1).is_some_and(char::is_ascii_digit))
                || ((chars[end] == '-' || chars[end] == '+')
                    && matches!(chars[end - 1], 'e' | 'E')))
        {
            end += 1;
        }
        if rng.chance(percent) {
            out.push_str(rng.pick(EXTREMES));
        } else {
            out.extend(&chars[k..end]);
        }
        k = end;
    }
    out
}

/// An expression `depth` levels deep over `x` and `w`, each level a random wrapper.
fn nested(rng: &mut Rng, depth: usize) -> String {
    let mut open = String::new();
    let mut close = String::new();
    for _ in 0..depth {
        let (o, c) = [
            ("(", ")"),
            ("tanh(", ")"),
            ("max(x, ", ")"),
            ("-", ""),
            ("(w * ", " + x)"),
            ("sigmoid(", ").sin()"),
            ("[", "][0]"),
            ("sum([", ", w])"),
            ("powi(", ", 2)"),
            ("f(", ")"),
        ][rng.below(10)];
        open.push_str(o);
        close.insert_str(0, c);
    }
    format!("{open}w{close}")
}

fn gen_extreme(rng: &mut Rng) -> String {
    let net = |body: String| {
        format!("struct Extreme {{ input x; param w = 0.5; fn f(a) = a * w; {body} }}")
    };
    match rng.below(8) {
        // Literals of a valid program swapped for extreme ones.
        0 | 1 => {
            let source = valid_source(rng);
            let percent = [5, 20, 100][rng.below(3)];
            swap_numbers(rng, &source, percent)
        }
        // Huge shapes and loop bounds.
        2 => {
            let dims = rng.pick(&[
                "[100000000]",
                "[65536][65536]",
                "[4294967296][4294967296]",
                "[1000001]",
                "[1000][1000]",
                "[0]",
                "[1][0]",
                "[18446744073709551616]",
            ]);
            let bound = rng.pick(&[
                "0..4000000000",
                "0..=18446744073709551615",
                "0..100001",
                "9223372036854775806..9223372036854775807",
                "0..0",
                "3..1",
            ]);
            match rng.below(4) {
                0 => net(format!(
                    "input u{dims}; output y = sum(u) * w; loss = y;"
                )),
                1 => net(format!(
                    "param v{dims}; output y = sum(v) * x; loss = y;"
                )),
                2 => net(format!(
                    "let mut z = [w, w]; for i in {bound} {{ z[i] += x; }} output y = z; loss = sum(y);"
                )),
                _ => net(format!(
                    "input u[2]; let h = dense(u, {}, tanh); output y = sum(h); loss = y;",
                    rng.pick(&["100000000", "65536", "4000000000", "0", "1000001"])
                )),
            }
        }
        // Deep nesting of expressions.
        3 => {
            let depth = 1 + rng.below(150);
            net(format!("output y = {}; loss = sum(y);", nested(rng, depth)))
        }
        // Long operator chains.
        4 => {
            let terms = 1 + rng.below(600);
            let op = rng.pick(&[" + x * w", " * w", " - w", " / (1.0 + w * w)"]);
            net(format!("output y = w{}; loss = y;", op.repeat(terms)))
        }
        // `fn`s calling `fn`s, up to past the nesting limit (64).
        5 => {
            let depth = 1 + rng.below(80);
            let fns: String = (0..depth)
                .map(|k| {
                    if k == 0 {
                        "fn g0(a) = a * w;".to_owned()
                    } else {
                        format!("fn g{k}(a) = g{}(a) + tanh(a);", k - 1)
                    }
                })
                .collect();
            net(format!("{fns} output y = g{}(x); loss = y;", depth - 1))
        }
        // Nested loops, their iteration counts multiplying.
        6 => {
            let depth = 1 + rng.below(12);
            let mut body = "z += x * w;".to_owned();
            for k in 0..depth {
                let n = rng.pick(&["2", "3", "10", "100", "1000"]);
                body = format!("for i{k} in 0..{n} {{ {body} }}");
            }
            net(format!("let mut z = w; {body} output y = z; loss = y;"))
        }
        // Long names: declared and used, or misspelt.
        _ => {
            let len = 1 + rng.below(4000);
            let long = "n".repeat(len);
            if rng.chance(50) {
                net(format!(
                    "input {long}; let {long}2 = {long} * w; output y = {long}2; loss = y;"
                ))
            } else {
                let typo = format!("{}m", "n".repeat(len.saturating_sub(1).min(1500)));
                net(format!(
                    "let {} = w; output y = {typo}; loss = y;",
                    "n".repeat(len.min(1500))
                ))
            }
        }
    }
}

fn gen_grammar(rng: &mut Rng) -> String {
    program(rng)
}

#[test]
fn valid_seeds_pass_the_checker() {
    for source in VALID {
        assert_eq!(judge(source), Ok(Verdict::Accepted), "{source}");
    }
}

#[test]
fn token_soups() {
    fuzz("soup", cases(1000), gen_soup);
}

#[test]
fn grammar_programs() {
    let stats = fuzz("grammar", cases(500), gen_grammar);
    // Most random programs are wrong somewhere, but the generator must reach the checker.
    assert!(stats.rejected > stats.inputs / 2);
}

#[test]
fn typed_programs() {
    let stats = fuzz("typed", cases(40), gen_typed);
    // The generator makes valid programs (but for an odd tensor_threshold attribute).
    assert!(
        stats.accepted >= stats.inputs * 8 / 10,
        "{}",
        stats.accepted
    );
    // Over enough programs, every builtin and loss is called.
    if stats.inputs >= 200 {
        let sources: Vec<String> = (0..stats.inputs)
            .map(|case| gen_typed(&mut case_rng("typed", case)))
            .collect();
        for name in symnn_codegen::builtins::names() {
            assert!(
                sources.iter().any(|s| s.contains(&format!("{name}("))),
                "no typed program calls `{name}`"
            );
        }
    }
}

#[test]
fn long_loop_programs() {
    let stats = fuzz("long_loops", cases(12), gen_long_loops);
    // Unmutated, the generator's programs are valid (but for an odd threshold): about
    // 60 % are accepted over many cases (36 of 60), 3 of the default 12.
    assert!(stats.accepted >= stats.inputs / 4, "{}", stats.accepted);
}

#[test]
fn token_mutations() {
    fuzz("token_mutation", cases(500), gen_token_mutation);
}

#[test]
fn byte_mutations() {
    fuzz("byte_mutation", cases(500), gen_byte_mutation);
}

#[test]
fn extreme_inputs() {
    fuzz("extreme", cases(60), gen_extreme);
}

/// Every truncation of every valid seed (at a token, rebalanced).
#[test]
fn truncations() {
    let mut failures = Vec::new();
    for source in VALID {
        let tokens = tokens_of(source);
        for len in 0..tokens.len() {
            let cut = rebalance(&tokens[..len]);
            if let Err(e) = judge(&cut) {
                failures.push(format!("{e}\n{cut}"));
            }
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Prints the input `SYMNN_FUZZ_SHOW=<generator>:<case>` names (e.g. one whose thread
/// overflowed its stack).
#[test]
fn show_input() {
    let Ok(which) = std::env::var("SYMNN_FUZZ_SHOW") else {
        return;
    };
    let (name, case) = which.split_once(':').expect("<generator>:<case>");
    let case: usize = case.parse().expect("a case number");
    let generator: fn(&mut Rng) -> String = match name {
        "soup" => gen_soup,
        "grammar" => gen_grammar,
        "typed" => gen_typed,
        "token_mutation" => gen_token_mutation,
        "byte_mutation" => gen_byte_mutation,
        "extreme" => gen_extreme,
        "long_loops" => gen_long_loops,
        other => panic!("no generator {other}"),
    };
    println!("{}", generator(&mut case_rng(name, case)));
}

/// The harness is not vacuous: a panic, a hang and an error at the call site are
/// reported as defects, and the worker has its 8 MiB stack.
#[test]
fn harness_reports_defects() {
    let limit = Duration::from_millis(500);
    let input = || "x".to_owned();
    let panics = isolated("fuzz self-test".into(), input, limit, |_| {
        panic!("deliberate")
    });
    assert!(
        matches!(panics, Outcome::Panicked(ref m) if m == "deliberate"),
        "{panics:?}"
    );
    let hangs = isolated("fuzz self-test".into(), input, limit, |_| {
        std::thread::sleep(Duration::from_secs(3));
        Ok(Verdict::Accepted)
    });
    assert!(matches!(hangs, Outcome::Hung), "{hangs:?}");
    let deep = isolated(
        "fuzz self-test".into(),
        input,
        Duration::from_secs(60),
        |_| {
            // About 3-4 MiB of frames: more than the default 2 MiB.
            fn down(n: usize) -> usize {
                let pad = std::hint::black_box([0u8; 1024]);
                if n == 0 {
                    usize::from(pad[0])
                } else {
                    down(n - 1) + usize::from(pad[n % 1024])
                }
            }
            Ok(Verdict::Rejected(down(3000)))
        },
    );
    assert!(matches!(deep, Outcome::Done(Ok(_), _)), "{deep:?}");
    // An error at the call site, or past the end of the input, is a defect; one at a
    // token is not; an input without tokens may only get call-site errors.
    let source = "struct N { x }";
    let tokens = TokenStream::from_str(source).expect("tokens");
    let at_token = tokens.into_iter().nth(1).expect("a name").span();
    let call_site = proc_macro2::Span::call_site();
    assert!(spanned(source, true, syn::Error::new(call_site, "no span")).is_err());
    assert_eq!(
        spanned(source, true, syn::Error::new(at_token, "spanned")),
        Ok(1)
    );
    let mut two = syn::Error::new(at_token, "spanned");
    two.combine(syn::Error::new(call_site, "no span"));
    assert!(spanned(source, true, two).is_err());
    assert!(spanned("x", true, syn::Error::new(at_token, "past the end")).is_err());
    assert_eq!(
        spanned("", false, syn::Error::new(call_site, "empty")),
        Ok(1)
    );
    assert!(matches!(judge(""), Ok(Verdict::Rejected(1))));
}
/// Programs at the edges of the literal, size and nesting ranges. Each must expand to
/// tokens or to `compile_error!`s that point at a token (never at the call site), and
/// never panic.
fn extreme_programs() -> Vec<(String, String)> {
    let net = |body: &str| format!("struct Extreme {{ input x; param w = 0.5; {body} }}");
    let f32_net = |body: &str| {
        format!("struct Extreme {{ type Float = f32; input x; param w = 0.5; {body} }}")
    };
    let mut cases: Vec<(String, String)> = Vec::new();
    let mut add = |what: &str, source: String| cases.push((what.to_owned(), source));

    // Integer exponents at and beyond the ends of i32 (`i32::MIN` is its own test).
    for n in [
        "2147483647",
        "-2147483647",
        "2147483648",
        "-2147483649",
        "4294967296",
        "9223372036854775807",
        "-9223372036854775808",
        "18446744073709551615",
        "18446744073709551616",
        "340282366920938463463374607431768211456",
        "2.5",
        "1e3",
        "-0",
    ] {
        add(
            &format!("powi(w, {n})"),
            net(&format!("output y = powi(w, {n}); loss = y;")),
        );
        add(
            &format!("w.powi({n})"),
            net(&format!("output y = w.powi({n}); loss = y;")),
        );
        add(
            &format!("pow(w, {n})"),
            net(&format!("output y = pow(w, {n}); loss = y;")),
        );
    }
    add(
        "pow(w, -2147483648)",
        net("output y = pow(w, -2147483648) + pow(w, -2147483648.0); loss = y;"),
    );
    // Float literals at the ends of f64 (and past them), in every position.
    for c in [
        "1e308",
        "-1e308",
        "1.7976931348623157e308",
        "1e309",
        "-1e309",
        "1e-320",
        "4.9e-324",
        "1e-400",
        "0.0",
        "-0.0",
        "1e308f64",
        "18446744073709551616",
        "340282366920938463463374607431768211456.0",
    ] {
        add(
            &format!("constant {c}"),
            net(&format!("output y = w * {c} + x; loss = y * {c};")),
        );
        add(
            &format!("init {c}"),
            format!("struct Extreme {{ input x; param w = {c}; output y = w * x; loss = y; }}"),
        );
        add(&format!("exp/ln/sqrt/pow of {c}"), net(&format!(
            "output y = exp(w * {c}) + ln({c} + w) + sqrt({c}) + pow(w, {c}) + pow({c}, w) + {c} / w; loss = sq(y) + sigmoid({c}) + softplus({c});"
        )));
        add(
            &format!("loss of {c}"),
            net(&format!(
            "target t; output y = w * x; loss = bce({c}, t) + bce_logits(y * {c}, t) + mse(y, {c});"
        )),
        );
        add(
            &format!("f32 constant {c}"),
            f32_net(&format!("output y = w * {c} + x; loss = y * y;")),
        );
    }
    for c in [
        "1e39",
        "-1e39",
        "3.4028235e38",
        "3.5e38",
        "1e-46",
        "1e39f32",
    ] {
        add(
            &format!("f32 constant {c}"),
            f32_net(&format!(
                "output y = w * {c} + x * {c}; loss = y * y + exp({c});"
            )),
        );
        add(&format!("f32 init {c}"), format!("struct Extreme {{ type Float = f32; input x; param w = {c}; output y = w * x; loss = y; }}"));
    }
    // Loop bounds.
    for (start, end) in [
        ("0", "..18446744073709551615"),
        ("0", "..18446744073709551616"),
        ("0", "..=9223372036854775807"),
        ("0", "..=18446744073709551615"),
        ("9223372036854775807", "..=9223372036854775807"),
        ("9223372036854775806", "..9223372036854775807"),
        ("0", "..4294967296"),
        ("0", "..4000000000"),
        ("0", "..100001"),
        ("5", "..2"),
        ("0", "..0"),
        ("-9223372036854775808", "..-9223372036854775807"),
        ("0", "..1e3"),
    ] {
        add(
            &format!("for {start}{end}"),
            net(&format!(
                "let mut z = w; for i in {start}{end} {{ z += x; }} output y = z; loss = y;"
            )),
        );
        add(&format!("for {start}{end}, index"), net(&format!(
            "let mut z = [w, w]; for i in {start}{end} {{ z[i] += x; z[i + 1] -= i; }} output y = z; loss = sum(y);"
        )));
    }
    // Shapes.
    for dims in [
        "[4294967296][4294967296]",
        "[18446744073709551615]",
        "[18446744073709551616]",
        "[9223372036854775807][2]",
        "[1000001]",
        "[100000000]",
        "[65536][65536]",
        "[1000][1001]",
        "[0]",
        "[0][0]",
        "[2][0]",
        "[1e3]",
        "[-1]",
    ] {
        add(
            &format!("param w{dims}"),
            format!(
                "struct Extreme {{ input x; param v{dims}; output y = sum(v) * x; loss = y; }}"
            ),
        );
        add(
            &format!("input x{dims}"),
            format!(
                "struct Extreme {{ input u{dims}; param w; output y = sum(u) * w; loss = y; }}"
            ),
        );
        add(
            &format!("array index {dims}"),
            net(&format!("output y = [w, x]{dims}; loss = y;")),
        );
    }
    add(
        "dense of 4294967296 units",
        net("output y = dense([x, w], 4294967296, tanh); loss = sum(y);"),
    );
    add(
        "dense of 18446744073709551616 units",
        net("output y = dense([x, w], 18446744073709551616, tanh); loss = sum(y);"),
    );
    add(
        "dense of 0 units",
        net("output y = dense([x, w], 0, tanh); loss = sum(y);"),
    );
    // Very long names: declared, used, misspelt (the suggestion compares names).
    let long = "n".repeat(10_000);
    // The "did you mean" search is an O(n*m) edit distance in time and memory: a
    // misspelt 10,000-character name takes ~45 s and 800 MB in a debug build.
    let misspelt = ("n".repeat(1_500), format!("{}m", "n".repeat(1_499)));
    add("long names", format!(
        "struct {long} {{ input {long}; param w; fn f{long}(a{long}) = a{long} * w; output y = f{long}({long}); loss = y; }}"
    ));
    add(
        "long misspelt name",
        net(&format!(
            "let {} = w; output y = {}; loss = y;",
            misspelt.0, misspelt.1
        )),
    );
    add(
        "long unknown function",
        net(&format!("output y = {long}(w); loss = y;")),
    );
    cases
}

/// Expression nesting and length, `depth` levels deep: parentheses, calls, method
/// chains, unary minus, arrays, `fn`s calling `fn`s and long operator chains.
fn deep_programs(depth: usize) -> Vec<(String, String)> {
    let net = |body: String| format!("struct Deep {{ input x; param w = 0.5; {body} }}");
    let nest = |open: &str, close: &str| format!("{}w{}", open.repeat(depth), close.repeat(depth));
    let fns: String = (0..depth)
        .map(|k| {
            if k == 0 {
                "fn f0(a) = a * w;".to_owned()
            } else {
                format!("fn f{k}(a) = f{}(a) + 1.0;", k - 1)
            }
        })
        .collect();
    vec![
        (
            "parentheses".into(),
            net(format!("output y = {}; loss = y;", nest("(", ")"))),
        ),
        (
            "calls".into(),
            net(format!("output y = {}; loss = y;", nest("tanh(", ")"))),
        ),
        (
            "two-argument calls".into(),
            net(format!("output y = {}; loss = y;", nest("max(x, ", ")"))),
        ),
        (
            "method chain".into(),
            net(format!("output y = w{}; loss = y;", ".sin()".repeat(depth))),
        ),
        (
            "unary minus".into(),
            net(format!("output y = {}w; loss = y;", "-".repeat(depth))),
        ),
        (
            "arrays".into(),
            net(format!("output y = {}; loss = sum(y);", nest("[", "]"))),
        ),
        (
            "indexing".into(),
            net(format!(
                "let v = [w, x]; output y = v{}; loss = y;",
                "[0]".repeat(depth)
            )),
        ),
        (
            "sum chain".into(),
            net(format!(
                "output y = w{}; loss = y;",
                " + x * w".repeat(depth * 2)
            )),
        ),
        (
            "product chain".into(),
            net(format!(
                "output y = w{}; loss = y;",
                " * w".repeat(depth * 2)
            )),
        ),
        (
            "fns calling fns".into(),
            net(format!("{fns} output y = f{}(x); loss = y;", depth - 1)),
        ),
        (
            "index arithmetic".into(),
            net(format!(
                "let v = [w, x]; output y = v[{}]; loss = y;",
                "0 + ".repeat(depth * 2) + "1"
            )),
        ),
    ]
}

/// Returns the error spans of `source` that point at no token (the call site).
fn unspanned_errors(source: &str) -> Vec<String> {
    let tokens = TokenStream::from_str(source).expect("tokenizes");
    match symnn_codegen::derive(tokens) {
        Ok(_) => Vec::new(),
        Err(errors) => match spanned(source, true, errors) {
            Ok(_) => Vec::new(),
            Err(defect) => vec![defect],
        },
    }
}

/// Whether the checker accepts `source` (after checking that nothing panics and that a
/// rejection is spanned).
fn run(source: &str) -> Option<bool> {
    match judge(source) {
        Ok(Verdict::Accepted) => Some(true),
        Ok(Verdict::Rejected(_)) => Some(false),
        Ok(Verdict::NotTokens) => None,
        Err(defect) => panic!("{defect}\n{source}"),
    }
}

fn run_cases(cases: &[(String, String)]) {
    let mut unspanned = Vec::new();
    for (what, source) in cases {
        let started = std::time::Instant::now();
        let accepted = run(source).expect("tokenizes");
        for message in unspanned_errors(source) {
            unspanned.push(format!("{what}: {message}"));
        }
        println!(
            "{what}: {} in {:.1?}",
            if accepted { "accepted" } else { "rejected" },
            started.elapsed()
        );
    }
    assert!(
        unspanned.is_empty(),
        "errors without a span:\n{}",
        unspanned.join("\n")
    );
}

#[test]
fn extreme_literals() {
    run_cases(&extreme_programs());
}

/// A few hundred levels of nesting. The parser (syn) and the passes recurse: in a debug
/// build 150 nested parentheses overflow a 2 MiB stack (300 fit in 8 MiB, rustc's), so
/// this runs on a thread with a large stack; `deep_nesting_default_stack` checks 100
/// levels on the test harness's default 2 MiB.
#[test]
fn deep_nesting() {
    std::thread::Builder::new()
        .stack_size(64 << 20)
        .spawn(|| run_cases(&deep_programs(300)))
        .expect("spawn")
        .join()
        .expect("no panic");
}

#[test]
fn deep_nesting_default_stack() {
    std::thread::Builder::new()
        .stack_size(2 << 20)
        .spawn(|| run_cases(&deep_programs(100)))
        .expect("spawn")
        .join()
        .expect("no panic");
}

/// `powi(w, i32::MIN)` once passed the checker, and differentiating it computed
/// `i32::MIN - 1` (an overflow panic in debug builds); it is now a spanned error.
#[test]
fn powi_of_i32_min() {
    let net =
        |e: &str| format!("struct Extreme {{ input x; param w = 0.5; output y = {e}; loss = y; }}");
    let cases = [
        (
            "powi(w, -2147483648)".to_string(),
            net("powi(w, -2147483648)"),
        ),
        (
            "w.powi(-2147483648)".to_string(),
            net("w.powi(-2147483648)"),
        ),
    ];
    run_cases(&cases);
    for (what, source) in &cases {
        assert_eq!(run(source), Some(false), "{what} must be rejected");
    }
}

/// The loose grammar and the soups name every builtin and loss.
#[test]
fn generators_know_every_builtin() {
    for name in symnn_codegen::builtins::names() {
        assert!(FUNCS.contains(&name), "FUNCS lacks `{name}`");
    }
}

/// Running out of input at the top level (`struct N`, a statement cut short) was an
/// error at the call site, pointing at no token; it is now at the last token.
#[test]
fn end_of_input_errors_point_at_the_last_token() {
    for source in [
        "struct Li7777777777777near",
        "struct",
        "pub",
        "struct N { input x; } extra",
        "#[doc = \"x\"]",
    ] {
        assert!(
            matches!(judge(source), Ok(Verdict::Rejected(_))),
            "{source}: {:?}",
            judge(source)
        );
    }
}
