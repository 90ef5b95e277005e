//! The macro must never panic: malformed and random inputs get `compile_error!`s.
//!
//! Deterministic fuzzing of [`symnn_codegen::expand`] with three generators: random soups
//! of DSL-ish tokens, random programs from a small grammar of the DSL (which get past the
//! parser and exercise the checker), and truncations and single-token mutations of valid
//! programs.

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::str::FromStr;

use proc_macro2::{Delimiter, Spacing, TokenStream, TokenTree};

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

/// A small deterministic pseudo-random generator (SplitMix64).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }

    fn pick<'a>(&mut self, items: &[&'a str]) -> &'a str {
        items[self.below(items.len())]
    }
}

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

fn soup(rng: &mut Rng, depth: usize, out: &mut String) {
    let len = rng.below(12);
    for _ in 0..len {
        if depth < 3 && rng.chance(15) {
            let (open, close) = [("(", ")"), ("[", "]"), ("{", "}")][rng.below(3)];
            out.push_str(open);
            soup(rng, depth + 1, out);
            out.push_str(close);
        } else {
            out.push_str(rng.pick(WORDS));
        }
        out.push(' ');
    }
}

const NAMES: &[&str] = &[
    "x", "v", "m", "w", "b", "h", "z", "y", "t", "i", "j", "f", "g", "u", "q",
];
const FUNCS: &[&str] = &[
    "tanh", "sigmoid", "relu", "exp", "sum", "mean", "dot", "softmax", "max", "powi", "mse", "f",
    "g", "nope", "x",
];
const NUMBERS: &[&str] = &["0", "1", "2", "3", "0.5", "2.0", "-1", "1e-3", "7"];

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
        .map(|_| format!("[{}]", rng.pick(&["0", "1", "2", "3", "4", "1000000000"])))
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

/// Expands `source` (if it tokenizes) and checks that nothing panics, that rejected
/// programs become `compile_error!`s, and that the later stages accept every program the
/// checker accepts (the checker must catch every mistake itself). Returns whether the
/// checker accepted the program.
fn run(source: &str) -> Option<bool> {
    let tokens = TokenStream::from_str(source).ok()?;
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        let valid = symnn_codegen::ast::parse(tokens.clone())
            .is_ok_and(|network| symnn_codegen::check::check(&network).is_ok());
        let output = symnn_codegen::expand(tokens.clone()).to_string();
        (valid, output)
    }));
    match outcome {
        Ok((valid, output)) => {
            assert!(
                valid || output.contains("compile_error"),
                "no compile_error for an invalid program:\n{source}"
            );
            assert!(
                !valid || !output.contains("compile_error"),
                "the checker accepted a program that a later stage rejected:\n{source}\n{output}"
            );
            Some(valid)
        }
        Err(_) => panic!("the macro panicked on:\n{source}"),
    }
}

#[test]
fn valid_seeds_pass_the_checker() {
    for source in VALID {
        assert_eq!(run(source), Some(true), "{source}");
    }
}

#[test]
fn token_soups() {
    let mut rng = Rng(1);
    for case in 0..1500 {
        let mut body = String::new();
        soup(&mut rng, 0, &mut body);
        let source = match case % 3 {
            0 => body,
            1 => format!("struct N {{ {body} }}"),
            _ => format!("struct N {{ input x[2]; {body} }}"),
        };
        run(&source);
    }
}

#[test]
fn grammar_programs() {
    let mut rng = Rng(2);
    let mut accepted = 0;
    for _ in 0..1500 {
        if run(&program(&mut rng)) == Some(true) {
            accepted += 1;
        }
    }
    // Most random programs are wrong somewhere, but the generator must reach the checker.
    assert!(accepted < 1500);
}

#[test]
fn mutations_and_truncations() {
    let mut rng = Rng(3);
    for source in VALID {
        let mut tokens = Vec::new();
        flatten(
            TokenStream::from_str(source).expect("seed tokenizes"),
            &mut tokens,
        );
        for len in 0..tokens.len() {
            run(&rebalance(&tokens[..len]));
        }
        for _ in 0..150 {
            let mut mutated = tokens.clone();
            let at = rng.below(mutated.len());
            match rng.below(4) {
                0 => {
                    mutated.remove(at);
                }
                1 => mutated[at] = rng.pick(WORDS).to_owned(),
                2 => mutated.insert(at, rng.pick(WORDS).to_owned()),
                _ => {
                    let other = rng.below(mutated.len());
                    mutated.swap(at, other);
                }
            }
            run(&rebalance(&mutated));
        }
    }
}
